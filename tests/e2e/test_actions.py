"""Single-entry actions (issue 3 slice A): retry, force redrive, resolve,
discard, replay outcomes, ingest linking of failed replays, the state table of
DESIGN.md section 3 through the API (allowed and refused), concurrency and
tenancy."""

import re
import threading

import pytest

from conftest import ENTRIES, TIME_RE, assert_problem, uid

JOB_RE = re.compile(r"^job_[0-9A-HJKMNP-TV-Z]{26}$")


def new_entry(api, **fields):
    body = {"task_name": uid("task."), "exception": {"type": "ValueError", "message": "boom 42"}}
    body.update(fields)
    return api.ingest(**body)


def retry(api, ident, body=None, force=None):
    params = {"force": "true" if force else "false"} if force is not None else None
    return api.post(f"{ENTRIES}/{ident}/retry", body, params=params)


def resolve(api, ident, body=None):
    return api.post(f"{ENTRIES}/{ident}/resolve", body)


def discard(api, ident, reason=None):
    return api.delete(f"{ENTRIES}/{ident}", params={"reason": reason} if reason else None)


def outcome(api, ident, ok, error=None):
    body = {"succeeded": ok}
    if error is not None:
        body["error"] = error
    return api.post(f"{ENTRIES}/{ident}/outcome", body)


def events(api, ident):
    return [h["event"] for h in api.entry(ident)["history"]]


def to_status(server, status):
    """to_status makes an entry and drives it into status through the API."""
    a = server.admin
    i = new_entry(a, max_replays=1)
    if status == "pending_review":
        return i
    if status in ("retried", "requires_review", "resolved"):
        assert retry(a, i).status_code == 200
        if status == "requires_review":
            assert outcome(a, i, False).json()["status"] == "requires_review"
        if status == "resolved":
            assert outcome(a, i, True).json()["status"] == "resolved"
        return i
    if status == "discarded":
        assert discard(a, i).status_code == 200
        return i
    raise AssertionError(status)


# ---- the state table ----

ACTIONS = {
    "retry": lambda s, i: retry(s.admin, i),
    "force": lambda s, i: retry(s.admin, i, {"reason": "table"}, force=True),
    "resolve": lambda s, i: resolve(s.admin, i),
    "discard": lambda s, i: discard(s.admin, i),
    "outcome_ok": lambda s, i: outcome(s.admin, i, True),
    "outcome_fail": lambda s, i: outcome(s.admin, i, False),
}

# (from, action) -> resulting status, or None when refused (409).
TABLE = {
    ("pending_review", "retry"): "retried",
    ("pending_review", "force"): "retried",
    ("pending_review", "resolve"): "resolved",
    ("pending_review", "discard"): "discarded",
    ("pending_review", "outcome_ok"): None,
    ("pending_review", "outcome_fail"): None,
    ("requires_review", "retry"): None,
    ("requires_review", "force"): "retried",
    ("requires_review", "resolve"): "resolved",
    ("requires_review", "discard"): "discarded",
    ("requires_review", "outcome_ok"): None,
    ("retried", "retry"): None,
    ("retried", "force"): None,
    ("retried", "resolve"): "resolved",
    ("retried", "discard"): "discarded",
    ("retried", "outcome_ok"): "resolved",
    ("retried", "outcome_fail"): "requires_review",  # max_replays 1: at the cap
    ("resolved", "retry"): None,
    ("resolved", "force"): None,
    ("resolved", "resolve"): None,
    ("resolved", "discard"): "discarded",
    ("resolved", "outcome_ok"): None,
    ("discarded", "retry"): None,
    ("discarded", "force"): None,
    ("discarded", "resolve"): None,
    ("discarded", "discard"): None,
    ("discarded", "outcome_fail"): None,
}


@pytest.mark.parametrize("start,action", sorted(TABLE))
def test_state_table(server, start, action):
    i = to_status(server, start)
    want = TABLE[(start, action)]
    r = ACTIONS[action](server, i)
    if want is None:
        body = assert_problem(r, 409)
        assert f"entry {i} is {start}" in body["detail"], body["detail"]
        assert server.admin.entry(i)["status"] == start
    else:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == want
        assert server.admin.entry(i)["status"] == want


