"""Two `dlq serve` processes on one PostgreSQL database, one killed mid-way.

Only collected when the suite runs on PostgreSQL (conftest.py): a SQLite
file belongs to one process. Both servers share a schema. Workers reserve
from both (whichever answers), a bulk replay runs on server B, and B is
killed with SIGKILL while jobs are leased on it and its replay is half done.
At the end every job reached exactly one final state, no job ran under two
leases at once, no lease was handed out twice, the bulk operation was
adopted by server A and finished, and every replayed entry was replayed
exactly once and resolved.
"""

import random
import threading
import time
from collections import defaultdict

import pytest
import requests

from conftest import DlqServer, uid

N_JOBS = 600
N_ENTRIES = 300
WORKERS = 4
LEASE_S = 2


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def two_nodes(dlq_bin, tmp_path):
    a = DlqServer(dlq_bin, tmp_path / "a")
    b = DlqServer(dlq_bin, tmp_path / "b", db=a.db)  # the same schema
    a.start()
    b.start()
    yield a, b
    for s in (a, b):
        if s.proc is not None:
            s.kill9()


def test_two_servers_one_killed_every_job_and_entry_ends_once(two_nodes):
    a, b = two_nodes
    nodes = [a, b]
    auth = {"Authorization": f"Bearer {a.admin_secret}"}
    q, rq = uid("q.multi."), uid("q.replay.")
    lock = threading.Lock()
    runs = []                  # (job_id, lease_token, t0, t1)
    acked = defaultdict(list)  # job_id -> tokens whose ack answered 200
    uncertain = set()          # jobs whose ack's answer was lost with B (it may have landed)
    errors = []
    stop = threading.Event()

    def alive():
        return [n for n in nodes if n.proc is not None]

    def post(sess, node, path, body, timeout=5):
        return sess.post(node.base + path, json=body, headers=auth, timeout=timeout)

    # jobs through A, entries (to replay into queue rq) through B
    jobs = [{"task_name": "app.multi.run", "args": [i], "max_retries": 20,
             "idempotency_key": f"m-{i}", "backoff": {"base_ms": 1, "max_ms": 20}}
            for i in range(N_JOBS)]
    r = requests.post(a.base + f"/api/v1/queues/{q}/jobs/batch", json={"jobs": jobs},
                      headers=auth, timeout=30)
    assert r.status_code in (200, 201), r.text
    entries = [{"task_name": "app.multi.bulk", "queue": rq, "task_args": [i],
                "exception": {"type": "KeyError", "message": f"k{i}"}}
               for i in range(N_ENTRIES)]
    for lo in range(0, N_ENTRIES, 100):
        r = b.api().post("/api/v1/dlq/entries/batch", entries[lo:lo + 100])
        assert r.status_code in (200, 201, 207), r.text

    def worker(i):
        sess = requests.Session()
        while not stop.is_set():
            live = alive()
            if not live:
                time.sleep(0.05)
                continue
            node = random.choice(live)
            queue = q if i % 2 == 0 else rq
            try:
                r = post(sess, node, f"/api/v1/queues/{queue}/reserve",
                         {"count": 10, "wait_ms": 200, "lease_s": LEASE_S,
                          "worker_id": f"w{i}"})
            except requests.RequestException:
                sess = requests.Session()
                continue
            if r.status_code != 200:
                continue
            for j in r.json()["jobs"]:
                t0 = time.monotonic()
                time.sleep(random.uniform(0, 0.003))
                t1 = time.monotonic()
                with lock:
                    runs.append((j["job_id"], j["lease_token"], t0, t1))
                for _ in range(50):  # ack through any live node
                    live = alive()
                    if not live:
                        time.sleep(0.05)
                        continue
                    try:
                        ar = post(sess, random.choice(live), f"/api/v1/jobs/{j['job_id']}/ack",
                                  {"lease_token": j["lease_token"]})
                    except requests.RequestException:
                        sess = requests.Session()
                        with lock:
                            uncertain.add(j["job_id"])
                        continue
                    if ar.status_code >= 500:
                        continue
                    with lock:
                        if ar.status_code == 200:
                            acked[j["job_id"]].append(j["lease_token"])
                        elif ar.status_code != 409:
                            errors.append((j["job_id"], ar.status_code, ar.text))
                    break

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
    for t in threads:
        t.start()
    try:
        # a slow bulk replay on B, so that it is half done when B dies
        r = b.api().post("/api/v1/dlq/replay-bulk",
                         {"queue": rq, "rate_per_second": 60, "batch_size": 10,
                          "outcome_timeout_s": 0})
        assert r.status_code == 202, r.text
        op_id = r.json()["operation_id"]
        wait_for(lambda: b.admin.get(f"/api/v1/dlq/operations/{op_id}").json()["processed"]
                 >= 60, 30, "the replay to be under way on B")
        b.kill9()  # mid-replay, with jobs leased through B
        # A adopts the operation (its lock died with B) and finishes it
        op = wait_for(lambda: (lambda o: o if o["state"] != "running" else None)(
            a.admin.get(f"/api/v1/dlq/operations/{op_id}").json()), 90, "A to finish the replay")
        assert op["state"] == "done" and op["processed"] == N_ENTRIES, op
        assert f"operation {op_id}: running from" in a.stderr_tail(10**7), "A did not adopt it"

        def settled():
            for name in (q, rq):
                d = a.admin.get(f"/api/v1/queues/{name}").json()
                if d["ready"] or d["scheduled"] or d["running"]:
                    return None
            return True
        wait_for(settled, 60, "every job to finish")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors[:5]

    api = a.admin
    # every job: one final state, acked at most once, never leased twice at once
    seen_tokens = set()
    for job_id, token, _, _ in runs:
        assert token not in seen_tokens, f"lease {token} handed out twice"
        seen_tokens.add(token)
    by_job = defaultdict(list)
    for job_id, _, t0, t1 in runs:
        by_job[job_id].append((t0, t1))
    for job_id, spans in by_job.items():
        spans.sort()
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s1 >= e0 or s1 >= s0 + LEASE_S - 0.5, f"{job_id} ran twice at once"
    for job_id, toks in acked.items():
        assert len(toks) == 1, f"{job_id} acked by {len(toks)} leases"
    # the counters say every job succeeded once, and so does each job read back
    depth = {x["queue"]: x for x in api.get("/api/v1/queues").json()["items"]}
    assert depth[q]["succeeded"] == N_JOBS and depth[q]["dead"] == 0, depth[q]
    assert depth[rq]["succeeded"] == N_ENTRIES and depth[rq]["dead"] == 0, depth[rq]
    # every job was acked by the workers: a 200, or an ack whose answer died with B
    # and whose retry found it done (409)
    assert len(set(acked) | uncertain) == N_JOBS + N_ENTRIES, (len(acked), len(uncertain))
    for job_id in random.sample(sorted(acked), 50):
        j = api.get(f"/api/v1/jobs/{job_id}").json()
        assert j["state"] == "succeeded", j
    # every entry: replayed exactly once, resolved by its replay's ack
    got, cursor = [], None
    while True:
        params = {"queue": rq, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = api.list(**params)
        got += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(got) == N_ENTRIES
    assert all(e["retry_count"] == 1 for e in got), "an entry was replayed twice"
    assert all(e["status"] == "resolved" for e in got), {e["status"] for e in got}


def test_long_poll_on_one_server_is_woken_by_a_job_enqueued_on_the_other(two_nodes):
    """Only the NOTIFY from B's commit can wake A's waiting reserve: the timer
    beat runs timers, it does not wake long polls for a job that was ready at
    once. Without it the reserve would answer 204 when its 20 s wait ends."""
    a, b = two_nodes
    q = uid("q.wake.")
    got = {}

    def reserve():
        got["r"] = a.admin.post(f"/api/v1/queues/{q}/reserve", {"count": 1, "wait_ms": 20000})

    t = threading.Thread(target=reserve)
    t.start()
    time.sleep(0.5)  # A's reserve is waiting (suspended) by now
    r = b.admin.post(f"/api/v1/queues/{q}/jobs", {"task_name": "app.multi.wake", "args": [1]})
    assert r.status_code == 201, r.text
    t.join(30)
    assert not t.is_alive()
    assert got["r"].status_code == 200, got["r"].status_code
    assert [j["job_id"] for j in got["r"].json()["jobs"]] == [r.json()["job_id"]]
