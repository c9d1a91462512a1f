"""/api/v1/queues: depths from counters, one queue, settings (the webhook
secret is write-only and never audited), pause/resume (audited), roles and
tenancy."""

import time

from conftest import assert_problem, uid

KEYS = ["queue", "ready", "scheduled", "running", "succeeded", "dead", "cancelled",
        "dispatched", "oldest_ready_at", "oldest_ready_age_s", "paused", "replay_target",
        "webhook_url", "webhook_secret_set", "max_replays"]


def enqueue(api, q, **body):
    body.setdefault("task_name", "t")
    r = api.post(f"/api/v1/queues/{q}/jobs", body)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def put_settings(api, q, body):
    return api.req("PUT", f"/api/v1/queues/{q}/settings", json_body=body)


def test_depths_and_list(server):
    api = server.admin
    qa, qb = "qa-" + uid(), "qb-" + uid()
    for _ in range(3):
        enqueue(api, qa)
    enqueue(api, qa, delay_ms=60000)
    enqueue(api, qb)
    r = api.post(f"/api/v1/queues/{qa}/reserve", {})
    j = r.json()["jobs"][0]
    api.post(f"/api/v1/jobs/{j['job_id']}/ack", {"lease_token": j["lease_token"]})
    [j] = api.post(f"/api/v1/queues/{qa}/reserve", {}).json()["jobs"]
    time.sleep(0.05)
    got = api.get(f"/api/v1/queues/{qa}").json()
    assert list(got) == KEYS
    assert (got["ready"], got["scheduled"], got["running"], got["succeeded"]) == (1, 1, 1, 1)
    assert got["oldest_ready_age_s"] > 0 and got["oldest_ready_at"]
    assert got["paused"] is False and got["replay_target"] == "native"
    assert got["webhook_secret_set"] is False and got["max_replays"] == 3
    items = api.get("/api/v1/queues").json()["items"]
    names = [it["queue"] for it in items]
    assert names == sorted(names) and qa in names and qb in names
    assert_problem(api.get(f"/api/v1/queues/{uid('none')}"), 404)
    assert_problem(api.get("/api/v1/queues/bad$name"), 400)


def test_settings_are_partial_secret_write_only_and_audited(server):
    api, q = server.admin, uid("q")
    assert_problem(put_settings(api, q, {"replay_target": "webhook"}), 422, "webhook_url")
    assert_problem(put_settings(api, q, {"replay_target": "kafka"}), 422, "replay_target")
    assert_problem(put_settings(api, q, {"webhook_url": "ftp://x"}), 422, "webhook_url")
    assert_problem(put_settings(api, q, {"max_replays": 0}), 422, "max_replays")
    assert_problem(put_settings(api, q, {"paused": "yes"}), 422, "paused")
    assert_problem(put_settings(api, q, {"colour": 1}), 422, "colour")
    assert api.get(f"/api/v1/queues/{q}").status_code == 404  # nothing stored
    secret = "whsec-" + uid()
    r = put_settings(api, q, {"replay_target": "webhook", "webhook_url": "http://127.0.0.1:9/h",
                              "webhook_secret": secret, "max_replays": 5})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["replay_target"] == "webhook" and got["webhook_url"] == "http://127.0.0.1:9/h"
    assert got["webhook_secret_set"] is True and got["max_replays"] == 5
    assert secret not in r.text
    r = put_settings(api, q, {"max_replays": 2})  # partial: the rest is kept
    assert r.json()["replay_target"] == "webhook" and r.json()["max_replays"] == 2
    assert r.json()["webhook_secret_set"] is True
    listed = api.get("/api/v1/queues").text
    assert secret not in listed
    audit = api.get("/api/v1/audit", params={"action": "queue_settings", "limit": 100})
    assert audit.status_code == 200, audit.text
    assert secret not in audit.text
    mine = [a for a in audit.json()["items"] if (a["details"] or {}).get("queue") == q]
    assert len(mine) == 2 and mine[-1]["details"]["webhook_secret_set"] is True
    r = put_settings(api, q, {"replay_target": "native"})
    assert r.json()["replay_target"] == "native"


def test_pause_resume_audited_and_roles(server):
    api, q = server.admin, uid("q")
    enqueue(api, q)
    viewer, producer = server.client("viewer"), server.client("producer")
    assert_problem(viewer.post(f"/api/v1/queues/{q}/pause"), 403)
    assert_problem(producer.post(f"/api/v1/queues/{q}/pause"), 403)
    assert viewer.get(f"/api/v1/queues/{q}").status_code == 200
    op = server.client("operator")
    r = op.post(f"/api/v1/queues/{q}/pause")
    assert r.status_code == 200 and r.json()["paused"] is True
    assert api.post(f"/api/v1/queues/{q}/reserve", {}).status_code == 204
    r = op.post(f"/api/v1/queues/{q}/resume")
    assert r.status_code == 200 and r.json()["paused"] is False
    assert api.post(f"/api/v1/queues/{q}/reserve", {}).status_code == 200
    for action in ("queue_pause", "queue_resume"):
        a = api.get("/api/v1/audit", params={"action": action, "limit": 100}).json()["items"]
        assert any((x["details"] or {}).get("queue") == q for x in a), action


def test_tenant_bound_depths(server):
    q = uid("q")
    ta = server.client("producer", tenant="t-a")
    enqueue(ta, q)
    enqueue(server.admin, q)
    enqueue(server.admin, q)
    va = server.client("viewer", tenant="t-a")
    assert va.get(f"/api/v1/queues/{q}").json()["ready"] == 1
    assert server.admin.get(f"/api/v1/queues/{q}").json()["ready"] == 3
