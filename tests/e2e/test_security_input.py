"""Hostile input over every endpoint: injection, huge and deep bodies, path,
query and header tricks. Routes come from router.c's table at collection
time (test_security_routes.py).

The rule everywhere: a clear 4xx (problem+json where the server, not
libmicrohttpd, answers), never a 5xx or a dropped server, and nothing
changes. Specifically:

- SQL and FTS5 syntax in every filter of list, export (json, ndjson, csv),
  groups, audit and the bulk dry runs is a plain value: 200 with no match,
  or a literal match only, or 400/422. The entries, their statuses and the
  tokens are unchanged afterwards.
- A body over the cap is 413 on every route that reads one; 100k '[' or '{'
  is 400/413/422; a non-JSON Content-Type is 415.
- Paths: '..' and '.' segments (also as %2e), encoded slashes (%2F), '//',
  encoded NULs (%00) are 400; ids longer than a segment may be are 404; a
  path too long for the server's memory is 414 from libmicrohttpd.
- Query strings: a parameter given twice is a 400 naming it on every route
  (documented choice: no silent pick of the first or last value); a decoded
  NUL in a query value or key is a 400 (it would silently cut the value);
  more than 64 arguments is a 400.
- Headers: two Authorization headers are a 400 (never a silent pick); two
  different Content-Length headers are refused (no request smuggling);
  headers too large for the server are 431; an X-Request-Id that is not
  safe to echo is replaced.
"""

import json
import re

import pytest
import requests

from conftest import ENTRIES, assert_problem, uid
from test_security_routes import (BODY_METHODS, PROBE_BODY, ROUTES, WITH_BODY, fill, raw_request,
                                  rid, send)

MIB = 1024 * 1024
GETS = [rt for rt in ROUTES if rt[0] == "GET"]


@pytest.fixture(scope="module")
def world(server):
    """world: a few entries with awkward text, and a fingerprint of the state."""
    srv = server
    lit = uid("lit")
    srv.admin.ingest(task_name="app.tasks.sec.plain",
                     exception={"type": "ValueError", "message": "plain message"})
    srv.admin.ingest(task_name=f"app.tasks.sec.{lit}",
                     exception={"type": "KeyError",
                                "message": f"{lit} O'Reilly said \"NEAR(x) AND y*\" -- ok"})
    return {"srv": srv, "lit": lit}


def state(srv):
    """state: every entry's id and status, and the token ids."""
    items = srv.admin.get(ENTRIES, params={"limit": 100}).json()["items"]
    toks = srv.admin.get("/api/v1/tokens").json()["items"]
    return (sorted((e["dlq_id"], e["status"]) for e in items), sorted(t["id"] for t in toks))


@pytest.fixture
def unchanged(world):
    srv = world["srv"]
    before = state(srv)
    yield world
    assert requests.get(srv.base + "/healthz", timeout=5).status_code == 200
    assert state(srv) == before, "a hostile request changed something"


INJECT = ["x' OR 1=1 --", "' OR ''='", "\" OR \"\"=\"", "'; DROP TABLE entries; --",
          "x' UNION SELECT secret_hash FROM tokens --", "*/ OR 1=1 /*", "%", "_", "\\",
          '"', "*", "NEAR(", "NEAR(a b)", "a AND", "AND", "OR b", "NOT", "(", ")", "^x",
          "col:x", "{a b}: c", "x\u00e9'\u2028", "1; SELECT 1"]
LIST_KEYS = ["task_name", "tenant_id", "queue", "exception_type", "fingerprint", "q"]
CASES = [(k, v) for k in LIST_KEYS for v in INJECT]


def literal_ok(world, body_text, value):
    """Only the entry whose text holds value's words literally may match:
    FTS5 syntax is quoted away, so "NEAR(" finds the text NEAR, not an
    operator, and "%" or "_" are no wildcards."""
    if world["lit"] not in body_text:
        return True
    text = f"app.tasks.sec.{world['lit']} {world['lit']} O'Reilly said \"NEAR(x) AND y*\" -- ok"
    words = re.findall(r"\w+", value)
    if not words:
        return value in text
    have = {w.lower() for w in re.findall(r"\w+", text)}
    return all(w.lower() in have for w in words)


