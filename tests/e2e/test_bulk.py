"""Bulk operations: replay-bulk (dry run and real runs), the operation runner
(outcomes, the failure-rate brake, pacing, cancel, restart) and
resolve-bulk / discard-bulk, with tenancy.

Each test seeds entries in a queue of its own, so tests sharing the module's
server never see each other's entries.
"""

import re
import threading
import time

from conftest import ENTRIES, assert_problem, uid

REPLAY = "/api/v1/dlq/replay-bulk"
RESOLVE = "/api/v1/dlq/resolve-bulk"
DISCARD = "/api/v1/dlq/discard-bulk"
OPS = "/api/v1/dlq/operations"
OP_ID_RE = re.compile(r"^op_[0-9A-HJKMNP-TV-Z]{26}$")
STOP_RE = re.compile(r"^failure rate \d\.\d\d over \d+ finished replays exceeds 0\.50$")


def seed(api, queue, n, task="app.tasks.bulk", exc="KeyError", tenant=None, start=0):
    """seed ingests n entries in queue with ascending failed_at; returns ids in that order."""
    ids = []
    for lo in range(0, n, 500):
        batch = []
        for i in range(lo, min(n, lo + 500)):
            k = start + i
            e = {"task_name": task, "queue": queue,
                 "exception": {"type": exc, "message": f"boom {k}"},
                 "failed_at": f"2026-01-01T{k // 3600:02d}:{k // 60 % 60:02d}:{k % 60:02d}Z"}
            if tenant:
                e["tenant_id"] = tenant
            batch.append(e)
        ids.extend(api.ingest_batch(batch))
    return ids


def start_op(api, body):
    r = api.post(REPLAY, body)
    assert r.status_code == 202, r.text
    got = r.json()
    assert OP_ID_RE.match(got["operation_id"]), got
    assert got["state"] == "running"
    return got


