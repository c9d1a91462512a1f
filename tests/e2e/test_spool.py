"""The spool: when the store cannot take an ingest, it is spooled, not lost.

Ways the store is made to fail here, all against the real binary:
- the store locked by another process (conftest.StoreLock: BEGIN IMMEDIATE
  on SQLite, LOCK TABLE entries IN EXCLUSIVE MODE on PostgreSQL) past
  --busy-timeout-ms: a runtime switch, released to recover;
- a full disk: the database on a small tmpfs filled up (mount needs root;
  without it, and on PostgreSQL, the test uses the lock instead and says so
  in its output);
- DLQ_FAULT="from=N,count=M" (test only): the fault-injecting wrapper store
  fails M calls from the Nth on.

Acknowledged (201, 200 or 202 "spooled": true) means durable: after the
store recovers every acknowledged entry is in the store exactly once, by
dlq_id and by idempotency key. A spooled entry may be 404 until drained.
"""

import os
import re
import subprocess
import time

import requests

from conftest import BATCH, ENTRIES, StoreLock, assert_problem, on_postgres, uid


def metric(srv, name):
    r = requests.get(srv.base + "/metrics", headers=srv.admin.headers(), timeout=10)
    if r.status_code != 200:
        return None
    m = re.search(rf"^{name} (\d+)$", r.text, re.M)
    return int(m.group(1)) if m else None


def wait_drained(srv, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric(srv, "dlq_spool_entries") == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"spool not drained within {timeout}s: {metric(srv, 'dlq_spool_entries')}")


def check_exactly_once(srv, acked, keys):
    """acked: dlq_id -> idempotency key or None; every one is there, once."""
    for ident in acked:
        r = srv.admin.get(f"{ENTRIES}/{ident}")
        assert r.status_code == 200, (ident, r.text)
    for key, ident in keys.items():
        r = srv.admin.post(ENTRIES, {"task_name": "x"}, headers={"Idempotency-Key": key})
        assert r.status_code == 200 and r.json()["dlq_id"] == ident, (key, r.text)