@pytest.mark.parametrize("key,value", CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_injection_in_list_and_export(unchanged, key, value):
    api = unchanged["srv"].admin
    r = api.get(ENTRIES, params={key: value})
    assert r.status_code in (200, 400), r.text[:300]
    if r.status_code == 200:
        assert r.json()["total"] in (0, 1) and literal_ok(unchanged, r.text, value), r.text[:300]
        assert "app.tasks.sec.plain" not in r.text, r.text[:300]
    for fmt in ("json", "ndjson", "csv"):
        r = api.get("/api/v1/dlq/export", params={key: value, "format": fmt})
        assert r.status_code in (200, 400), (fmt, r.text[:300])
        if r.status_code == 200:
            assert "app.tasks.sec.plain" not in r.text, (fmt, r.text[:300])


@pytest.mark.parametrize("value", INJECT)
def test_injection_in_groups_and_audit(unchanged, value):
    api = unchanged["srv"].admin
    for key in ("task_name", "queue", "exception_type"):
        r = api.get("/api/v1/dlq/groups", params={key: value})
        assert r.status_code in (200, 400), r.text[:300]
        if r.status_code == 200:
            assert "app.tasks.sec.plain" not in r.text
    for key in ("actor", "action", "target", "cursor"):
        r = api.get("/api/v1/audit", params={key: value})
        assert r.status_code in (200, 400), r.text[:300]
        if r.status_code == 200 and key != "cursor":
            assert r.json()["items"] == [], r.text[:300]


BULKS = ["/api/v1/dlq/replay-bulk", "/api/v1/dlq/resolve-bulk", "/api/v1/dlq/discard-bulk"]


@pytest.mark.parametrize("value", INJECT)
def test_injection_in_bulk_dry_runs(unchanged, value):
    api = unchanged["srv"].admin
    for path in BULKS:
        for key in LIST_KEYS:
            r = api.post(path, {key: value, "dry_run": True})
            assert r.status_code in (200, 400, 422), (path, key, r.text[:300])
            if r.status_code == 200:
                assert r.json()["matched"] <= 1, (path, key, r.text[:300])


# ---- bodies ----

@pytest.mark.parametrize("rt", WITH_BODY, ids=rid)
def test_oversized_body_is_413(unchanged, rt):
    body = json.dumps({"task_name": "x", "pad": "x" * (MIB + 64)})
    try:
        r = send(unchanged["srv"], rt[0], fill(rt[1]), data=body,
                 secret=unchanged["srv"].admin_secret)
    except requests.ConnectionError as e:
        pytest.fail(f"connection dropped instead of a 413: {e}")
    assert_problem(r, 413)


@pytest.mark.parametrize("rt", WITH_BODY, ids=rid)
@pytest.mark.parametrize("opener", ["[", "{\"a\":"])
def test_deeply_nested_body(unchanged, rt, opener):
    body = opener * 100000
    r = send(unchanged["srv"], rt[0], fill(rt[1]), data=body, secret=unchanged["srv"].admin_secret)
    # Routes that take no body (pause, resume, report) ignore it; the rest
    # refuse it. Never a 5xx.
    assert r.status_code < 500, r.text[:300]
    if rt[1].startswith(ENTRIES) or rt[1].startswith("/api/v1/tokens") or "bulk" in rt[1]:
        assert r.status_code in (400, 404, 413, 422), r.text[:300]


@pytest.mark.parametrize("rt", WITH_BODY, ids=rid)
def test_bad_content_type_is_415(unchanged, rt):
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/json5"):
        r = send(unchanged["srv"], rt[0], fill(rt[1]), data=PROBE_BODY,
                 secret=unchanged["srv"].admin_secret, headers={"Content-Type": ctype})
        assert_problem(r, 415)


# ---- paths ----

def target_variants(pattern):
    """Hostile request targets built on a route with a {param}."""
    base = pattern[:pattern.index("{")]
    rest = pattern[pattern.index("}") + 1:]
    out = []
    for seg in ("..", ".", "%2e%2e", "%2E%2e", "%2e", "a%2Fb", "%2f", "a%00b", "%00", ""):
        out.append((base + seg + rest, 400))
    out.append((base.rstrip("/") + "//x" + rest, 400))
    out.append((base + "x" * 201 + rest, 404))
    out.append((base + "x" * 4000 + rest, 404))
    return out


PARAM_ROUTES = [rt for rt in ROUTES if "{" in rt[1]]
PATH_CASES = [(rt, t, st) for rt in PARAM_ROUTES for t, st in target_variants(rt[1])]


@pytest.mark.parametrize("rt,target,want", PATH_CASES,
                         ids=[f"{rid(rt)}:{t[-40:]}" for rt, t, _ in PATH_CASES])
def test_path_tricks(unchanged, rt, target, want):
    srv = unchanged["srv"]
    head = (f"{rt[0]} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin_secret}\r\n"
            "Connection: close\r\nContent-Length: 0\r\n\r\n").encode()
    status, text = raw_request(srv.port, head)
    if want == 400 and target.endswith("/") and status == 404:
        want = 404  # an empty last segment is simply no route
    assert status in (want, 404) if want == 404 else status == want, text[:400]
    assert "application/problem+json" in text


def test_double_slash_and_dots_outside_params(unchanged):
    srv = unchanged["srv"]
    for target, want in (("//api/v1/dlq/entries", 400), ("/api/v1//dlq/entries", 400),
                         ("/api/v1/dlq/x/../entries", 400), ("/api/v1/dlq/%2e%2e/dlq/entries", 400),
                         ("/api%2Fv1/dlq/entries", 400), ("/api/v1/dlq/entries%00", 400),
                         ("/api/v1/dlq/entries/", 404)):
        head = (f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin_secret}\r\n"
                "Connection: close\r\n\r\n").encode()
        status, text = raw_request(srv.port, head)
        assert status == want, (target, text[:300])