# ---- retry ----

def test_retry_shape_and_history(server):
    a = server.admin
    orig = uid("orig-")
    i = new_entry(a, original_task_id=orig)
    r = retry(a, i, {"reason": "deploy fixed it", "ticket_url": "https://t/1"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["status"] == "retried" and b["message"] == "Task queued for retry"
    assert b["original_task_id"] == orig and b["dlq_id"] == i and b["retry_count"] == 1
    assert JOB_RE.match(b["retry_task_id"])
    e = a.entry(i)
    assert e["retry_count"] == 1 and e["retry_task_id"] == b["retry_task_id"]
    assert TIME_RE.match(e["last_retry_at"])
    ev = e["history"][-1]
    assert ev["event"] == "replayed"
    assert ev["details"]["retry_task_id"] == b["retry_task_id"]
    assert ev["details"]["reason"] == "deploy fixed it"
    assert ev["details"]["ticket_url"] == "https://t/1"


def test_retry_by_original_task_id_and_no_orig(server):
    a = server.admin
    i = new_entry(a)
    r = retry(a, i)
    assert r.json()["original_task_id"] == i  # no original_task_id: the dlq_id
    orig = uid("orig-")
    j = new_entry(a, original_task_id=orig)
    r = retry(a, orig)
    assert r.status_code == 200 and r.json()["dlq_id"] == j


def test_retry_at_cap_then_force(server):
    a = server.admin
    i = new_entry(a, max_replays=2)
    for n in (1, 2):
        assert retry(a, i).json()["retry_count"] == n
        assert outcome(a, i, False).status_code == 200
    assert a.entry(i)["status"] == "requires_review"
    body = assert_problem(retry(a, i), 409)
    assert "requires_review" in body["detail"]
    # A pending entry at the cap (max_replays 0) is refused with the budget rule.
    k = new_entry(a, max_replays=0)
    body = assert_problem(retry(a, k), 409)
    assert "pending_review" in body["detail"] and "max_replays" in body["detail"]
    r = retry(a, i, {"reason": "root cause fixed", "ticket_url": "https://jira/X-1"}, force=True)
    assert r.status_code == 200, r.text
    assert r.json()["retry_count"] == 1  # a fresh budget
    ev = a.entry(i)["history"][-1]
    assert ev["event"] == "force_redriven" and ev["details"]["reason"] == "root cause fixed"


def test_force_needs_admin_and_reason(server):
    op = server.client("operator")
    i = new_entry(server.admin)
    assert_problem(retry(op, i, {"reason": "x"}, force=True), 403)
    assert_problem(retry(server.admin, i, force=True), 400, field="reason")
    assert_problem(retry(server.admin, i, {"reason": ""}, force=True), 400, field="reason")
    assert server.admin.entry(i)["status"] == "pending_review"


def test_retry_roles(server):
    i = new_entry(server.admin)
    assert_problem(retry(server.client("viewer"), i), 403)
    assert_problem(retry(server.client("producer"), i), 403)
    assert retry(server.client("operator"), i).status_code == 200


def test_retry_bad_bodies(server):
    a = server.admin
    i = new_entry(a)
    assert_problem(retry(a, i, {"bogus": 1}), 400, field="bogus")
    assert_problem(retry(a, i, {"max_retries": 101}), 400, field="max_retries")
    assert_problem(retry(a, i, {"task_kwargs": "[1]"}), 400, field="task_kwargs")
    assert_problem(retry(a, i, {"task_args": "{nope"}), 400, field="task_args")
    assert_problem(retry(a, i, {"queue": ""}), 400, field="queue")
    r = a.req("POST", f"{ENTRIES}/{i}/retry", data="[1]",
              headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    r = a.post(f"{ENTRIES}/{i}/retry", params={"force": "maybe"})
    assert_problem(r, 400, field="force")
    assert a.entry(i)["status"] == "pending_review"


def test_edit_and_replay(server):
    a = server.admin
    q = uid("q-")
    i = new_entry(a, task_args=[1, 2], task_kwargs={"a": 1}, queue=q)
    before = a.total(queue=q, status="pending_review")
    r = retry(a, i, {"task_args": [3], "task_kwargs": '{"a": 2}', "queue": q + "-new",
                     "max_retries": 5})
    assert r.status_code == 200, r.text
    e = a.entry(i)
    assert e["task_args"] == "[3]" and e["task_kwargs"] == '{"a":2}'
    assert e["queue"] == q + "-new"
    ev = [h for h in e["history"] if h["event"] == "edited"]
    assert len(ev) == 1
    ch = ev[0]["details"]["changes"]
    assert ch["task_args"] == {"before": [1, 2], "after": [3]}
    assert ch["task_kwargs"] == {"before": {"a": 1}, "after": {"a": 2}}
    assert ch["queue"] == {"before": q, "after": q + "-new"}
    assert e["history"][-1]["event"] == "replayed"
    assert e["history"][-1]["details"]["max_retries"] == 5
    # The counters moved with the queue and the status.
    assert a.total(queue=q, status="pending_review") == before - 1
    assert a.total(queue=q + "-new", status="retried") == 1


# ---- resolve, discard ----

def test_resolve_shape(server):
    a = server.admin
    orig = uid("orig-")
    i = new_entry(a, original_task_id=orig)
    r = resolve(a, i, {"resolution_notes": "fixed by hand"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["task_id"] == orig and b["dlq_id"] == i and b["status"] == "resolved"
    assert TIME_RE.match(b["resolved_at"]) and b["resolution_notes"] == "fixed by hand"
    e = a.entry(i)
    assert e["resolution_type"] == "manual" and e["resolved_by"] == "admin"
    assert e["history"][-1]["event"] == "resolved"
    body = assert_problem(resolve(a, i), 409)
    assert f"entry {i} is resolved" in body["detail"]
    j = new_entry(a)
    r = resolve(a, j)
    assert r.status_code == 200 and r.json()["resolution_notes"] is None
    assert_problem(resolve(a, j, {"resolution_notes": 5}), 400, field="resolution_notes")


def test_discard(server):
    a = server.admin
    i = new_entry(a)
    r = discard(a, i, reason="noise")
    assert r.status_code == 200 and r.json() == {"dlq_id": i, "status": "discarded"}
    ev = a.entry(i)["history"][-1]
    assert ev["event"] == "discarded" and ev["details"]["reason"] == "noise"
    assert_problem(discard(a, i), 409)
    assert_problem(discard(a, "dlq_nope"), 404)


def test_counters_follow_actions(server):
    a = server.admin
    t = uid("task.")
    ids = [new_entry(a, task_name=t) for _ in range(4)]
    retry(a, ids[0])
    resolve(a, ids[1])
    discard(a, ids[2])
    assert a.total(task_name=t) == 4
    assert a.total(task_name=t, status="pending_review") == 1
    assert a.total(task_name=t, status="retried") == 1
    assert a.total(task_name=t, status="resolved") == 1
    assert a.total(task_name=t, status="discarded") == 1


# ---- outcomes ----

def test_outcome_success(server):
    a = server.admin
    i = new_entry(a)
    retry(a, i)
    prod = server.client("producer")
    r = outcome(prod, i, True)
    assert r.status_code == 200 and r.json() == {"dlq_id": i, "status": "resolved"}
    e = a.entry(i)
    assert e["resolution_type"] == "replay_succeeded" and e["history"][-1]["event"] == \
        "replay_succeeded"


def test_outcome_failure_then_cap(server):
    a = server.admin
    i = new_entry(a, max_replays=2)
    retry(a, i)
    err = {"type": "KeyError", "message": "still broken", "traceback": "tb"}
    r = outcome(a, i, False, err)
    assert r.json()["status"] == "pending_review"
    e = a.entry(i)
    assert e["exception"]["type"] == "KeyError" and e["exception"]["message"] == "still broken"
    ev = e["history"][-1]
    assert ev["event"] == "replay_failed" and ev["details"]["message"] == "still broken"
    retry(a, i)
    assert outcome(a, i, False).json()["status"] == "requires_review"
    assert a.list(q="still broken")["total"] >= 1


def test_outcome_bad_bodies_and_roles(server):
    a = server.admin
    i = new_entry(a)
    assert_problem(a.post(f"{ENTRIES}/{i}/outcome", {}), 400, field="succeeded")
    assert_problem(a.post(f"{ENTRIES}/{i}/outcome", {"succeeded": "yes"}), 400,
                   field="succeeded")
    assert_problem(outcome(a, i, False, {"bogus": "x"}), 400, field="error")
    assert_problem(outcome(server.client("operator"), i, True), 403)
    assert_problem(outcome(a, i, True), 409)


# ---- ingest linking ----

def test_ingest_replay_of_updates_entry(server):
    a = server.admin
    i = new_entry(a, max_replays=3)
    retry(a, i)
    r = a.post(ENTRIES, {"task_name": "x", "replay_of": i,
                         "exception": {"type": "IOError", "message": "again"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"dlq_id": i, "status": "pending_review", "created": False,
                        "updated": True}
    e = a.entry(i)
    assert e["status"] == "pending_review" and e["exception"]["type"] == "IOError"
    assert e["history"][-1]["event"] == "replay_failed"


def test_ingest_retry_task_id_updates_entry(server):
    a = server.admin
    i = new_entry(a, max_replays=1)
    rtid = retry(a, i).json()["retry_task_id"]
    r = a.post(ENTRIES, {"task_name": "x", "original_task_id": rtid,
                         "exception": {"type": "E", "message": "m"}})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "requires_review" and r.json()["updated"] is True
    # Another tenant's failure with that task id is a new entry.
    t = server.client("producer", tenant=uid("ten-"))
    r = t.post(ENTRIES, {"task_name": "x", "original_task_id": rtid})
    assert r.status_code == 201
    # Not awaiting an outcome any more: a repeat is kept as a new entry.
    r = a.post(ENTRIES, {"task_name": "x", "original_task_id": rtid})
    assert r.status_code == 201


def test_batch_replay_of(server):
    a = server.admin
    i = new_entry(a)
    retry(a, i)
    r = a.post(f"{ENTRIES}/batch", {"entries": [{"task_name": "x", "replay_of": i},
                                                {"task_name": "y"}]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[0]["dlq_id"] == i and items[0]["updated"] is True
    assert items[1]["created"] is True


# ---- concurrency, tenancy ----

def test_concurrent_resolves_one_wins(server):
    i = new_entry(server.admin)
    apis = [server.client("operator") for _ in range(4)]
    codes = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def go(n):
        start.wait()
        r = resolve(apis[n % 4], i)
        with lock:
            codes.append(r.status_code)

    ts = [threading.Thread(target=go, args=(n,)) for n in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(codes) == [200] + [409] * 19, codes
    assert [e for e in events(server.admin, i) if e == "resolved"] == ["resolved"]


def test_concurrent_retry_and_discard(server):
    for _ in range(5):
        i = new_entry(server.admin)
        out = {}
        start = threading.Barrier(2)

        def go(name, fn):
            start.wait()
            out[name] = fn().status_code

        t1 = threading.Thread(target=go, args=("r", lambda: retry(server.admin, i)))
        t2 = threading.Thread(target=go, args=("d", lambda: resolve(server.admin, i)))
        t1.start(), t2.start(), t1.join(), t2.join()
        assert sorted(out.values()) in ([200, 200], [200, 409]), out


def test_tenant_isolation(server):
    ta, tb = uid("ten-"), uid("ten-")
    pa = server.client("producer", tenant=ta)
    oa = server.client("operator", tenant=ta)
    ob = server.client("operator", tenant=tb)
    i = new_entry(pa)
    assert_problem(retry(ob, i), 404)
    assert_problem(resolve(ob, i), 404)
    assert_problem(discard(ob, i), 404)
    assert_problem(outcome(server.client("producer", tenant=tb), i, True), 404)
    assert server.admin.entry(i)["status"] == "pending_review"
    assert retry(oa, i).status_code == 200


def test_unknown_entry_404(server):
    a = server.admin
    for r in (retry(a, "dlq_missing"), resolve(a, "nope"), outcome(a, "nope", True)):
        assert_problem(r, 404)
