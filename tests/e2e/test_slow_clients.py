"""Slow and misbehaving clients: the server keeps serving others.

Slowloris (headers trickled byte by byte), half-sent bodies, a thousand idle
connections and clients that never read a large answer, each while a normal
client keeps getting answers quickly; and the limits themselves:
--conn-timeout-s closes stalled connections, --max-connections and
--max-connections-per-ip refuse connections past them.
"""

import resource
import socket
import subprocess
import threading
import time

from conftest import ENTRIES, uid

NORMAL_BUDGET_S = 2.0  # a normal request must be answered within this


def raise_nofile(want):
    """raise_nofile raises this process's open-file limit (the server, started
    after, inherits it); root may raise the hard limit too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connect(srv, timeout=5):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def normal_requests(srv, n=10):
    """normal_requests ingests and reads n times, each within the budget."""
    api = srv.admin
    name = uid("app.normal.")
    for _ in range(n):
        t0 = time.monotonic()
        r = api.post(ENTRIES, {"task_name": name}, timeout=NORMAL_BUDGET_S + 3)
        assert r.status_code == 201, r.text
        assert api.get("/healthz", timeout=NORMAL_BUDGET_S + 3).status_code == 200
        took = time.monotonic() - t0
        assert took < NORMAL_BUDGET_S, f"a normal request took {took:.2f}s"
    return name


def established_peers(srv):
    """established_peers returns the client ports of the server's open connections."""
    out = subprocess.run(["ss", "-tnH", "state", "established", f"sport = :{srv.port}"],
                         capture_output=True, text=True, check=True).stdout
    return {int(line.split()[-1].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


def closed_by_server(s, wait):
    """closed_by_server says whether the peer closed s within wait seconds."""
    s.settimeout(wait)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_slowloris_headers_do_not_block_others(fresh_server):
    raise_nofile(4096)
    srv = fresh_server(extra_args=["--conn-timeout-s", "3", "--threads", "4"]).start()
    socks = [connect(srv) for _ in range(200)]
    stop = threading.Event()
    head = b"GET /api/v1/dlq/entries HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000

    def trickle():
        i = 0
        while not stop.is_set() and i < len(head):
            for s in socks:
                try:
                    s.send(head[i:i + 1])
                except OSError:
                    pass
            i += 1
            time.sleep(0.2)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(0.5)
        normal_requests(srv, 10)
    finally:
        stop.set()
        t.join()
        for s in socks:
            s.close()


def test_half_sent_bodies_time_out(fresh_server):
    srv = fresh_server(extra_args=["--conn-timeout-s", "2", "--threads", "4"]).start()
    socks = []
    for _ in range(50):
        s = connect(srv)
        s.sendall(f"POST {ENTRIES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  f"{srv.admin_secret}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 5000\r\n\r\n{{\"task_name\": \"half".encode())
        socks.append(s)
    t0 = time.monotonic()
    normal_requests(srv, 5)
    # the stalled ones are closed by the timeout, nothing of theirs stored
    closed = [closed_by_server(s, max(0.1, 6 - (time.monotonic() - t0))) for s in socks]
    assert all(closed), f"{closed.count(False)} stalled uploads still open after 6s"
    for s in socks:
        s.close()
    assert srv.admin.total(task_name="half") == 0


def test_thousand_idle_connections(fresh_server):
    have = raise_nofile(4096)
    assert have >= 2200, f"RLIMIT_NOFILE {have}: cannot open 1000 connections"
    srv = fresh_server(extra_args=["--max-connections", "1500", "--conn-timeout-s", "30"]).start()
    socks = [connect(srv) for _ in range(1000)]
    try:
        time.sleep(0.3)
        normal_requests(srv, 10)
        # every idle connection is still usable
        for s in socks[::100]:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()


def test_connection_limit_and_idle_timeout(fresh_server):
    raise_nofile(4096)
    srv = fresh_server(extra_args=["--max-connections", "40", "--conn-timeout-s", "2",
                                   "--threads", "4"]).start()
    socks = [connect(srv) for _ in range(60)]
    time.sleep(0.3)
    # past the limit the server closes new connections at once
    refused = sum(closed_by_server(s, 0.3) for s in socks)
    assert refused >= 15, f"only {refused} of 60 connections refused over a limit of 40"
    # the idle ones are closed by the timeout; then everyone is served again
    time.sleep(2.5)
    normal_requests(srv, 5)
    for s in socks:
        s.close()


def test_per_ip_limit(fresh_server):
    srv = fresh_server(extra_args=["--max-connections-per-ip", "10", "--conn-timeout-s", "2"]).start()
    socks = [connect(srv) for _ in range(15)]
    time.sleep(0.3)
    refused = sum(closed_by_server(s, 0.3) for s in socks)
    assert refused >= 5, f"{refused} refused over a per-address limit of 10"
    for s in socks:
        s.close()
    time.sleep(0.3)
    normal_requests(srv, 3)


def test_clients_that_never_read_a_large_answer(fresh_server):
    srv = fresh_server(extra_args=["--conn-timeout-s", "3", "--threads", "4"]).start()
    name = uid("app.big.")
    tb = "t" * 30000
    for _ in range(10):
        srv.admin.ingest_batch([{"task_name": name, "exception": {"type": "E", "message": "m",
                                                                  "traceback": tb}}
                                for _ in range(20)])
    socks = []
    for _ in range(20):
        s = connect(srv)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {ENTRIES}?task_name={name}&limit=100 HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {srv.admin_secret}\r\n\r\n".encode())
        socks.append(s)  # never read
    time.sleep(0.5)
    normal_requests(srv, 10)
    big = srv.admin.get(ENTRIES, params={"task_name": name, "limit": 100}, timeout=10)
    assert big.status_code == 200 and len(big.json()["items"]) == 100
    assert len(big.content) > 1_000_000  # far more than the socket buffers hold
    # the stalled readers are dropped by the timeout: the server closes its
    # end (what it wrote may still sit in the kernel, in FIN-WAIT-1)
    ports = {s.getsockname()[1] for s in socks}
    assert established_peers(srv) >= ports
    # (a slow build may still be writing the last answers when the first
    # time out: poll, well past the 3 s timeout)
    deadline = time.monotonic() + 15
    while True:
        time.sleep(0.5)
        left = established_peers(srv) & ports
        if not left or time.monotonic() > deadline:
            break
    assert not left, f"{len(left)} stalled connections still open"
    for s in socks:
        s.close()