def test_very_long_path_is_refused(unchanged):
    srv = unchanged["srv"]
    head = (f"GET /api/v1/dlq/entries/{'a' * 200000} HTTP/1.1\r\nHost: x\r\n"
            "Connection: close\r\n\r\n").encode()
    status, _ = raw_request(srv.port, head)
    assert status in (0, 414), status


# ---- query strings ----

@pytest.mark.parametrize("rt", GETS, ids=rid)
def test_duplicate_query_parameter_is_400(unchanged, rt):
    srv = unchanged["srv"]
    for key, a, b in (("limit", "1", "2"), ("zz", "1", "1")):
        r = send(srv, "GET", f"{fill(rt[1])}?{key}={a}&{key}={b}", secret=srv.admin_secret)
        body = assert_problem(r, 400, key)
        assert "more than once" in json.dumps(body), body


@pytest.mark.parametrize("rt", GETS, ids=rid)
def test_nul_in_query_is_400(unchanged, rt):
    srv = unchanged["srv"]
    for q in ("task_name=a%00b", "a%00b=1"):
        r = send(srv, "GET", f"{fill(rt[1])}?{q}", secret=srv.admin_secret)
        assert_problem(r, 400)


def test_too_many_query_arguments_is_400(unchanged):
    srv = unchanged["srv"]
    q = "&".join(f"k{i}=1" for i in range(70))
    for path in ("/healthz", ENTRIES, "/api/v1/dlq/stats"):
        assert_problem(send(srv, "GET", f"{path}?{q}", secret=srv.admin_secret), 400)


def test_single_query_parameters_still_work(world):
    srv = world["srv"]
    r = srv.admin.get(ENTRIES, params={"limit": 1, "task_name": "app.tasks.sec.plain"})
    assert r.status_code == 200 and r.json()["total"] == 1
    assert srv.admin.get("/api/v1/dlq/stats", params={"hours": 2}).status_code == 200


