"""Health, readiness, the start-up banner, and the generic HTTP contract.

Public endpoints need no token; every answer carries X-Request-Id; unknown
paths and wrong methods are problem+json 404/405.
"""

import re

import requests

from conftest import BANNER_RE, ENTRIES, assert_problem


def test_healthz_ok_without_token(server):
    r = requests.get(server.base + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["status"] == "ok"
    assert r.headers.get("X-Request-Id")


def test_readyz_ok_without_token(server):
    r = requests.get(server.base + "/readyz", timeout=5)
    assert r.status_code == 200
    assert r.headers.get("X-Request-Id")


def test_banner_names_version_and_url(server):
    m = BANNER_RE.search(server.stdout())
    assert m, f"no banner on stdout: {server.stdout()!r}"
    assert re.match(r"^\d+\.\d+\.\d+", m.group(1))
    assert m.group(2) == "127.0.0.1"
    assert int(m.group(3)) == server.port


def test_request_ids_are_unique(server):
    ids = {requests.get(server.base + "/healthz", timeout=5).headers["X-Request-Id"]
           for _ in range(20)}
    assert len(ids) == 20


def test_request_id_on_authenticated_and_error_answers(server):
    r = server.admin.get(ENTRIES)
    assert r.status_code == 200 and r.headers.get("X-Request-Id")
    r = requests.get(server.base + ENTRIES, timeout=5)
    assert r.status_code == 401 and r.headers.get("X-Request-Id")


def test_unknown_path_is_404_problem(server):
    r = server.admin.get("/api/v1/no-such-thing")
    body = assert_problem(r, 404)
    assert body["instance"].startswith("/api/v1/no-such-thing")


def test_unknown_path_without_token_is_not_200(server):
    r = requests.get(server.base + "/api/v1/no-such-thing", timeout=5)
    assert r.status_code in (401, 404)
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_wrong_method_is_405_problem(server):
    assert_problem(server.admin.req("PUT", ENTRIES, json_body={"task_name": "x"}), 405)
    assert_problem(server.admin.req("PATCH", "/api/v1/tokens", json_body={}), 405)
    assert_problem(server.admin.delete(ENTRIES), 405)


def test_keep_alive_not_closed(server):
    s = requests.Session()
    for _ in range(3):
        r = s.get(server.base + "/healthz", timeout=5)
        assert r.status_code == 200
        assert r.headers.get("Connection", "").lower() != "close"


def test_access_log_line_per_request(server):
    import json
    import time
    r = server.admin.get("/api/v1/dlq/entries", params={"limit": 1})
    rid = r.headers["X-Request-Id"]
    deadline = time.monotonic() + 3
    while True:
        lines = [ln for ln in server.stderr_tail(1 << 20).splitlines() if rid in ln]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1, f"want one access-log line with {rid}"
    rec = json.loads(lines[0])  # structured: one JSON object
    assert rec.get("method") == "GET"
    assert rec.get("status") == 200
    assert rec.get("path", "").startswith("/api/v1/dlq/entries")
    assert server.admin_secret not in lines[0]
