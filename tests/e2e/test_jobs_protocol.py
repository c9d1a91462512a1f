"""The job queue's worker protocol over HTTP (ISSUE4_API.md): enqueue (one,
batch, idempotency, validation that stores nothing), reserve (priority
order, task_names, count, 204), ack (one and batch), heartbeat, cancel, read,
stale leases (409), tenancy and roles.

Each test uses a queue of its own on the module's server."""

import re

from conftest import TIME_RE, assert_problem, uid

JOB_RE = re.compile(r"^job_[0-9A-HJKMNP-TV-Z]{26}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def enqueue(api, q, **body):
    body.setdefault("task_name", "app.tasks.t")
    r = api.post(f"/api/v1/queues/{q}/jobs", body)
    assert r.status_code == 201, r.text
    return r.json()


def reserve(api, q, **body):
    return api.post(f"/api/v1/queues/{q}/reserve", body)


def reserved(api, q, **body):
    r = reserve(api, q, **body)
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


def depth(api, q):
    r = api.get(f"/api/v1/queues/{q}")
    assert r.status_code == 200, r.text
    return r.json()


def test_enqueue_answers_and_defaults(server):
    api, q = server.admin, uid("q")
    got = enqueue(api, q, task_name="app.send", args=[1, "a"], kwargs={"k": 2},
                  metadata={"m": 1})
    assert JOB_RE.match(got["job_id"]) and got["queue"] == q
    assert got["state"] == "queued" and TIME_RE.match(got["run_at"])
    j = api.get(f"/api/v1/jobs/{got['job_id']}").json()
    assert j["task_name"] == "app.send" and j["args"] == [1, "a"] and j["kwargs"] == {"k": 2}
    assert (j["priority"], j["max_retries"], j["timeout_s"], j["attempt"]) == (0, 3, 30, 0)
    assert j["backoff"] == {"base_ms": 1000, "factor": 2.0, "max_ms": 3600000}
    assert j["state"] == "queued" and j["target"] == "native" and j["metadata"] == {"m": 1}
    assert j["attempts"] == [] and j["result"] is None and j["dlq_id"] is None
    assert "lease_token" not in j
    later = enqueue(api, q, delay_ms=60000)
    assert later["state"] == "scheduled"
    at = enqueue(api, q, run_at="2099-01-01T00:00:00Z")
    assert at["state"] == "scheduled" and at["run_at"].startswith("2099-01-01T00:00:00")
    d = depth(api, q)
    assert (d["ready"], d["scheduled"], d["running"]) == (1, 2, 0)


def test_idempotency_key_field_and_header(server):
    api, q = server.admin, uid("q")
    a = enqueue(api, q, idempotency_key="k1")
    r = api.post(f"/api/v1/queues/{q}/jobs", {"task_name": "x", "idempotency_key": "k1"})
    assert r.status_code == 200 and r.json()["job_id"] == a["job_id"], r.text
    assert r.json()["state"] == "queued"
    h = {"Idempotency-Key": "k2"}
    r1 = api.post(f"/api/v1/queues/{q}/jobs", {"task_name": "x"}, headers=h)
    r2 = api.post(f"/api/v1/queues/{q}/jobs", {"task_name": "x"}, headers=h)
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["job_id"] == r2.json()["job_id"]
    # same key in another queue is another job
    q2 = uid("q")
    r3 = api.post(f"/api/v1/queues/{q2}/jobs", {"task_name": "x", "idempotency_key": "k1"})
    assert r3.status_code == 201 and r3.json()["job_id"] != a["job_id"]
    assert depth(api, q)["ready"] == 2


def test_validation_errors_store_nothing(server):
    api, q = server.admin, uid("q")
    cases = [
        ({}, "task_name"),
        ({"task_name": ""}, "task_name"),
        ({"task_name": "x" * 201}, "task_name"),
        ({"task_name": "t", "args": {"a": 1}}, "args"),
        ({"task_name": "t", "kwargs": [1]}, "kwargs"),
        ({"task_name": "t", "priority": 1001}, "priority"),
        ({"task_name": "t", "max_retries": 101}, "max_retries"),
        ({"task_name": "t", "timeout_s": 0}, "timeout_s"),
        ({"task_name": "t", "delay_ms": -1}, "delay_ms"),
        ({"task_name": "t", "delay_ms": 5, "run_at": "2030-01-01T00:00:00Z"}, "run_at"),
        ({"task_name": "t", "run_at": "tomorrow"}, "run_at"),
        ({"task_name": "t", "backoff": {"factor": 11}}, "backoff.factor"),
        ({"task_name": "t", "backoff": {"base_ms": -1}}, "backoff.base_ms"),
        ({"task_name": "t", "backoff": {"jitter": 1}}, "backoff.jitter"),
        ({"task_name": "t", "idempotency_key": "k" * 201}, "idempotency_key"),
        ({"task_name": "t", "state": "running"}, "state"),
    ]
    for body, field in cases:
        r = api.post(f"/api/v1/queues/{q}/jobs", body)
        assert_problem(r, 422, field)
    r = api.post(f"/api/v1/queues/{q}/jobs", data="{bad json",
                 headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "body")
    r = api.post("/api/v1/queues/bad%20name/jobs", {"task_name": "t"})
    assert_problem(r, 400, "queue")
    r = api.post(f"/api/v1/queues/{'q' * 129}/jobs", {"task_name": "t"})
    assert_problem(r, 400)
    # a batch with one bad job stores none and names it
    jobs = [{"task_name": "ok"}] * 3 + [{"task_name": "", "priority": "x"}]
    r = api.post(f"/api/v1/queues/{q}/jobs/batch", {"jobs": jobs})
    body = assert_problem(r, 422, "jobs[3].task_name")
    assert "jobs[3].priority" in [e["field"] for e in body["errors"]]
    assert api.get(f"/api/v1/queues/{q}").status_code == 404


def test_batch_enqueue_in_order(server):
    api, q = server.admin, uid("q")
    jobs = [{"task_name": f"t{i}", "args": [i]} for i in range(50)]
    jobs[7]["delay_ms"] = 60000
    r = api.post(f"/api/v1/queues/{q}/jobs/batch", {"jobs": jobs})
    assert r.status_code == 201, r.text
    items = r.json()["items"]
    assert len(items) == 50 and all(JOB_RE.match(it["job_id"]) for it in items)
    assert items[7]["state"] == "scheduled" and items[0]["state"] == "queued"
    assert all(it["created"] for it in items)
    got = reserved(api, q, count=100)
    assert [j["args"][0] for j in got] == [i for i in range(50) if i != 7]
    assert_problem(api.post(f"/api/v1/queues/{q}/jobs/batch", {"jobs": []}), 422, "jobs")


def test_reserve_priority_task_names_count_and_204(server):
    api, q = server.admin, uid("q")
    a = enqueue(api, q, task_name="a", priority=1)["job_id"]
    b = enqueue(api, q, task_name="b", priority=10)["job_id"]
    c = enqueue(api, q, task_name="c", priority=1)["job_id"]
    d = enqueue(api, q, task_name="d", priority=-5)["job_id"]
    only_c = reserved(api, q, task_names=["c", "zzz"], count=5)
    assert [j["job_id"] for j in only_c] == [c]
    got = reserved(api, q, count=2, worker_id="w1", lease_s=60)
    assert [j["job_id"] for j in got] == [b, a]
    j = got[0]
    assert HEX32.match(j["lease_token"]) and TIME_RE.match(j["lease_expires_at"])
    assert j["attempt"] == 1 and j["task_name"] == "b" and j["queue"] == q
    assert set(j) >= {"args", "kwargs", "priority", "max_retries", "timeout_s", "replay_of",
                      "tenant_id", "metadata", "created_at"}
    assert [x["job_id"] for x in reserved(api, q, count=10)] == [d]
    r = reserve(api, q)
    assert r.status_code == 204 and r.content == b""
    r = reserve(api, q, wait_ms=300)
    assert r.status_code == 204
    info = api.get(f"/api/v1/jobs/{b}").json()
    assert info["state"] == "running" and info["worker_id"] == "w1"
    assert TIME_RE.match(info["lease_expires_at"]) and "lease_token" not in info
    for body, field in [({"count": 0}, "count"), ({"count": 101}, "count"),
                        ({"wait_ms": 30001}, "wait_ms"), ({"lease_s": 0}, "lease_s"),
                        ({"task_names": "a"}, "task_names"), ({"worker_id": ""}, "worker_id"),
                        ({"bogus": 1}, "bogus")]:
        assert_problem(reserve(api, q, **body), 422, field)


def test_ack_fail_heartbeat_and_stale_tokens(server):
    api, q = server.admin, uid("q")
    jid = enqueue(api, q)["job_id"]
    [j] = reserved(api, q)
    tok = j["lease_token"]
    r = api.post(f"/api/v1/jobs/{jid}/heartbeat", {"lease_token": tok, "extend_s": 120})
    assert r.status_code == 200, r.text
    assert r.json()["job_id"] == jid and TIME_RE.match(r.json()["lease_expires_at"])
    assert_problem(api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": "0" * 32}), 409)
    assert_problem(api.post(f"/api/v1/jobs/{jid}/ack", {}), 422, "lease_token")
    r = api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": tok, "result": {"ok": True}})
    assert r.status_code == 200 and r.json() == {"job_id": jid, "state": "succeeded"}, r.text
    assert_problem(api.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": tok}), 409)
    assert_problem(api.post(f"/api/v1/jobs/{jid}/fail", {"lease_token": tok}), 409)
    assert_problem(api.post(f"/api/v1/jobs/{jid}/heartbeat", {"lease_token": tok}), 409)
    got = api.get(f"/api/v1/jobs/{jid}").json()
    assert got["state"] == "succeeded" and got["result"] == {"ok": True}
    assert [a["outcome"] for a in got["attempts"]] == ["succeeded"]
    missing = "job_01AAAAAAAAAAAAAAAAAAAAAAAA"
    assert_problem(api.post(f"/api/v1/jobs/{missing}/ack", {"lease_token": tok}), 404)
    assert_problem(api.get(f"/api/v1/jobs/{missing}"), 404)
    # fail body checks
    jid2 = enqueue(api, q)["job_id"]
    [j2] = reserved(api, q)
    for body, field in [({"lease_token": j2["lease_token"], "retryable": True,
                          "reason": "permanent_failure"}, "reason"),
                        ({"lease_token": j2["lease_token"], "reason": "timeout"}, "reason"),
                        ({"lease_token": j2["lease_token"], "error": {"type": 1}}, "error.type"),
                        ({"lease_token": j2["lease_token"], "retryable": "no"}, "retryable")]:
        assert_problem(api.post(f"/api/v1/jobs/{jid2}/fail", body), 422, field)
    assert api.get(f"/api/v1/jobs/{jid2}").json()["state"] == "running"


def test_batch_ack(server):
    api, q = server.admin, uid("q")
    for i in range(3):
        enqueue(api, q, args=[i])
    js = reserved(api, q, count=3)
    acks = [{"job_id": j["job_id"], "lease_token": j["lease_token"], "result": i}
            for i, j in enumerate(js)]
    acks[1]["lease_token"] = "f" * 32
    acks.append({"job_id": "job_01AAAAAAAAAAAAAAAAAAAAAAAA", "lease_token": "a" * 32})
    r = api.post("/api/v1/jobs/ack", {"acks": acks})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[0] == {"job_id": js[0]["job_id"], "state": "succeeded"}
    assert items[1]["status"] == 409 and items[1]["detail"]
    assert items[2]["state"] == "succeeded"
    assert items[3]["status"] == 404
    assert depth(api, q)["succeeded"] == 2 and depth(api, q)["running"] == 1
    assert_problem(api.post("/api/v1/jobs/ack", {"acks": [{"job_id": "x"}]}), 422,
                   "acks[0].lease_token")


def test_cancel(server):
    api, q = server.admin, uid("q")
    a = enqueue(api, q)["job_id"]
    b = enqueue(api, q, delay_ms=60000)["job_id"]
    for jid in (a, b):
        r = api.delete(f"/api/v1/jobs/{jid}")
        assert r.status_code == 200 and r.json() == {"job_id": jid, "state": "cancelled"}
    assert_problem(api.delete(f"/api/v1/jobs/{a}"), 409)
    assert reserve(api, q).status_code == 204
    c = enqueue(api, q)["job_id"]
    reserved(api, q)
    assert_problem(api.delete(f"/api/v1/jobs/{c}"), 409)
    assert depth(api, q)["cancelled"] == 2


def test_tenant_isolation_and_roles(server):
    q = uid("q")
    ta = server.client("producer", tenant="acme")
    tb = server.client("producer", tenant="globex")
    viewer = server.client("viewer")
    jid = enqueue(ta, q, tenant_id="someone-else")["job_id"]
    j = server.admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["tenant_id"] == "acme"  # forced to the token's tenant
    assert_problem(server.client("viewer", tenant="globex").get(f"/api/v1/jobs/{jid}"), 404)
    assert server.client("viewer", tenant="acme").get(f"/api/v1/jobs/{jid}").status_code == 200
    assert reserve(tb, q).status_code == 204
    [got] = reserved(ta, q)
    assert got["job_id"] == jid and got["tenant_id"] == "acme"
    assert_problem(tb.post(f"/api/v1/jobs/{jid}/ack", {"lease_token": got["lease_token"]}), 404)
    assert_problem(viewer.post(f"/api/v1/queues/{q}/jobs", {"task_name": "t"}), 403)
    assert_problem(viewer.post(f"/api/v1/queues/{q}/reserve", {}), 403)
    assert viewer.get(f"/api/v1/jobs/{jid}").status_code == 200
    assert_problem(server.api(None).post(f"/api/v1/queues/{q}/jobs", {"task_name": "t"}), 401)
    assert_problem(ta.delete(f"/api/v1/jobs/{jid}"), 403)
    assert_problem(server.client("operator").req("PUT", f"/api/v1/queues/{q}/settings",
                                                  json_body={"paused": True}), 403)
