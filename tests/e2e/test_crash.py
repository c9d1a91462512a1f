"""Crash test: kill -9 at random moments under mixed load, many rounds.

Each round starts the server over the same database, runs concurrent load
(ingest with and without idempotency keys and their repeats, batches,
single retries, a bulk replay, and a job cycle: enqueue, reserve, ack or
fail), kills the server with SIGKILL at a random moment, restarts it and
checks, while it is fresh:
- every acknowledged ingest (201/200/202) is there exactly once, by dlq_id
  and by idempotency key (an unacknowledged keyed ingest, retried, resolves
  to one entry);
- the stats counters equal a recount of the list (total and by_status);
- no replay was dispatched twice: retry_task_ids are unique, each acked
  retry has its job, replayed events and jobs agree;
- every job is in exactly one state: the queue's counters add up to the
  number of distinct jobs, acked acks are succeeded, acked fails are dead.
The seed is printed, so a failing run can be repeated (CRASH_SEED=...).
"""

import collections
import os
import random
import threading
import time

import requests

from conftest import BATCH, ENTRIES, uid

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "55"))
JOBQ = "crashq"
REPLAYQ = "crashq-replay"
T = 3  # request timeout: a killed server resets connections at once


class State:
    """What the clients were told (acknowledged) and what they tried."""

    def __init__(self):
        self.mu = threading.Lock()
        self.acked = {}  # dlq_id -> idempotency key or None
        self.keys = {}  # idempotency key -> dlq_id (acknowledged)
        self.tried_keys = set()  # keys sent, acknowledged or not
        self.retries = {}  # retry_task_id -> dlq_id (acknowledged)
        self.jobs = {}  # job key -> job_id (acknowledged enqueue)
        self.tried_jobs = set()  # job keys sent
        self.job_final = {}  # job_id -> "succeeded" | "dead" (acknowledged)
        self.ops = set()


def ingest_one(api, st, rnd, name):
    key = uid("ck-") if rnd.random() < 0.6 else None
    body = {"task_name": name, "queue": REPLAYQ, "exception": {"type": "E", "message": "boom"}}
    h = {"Idempotency-Key": key} if key else {}
    if key:
        with st.mu:
            st.tried_keys.add(key)
    for _ in range(2 if key and rnd.random() < 0.3 else 1):  # a client's retry
        r = api.post(ENTRIES, body, headers=h, timeout=T)
        if r.status_code not in (200, 201, 202):
            return
        record(st, r.json()["dlq_id"], key)


def record(st, ident, key):
    with st.mu:
        st.acked[ident] = key
        if key:
            assert st.keys.setdefault(key, ident) == ident, f"key {key}: {ident} vs {st.keys[key]}"


def ingest_batch(api, st, rnd, name):
    keys = [uid("cb-") if i % 2 == 0 else None for i in range(5)]
    with st.mu:
        st.tried_keys.update(k for k in keys if k)
    items = [dict({"task_name": name, "queue": REPLAYQ}, **({"idempotency_key": k} if k else {}))
             for k in keys]
    r = api.post(BATCH, {"entries": items}, timeout=T)
    if r.status_code in (200, 202):
        for k, it in zip(keys, r.json()["items"]):
            record(st, it["dlq_id"], k)


def retry_one(api, st, rnd):
    with st.mu:
        if not st.acked:
            return
        ident = rnd.choice(list(st.acked))
    r = api.post(f"{ENTRIES}/{ident}/retry", {}, timeout=T)
    if r.status_code == 200:
        tid = r.json()["retry_task_id"]
        with st.mu:
            assert tid not in st.retries, f"retry_task_id {tid} answered twice"
            st.retries[tid] = ident


def job_cycle(api, st, rnd):
    key = uid("cj-")
    with st.mu:
        st.tried_jobs.add(key)
    r = api.post(f"/api/v1/queues/{JOBQ}/jobs", {"task_name": "crash.job", "max_retries": 0},
                 headers={"Idempotency-Key": key}, timeout=T)
    if r.status_code in (200, 201):
        with st.mu:
            st.jobs[key] = r.json()["job_id"]
    r = api.post(f"/api/v1/queues/{JOBQ}/reserve", {"count": 3, "lease_s": 1}, timeout=T)
    if r.status_code != 200:
        return
    for j in r.json()["jobs"]:
        if rnd.random() < 0.7:
            a = api.post(f"/api/v1/jobs/{j['job_id']}/ack", {"lease_token": j["lease_token"]},
                         timeout=T)
            final = "succeeded"
        else:
            a = api.post(f"/api/v1/jobs/{j['job_id']}/fail",
                         {"lease_token": j["lease_token"], "retryable": False,
                          "error": {"type": "E", "message": "no"}}, timeout=T)
            final = "dead"
        if a.status_code == 200:
            with st.mu:
                st.job_final[j["job_id"]] = final


