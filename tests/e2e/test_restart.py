"""Persistence: a clean SIGTERM restart, and kill -9 after acknowledged ingests.

Every entry the server acknowledged (201/200) must be there after a restart,
even when the process was killed with SIGKILL a moment after answering.
"""

import re
import signal
import socket
import threading
import time

import requests

from conftest import ENTRIES, TOKENS, all_ids, uid


def test_restart_keeps_entries_tokens_and_keys(fresh_server):
    srv = fresh_server().start()
    name = uid("app.tasks.persist.")
    key = uid("key-")
    single = srv.admin.ingest(task_name=name, idempotency_key=key, tenant_id="t1",
                              metadata={"a": 1}, failed_at="2026-01-25T10:30:00.123Z")
    batch = srv.admin.ingest_batch([{"task_name": name, "original_task_id": f"o{i}"}
                                    for i in range(50)])
    keep = srv.make_token("viewer", "t1")
    gone = srv.make_token("operator")
    assert srv.admin.delete(f"{TOKENS}/{gone['id']}").status_code == 204
    before_list = srv.admin.list(task_name=name, limit=100)
    before_one = srv.admin.entry(single)

    srv.restart()

    assert srv.admin.list(task_name=name, limit=100) == before_list
    assert srv.admin.entry(single) == before_one
    assert set(all_ids(srv.admin, task_name=name)) == {single, *batch}
    assert srv.api(keep["token"]).list()["total"] == 1
    assert srv.api(gone["token"]).get(ENTRIES).status_code == 401
    r = srv.admin.post(ENTRIES, {"task_name": name, "tenant_id": "t1"},
                       headers={"Idempotency-Key": key})
    assert r.status_code == 200 and r.json()["dlq_id"] == single
    # new ids after the restart still sort after the old ones
    newer = srv.admin.ingest(task_name=name)
    assert newer > max([single, *batch])


def test_admin_token_env_only_used_on_first_start(fresh_server):
    srv = fresh_server().start()
    old = srv.admin_secret
    srv.stop()
    srv.admin_secret = "e2e-a-different-secret-0000000000000"
    srv.start()
    assert srv.api(old).get(TOKENS).status_code == 200
    assert srv.api(srv.admin_secret).get(TOKENS).status_code == 401
    srv.admin_secret = old


def test_generated_admin_token_printed_once(fresh_server):
    srv = fresh_server(admin_secret=None).start()
    out = srv.stdout() + "\n" + srv.stderr_tail(100000)
    candidates = re.findall(r"dlq_[A-Za-z0-9_-]{40,}", out)
    assert candidates, f"no generated admin token on stdout: {out!r}"
    secret = candidates[0]
    assert srv.api(secret).get(TOKENS).status_code == 200
    srv.restart()
    assert secret not in srv.stdout() + srv.stderr_tail(100000)
    assert srv.api(secret).get(TOKENS).status_code == 200


def test_kill9_after_acknowledged_burst(fresh_server):
    srv = fresh_server().start()
    pre = srv.admin.ingest_batch([{"task_name": "app.tasks.pre", "original_task_id": f"p{i}"}
                                  for i in range(200)])
    acked, lock = [], threading.Lock()
    stop = threading.Event()
    started = threading.Barrier(9)

    def producer(i):
        s = requests.Session()
        h = {"Authorization": f"Bearer {srv.admin_secret}", "Content-Type": "application/json"}
        started.wait()
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 10 == 0:
                    body = ('{"entries": [' + ",".join(
                        f'{{"task_name": "app.tasks.burst", "original_task_id": "b{i}-{n}-{k}"}}'
                        for k in range(20)) + "]}")
                    r = s.post(srv.base + ENTRIES + "/batch", data=body, headers=h, timeout=10)
                    if r.status_code == 200:
                        with lock:
                            acked.extend(it["dlq_id"] for it in r.json()["items"])
                else:
                    body = f'{{"task_name": "app.tasks.burst", "original_task_id": "b{i}-{n}"}}'
                    r = s.post(srv.base + ENTRIES, data=body, headers=h, timeout=10)
                    if r.status_code == 201:
                        with lock:
                            acked.append(r.json()["dlq_id"])
            except (requests.ConnectionError, requests.Timeout):
                return  # the server is gone

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(1.5)
    with lock:
        n_acked = len(acked)
    srv.kill9()  # requests are still in flight
    stop.set()
    for t in threads:
        t.join()
    assert n_acked > 50, f"only {n_acked} ingests acknowledged in 1.5 s"
    print(f"kill -9 after {n_acked} acknowledged ingests")

    srv.start()
    present = set(all_ids(srv.admin))
    missing_pre = set(pre) - present
    missing = set(acked) - present
    assert not missing_pre, f"{len(missing_pre)} entries from before the burst lost"
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged entries lost after kill -9"
    assert srv.admin.total() == len(present)
    assert len(present) >= len(pre) + len(acked)


def test_sigterm_during_burst_finishes_in_flight(fresh_server):
    srv = fresh_server().start()
    acked, lock, stop = [], threading.Lock(), threading.Event()
    odd = []

    def producer(i):
        s = requests.Session()
        h = {"Authorization": f"Bearer {srv.admin_secret}", "Content-Type": "application/json"}
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = s.post(srv.base + ENTRIES, data=f'{{"task_name": "app.tasks.term", '
                           f'"original_task_id": "t{i}-{n}"}}', headers=h, timeout=10)
            except (requests.ConnectionError, requests.Timeout):
                return
            if r.status_code == 201:
                with lock:
                    acked.append(r.json()["dlq_id"])
            elif r.status_code != 503:  # refusing new work while stopping is fine
                odd.append(r.status_code)

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    srv.stop()  # SIGTERM: must exit 0 within 10 s
    stop.set()
    for t in threads:
        t.join()
    assert not odd, f"unexpected answers while stopping: {sorted(set(odd))}"
    assert len(acked) > 50
    srv.start()
    present = set(all_ids(srv.admin))
    missing = set(acked) - present
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged entries lost after SIGTERM"


def _http_get(sock, path, secret):
    """Sends one keep-alive GET on sock and returns (status, headers, body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n\r\n"
                 .encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an answer"
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of an answer"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_request_arriving_while_stopping_is_refused_not_started(fresh_server):
    """SIGTERM while a long export is in flight: the server keeps draining it, and a new
    request on a connection accepted before gets 503 with Retry-After (it is not started,
    so nothing new is left suspended when the server stops); the server then exits 0."""
    srv = fresh_server().start()
    name = uid("app.tasks.drain.")
    for k in range(20):
        srv.admin.ingest_batch([{"task_name": name, "original_task_id": f"o{k}-{i}",
                                 "exception": {"type": "E", "message": "x" * 400}}
                                for i in range(1000)])
    export = socket.create_connection(("127.0.0.1", srv.port))
    export.sendall(f"GET /api/v1/dlq/export?format=ndjson HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {srv.admin_secret}\r\n\r\n".encode())
    export.recv(1024)  # the export has started; the rest is left unread for now
    other = socket.create_connection(("127.0.0.1", srv.port))
    status, _, _ = _http_get(other, "/healthz", srv.admin_secret)
    assert status == 200
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert srv.proc.poll() is None, "the server stopped with an export in flight"
    status, headers, body = _http_get(other, "/api/v1/dlq/entries?limit=1", srv.admin_secret)
    assert status == 503, body
    assert headers.get("retry-after") == "1"
    assert b"stopping" in body
    other.close()
    export.settimeout(30)
    while export.recv(1 << 20):
        pass
    export.close()
    srv.stop()
