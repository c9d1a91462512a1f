"""Retention of finished jobs: the maintenance thread deletes final jobs
(succeeded, cancelled, dead) older than --retention-days; waiting and
running jobs are never touched, and a dead job's entry stays."""

import time

from conftest import uid


def test_finished_jobs_are_purged_with_retention(fresh_server):
    srv = fresh_server(extra_args=["--retention-days", "0", "--maintenance-interval-s", "1"])
    srv.start()
    api, q = srv.admin, uid("q")
    ids = [api.post(f"/api/v1/queues/{q}/jobs", {"task_name": "t", "max_retries": 0}).json()
           ["job_id"] for _ in range(4)]
    js = api.post(f"/api/v1/queues/{q}/reserve", {"count": 3}).json()["jobs"]
    r = api.post(f"/api/v1/jobs/{js[0]['job_id']}/ack", {"lease_token": js[0]["lease_token"]})
    assert r.status_code == 200
    r = api.post(f"/api/v1/jobs/{js[1]['job_id']}/fail", {"lease_token": js[1]["lease_token"]})
    dlq_id = r.json()["dlq_id"]
    running = js[2]["job_id"]
    waiting = [i for i in ids if i not in {j["job_id"] for j in js}][0]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        gone = [api.get(f"/api/v1/jobs/{j['job_id']}").status_code for j in js[:2]]
        if gone == [404, 404]:
            break
        time.sleep(0.2)
    assert gone == [404, 404]
    assert api.get(f"/api/v1/jobs/{running}").json()["state"] == "running"
    assert api.get(f"/api/v1/jobs/{waiting}").json()["state"] == "queued"
    assert api.entry(dlq_id)["status"] == "pending_review"