def bulk_replay(api, st, name):
    r = api.post("/api/v1/dlq/replay-bulk", {"task_name": name, "max_tasks": 20,
                                              "batch_size": 5, "outcome_timeout_s": 0}, timeout=T)
    if r.status_code == 202:
        with st.mu:
            st.ops.add(r.json()["operation_id"])


def load(srv, st, rnd, name, stop, kind):
    api = srv.admin
    while not stop.is_set():
        try:
            if kind == 0:
                ingest_one(api, st, rnd, name)
            elif kind == 1:
                ingest_batch(api, st, rnd, name) if rnd.random() < 0.3 else ingest_one(
                    api, st, rnd, name)
            elif kind == 2:
                retry_one(api, st, rnd)
            else:
                job_cycle(api, st, rnd)
        except requests.RequestException:
            time.sleep(0.01)  # the server is gone; the round ends soon


def walk(api):
    out = []
    params = {"limit": 100}
    while True:
        page = api.get(ENTRIES, params=params, timeout=10).json()
        out.extend(page["items"])
        if not page["next_cursor"]:
            return out
        params["cursor"] = page["next_cursor"]


def check(srv, st, full=False):
    api = srv.admin
    # Expired leases of jobs reserved before the kill dead-letter into new
    # entries, and a bulk replay resumed at start moves entries to retried,
    # at any moment: compare a list with stats taken with no change around it.
    # A quiet moment is one where the counters did not move while the list
    # was walked; without one the comparison below would race, so its
    # absence is reported as such rather than as a counter mismatch.
    quiet = False
    for _ in range(100):
        before = api.get("/api/v1/dlq/stats", timeout=10).json()
        items = walk(api)
        stats = api.get("/api/v1/dlq/stats", timeout=10).json()
        if (before["total_failures"], before["by_status"]) == (stats["total_failures"],
                                                                stats["by_status"]):
            quiet = True
            break
        time.sleep(0.2)
    assert quiet, f"entries kept changing for 20+ s after the restart: {stats['by_status']}"
    ids = [it["dlq_id"] for it in items]
    assert len(ids) == len(set(ids)), "a dlq_id listed twice"
    have = set(ids)
    missing = set(st.acked) - have
    assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {sorted(missing)[:3]}"
    by_key = collections.Counter(it["idempotency_key"] for it in items if it["idempotency_key"])
    dup = [k for k, n in by_key.items() if n > 1]
    assert not dup, f"idempotency keys stored twice: {dup[:3]}"
    for key, ident in st.keys.items():
        assert by_key[key] == 1, key
    key_of = {it["idempotency_key"]: it["dlq_id"] for it in items if it["idempotency_key"]}
    for key, ident in st.keys.items():
        assert key_of[key] == ident, (key, ident, key_of[key])
    # counters equal a recount
    assert stats["total_failures"] == len(items), (stats["total_failures"], len(items))
    recount = collections.Counter(it["status"] for it in items)
    assert {k: v for k, v in stats["by_status"].items() if v} == dict(recount)
    # no replay dispatched twice: retry_task_ids unique, each acked retry has its job
    tids = [it["retry_task_id"] for it in items if it["retry_task_id"]]
    assert len(tids) == len(set(tids)), "a retry_task_id on two entries"
    recent = list(st.retries.items()) if full else list(st.retries.items())[-10:]
    for tid, ident in recent:
        j = api.get(f"/api/v1/jobs/{tid}", timeout=10)
        assert j.status_code == 200, (tid, j.text)
        assert j.json()["replay_of"] == ident
    # every job in exactly one state
    q = api.get(f"/api/v1/queues/{JOBQ}", timeout=10)
    if st.tried_jobs:
        assert q.status_code == 200, q.text
        counters = q.json()
        total = sum(counters[k] for k in ("ready", "scheduled", "running", "succeeded", "dead",
                                          "cancelled", "dispatched"))
        assert total == len(st.tried_jobs), (total, len(st.tried_jobs), counters)
    finals = list(st.job_final.items()) if full else list(st.job_final.items())[-10:]
    for jid, want in finals:
        got = api.get(f"/api/v1/jobs/{jid}", timeout=10).json()["state"]
        assert got == want, (jid, got, want)
    if full:
        check_history(api, items, st)
    return items