def test_locked_store_spools_then_drains(fresh_server):
    srv = fresh_server(extra_args=["--busy-timeout-ms", "150"]).start()
    name = uid("app.spool.")
    first = srv.admin.ingest(task_name=name)
    lock = StoreLock(srv.db)
    try:
        r = srv.admin.post(ENTRIES, {"task_name": name, "exception": {"type": "E", "message": "m"}})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["spooled"] is True and body["created"] is True
        assert body["status"] == "pending_review" and body["dlq_id"] > first
        spooled_id = body["dlq_id"]
        # may be 404 until drained (documented)
        assert srv.admin.get(f"{ENTRIES}/{spooled_id}").status_code in (404, 503)
        key = uid("k-")
        r1 = srv.admin.post(ENTRIES, {"task_name": name}, headers={"Idempotency-Key": key})
        assert r1.status_code == 202, r1.text
        r2 = srv.admin.post(ENTRIES, {"task_name": name}, headers={"Idempotency-Key": key})
        assert r2.status_code == 200, r2.text
        assert r2.json() == {"dlq_id": r1.json()["dlq_id"], "status": "pending_review",
                             "created": False, "spooled": True}
        rb = srv.admin.post(BATCH, {"entries": [{"task_name": name, "idempotency_key": key},
                                                {"task_name": name}]})
        assert rb.status_code == 202, rb.text
        items = rb.json()["items"]
        assert rb.json()["spooled"] is True
        assert items[0]["dlq_id"] == r1.json()["dlq_id"] and items[0]["created"] is False
        ready = requests.get(srv.base + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["spooled"] == 3, ready.text
        assert metric(srv, "dlq_spool_entries") == 3
    finally:
        lock.release()
    wait_drained(srv)
    ids = {first, spooled_id, r1.json()["dlq_id"], items[1]["dlq_id"]}
    check_exactly_once(srv, ids, {key: r1.json()["dlq_id"]})
    assert srv.admin.total(task_name=name) == 4
    assert os.path.getsize(srv.spool_path) == 0
    assert requests.get(srv.base + "/readyz", timeout=5).json()["spooled"] == 0


def test_spool_survives_kill9_and_torn_tail_is_dropped(fresh_server):
    srv = fresh_server(extra_args=["--busy-timeout-ms", "100"]).start()
    name = uid("app.spool.kill.")
    lock = StoreLock(srv.db)
    acked = {}
    keys = {}
    try:
        for i in range(5):
            key = uid("k-") if i % 2 else None
            h = {"Idempotency-Key": key} if key else {}
            r = srv.admin.post(ENTRIES, {"task_name": name}, headers=h)
            assert r.status_code == 202, r.text
            acked[r.json()["dlq_id"]] = key
            if key:
                keys[key] = r.json()["dlq_id"]
        srv.kill9()
    finally:
        lock.release()
    with open(srv.spool_path, "ab") as f:  # an append cut short by the crash
        f.write(b'S1 200 0123456789abcdef {"actor":"admin","entry":{"dlq_id":"dlq_01')
    srv.start()
    # drained at start, before serving
    assert srv.admin.total(task_name=name) == 5
    check_exactly_once(srv, acked, keys)
    assert metric(srv, "dlq_spool_torn_total") == 1
    assert metric(srv, "dlq_spool_entries") == 0
    assert os.path.getsize(srv.spool_path) == 0


def test_drain_repeated_after_crash_is_idempotent(fresh_server):
    """A spool file whose entries are already stored (the server died after
    the drain's commit, before the truncate) drains to nothing new."""
    srv = fresh_server(extra_args=["--busy-timeout-ms", "100"]).start()
    name = uid("app.spool.twice.")
    lock = StoreLock(srv.db)
    try:
        ids = [srv.admin.post(ENTRIES, {"task_name": name}).json()["dlq_id"] for _ in range(3)]
        # Stopped while the store is still locked: the drain thread cannot
        # have emptied the spool before we copy it.
        srv.stop()
    finally:
        lock.release()
    saved = open(srv.spool_path, "rb").read()
    assert saved.count(b"\n") == 3
    srv.start()  # drains at start
    assert srv.admin.total(task_name=name) == 3
    srv.stop()
    with open(srv.spool_path, "wb") as f:  # as if the truncate never happened
        f.write(saved)
    srv.start()
    assert srv.admin.total(task_name=name) == 3
    assert sorted(ids) == sorted(it["dlq_id"] for it in srv.admin.list(task_name=name)["items"])


def test_spool_cap_answers_503_with_retry_after(fresh_server):
    srv = fresh_server(extra_args=["--busy-timeout-ms", "50", "--spool-max-bytes", "4096"]).start()
    name = uid("app.spool.cap.")
    lock = StoreLock(srv.db)
    acked = []
    try:
        for _ in range(40):
            r = srv.admin.post(ENTRIES, {"task_name": name, "task_args": ["x" * 200]})
            if r.status_code == 503:
                break
            assert r.status_code == 202, r.text
            acked.append(r.json()["dlq_id"])
        assert_problem(r, 503)
        assert r.headers.get("Retry-After")
        assert 2 <= len(acked) < 40
    finally:
        lock.release()
    wait_drained(srv)
    assert srv.admin.total(task_name=name) == len(acked)
    # space again once drained
    assert srv.admin.post(ENTRIES, {"task_name": name}).status_code == 201


def test_no_spool_answers_503(fresh_server):
    srv = fresh_server(extra_args=["--busy-timeout-ms", "50", "--no-spool"]).start()
    lock = StoreLock(srv.db)
    try:
        r = srv.admin.post(ENTRIES, {"task_name": "app.nospool"})
        assert_problem(r, 503)
        assert r.headers.get("Retry-After")
    finally:
        lock.release()
    assert not os.path.exists(srv.spool_path)


def test_fault_wrapper_store_fails_then_recovers(fresh_server):
    """DLQ_FAULT makes a window of store calls fail; whatever is answered
    201/200/202 is there exactly once afterwards, and the server recovers by
    itself."""
    srv = fresh_server(env={"DLQ_FAULT": "from=30,count=6"},
                       extra_args=["--maintenance-interval-s", "86400",
                                   "--alert-interval-s", "3600"]).start()
    name = uid("app.spool.fault.")
    acked, keys, codes = {}, {}, []
    for i in range(60):
        key = f"{name}-k{i // 2}" if i % 3 == 0 else None  # some keys sent twice
        h = {"Idempotency-Key": key} if key else {}
        r = srv.admin.post(ENTRIES, {"task_name": name}, headers=h)
        codes.append(r.status_code)
        if r.status_code in (200, 201, 202):
            ident = r.json()["dlq_id"]
            if key:
                assert keys.setdefault(key, ident) == ident, (key, r.text)
            acked[ident] = key
        else:
            assert r.status_code == 503, r.text  # not acknowledged: a client retries
    assert 202 in codes, codes
    wait_drained(srv)
    assert codes[-1] == 201, codes
    check_exactly_once(srv, acked, keys)
    assert srv.admin.total(task_name=name) == len(acked)


def _mount_tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def test_full_disk_spools_then_drains(fresh_server, tmp_path):
    """The database on a small tmpfs that fills up. Without permission to
    mount, the same scenario runs with the lock (and says so); so it does on
    PostgreSQL, whose disk is the database server's, not ours."""
    disk = tmp_path / "small"
    if on_postgres():
        mounted, why = False, "the store is a PostgreSQL database"
    else:
        mounted, why = _mount_tmpfs(disk, "4m")
    if not mounted:
        print(f"cannot fill the store's disk ({why}): using the store lock instead")
    spool = tmp_path / "elsewhere.spool"
    srv = fresh_server(db=(disk / "dlq.db") if mounted else None,
                       extra_args=["--spool", str(spool), "--busy-timeout-ms", "100"]).start()
    try:
        name = uid("app.spool.full.")
        srv.admin.ingest(task_name=name)
        filler = disk / "filler"
        lock = None
        if mounted:
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 65536)
            except OSError:
                pass
            finally:
                os.close(fd)
        else:
            lock = StoreLock(srv.db)
        acked = []
        big = "y" * 20000  # more than the WAL's slack in a full file system
        for _ in range(5):
            r = srv.admin.post(ENTRIES, {"task_name": name, "exception": {"type": "E",
                                                                         "message": big}})
            assert r.status_code in (201, 202), r.text
            acked.append(r.json()["dlq_id"])
        assert metric(srv, "dlq_spool_spooled_total") >= 1
        if mounted:
            filler.unlink()
        else:
            lock.release()
        wait_drained(srv)
        check_exactly_once(srv, acked, {})
        assert srv.admin.total(task_name=name) == 6
        srv.stop()
    finally:
        if srv.proc is not None:
            srv.kill9()
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], check=False)
