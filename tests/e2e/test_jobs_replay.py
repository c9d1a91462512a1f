"""Replay into the native queue: a replay creates a job (job_id =
retry_task_id, replay_of = the entry), its ack resolves the entry
(replay_succeeded), its dead-lettering returns the same entry to
pending_review (requires_review at the cap); edited args and queue are what
the worker gets; reset_attempts false continues the attempt count; bulk
replay runs through real jobs and its brake stops it when most fail."""

import json
import threading
import time

from conftest import ENTRIES, uid

FAST = {"base_ms": 1, "factor": 1, "max_ms": 1}


def take(api, q, n=1):
    got, deadline = [], time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        r = api.post(f"/api/v1/queues/{q}/reserve", {"count": n - len(got), "wait_ms": 5000})
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            got.extend(r.json()["jobs"])
    assert len(got) == n
    return got


def dead_entry(api, q, max_retries=0, **job):
    """dead_entry runs a job that fails every attempt; returns (job_id, dlq_id)."""
    job.setdefault("task_name", "app.tasks.sync")
    r = api.post(f"/api/v1/queues/{q}/jobs", dict(job, max_retries=max_retries, backoff=FAST))
    assert r.status_code == 201, r.text
    jid = r.json()["job_id"]
    while True:
        [j] = take(api, q)
        r = api.post(f"/api/v1/jobs/{jid}/fail", {"lease_token": j["lease_token"],
                                                  "error": {"type": "E", "message": "boom"}})
        assert r.status_code == 200, r.text
        if r.json()["state"] == "dead":
            return jid, r.json()["dlq_id"]


def replay(api, dlq_id, **body):
    r = api.post(f"{ENTRIES}/{dlq_id}/retry", body or None)
    assert r.status_code == 200, r.text
    return r.json()


def test_replay_then_ack_resolves_entry(server):
    api, q = server.admin, uid("q")
    _, dlq_id = dead_entry(api, q, args=[1, 2], kwargs={"a": 1})
    rt = replay(api, dlq_id)
    assert rt["status"] == "retried"
    [j] = take(api, q)
    assert j["job_id"] == rt["retry_task_id"] and j["replay_of"] == dlq_id
    assert j["args"] == [1, 2] and j["kwargs"] == {"a": 1} and j["attempt"] == 1
    assert j["max_retries"] == 3
    r = api.post(f"/api/v1/jobs/{j['job_id']}/ack", {"lease_token": j["lease_token"]})
    assert r.status_code == 200, r.text
    e = api.entry(dlq_id)
    assert e["status"] == "resolved" and e["resolution_type"] == "replay_succeeded"


def test_replay_failure_returns_entry_and_cap_requires_review(server):
    api, q = server.admin, uid("q")
    _, dlq_id = dead_entry(api, q)
    replay(api, dlq_id)
    [j] = take(api, q)
    r = api.post(f"/api/v1/jobs/{j['job_id']}/fail",
                 {"lease_token": j["lease_token"], "reason": "permanent_failure",
                  "error": {"type": "Still", "message": "broken"}})
    assert r.status_code == 200 and r.json()["state"] == "dead", r.text
    assert r.json()["dlq_id"] == dlq_id  # the same entry, no new one
    e = api.entry(dlq_id)
    assert e["status"] == "pending_review" and e["retry_count"] == 1
    assert any(h["event"] == "replay_failed" for h in e["history"]), e["history"]
    assert api.total(queue=q) == 1
    # a queue whose entries may be replayed once: the first failed replay is the cap
    q2 = uid("q")
    r = api.req("PUT", f"/api/v1/queues/{q2}/settings", json_body={"max_replays": 1})
    assert r.status_code == 200, r.text
    _, d2 = dead_entry(api, q2)
    assert api.entry(d2)["max_replays"] == 1
    replay(api, d2)
    [j] = take(api, q2)
    r = api.post(f"/api/v1/jobs/{j['job_id']}/fail",
                 {"lease_token": j["lease_token"], "reason": "permanent_failure"})
    assert r.status_code == 200, r.text
    assert api.entry(d2)["status"] == "requires_review"


def test_replay_with_edits_runs_edited_args(server):
    api, q, q2 = server.admin, uid("q"), uid("q")
    _, dlq_id = dead_entry(api, q, args=[1])
    rt = replay(api, dlq_id, task_args=[42, "fixed"], task_kwargs={"v": 2}, queue=q2,
                max_retries=7)
    [j] = take(api, q2)
    assert j["job_id"] == rt["retry_task_id"]
    assert j["args"] == [42, "fixed"] and j["kwargs"] == {"v": 2} and j["max_retries"] == 7
    assert api.post(f"/api/v1/queues/{q}/reserve", {}).status_code == 204