def check_history(api, items, st):
    """Each replayed event is one job with that id, replaying that entry
    (on a sample of the retried entries: a full pass costs seconds)."""
    seen = set()
    retried = [it for it in items if it["retry_count"] > 0]
    acked_ids = set(st.retries.values())
    # every entry an acknowledged retry named, and a sample of the others
    r = random.Random(len(items))
    pick = [it for it in retried if it["dlq_id"] in acked_ids]
    pick = r.sample(pick, min(len(pick), 80))
    rest = [it for it in retried if it["dlq_id"] not in acked_ids]
    pick += r.sample(rest, min(len(rest), 40))
    for it in pick:
        e = api.get(f"{ENTRIES}/{it['dlq_id']}", timeout=10).json()
        replays = [ev for ev in e["history"] if ev["event"] in ("replayed", "force_redriven")]
        for ev in replays:
            tid = ev["details"]["retry_task_id"]
            assert tid not in seen, f"{tid} replayed twice"
            seen.add(tid)
            j = api.get(f"/api/v1/jobs/{tid}", timeout=10)
            assert j.status_code == 200 and j.json()["replay_of"] == it["dlq_id"], (tid, j.text)
    picked = {it["dlq_id"] for it in pick}
    assert {t for t, i in st.retries.items() if i in picked} <= seen


def resolve_unacked(srv, st):
    """An ingest or enqueue that was in flight at the kill, sent again with its
    key, gives one entry (or job): the one stored, or a new one now."""
    api = srv.admin
    with st.mu:
        keys = [k for k in st.tried_keys if k not in st.keys]
        jkeys = [k for k in st.tried_jobs if k not in st.jobs]
    for k in keys:
        r = api.post(ENTRIES, {"task_name": "crash.resend", "queue": REPLAYQ},
                     headers={"Idempotency-Key": k}, timeout=10)
        assert r.status_code in (200, 201), r.text
        record(st, r.json()["dlq_id"], k)
    for k in jkeys:
        r = api.post(f"/api/v1/queues/{JOBQ}/jobs", {"task_name": "crash.job"},
                     headers={"Idempotency-Key": k}, timeout=10)
        assert r.status_code in (200, 201), r.text
        st.jobs[k] = r.json()["job_id"]


def test_kill9_rounds_under_mixed_load(fresh_server):
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
    print(f"CRASH_SEED={seed}")
    rnd = random.Random(seed)
    srv = fresh_server(extra_args=["--quiet", "--threads", "8"]).start()
    st = State()
    name = uid("app.crash.")
    t_end = time.monotonic() + 85
    for rnd_i in range(ROUNDS):
        assert time.monotonic() < t_end, f"only {rnd_i} rounds within the time budget"
        stop = threading.Event()
        workers = [threading.Thread(target=load, args=(srv, st, random.Random(rnd.random()), name,
                                                       stop, k))
                   for k in range(4)]
        for w in workers:
            w.start()
        if rnd_i % 3 == 1:
            time.sleep(rnd.uniform(0.0, 0.1))
            try:
                bulk_replay(srv.admin, st, name)
            except requests.RequestException:
                pass
        time.sleep(rnd.uniform(0.02, 0.3))
        srv.kill9()
        stop.set()
        for w in workers:
            w.join()
        t0 = time.monotonic()
        srv.start()
        t1 = time.monotonic()
        resolve_unacked(srv, st)
        t2 = time.monotonic()
        check(srv, st, full=rnd_i == ROUNDS - 1)
        if os.environ.get("CRASH_TIMES"):
            print(f"round {rnd_i}: start {t1 - t0:.2f}s resend {t2 - t1:.2f}s "
                  f"check {time.monotonic() - t2:.2f}s entries {len(st.acked)}")
    assert len(st.acked) > 200 and st.retries and st.job_final, (
        len(st.acked), len(st.retries), len(st.job_final))
    srv.stop()