def get_op(api, op_id):
    r = api.get(f"{OPS}/{op_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_op(api, op_id, states=("done", "stopped", "cancelled", "interrupted"), timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = get_op(api, op_id)
        if op["state"] in states:
            return op
        time.sleep(0.05)
    raise AssertionError(f"operation {op_id} still {op['state']} after {timeout}s: {op}")


def entries_in(api, queue, **params):
    """entries_in returns every entry of queue (any status unless given)."""
    out, params = [], dict(params, queue=queue, limit=100)
    while True:
        page = api.list(**params)
        out.extend(page["items"])
        if not page["next_cursor"]:
            return out
        params["cursor"] = page["next_cursor"]


class Reporter(threading.Thread):
    """Reporter plays the worker: it reports an outcome for every retried
    entry of a queue; fail(i) says whether the i-th report is a failure."""

    def __init__(self, api, queue, fail):
        super().__init__(daemon=True)
        self.api, self.queue, self.fail = api, queue, fail
        self.done = threading.Event()
        self.seen = set()
        self.errors = []

    def run(self):
        try:
            while not self.done.is_set():
                for e in entries_in(self.api, self.queue, status="retried"):
                    if e["dlq_id"] in self.seen:
                        continue
                    ok = not self.fail(len(self.seen))
                    self.seen.add(e["dlq_id"])
                    body = {"succeeded": ok}
                    if not ok:
                        body["error"] = {"type": "RuntimeError", "message": "still broken"}
                    r = self.api.post(f"{ENTRIES}/{e['dlq_id']}/outcome", body)
                    assert r.status_code == 200, r.text
                time.sleep(0.05)
        except BaseException as exc:  # noqa: B902 - reported by stop()
            self.errors.append(exc)

    def stop(self):
        self.done.set()
        self.join(10)
        if self.errors:
            raise self.errors[0]


def test_dry_run_counts_breakdown_and_changes_nothing(server):
    api, q = server.admin, uid("q")
    a = seed(api, q, 30, task="app.tasks.a", exc="KeyError")
    b = seed(api, q, 20, task="app.tasks.b", exc="ValueError", start=30)
    before = len(api.get(OPS).json()["items"])
    r = api.post(REPLAY, {"queue": q, "dry_run": True})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got == {"dry_run": True, "matched": 50,
                   "by_task": {"app.tasks.a": 30, "app.tasks.b": 20},
                   "by_exception_type": {"KeyError": 30, "ValueError": 20},
                   "sample_ids": a[:20]}
    # max_tasks caps the count and the breakdown, oldest failures first
    got = api.post(REPLAY, {"queue": q, "dry_run": True, "max_tasks": 35}).json()
    assert got["matched"] == 35 and got["by_task"] == {"app.tasks.a": 30, "app.tasks.b": 5}
    got = api.post(REPLAY, {"queue": q, "task_name": "app.tasks.b", "dry_run": True,
                            "exception_type": "ValueError"}).json()
    assert got["matched"] == 20 and got["sample_ids"] == b[:20]
    # only pending_review by default; other statuses when asked
    got = api.post(REPLAY, {"queue": q, "dry_run": True, "status": "resolved"}).json()
    assert got["matched"] == 0 and got["by_task"] == {} and got["sample_ids"] == []
    # nothing changed: all pending, never replayed, no operation
    es = entries_in(api, q)
    assert len(es) == 50
    assert all(e["status"] == "pending_review" and e["retry_count"] == 0 for e in es)
    assert len(api.get(OPS).json()["items"]) == before


def test_bad_bodies_and_roles(server):
    api = server.admin
    for body, field in [({"bogus": 1}, "bogus"), ({"max_tasks": 0}, "max_tasks"),
                        ({"max_tasks": 1000001}, "max_tasks"),
                        ({"rate_per_second": -1}, "rate_per_second"),
                        ({"batch_size": 10001}, "batch_size"),
                        ({"stop_failure_rate": 1.5}, "stop_failure_rate"),
                        ({"min_samples": 0}, "min_samples"),
                        ({"outcome_timeout_s": 86401}, "outcome_timeout_s"),
                        ({"dry_run": "yes"}, "dry_run"), ({"status": "nope"}, "status"),
                        ({"reason": "nope"}, "reason"), ({"failed_after": "yesterday"},
                                                         "failed_after")]:
        assert_problem(api.post(REPLAY, body), 400, field)
    assert_problem(api.req("POST", REPLAY, data="[1", headers={"Content-Type":
                                                                 "application/json"}), 400)
    assert_problem(api.post(RESOLVE, {}), 400, "ids")
    assert_problem(api.post(RESOLVE, {"ids": ["a"], "queue": "x"}), 400, "ids")
    assert_problem(api.post(DISCARD, {"ids": []}), 400, "ids")
    assert_problem(api.post(DISCARD, {"ids": ["x"] * 10001}), 400, "ids")
    assert_problem(api.post(RESOLVE, {"ids": ["x"], "note": "n"}), 400, "note")
    viewer = server.client("viewer")
    assert_problem(viewer.post(REPLAY, {"dry_run": True}), 403)
    assert_problem(viewer.post(RESOLVE, {"ids": ["x"]}), 403)
    assert_problem(viewer.delete(f"{OPS}/op_x"), 403)
    assert viewer.get(OPS).status_code == 200
    assert_problem(api.get(f"{OPS}/op_nope"), 404)
    assert_problem(api.delete(f"{OPS}/op_nope"), 404)


def test_run_reaches_done_with_outcome_counts(server):
    api, q = server.admin, uid("q")
    ids = seed(api, q, 300)
    rep = Reporter(api, q, fail=lambda i: i % 10 == 0)
    rep.start()
    try:
        op = start_op(api, {"queue": q, "batch_size": 50, "outcome_timeout_s": 30,
                            "note": "incident 42", "ticket_url": "https://t/42"})
        assert op["matched"] == 300
        got = wait_op(api, op["operation_id"])
    finally:
        rep.stop()
    assert got["state"] == "done", got
    assert (got["matched"], got["processed"], got["skipped"]) == (300, 300, 0)
    assert got["succeeded"] + got["failed"] == 300
    assert got["failed"] == 30 and got["succeeded"] == 270
    assert got["early_stop_reason"] is None and got["finished_at"]
    assert got["kind"] == "replay" and got["actor"] == "admin"
    assert got["filter"]["queue"] == q and got["filter"]["status"] == ["pending_review"]
    assert got["params"]["batch_size"] == 50
    es = {e["dlq_id"]: e for e in entries_in(api, q)}
    assert set(es) == set(ids)
    # each entry replayed exactly once, even those whose replay failed
    assert all(e["retry_count"] == 1 for e in es.values())
    assert sum(e["status"] == "resolved" for e in es.values()) == 270
    assert sum(e["status"] == "pending_review" for e in es.values()) == 30
    listed = api.get(OPS).json()["items"]
    assert listed[0]["operation_id"] == op["operation_id"]  # newest first
    audit = api.get("/api/v1/audit", params={"action": "replay_bulk", "limit": 100}).json()
    mine = [a for a in audit["items"]
            if (a["details"] or {}).get("operation_id") == op["operation_id"]]
    assert len(mine) == 1
    assert mine[0]["reason"] == "incident 42" and mine[0]["ticket_url"] == "https://t/42"
    assert mine[0]["filter"]["queue"] == q


def test_run_stops_itself_on_failure_rate(server):
    api, q = server.admin, uid("q")
    seed(api, q, 200)
    rep = Reporter(api, q, fail=lambda i: i % 5 != 0)  # 80% fail
    rep.start()
    try:
        op = start_op(api, {"queue": q, "batch_size": 20, "min_samples": 10,
                            "outcome_timeout_s": 30})
        got = wait_op(api, op["operation_id"])
    finally:
        rep.stop()
    assert got["state"] == "stopped", got
    assert STOP_RE.match(got["early_stop_reason"]), got["early_stop_reason"]
    assert got["processed"] < 200 and got["failed"] > got["succeeded"]
    assert got["finished_at"]
    # the rest was never replayed
    es = entries_in(api, q)
    assert sum(e["retry_count"] == 0 for e in es) == 200 - got["processed"]


def test_rate_per_second_is_honoured(server):
    api, q = server.admin, uid("q")
    seed(api, q, 100)
    t0 = time.monotonic()
    op = start_op(api, {"queue": q, "rate_per_second": 50, "outcome_timeout_s": 0})
    got = wait_op(api, op["operation_id"])
    took = time.monotonic() - t0
    assert got["state"] == "done" and got["processed"] == 100
    assert took >= 1.6, f"100 entries at 50/s took only {took:.2f}s"
    assert took < 20


def test_cancel_stops_before_the_next_batch(server):
    api, q = server.admin, uid("q")
    seed(api, q, 200)
    op = start_op(api, {"queue": q, "rate_per_second": 20, "outcome_timeout_s": 0})
    time.sleep(0.6)
    r = api.delete(f"{OPS}/{op['operation_id']}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "cancelled" and got["finished_at"]
    time.sleep(0.5)
    later = get_op(api, op["operation_id"])
    assert later["state"] == "cancelled"
    assert later["processed"] < 200
    time.sleep(0.5)
    assert get_op(api, op["operation_id"])["processed"] == later["processed"]
    replayed = sum(e["retry_count"] for e in entries_in(api, q))
    assert replayed == later["processed"]
    assert_problem(api.delete(f"{OPS}/{op['operation_id']}"), 409)
    audit = api.get("/api/v1/audit", params={"action": "operation_cancel"}).json()["items"]
    assert any((a["details"] or {}).get("operation_id") == op["operation_id"] for a in audit)


def test_restart_mid_operation_resumes_without_double_replay(fresh_server):
    srv = fresh_server().start()
    api, q = srv.admin, uid("q")
    seed(api, q, 300)
    op = start_op(api, {"queue": q, "rate_per_second": 100, "batch_size": 10,
                        "outcome_timeout_s": 0})
    time.sleep(1.0)
    mid = get_op(api, op["operation_id"])
    assert mid["state"] == "running" and 0 < mid["processed"] < 300, mid
    srv.stop()  # SIGTERM: must exit cleanly and promptly mid-operation
    srv.start()
    api = srv.admin
    got = get_op(api, op["operation_id"])  # never vanished
    assert got["state"] in ("running", "done", "interrupted"), got
    got = wait_op(api, op["operation_id"])
    assert got["state"] in ("done", "interrupted"), got
    es = entries_in(api, q)
    assert all(e["retry_count"] <= 1 for e in es), "an entry was replayed twice"
    if got["state"] == "done":
        assert got["processed"] == 300
        assert all(e["retry_count"] == 1 for e in es)
    assert "resuming" in srv.stderr_tail(100000) or got["state"] == "interrupted"


def test_resolve_and_discard_bulk(server):
    api, q = server.admin, uid("q")
    ids = seed(api, q, 12)
    # dry run by ids predicts, changes nothing
    r = api.post(RESOLVE, {"ids": ids[:3] + ["dlq_nope"], "dry_run": True})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["dry_run"] is True and got["matched"] == 3 and got["succeeded"] == 0
    assert got["skipped"] == 1 and got["skipped_ids"][0]["dlq_id"] == "dlq_nope"
    assert api.entry(ids[0])["status"] == "pending_review"
    # by ids: the missing one is skipped with its reason
    got = api.post(RESOLVE, {"ids": ids[:3] + ["dlq_nope"], "resolution_notes": "fixed"}).json()
    assert (got["matched"], got["succeeded"], got["skipped"]) == (4, 3, 1)
    assert got["dry_run"] is False
    e = api.entry(ids[0])
    assert e["status"] == "resolved" and e["resolution_notes"] == "fixed"
    # resolving again is refused per entry (409 rule), reported in skipped_ids
    got = api.post(RESOLVE, {"ids": ids[:2]}).json()
    assert got["succeeded"] == 0 and got["skipped"] == 2
    assert "resolved" in got["skipped_ids"][0]["detail"]
    # discard by filter: dry run, then real (resolved ones are not in the default statuses)
    got = api.post(DISCARD, {"queue": q, "dry_run": True}).json()
    assert got["matched"] == 9 and got["succeeded"] == 0
    got = api.post(DISCARD, {"queue": q, "max_tasks": 4, "note": "noise"}).json()
    assert (got["matched"], got["succeeded"], got["skipped"]) == (4, 4, 0)
    got = api.post(DISCARD, {"queue": q, "note": "noise"}).json()
    assert (got["matched"], got["succeeded"]) == (5, 5)
    es = entries_in(api, q)
    assert sorted(e["status"] for e in es) == ["discarded"] * 9 + ["resolved"] * 3
    # discard also takes resolved entries when asked by status
    got = api.post(DISCARD, {"queue": q, "status": ["resolved"]}).json()
    assert got["succeeded"] == 3
    audit = api.get("/api/v1/audit", params={"action": "discard_bulk"}).json()["items"]
    assert any(a["reason"] == "noise" for a in audit)


def test_tenant_bound_tokens_touch_their_tenant_only(server):
    api, q = server.admin, uid("q")
    ta, tb = uid("ta"), uid("tb")
    a = seed(api, q, 6, tenant=ta)
    b = seed(api, q, 4, tenant=tb, start=6)
    op_a = server.client("operator", ta)
    got = op_a.post(REPLAY, {"queue": q, "dry_run": True}).json()
    assert got["matched"] == 6 and set(got["sample_ids"]) == set(a)
    got = op_a.post(REPLAY, {"queue": q, "tenant_id": tb, "dry_run": True}).json()
    assert got["matched"] == 0
    r = op_a.post(REPLAY, {"queue": q, "tenant_id": tb})
    assert r.status_code == 202 and r.json()["state"] == "done" and r.json()["matched"] == 0
    # ids of another tenant are not found
    got = op_a.post(RESOLVE, {"ids": b}).json()
    assert got["succeeded"] == 0 and got["skipped"] == 4
    # an op of the admin is invisible to the tenant token
    admin_op = start_op(api, {"queue": q, "tenant_id": tb, "outcome_timeout_s": 0})
    assert_problem(op_a.get(f"{OPS}/{admin_op['operation_id']}"), 404)
    assert_problem(op_a.delete(f"{OPS}/{admin_op['operation_id']}"), 404)
    wait_op(api, admin_op["operation_id"])
    mine = start_op(op_a, {"queue": q, "outcome_timeout_s": 0})
    got = wait_op(op_a, mine["operation_id"])
    assert got["state"] == "done" and got["processed"] == 6
    assert got["filter"]["tenant_id"] == ta
    ids = [o["operation_id"] for o in op_a.get(OPS).json()["items"]]
    assert mine["operation_id"] in ids and admin_op["operation_id"] not in ids
    # discard by filter touches only its tenant
    for e in entries_in(api, q):
        assert e["retry_count"] == 1
    got = op_a.post(DISCARD, {"queue": q, "status": ["retried"]}).json()
    assert got["succeeded"] == 6
    st = {e["dlq_id"]: e["status"] for e in entries_in(api, q)}
    assert all(st[i] == "discarded" for i in a) and all(st[i] == "retried" for i in b)


def test_entries_not_replayable_are_skipped_once(server):
    api, q = server.admin, uid("q")
    ok = seed(api, q, 7)
    capped = api.ingest_batch([{"task_name": "app.tasks.bulk", "queue": q, "max_replays": 0,
                                "failed_at": f"2026-01-02T00:00:0{i}Z"} for i in range(3)])
    op = start_op(api, {"queue": q, "batch_size": 2, "outcome_timeout_s": 0})
    got = wait_op(api, op["operation_id"])
    assert got["state"] == "done", got
    assert (got["matched"], got["processed"], got["skipped"]) == (10, 10, 3)
    st = {e["dlq_id"]: e for e in entries_in(api, q)}
    assert all(st[i]["status"] == "retried" and st[i]["retry_count"] == 1 for i in ok)
    assert all(st[i]["status"] == "pending_review" and st[i]["retry_count"] == 0 for i in capped)
