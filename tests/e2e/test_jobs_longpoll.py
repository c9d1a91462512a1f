"""The reserve long poll: it wakes when a job of its queue becomes ready
(enqueue, a retry's backoff ending, an expired lease, a resumed queue), it
does not hold a server thread (many waiting reserves and the server still
answers), and a graceful stop answers every waiting reserve."""

import threading
import time

from conftest import Api, uid


def enqueue(api, q, **body):
    body.setdefault("task_name", "app.tasks.t")
    r = api.post(f"/api/v1/queues/{q}/jobs", body)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


class Poll(threading.Thread):
    """Poll runs one reserve (its own connection) and keeps the answer."""

    def __init__(self, server, q, secret=None, **body):
        super().__init__(daemon=True)
        self.api = Api(server.base, secret or server.admin_secret)
        self.q, self.body = q, body
        self.resp = self.error = None

    def run(self):
        try:
            self.resp = self.api.post(f"/api/v1/queues/{self.q}/reserve", self.body, timeout=60)
        except Exception as e:  # noqa: BLE001 - checked by the test
            self.error = e

    def jobs(self):
        assert self.error is None, self.error
        if self.resp.status_code == 204:
            return []
        assert self.resp.status_code == 200, self.resp.text
        return self.resp.json()["jobs"]


def started(p, settle=0.3):
    p.start()
    time.sleep(settle)
    assert p.is_alive(), "the reserve answered before anything was enqueued"
    return p


def test_wakes_on_enqueue(server):
    api, q = server.admin, uid("q")
    p = started(Poll(server, q, wait_ms=20000))
    jid = enqueue(api, q)
    p.join(20)
    assert [j["job_id"] for j in p.jobs()] == [jid]


def test_empty_poll_answers_204_after_wait(server):
    q = uid("q")
    p = Poll(server, q, wait_ms=400)
    t0 = time.monotonic()
    p.start()
    p.join(10)
    assert p.jobs() == [] and p.resp.status_code == 204
    assert time.monotonic() - t0 >= 0.35


def test_wakes_when_backoff_ends_and_when_lease_expires(server):
    api, q = server.admin, uid("q")
    jid = enqueue(api, q, backoff={"base_ms": 300, "factor": 1, "max_ms": 300})
    [j] = api.post(f"/api/v1/queues/{q}/reserve", {}).json()["jobs"]
    r = api.post(f"/api/v1/jobs/{jid}/fail", {"lease_token": j["lease_token"]})
    assert r.status_code == 200 and r.json()["state"] == "scheduled", r.text
    p = Poll(server, q, wait_ms=20000, lease_s=1)
    p.start()
    p.join(20)
    [j2] = p.jobs()
    assert j2["job_id"] == jid and j2["attempt"] == 2
    # the 1 s lease expires: a waiting reserve gets the job again
    p = Poll(server, q, wait_ms=20000)
    p.start()
    p.join(20)
    [j3] = p.jobs()
    assert j3["job_id"] == jid and j3["attempt"] == 3


def test_paused_queue_gives_204_and_resume_wakes(server):
    api, q = server.admin, uid("q")
    r = api.post(f"/api/v1/queues/{q}/pause")
    assert r.status_code == 200 and r.json()["paused"] is True, r.text
    jid = enqueue(api, q)
    r = api.post(f"/api/v1/queues/{q}/reserve", {"wait_ms": 300})
    assert r.status_code == 204
    p = started(Poll(server, q, wait_ms=20000))
    r = api.post(f"/api/v1/queues/{q}/resume")
    assert r.status_code == 200 and r.json()["paused"] is False
    p.join(20)
    assert [j["job_id"] for j in p.jobs()] == [jid]


def test_many_waiting_reserves_do_not_hold_threads(server):
    api, q = server.admin, uid("q")
    polls = [Poll(server, q, wait_ms=8000) for _ in range(100)]
    for p in polls:
        p.start()
    time.sleep(1.0)
    assert sum(p.is_alive() for p in polls) == 100
    # the pool (16 threads) still serves other requests at once
    t0 = time.monotonic()
    for _ in range(5):
        assert api.get("/api/v1/queues").status_code == 200
        assert api.get("/healthz").status_code == 200
    assert time.monotonic() - t0 < 3
    ids = {enqueue(api, q, args=[i]) for i in range(5)}
    for p in polls:
        p.join(30)
    got = [j["job_id"] for p in polls for j in p.jobs()]
    assert sorted(got) == sorted(ids)  # each job to exactly one reserve
    assert sum(p.resp.status_code == 204 for p in polls) == 95


def test_graceful_stop_answers_waiting_reserves(fresh_server):
    srv = fresh_server().start()
    q = uid("q")
    polls = [Poll(srv, q, wait_ms=30000) for _ in range(5)]
    for p in polls:
        p.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    srv.stop()  # SIGTERM: exits 0 within 10 s
    assert time.monotonic() - t0 < 8
    for p in polls:
        p.join(10)
        assert not p.is_alive()
        assert p.error is None and p.resp.status_code == 204