def test_reset_attempts(server):
    api, q = server.admin, uid("q")
    _, dlq_id = dead_entry(api, q, max_retries=2)  # 3 attempts
    assert api.entry(dlq_id)["retries_attempted"] == 3
    replay(api, dlq_id, reset_attempts=False, max_retries=5)
    [j] = take(api, q)
    assert j["attempt"] == 4
    r = api.post(f"/api/v1/jobs/{j['job_id']}/fail",
                 {"lease_token": j["lease_token"], "reason": "permanent_failure"})
    assert r.status_code == 200
    replay(api, dlq_id)  # default: reset
    [j] = take(api, q)
    assert j["attempt"] == 1
    r = api.post(f"{ENTRIES}/{dlq_id}/retry", {"reset_attempts": "no"})
    assert r.status_code == 400 and "reset_attempts" in r.text


def test_ingested_entry_replays_into_its_queue(server):
    api, q = server.admin, uid("q")
    dlq_id = api.ingest(task_name="app.tasks.mail", task_args=[3], queue=q,
                        exception={"type": "E", "message": "x"})
    rt = replay(api, dlq_id)
    [j] = take(api, q)
    assert j["job_id"] == rt["retry_task_id"] and j["task_name"] == "app.tasks.mail"
    assert j["args"] == [3] and j["replay_of"] == dlq_id


class Worker(threading.Thread):
    """Worker reserves from a queue and acks or fails (permanently) each job."""

    def __init__(self, api, q, fail):
        super().__init__(daemon=True)
        self.api, self.q, self.fail = api, q, fail
        self.stop_ev = threading.Event()
        self.n = 0
        self.errors = []

    def run(self):
        try:
            while not self.stop_ev.is_set():
                r = self.api.post(f"/api/v1/queues/{self.q}/reserve",
                                  {"count": 20, "wait_ms": 500})
                if r.status_code == 204:
                    continue
                for j in r.json()["jobs"]:
                    tok = {"lease_token": j["lease_token"]}
                    if self.fail(self.n):
                        r2 = self.api.post(f"/api/v1/jobs/{j['job_id']}/fail",
                                           dict(tok, reason="permanent_failure"))
                    else:
                        r2 = self.api.post(f"/api/v1/jobs/{j['job_id']}/ack", tok)
                    assert r2.status_code == 200, r2.text
                    self.n += 1
        except BaseException as e:  # noqa: B902 - reported by stop()
            self.errors.append(e)

    def stop(self):
        self.stop_ev.set()
        self.join(10)
        if self.errors:
            raise self.errors[0]


def seed(api, q, n):
    entries = [{"task_name": "app.tasks.bulk", "queue": q, "task_args": [i],
                "exception": {"type": "KeyError", "message": f"k{i}"}} for i in range(n)]
    return api.ingest_batch(entries)


def wait_op(api, op_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = api.get(f"/api/v1/dlq/operations/{op_id}").json()
        if op["state"] != "running":
            return op
        time.sleep(0.05)
    raise AssertionError(op)


def test_bulk_replay_through_jobs_done_and_braked(server):
    api = server.admin
    q = uid("q")
    seed(api, q, 60)
    w = Worker(server.api(), q, fail=lambda i: False)
    w.start()
    try:
        r = api.post("/api/v1/dlq/replay-bulk", {"queue": q, "batch_size": 20,
                                                 "outcome_timeout_s": 30})
        assert r.status_code == 202, r.text
        op = wait_op(api, r.json()["operation_id"])
    finally:
        w.stop()
    assert op["state"] == "done" and op["succeeded"] == 60 and op["failed"] == 0, op
    assert api.total(queue=q, status="resolved") == 60
    # most replays fail: the brake stops the operation
    q2 = uid("q")
    seed(api, q2, 200)
    w = Worker(server.api(), q2, fail=lambda i: i % 5 != 0)
    w.start()
    try:
        r = api.post("/api/v1/dlq/replay-bulk", {"queue": q2, "batch_size": 20,
                                                 "min_samples": 10, "outcome_timeout_s": 30})
        assert r.status_code == 202, r.text
        op = wait_op(api, r.json()["operation_id"])
    finally:
        w.stop()
    assert op["state"] == "stopped" and op["processed"] < 200, op
    assert op["failed"] > op["succeeded"]
    es = [json.loads(e["task_args"]) for e in api.list(queue=q2, status="pending_review",
                                                       limit=100)["items"]]
    assert es  # failed replays are back for review