# ---- headers ----

def test_two_authorization_headers_are_400(unchanged):
    srv = unchanged["srv"]
    for first, second in (("nope", srv.admin_secret), (srv.admin_secret, "nope"),
                          (srv.admin_secret, srv.admin_secret)):
        head = (f"GET /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {first}\r\n"
                f"Authorization: Bearer {second}\r\nConnection: close\r\n\r\n").encode()
        status, text = raw_request(srv.port, head)
        assert status == 400, text[:300]


def test_conflicting_content_length_is_refused(unchanged):
    srv = unchanged["srv"]
    body = b'{"task_name": "app.tasks.smuggle"}'
    head = (f"POST {ENTRIES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.admin_secret}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Content-Length: 5\r\nConnection: close\r\n\r\n").encode()
    status, text = raw_request(srv.port, head, body)
    assert status in (0, 400), text[:300]


def test_huge_header_is_431(unchanged):
    srv = unchanged["srv"]
    r = send(srv, "GET", ENTRIES, secret=srv.admin_secret, headers={"X-Big": "a" * 100000})
    assert r.status_code == 431
    many = {f"X-H{i}": "v" * 50 for i in range(2000)}
    r = send(srv, "GET", ENTRIES, secret=srv.admin_secret, headers=many)
    assert r.status_code == 431


def test_unsafe_request_id_is_not_echoed(unchanged):
    srv = unchanged["srv"]
    for rid_ in ("<script>", "a" * 65, "a b", "x\u00e9"):
        r = send(srv, "GET", "/healthz", headers={"X-Request-Id": rid_.encode().decode("latin-1")})
        assert r.headers["X-Request-Id"] != rid_
    r = send(srv, "GET", "/healthz", headers={"X-Request-Id": "ok-1.2_3"})
    assert r.headers["X-Request-Id"] == "ok-1.2_3"


def test_method_tricks(unchanged):
    srv = unchanged["srv"]
    for method, want in (("TRACE", 405), ("OPTIONS", 405), ("PUT", 405), ("FOO", 405)):
        head = (f"{method} {ENTRIES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                f"{srv.admin_secret}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").encode()
        status, text = raw_request(srv.port, head)
        assert status in (want, 400, 501), (method, text[:300])


QUEUE_ROUTES = [rt for rt in ROUTES if "{queue}" in rt[1]]


@pytest.mark.parametrize("rt", QUEUE_ROUTES, ids=rid)
def test_bad_queue_names_in_path(unchanged, rt):
    """Queue names are [A-Za-z0-9._:-]{1,128} (ISSUE4_API.md): anything else
    in the path is a 400, whatever the route, before any lookup or write."""
    srv = unchanged["srv"]
    for name in ("q%27%20OR%201%3D1", "a%20b", "%22x%22", "q%3Bdrop", "x" * 129, "%C3%A9"):
        data = b"{}" if rt[0] in BODY_METHODS else None
        r = send(srv, rt[0], fill(rt[1], {"queue": name}), data=data, secret=srv.admin_secret)
        assert_problem(r, 400)


def test_many_keys_and_items_are_answered_quickly(unchanged):
    """Bodies built to be slow (tens of thousands of keys in one object,
    colliding-looking keys, the batch maximum plus one) get a quick answer."""
    import time
    srv = unchanged["srv"]
    meta = "{" + ",".join(f'"k{i:06d}":{i}' for i in range(60000)) + "}"
    body = '{"task_name": "app.tasks.keys", "metadata": ' + meta + ', "zz_probe": 1}'
    t0 = time.monotonic()
    r = send(srv, "POST", ENTRIES, data=body, secret=srv.admin_secret)
    assert r.status_code == 400 and time.monotonic() - t0 < 5, r.text[:200]
    items = [{"task_name": "app.tasks.many"}] * 1001
    t0 = time.monotonic()
    r = srv.admin.post("/api/v1/dlq/entries/batch", {"entries": items})
    assert r.status_code in (400, 413, 422) and time.monotonic() - t0 < 5, r.text[:200]
