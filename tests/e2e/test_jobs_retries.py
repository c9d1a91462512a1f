"""Retries and dead-lettering through the worker protocol: a job failing
every time reaches the DLQ after exactly max_retries + 1 attempts with every
attempt in the entry's history; the non-retryable reasons go at once; an
expired lease is a failed attempt (reason timeout on the last one) and a
late ack is refused; a heartbeat keeps the lease; backoff delays stay within
their full-jitter bounds and grow. Backoffs are a few ms so the tests are
fast."""

import json
import time
from datetime import datetime

from conftest import assert_problem, uid

FAST = {"base_ms": 1, "factor": 1, "max_ms": 1}


def ms(t):
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000


def enqueue(api, q, **body):
    body.setdefault("task_name", "app.tasks.flaky")
    body.setdefault("backoff", FAST)
    r = api.post(f"/api/v1/queues/{q}/jobs", body)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def take(api, q, n=1, **body):
    """take reserves until it holds n jobs (long polls of up to 5 s)."""
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        r = api.post(f"/api/v1/queues/{q}/reserve", dict(body, count=n - len(got), wait_ms=5000))
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200:
            got.extend(r.json()["jobs"])
    assert len(got) == n, f"reserved {len(got)} of {n}"
    return got


def fail(api, job, **body):
    body["lease_token"] = job["lease_token"]
    r = api.post(f"/api/v1/jobs/{job['job_id']}/fail", body)
    assert r.status_code == 200, r.text
    return r.json()


def test_fails_every_time_then_dlq_with_full_history(server):
    api, q = server.admin, uid("q")
    jid = enqueue(api, q, task_name="app.tasks.charge", args=[7, "x"], kwargs={"k": 1},
                  priority=5, max_retries=2, metadata={"team": "billing"})
    outs = []
    for attempt in (1, 2, 3):
        [j] = take(api, q, worker_id=f"w{attempt}")
        assert j["attempt"] == attempt
        outs.append(fail(api, j, error={"type": "IOError", "message": f"disk {attempt}",
                                        "traceback": "tb"}))
    assert [o["state"] for o in outs] == ["scheduled", "scheduled", "dead"]
    assert outs[2]["attempt"] == 3
    dlq_id = outs[2]["dlq_id"]
    e = api.entry(dlq_id)
    assert e["reason"] == "max_retries_exceeded" and e["status"] == "pending_review"
    assert e["original_task_id"] == jid and e["retries_attempted"] == 3
    assert e["task_name"] == "app.tasks.charge" and e["queue"] == q and e["priority"] == 5
    assert json.loads(e["task_args"]) == [7, "x"] and json.loads(e["task_kwargs"]) == {"k": 1}
    assert e["exception"]["type"] == "IOError" and e["exception"]["message"] == "disk 3"
    fails = [h for h in e["history"] if h["event"] == "attempt_failed"]
    assert len(fails) == 3
    assert [h["details"]["attempt"] for h in fails] == [1, 2, 3]
    assert [h["actor"] for h in fails] == ["w1", "w2", "w3"]
    assert [h["details"]["error"]["message"] for h in fails] == ["disk 1", "disk 2", "disk 3"]
    assert all("duration_ms" in h["details"] for h in fails)
    j = api.get(f"/api/v1/jobs/{jid}").json()
    assert j["state"] == "dead" and j["dlq_id"] == dlq_id and len(j["attempts"]) == 3
    assert all(a["outcome"] == "failed" for a in j["attempts"])


def test_non_retryable_reasons_go_at_once(server):
    api, q = server.admin, uid("q")
    for reason in ("permanent_failure", "job_not_found", "invalid_arguments", None):
        jid = enqueue(api, q, max_retries=5)
        [j] = take(api, q)
        body = {"reason": reason} if reason else {"retryable": False}
        out = fail(api, j, **body)
        assert out["state"] == "dead" and out["attempt"] == 1, out
        e = api.entry(out["dlq_id"])
        assert e["reason"] == (reason or "permanent_failure")
        assert e["original_task_id"] == jid and e["retries_attempted"] == 1


def test_lease_expiry_on_last_attempt_is_timeout(server):
    api, q = server.admin, uid("q")
    jid = enqueue(api, q, max_retries=0)
    [j] = take(api, q, lease_s=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = api.get(f"/api/v1/jobs/{jid}").json()
        if got["state"] == "dead":
            break
        time.sleep(0.1)
    assert got["state"] == "dead", got
    assert got["attempts"][0]["outcome"] == "timeout"
    e = api.entry(got["dlq_id"])
    assert e["reason"] == "timeout" and e["retries_attempted"] == 1
    # the worker that lost the lease cannot ack it any more
    assert_problem(api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": j["lease_token"]}), 409)


def test_late_ack_after_lost_lease_is_409_and_job_runs_again(server):
    api, q = server.admin, uid("q")
    jid = enqueue(api, q, max_retries=3)
    [old] = take(api, q, lease_s=1)
    [new] = take(api, q)  # comes back once the lease expired
    assert new["job_id"] == jid and new["attempt"] == 2
    assert new["lease_token"] != old["lease_token"]
    body = assert_problem(api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": old["lease_token"]}),
                          409)
    assert "running" in body["detail"]
    r = api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": new["lease_token"]})
    assert r.status_code == 200, r.text
    got = api.get(f"/api/v1/jobs/{jid}").json()
    assert [a["outcome"] for a in got["attempts"]] == ["timeout", "succeeded"]


def test_backoff_delays_within_full_jitter_bounds(server):
    api, q = server.admin, uid("q")
    base, factor, cap, n, retries = 20, 2.0, 120, 8, 4
    ids = [enqueue(api, q, max_retries=retries,
                   backoff={"base_ms": base, "factor": factor, "max_ms": cap}) for _ in range(n)]
    delays = {a: [] for a in range(1, retries + 1)}
    left = set(ids)
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        r = api.post(f"/api/v1/queues/{q}/reserve", {"count": n, "wait_ms": 2000})
        if r.status_code == 204:
            continue
        for j in r.json()["jobs"]:
            out = fail(api, j)
            if out["state"] == "dead":
                left.discard(j["job_id"])
                continue
            got = api.get(f"/api/v1/jobs/{j['job_id']}").json()
            failed_at = ms(got["attempts"][-1]["finished_at"])
            delays[out["attempt"]].append(ms(out["next_run_at"]) - failed_at)
    assert not left
    for a, ds in delays.items():
        bound = min(cap, base * factor ** (a - 1))
        assert len(ds) == n
        assert all(-1 <= d <= bound + 1 for d in ds), (a, bound, ds)
    mean = {a: sum(ds) / len(ds) for a, ds in delays.items()}
    assert mean[4] > mean[1], mean  # caps 20 then 120: the delays grow


def test_heartbeat_keeps_the_lease(server):
    api, q = server.admin, uid("q")
    jid = enqueue(api, q, max_retries=3)
    [j] = take(api, q, lease_s=1)
    for _ in range(6):  # 2.4 s: past the 1 s lease more than once
        time.sleep(0.4)
        r = api.post(f"/api/v1/jobs/{jid}/heartbeat", {"lease_token": j["lease_token"],
                                                       "extend_s": 1})
        assert r.status_code == 200, r.text
    got = api.get(f"/api/v1/jobs/{jid}").json()
    assert got["state"] == "running" and got["attempt"] == 1 and got["attempts"] == []
    r = api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": j["lease_token"]})
    assert r.status_code == 200, r.text
