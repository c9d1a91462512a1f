"""GET /api/v1/dlq/entries: the seed 000 shape, every filter, paging.

A module server holds a known data set of 36 entries whose expected answers
are computed here in Python; every filter, alone and combined, must return
exactly the expected ids in the expected order with an exact total. Paging by
offset and by keyset cursor (also while entries arrive concurrently) runs on a
second server so its extra entries do not disturb the known set.
"""

import json
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ENTRY_KEYS, TIME_RE, DlqServer, assert_problem, uid

TASKS = ["app.tasks.export.generate_export", "app.tasks.email.send_welcome",
         "app.tasks.billing.charge_card"]
TENANTS = ["t_alpha", "t_beta", None]
QUEUES = ["default", "mail", "billing"]
REASONS = ["external", "max_retries_exceeded", "timeout", "permanent_failure"]
EXC = ["ConnectionError", "ValueError", "TimeoutError"]
MSGS = {"ConnectionError": "database connection refused",
        "ValueError": "invalid email address",
        "TimeoutError": "upstream did not answer"}
BASE = datetime(2025, 3, 1, tzinfo=timezone.utc)
N = 36


def fmt(t):
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    ms = t.microsecond // 1000
    return s + (f".{ms:03d}" if ms else "") + "Z"


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def make_dataset():
    out = []
    for i in range(N):
        exc = EXC[(i // 4) % 3]
        e = {
            "task_name": TASKS[i % 3],
            "original_task_id": f"orig-{i}",
            "exception": {"type": exc, "message": MSGS[exc], "traceback": "Traceback: frame"},
            "reason": REASONS[i % 4],
            "failed_at": fmt(BASE + timedelta(seconds=60 * i, milliseconds=250 * (i % 2))),
        }
        if TENANTS[(i // 3) % 3]:
            e["tenant_id"] = TENANTS[(i // 3) % 3]
        if QUEUES[(i // 2) % 3] != "default":
            e["queue"] = QUEUES[(i // 2) % 3]
        if i == 5:
            e["exception"]["message"] = "the zebrafish escaped from tank"
        if i == 11:
            e["exception"]["traceback"] = "Traceback:\n  in quokka_handler\nKeyError"
        out.append(e)
    return out


@pytest.fixture(scope="module")
def data(server):
    """data ingests the known set; returns [(dlq_id, entry_sent)] in send order."""
    sent = make_dataset()
    order = list(range(N))
    random.Random(7).shuffle(order)  # ids must not follow failed_at
    ids = server.admin.ingest_batch([sent[i] for i in order])
    by_index = {order[k]: ids[k] for k in range(N)}
    return [(by_index[i], sent[i]) for i in range(N)]


def expect(data, pred, asc=False):
    rows = [(e["failed_at"], d) for d, e in data if pred(e)]
    rows.sort(key=lambda r: ts(r[0]), reverse=not asc)
    return [d for _, d in rows]


def check(server, data, params, pred, asc=False):
    want = expect(data, pred, asc)
    page = server.admin.list(limit=100, **params)
    got = [it["dlq_id"] for it in page["items"]]
    assert got == want, params
    assert page["total"] == len(want), params
    return page


def test_shape_exact_keys_and_order(server, data):
    r = server.admin.get("/api/v1/dlq/entries", params={"limit": 100})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["items", "total", "limit", "offset", "next_cursor"]
    assert body["limit"] == 100 and body["offset"] == 0 and body["next_cursor"] is None
    assert len(body["items"]) == N
    for it in body["items"]:
        assert list(it) == ENTRY_KEYS
        assert list(it["exception"]) == ["type", "message", "traceback"]
        assert isinstance(it["task_args"], str) and isinstance(it["task_kwargs"], str)
        json.loads(it["task_args"])
        json.loads(it["task_kwargs"])
        assert TIME_RE.match(it["failed_at"]) and TIME_RE.match(it["processed_at"])
        assert isinstance(it["retries_attempted"], int) and isinstance(it["retry_count"], int)
        assert it["status"] == "pending_review"
        assert "history" not in it


def test_default_order_total_and_defaults(server, data):
    page = check(server, data, {}, lambda e: True)
    assert page["items"][0]["failed_at"] == data[-1][1]["failed_at"]
    dflt = server.admin.list()
    assert dflt["limit"] == 50 and dflt["offset"] == 0 and dflt["total"] == N


def test_values_of_one_item(server, data):
    dlq_id, sent = data[5]
    it = [x for x in server.admin.list(limit=100)["items"] if x["dlq_id"] == dlq_id][0]
    assert it["task_name"] == sent["task_name"]
    assert it["original_task_id"] == "orig-5"
    assert it["exception"]["message"] == "the zebrafish escaped from tank"
    assert it["failed_at"] == sent["failed_at"]
    assert it["tenant_id"] == sent.get("tenant_id")
    assert it["queue"] == sent.get("queue", "default")


FILTERS = (
    [("task_name", t, lambda e, t=t: e["task_name"] == t) for t in TASKS]
    + [("tenant_id", t, lambda e, t=t: e.get("tenant_id") == t) for t in ["t_alpha", "t_beta"]]
    + [("queue", q, lambda e, q=q: e.get("queue", "default") == q) for q in QUEUES]
    + [("reason", r, lambda e, r=r: e["reason"] == r) for r in REASONS]
    + [("reason", "job_not_found", lambda e: False)]
    + [("exception_type", x, lambda e, x=x: e["exception"]["type"] == x) for x in EXC]
    + [("task_name", "app.tasks.nope", lambda e: False),
       ("tenant_id", "t_gamma", lambda e: False),
       ("task_name", "app.tasks.export", lambda e: False)]  # exact match, not prefix
)


@pytest.mark.parametrize("key,value,pred", FILTERS,
                         ids=[f"{k}={v}" for k, v, _ in FILTERS])
def test_filter_alone(server, data, key, value, pred):
    check(server, data, {key: value}, pred)


def test_fingerprint_filter(server, data):
    dlq_id, sent = data[0]
    fp = server.admin.entry(dlq_id)["fingerprint"]
    same = lambda e: (e["task_name"], e["exception"]["type"], e["exception"]["message"]) == (
        sent["task_name"], sent["exception"]["type"], sent["exception"]["message"])
    page = check(server, data, {"fingerprint": fp}, same)
    assert all(it["fingerprint"] == fp for it in page["items"])
    check(server, data, {"fingerprint": "0123456789abcdef"}, lambda e: False)


STATUS = [("pending_review", True), ("resolved", False), ("pending_review,resolved", True),
          ("requires_review,retried", False), ("discarded,pending_review,archived", True),
          ("expired", False)]


@pytest.mark.parametrize("status,match", STATUS, ids=[s for s, _ in STATUS])
def test_status_filter(server, data, status, match):
    check(server, data, {"status": status}, lambda e: match)


def test_failed_after_is_inclusive(server, data):
    t = data[20][1]["failed_at"]  # 20 is even: whole seconds
    check(server, data, {"failed_after": t}, lambda e: ts(e["failed_at"]) >= ts(t))
    t = data[21][1]["failed_at"]  # has .250
    assert t.endswith(".250Z")
    check(server, data, {"failed_after": t}, lambda e: ts(e["failed_at"]) >= ts(t))


def test_failed_before_is_exclusive(server, data):
    t = data[9][1]["failed_at"]
    check(server, data, {"failed_before": t}, lambda e: ts(e["failed_at"]) < ts(t))


def test_failed_window_and_offset_time(server, data):
    key = ts
    lo, hi = data[10][1]["failed_at"], data[15][1]["failed_at"]
    check(server, data, {"failed_after": lo, "failed_before": hi},
          lambda e: key(lo) <= key(e["failed_at"]) < key(hi))
    # the same instant written with an offset
    lo2 = (key(lo).astimezone(timezone(timedelta(hours=2)))).isoformat()
    check(server, data, {"failed_after": lo2, "failed_before": hi},
          lambda e: key(lo) <= key(e["failed_at"]) < key(hi))
    # an empty window: either no match or a 400 naming the bound
    r = server.admin.get("/api/v1/dlq/entries", params={"failed_after": hi, "failed_before": lo})
    if r.status_code == 200:
        assert r.json()["items"] == [] and r.json()["total"] == 0
    else:
        assert_problem(r, 400, "failed_after")


Q = [
    ("zebrafish", lambda e: "zebrafish" in e["exception"]["message"]),  # message
    ("ZEBRAFISH", lambda e: "zebrafish" in e["exception"]["message"]),  # case
    ("quokka_handler", lambda e: "quokka" in e["exception"]["traceback"]),  # traceback
    ("export", lambda e: "export" in e["task_name"]),  # part of a task name
    ("charge_card", lambda e: e["task_name"] == TASKS[2]),
    ("app.tasks.billing.charge_card", lambda e: e["task_name"] == TASKS[2]),
    ("TimeoutError", lambda e: e["exception"]["type"] == "TimeoutError"),  # exception type
    ("ocelot", lambda e: False),
]


@pytest.mark.parametrize("q,pred", Q, ids=[q for q, _ in Q])
def test_q_full_text(server, data, q, pred):
    check(server, data, {"q": q}, pred)


COMBINED = [
    ({"task_name": TASKS[0], "tenant_id": "t_alpha"},
     lambda e: e["task_name"] == TASKS[0] and e.get("tenant_id") == "t_alpha"),
    ({"queue": "mail", "reason": "timeout"},
     lambda e: e.get("queue", "default") == "mail" and e["reason"] == "timeout"),
    ({"exception_type": "ValueError", "status": "pending_review", "tenant_id": "t_beta"},
     lambda e: e["exception"]["type"] == "ValueError" and e.get("tenant_id") == "t_beta"),
    ({"q": "export", "tenant_id": "t_beta"},
     lambda e: "export" in e["task_name"] and e.get("tenant_id") == "t_beta"),
    ({"q": "zebrafish", "task_name": TASKS[1]}, lambda e: False),
    ({"task_name": TASKS[1], "failed_after": fmt(BASE + timedelta(minutes=12)),
      "failed_before": fmt(BASE + timedelta(minutes=30)), "status": "pending_review,retried"},
     lambda e: e["task_name"] == TASKS[1]
     and BASE + timedelta(minutes=12) <= ts(e["failed_at"]) < BASE + timedelta(minutes=30)),
]


@pytest.mark.parametrize("params,pred", COMBINED, ids=[str(i) for i in range(len(COMBINED))])
def test_combined_filters(server, data, params, pred):
    check(server, data, params, pred)


def test_sort_ascending(server, data):
    check(server, data, {"sort": "failed_at"}, lambda e: True, asc=True)
    check(server, data, {"sort": "-failed_at"}, lambda e: True)
    check(server, data, {"sort": "failed_at", "queue": "mail"},
          lambda e: e.get("queue", "default") == "mail", asc=True)


def test_offset_paging(server, data):
    want = expect(data, lambda e: True)
    got = []
    for off in range(0, N + 5, 5):
        page = server.admin.list(limit=5, offset=off)
        assert page["total"] == N and page["limit"] == 5 and page["offset"] == off
        got.extend(it["dlq_id"] for it in page["items"])
    assert got == want
    assert server.admin.list(limit=5, offset=1000)["items"] == []


def test_offset_paging_with_filter(server, data):
    want = expect(data, lambda e: e["task_name"] == TASKS[0])
    page1 = server.admin.list(task_name=TASKS[0], limit=4, offset=0)
    page2 = server.admin.list(task_name=TASKS[0], limit=4, offset=4)
    assert [i["dlq_id"] for i in page1["items"] + page2["items"]] == want[:8]
    assert page1["total"] == page2["total"] == len(want)


def test_cursor_over_known_set(server, data):
    want = expect(data, lambda e: True)
    got, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = server.admin.list(**params)
        assert page["total"] == N
        got.extend(it["dlq_id"] for it in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
    assert got == want and pages == 4


def test_cursor_with_full_text_and_filters(server, data):
    for params, pred in [({"q": "export"}, lambda e: "export" in e["task_name"]),
                         ({"tenant_id": "t_beta", "sort": "failed_at"},
                          lambda e: e.get("tenant_id") == "t_beta")]:
        want = expect(data, pred, asc=params.get("sort") == "failed_at")
        got, cursor = [], None
        while True:
            p = dict(params, limit=3)
            if cursor:
                p["cursor"] = cursor
            page = server.admin.list(**p)
            assert page["total"] == len(want)
            got.extend(it["dlq_id"] for it in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert got == want, params


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_accepted(server, data, limit):
    page = server.admin.list(limit=limit)
    assert page["limit"] == limit and len(page["items"]) == min(limit, N)
    assert page["total"] == N


def test_cursor_of_other_sort_rejected(server, data):
    cur = server.admin.list(limit=2)["next_cursor"]
    assert cur
    assert_problem(server.admin.get("/api/v1/dlq/entries",
                                    params={"cursor": cur, "sort": "failed_at"}), 400, "cursor")


# ---- paging over a larger set, on its own server ----

@pytest.fixture(scope="module")
def paging(dlq_bin, tmp_path_factory):
    srv = DlqServer(dlq_bin, tmp_path_factory.mktemp("paging")).start()
    yield srv
    srv.stop()


def walk(api, params, limit=7, between=None):
    """walk pages by cursor; returns ([(id, failed_at)], pages, totals).

    between, if given, is called after each page (to interleave writes)."""
    seen, pages, totals, cursor = [], [], set(), None
    while True:
        p = dict(params, limit=limit)
        if cursor:
            p["cursor"] = cursor
        page = api.list(**p)
        totals.add(page["total"])
        pages.append(len(page["items"]))
        seen.extend((it["dlq_id"], it["failed_at"]) for it in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return seen, pages, totals
        if between:
            between()
        assert len(pages) < 1000, "cursor paging does not end"


@pytest.mark.parametrize("sort", ["-failed_at", "failed_at"])
def test_cursor_paging_300_limit_7(paging, sort):
    name = uid("app.tasks.cursor.")
    if not hasattr(paging, "cursor_set"):
        base = datetime(2025, 6, 1, tzinfo=timezone.utc)
        # groups of 3 share a failed_at, to test ties; ingest order shuffled
        rows = [{"task_name": "app.tasks.cursor.shared", "original_task_id": f"c{i}",
                 "failed_at": fmt(base + timedelta(seconds=i // 3))} for i in range(300)]
        random.Random(3).shuffle(rows)
        ids = []
        for k in range(0, 300, 100):
            ids += paging.admin.ingest_batch(rows[k:k + 100])
        paging.cursor_set = set(ids)
        # noise that the filter must exclude
        paging.admin.ingest_batch([{"task_name": name, "failed_at": fmt(base)}] * 20)
    want = paging.cursor_set
    seen, pages, totals = walk(paging.admin, {"task_name": "app.tasks.cursor.shared",
                                              "sort": sort})
    ids = [i for i, _ in seen]
    assert len(ids) == len(set(ids)) == 300, "an entry was repeated"
    assert set(ids) == want
    assert pages == [7] * 42 + [6]
    assert totals == {300}
    times = [ts(t) for _, t in seen]
    assert times == sorted(times, reverse=(sort == "-failed_at"))


@pytest.mark.parametrize("sort", ["-failed_at", "failed_at"])
def test_cursor_paging_while_ingesting(paging, sort):
    name = uid("app.tasks.live.")
    base = datetime(2025, 7, 1, tzinfo=timezone.utc)
    rows = [{"task_name": name, "failed_at": fmt(base + timedelta(seconds=i))}
            for i in range(300)]
    original = set(paging.admin.ingest_batch(rows))
    stop = threading.Event()
    added, errors = [], []

    def writer():
        api = paging.api()
        rnd = random.Random(11)
        try:
            while not stop.is_set():
                # new entries land before, inside and after the walked range
                t = base + timedelta(seconds=rnd.uniform(-50, 350))
                added.append(api.ingest(task_name=name, failed_at=fmt(t)))
                time.sleep(0.002)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    def wait_for_a_write():
        # let at least one new entry land between two pages
        n, deadline = len(added), time.monotonic() + 5
        while len(added) == n and not errors and time.monotonic() < deadline:
            time.sleep(0.001)

    th = threading.Thread(target=writer)
    th.start()
    try:
        seen, pages, _ = walk(paging.admin, {"task_name": name, "sort": sort},
                              between=wait_for_a_write)
    finally:
        stop.set()
        th.join()
    assert not errors, errors
    assert len(added) >= len(pages) - 1, "the writer did not run alongside the walk"
    ids = [i for i, _ in seen]
    assert len(ids) == len(set(ids)), "an entry was repeated"
    missing = original - set(ids)
    assert not missing, f"{len(missing)} original entries missed"
    times = [ts(t) for _, t in seen]
    assert times == sorted(times, reverse=(sort == "-failed_at"))


def test_fingerprint_masks_numbers(paging):
    name = uid("app.tasks.fp.")
    a = paging.admin.ingest(task_name=name, exception={"type": "KeyError",
                                                       "message": "user 42 not found"})
    b = paging.admin.ingest(task_name=name, exception={"type": "KeyError",
                                                       "message": "user 7 not found"})
    c = paging.admin.ingest(task_name=name, exception={"type": "KeyError",
                                                       "message": "user 42 was deleted"})
    fa, fb, fc = (paging.admin.entry(x)["fingerprint"] for x in (a, b, c))
    assert fa == fb != fc
    ids = {it["dlq_id"] for it in paging.admin.list(fingerprint=fa)["items"]}
    assert ids == {a, b}
