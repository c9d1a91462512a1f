"""A table of bad inputs: each gets a clear 4xx and changes nothing.

After every bad request the entry count is unchanged and /healthz still
answers, so a crash or a partial write is caught. Filter values that look
like SQL or FTS syntax are plain values: 200, no match, no error.
"""

import json

import pytest
import requests

from conftest import BATCH, ENTRIES, assert_problem

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def baseline(server):
    server.admin.ingest(task_name="app.tasks.bad.baseline",
                        exception={"type": "ValueError", "message": "plain message here"})
    return server


@pytest.fixture
def unchanged(baseline):
    """unchanged asserts after the test that no entry was written and the server lives."""
    srv = baseline
    before = srv.admin.total()
    yield srv
    assert requests.get(srv.base + "/healthz", timeout=5).status_code == 200
    assert srv.admin.total() == before, "a bad request wrote something"


def T(body, field):
    """T makes one bad-body case; its id shows the offending field and value."""
    top = field.split(".")[0]
    shown = json.dumps(body[top])[:30] if top in body else "missing"
    return pytest.param(json.dumps(body), field, id=f"{field}={shown}")


OK_NAME = {"task_name": "app.tasks.bad.x"}

BAD_BODIES = [
    pytest.param('{"task_name": ', None, id="truncated-json"),
    pytest.param('{"task_name": "a",}', None, id="trailing-comma"),
    pytest.param("", None, id="empty-body"),
    pytest.param("null", None, id="null"),
    pytest.param('["task_name"]', None, id="top-level-array"),
    pytest.param('"app.tasks.x"', None, id="top-level-string"),
    pytest.param("42", None, id="top-level-number"),
    pytest.param("{'task_name': 'x'}", None, id="single-quotes"),
    pytest.param('{"task_name": "a"} {"task_name": "b"}', None, id="two-documents"),
    T({}, "task_name"),
    T({"exception": {"type": "X"}}, "task_name"),
    T({"task_name": ""}, "task_name"),
    T({"task_name": None}, "task_name"),
    T({"task_name": 5}, "task_name"),
    T({"task_name": ["a"]}, "task_name"),
    T({"task_name": {"a": 1}}, "task_name"),
    T({"task_name": True}, "task_name"),
    T({"task_name": "x" * 513}, "task_name"),
    T({**OK_NAME, "original_task_id": 5}, "original_task_id"),
    T({**OK_NAME, "original_task_id": "x" * 300}, "original_task_id"),
    T({**OK_NAME, "task_kwargs": [1, 2]}, "task_kwargs"),
    T({**OK_NAME, "task_kwargs": 5}, "task_kwargs"),
    T({**OK_NAME, "task_args": "[1, 2"}, "task_args"),
    T({**OK_NAME, "exception": "boom"}, "exception"),
    T({**OK_NAME, "exception": ["boom"]}, "exception"),
    T({**OK_NAME, "exception": {"type": 5}}, "exception.type"),
    T({**OK_NAME, "exception": {"message": ["m"]}}, "exception.message"),
    T({**OK_NAME, "exception": {"traceback": {"a": 1}}}, "exception.traceback"),
    T({**OK_NAME, "exception": {"type": "X", "code": 1}}, "exception.code"),
    T({**OK_NAME, "exception": {"message": "m" * 65537}}, "exception.message"),
    T({**OK_NAME, "tenant_id": 5}, "tenant_id"),
    T({**OK_NAME, "tenant_id": ["a"]}, "tenant_id"),
    T({**OK_NAME, "retries_attempted": "3"}, "retries_attempted"),
    T({**OK_NAME, "retries_attempted": 1.5}, "retries_attempted"),
    T({**OK_NAME, "retries_attempted": 1e300}, "retries_attempted"),
    T({**OK_NAME, "failed_at": "yesterday"}, "failed_at"),
    T({**OK_NAME, "failed_at": 1700000000}, "failed_at"),
    T({**OK_NAME, "failed_at": "2026-13-45T00:00:00Z"}, "failed_at"),
    T({**OK_NAME, "failed_at": "2026-02-30T00:00:00Z"}, "failed_at"),
    T({**OK_NAME, "failed_at": "2026-01-25T10:30:00Zjunk"}, "failed_at"),
    T({**OK_NAME, "queue": 5}, "queue"),
    T({**OK_NAME, "priority": "high"}, "priority"),
    T({**OK_NAME, "priority": 2.5}, "priority"),
    T({**OK_NAME, "reason": "bogus"}, "reason"),
    T({**OK_NAME, "reason": 1}, "reason"),
    T({**OK_NAME, "error_code": 5}, "error_code"),
    T({**OK_NAME, "max_replays": "3"}, "max_replays"),
    T({**OK_NAME, "expires_at": "never"}, "expires_at"),
    T({**OK_NAME, "metadata": "x"}, "metadata"),
    T({**OK_NAME, "metadata": [1]}, "metadata"),
    T({**OK_NAME, "context": 5}, "context"),
    T({**OK_NAME, "idempotency_key": 5}, "idempotency_key"),
    T({**OK_NAME, "idempotency_key": "k" * 300}, "idempotency_key"),
    T({**OK_NAME, "foo": 1}, "foo"),
    T({**OK_NAME, "taskname": "typo"}, "taskname"),
    T({**OK_NAME, "status": "resolved"}, "status"),
    T({**OK_NAME, "dlq_id": "dlq_01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "dlq_id"),
    T({**OK_NAME, "retry_count": 0}, "retry_count"),
    T({**OK_NAME, "fingerprint": "abc"}, "fingerprint"),
    T({**OK_NAME, "processed_at": "2026-01-25T10:30:00Z"}, "processed_at"),
    T({**OK_NAME, "resolved_at": "2026-01-25T10:30:00Z"}, "resolved_at"),
    T({**OK_NAME, "history": []}, "history"),
    pytest.param('{"task_name": "a\\u0000b"}', None, id="nul-escape-in-name"),
    pytest.param('{"task_name": "a", "metadata": {"k\\u0000": 1}}', None, id="nul-escape-in-key"),
]


@pytest.mark.parametrize("body,field", BAD_BODIES)
def test_bad_ingest_body(unchanged, body, field):
    r = unchanged.admin.req("POST", ENTRIES, data=body.encode(),
                            headers={"Content-Type": "application/json"})
    assert_problem(r, 400, field)


@pytest.mark.parametrize("body,field", BAD_BODIES[9:-2])
def test_bad_item_in_batch(unchanged, body, field):
    item = json.loads(body)
    entries = [{"task_name": "app.tasks.bad.ok"}, item]
    r = unchanged.admin.post(BATCH, {"entries": entries})
    assert_problem(r, 400, f"entries[1].{field}")


def test_invalid_utf8(unchanged):
    for raw in (b'{"task_name": "\xff\xfe"}', b'{"task_name": "ok", "x\xc3": 1}',
                b'{"task_name": "\xed\xa0\x80"}', b'{"task_name": "\xc0\xaf"}'):
        r = unchanged.admin.req("POST", ENTRIES, data=raw,
                                headers={"Content-Type": "application/json"})
        assert_problem(r, 400)


def test_lone_surrogate_escape(unchanged):
    r = unchanged.admin.req("POST", ENTRIES, data=b'{"task_name": "a\\ud800b"}',
                            headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


def test_deeply_nested_metadata(unchanged):
    depth = 10000
    raw = '{"task_name": "app.tasks.deep", "metadata": ' + '{"a":' * depth + "1" + "}" * depth + "}"
    r = unchanged.admin.req("POST", ENTRIES, data=raw,
                            headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    raw = '{"task_name": "app.tasks.deep", "task_args": ' + "[" * depth + "]" * depth + "}"
    r = unchanged.admin.req("POST", ENTRIES, data=raw,
                            headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


@pytest.mark.parametrize("path", [ENTRIES, BATCH, "/api/v1/tokens"])
def test_body_over_1mib_is_413(unchanged, path):
    pad = "x" * (MIB + 16)
    body = json.dumps({"task_name": "app.tasks.huge", "exception": {"traceback": pad}})
    try:
        r = unchanged.admin.req("POST", path, data=body,
                                headers={"Content-Type": "application/json"})
    except requests.ConnectionError as e:
        pytest.fail(f"server dropped the connection instead of answering 413: {e}")
    assert_problem(r, 413)


def test_huge_declared_length_is_413(unchanged):
    # A client that announces 2 GiB must be refused before anything is read.
    import socket
    with socket.create_connection(("127.0.0.1", unchanged.port), timeout=5) as s:
        s.sendall((f"POST {ENTRIES} HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {unchanged.admin_secret}\r\n"
                   "Content-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n"
                   '{"task_name": "x"').encode())
        data = s.recv(4096).decode(errors="replace")
    assert data.startswith("HTTP/1.1 413"), data[:200]


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx"])
def test_non_json_content_type_is_415(unchanged, ctype):
    r = unchanged.admin.req("POST", ENTRIES, data=b'{"task_name": "app.tasks.ctype"}',
                            headers={"Content-Type": ctype})
    assert_problem(r, 415)


def test_json_content_type_with_charset_accepted(baseline):
    r = baseline.admin.req("POST", ENTRIES, data=b'{"task_name": "app.tasks.charset"}',
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text


BAD_QUERIES = [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "10abc"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"limit": "99999999999999999999"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "x"}, "offset"),
    ({"status": "bogus"}, "status"),
    ({"status": "pending_review,bogus"}, "status"),
    ({"status": ""}, "status"),
    ({"reason": "bogus"}, "reason"),
    ({"failed_after": "yesterday"}, "failed_after"),
    ({"failed_after": "2026-02-30T00:00:00Z"}, "failed_after"),
    ({"failed_before": "1700000000"}, "failed_before"),
    ({"sort": "name"}, "sort"),
    ({"sort": "failed_at; DROP TABLE entries"}, "sort"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": "eyJ4IjoxfQ"}, "cursor"),
    ({"foo": "1"}, "foo"),
    ({"taskname": "x"}, "taskname"),
]


@pytest.mark.parametrize("params,field", BAD_QUERIES, ids=[f"{p}" for p, _ in BAD_QUERIES])
def test_bad_list_query(unchanged, params, field):
    assert_problem(unchanged.admin.get(ENTRIES, params=params), 400, field)


@pytest.mark.parametrize("query,field", [("limit=1&limit=2", "limit"),
                                         ("task_name=a&task_name=b", "task_name")])
def test_repeated_param(unchanged, query, field):
    assert_problem(unchanged.admin.get(f"{ENTRIES}?{query}"), 400, field)


INJECTION = [
    ("task_name", "x' OR 1=1 --"),
    ("task_name", "%"),
    ("task_name", "app.tasks.bad.%"),
    ("task_name", "_pp.tasks.bad.baseline"),
    ("tenant_id", "' OR ''='"),
    ("queue", "default' --"),
    ("exception_type", "ValueError' OR 'a'='a"),
    ("fingerprint", "' UNION SELECT * FROM tokens --"),
    ("q", "x' OR 1=1 --"),
    ("q", '"foo" OR *'),
    ("q", "foo*"),
    ("q", 'NEAR(plain message)'),
    ("q", '"zzzz'),
    ("q", "plain AND NOT here"),
    ("q", "traceback:plain"),
    ("q", "-zzzz"),
    ("q", "^zzzz"),
    ("q", "(zzzz"),
    ("q", "zzzz)"),
    ("q", "plain OR zzzz"),
    ("q", "{task_name}: x"),
    ("q", "zz\\zz"),
    ("q", "'; DROP TABLE entries; --"),
]


@pytest.mark.parametrize("key,value", INJECTION, ids=[f"{k}={v}" for k, v in INJECTION])
def test_injection_looking_filter_values(unchanged, key, value):
    r = unchanged.admin.get(ENTRIES, params={key: value})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"] == [] and body["total"] == 0, value


def test_plain_q_still_matches(baseline):
    assert baseline.admin.list(q="plain message")["total"] == 1


def test_nul_in_query_param(unchanged):
    r = unchanged.admin.get(f"{ENTRIES}?task_name=a%00b")
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert r.json()["total"] == 0


def test_bad_path_ids(unchanged):
    for ident in ["%00", "..%2F..%2Fetc%2Fpasswd", "x'%20OR%201=1"]:
        r = unchanged.admin.get(f"{ENTRIES}/{ident}")
        assert r.status_code in (400, 404), (ident, r.status_code)
        assert r.headers["Content-Type"].startswith("application/problem+json")


def test_many_bad_requests_leave_server_healthy(unchanged):
    s = unchanged.admin
    for i in range(200):
        s.req("POST", ENTRIES, data=b"{" * (i % 7 + 1), headers={"Content-Type": "application/json"})
    assert s.get("/healthz").status_code == 200
