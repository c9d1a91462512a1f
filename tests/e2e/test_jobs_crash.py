"""No job is lost or run twice at once across kill -9 of the server under load.

N jobs with unique ids in their args are enqueued (half before, half during
the crashes, by idempotency key so that a retried enqueue cannot make a
second job); worker threads speak the worker protocol over HTTP (reserve,
run for a few ms, ack) and record every run with its lease token while the
server is SIGKILLed and restarted on the same database and port several
times. At the end: every job reached succeeded (or dead) and is counted
once, no job ran under two leases at overlapping times, the same lease was
never handed out twice, no job was acked by two leases, and every ack the
server confirmed is still there.
"""

import os
import random
import signal
import subprocess
import threading
import time
from collections import defaultdict

import pytest
import requests

from conftest import DlqServer, run_threads, uid

N = 2000
WORKERS = 6
KILLS = 4
LEASE_S = 3


class SamePortServer(DlqServer):
    """SamePortServer restarts on the port of its first start, so that
    clients keep talking to one address across crashes."""

    def start(self, timeout=20.0):
        if self.port is None:
            return super().start(timeout)
        port = self.port
        self.starts += 1
        self.stdout_path = self.workdir / f"stdout.{self.starts}.log"
        self.stderr_path = self.workdir / f"stderr.{self.starts}.log"
        env = {"DLQ_ADMIN_TOKEN": self.admin_secret, "PATH": "/usr/bin:/bin"}
        args = [self.binary, "serve", "--store", self.db, "--listen", f"127.0.0.1:{port}"]
        deadline = time.monotonic() + timeout
        while True:
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(args, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, env=env,
                                             cwd=self.workdir)
            if self._wait_ready(timeout):
                return self
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            if time.monotonic() > deadline:  # the port may linger a moment
                pytest.fail(f"restart on port {port} failed: {self.stderr_tail()}")
            time.sleep(0.2)


@pytest.fixture
def crash_server(dlq_bin, tmp_path):
    """crash_server is a started SamePortServer, killed at the end if a
    failed test left it running."""
    srv = SamePortServer(dlq_bin, tmp_path / "srv").start()
    yield srv
    if srv.proc is not None:
        srv.kill9()


def test_kill9_under_load_loses_nothing_and_runs_nothing_twice(crash_server):
    srv = crash_server
    base = srv.base
    auth = {"Authorization": f"Bearer {srv.admin_secret}"}
    q = uid("q.crash.")
    stop = threading.Event()
    lock = threading.Lock()
    runs = []                      # (job_id, lease_token, t0, t1)
    acked = defaultdict(list)      # job_id -> lease tokens whose ack answered 200
    uncertain = []                 # acks whose answer was lost in a crash
    errors = []

    def post(sess, path, body, timeout=5):
        return sess.post(base + path, json=body, headers=auth, timeout=timeout)

    def enqueue_batch(lo, hi):
        jobs = [{"task_name": "app.tasks.crash.run", "args": [i], "max_retries": 20,
                 "idempotency_key": f"crash-{i}", "backoff": {"base_ms": 1, "max_ms": 10}}
                for i in range(lo, hi)]
        s = requests.Session()
        while True:
            try:
                r = post(s, f"/api/v1/queues/{q}/jobs/batch", {"jobs": jobs}, timeout=10)
                if r.status_code in (200, 201):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)

    def ack(sess, job_id, token):
        deadline = time.monotonic() + LEASE_S + 10
        while time.monotonic() < deadline:
            try:
                r = post(sess, f"/api/v1/jobs/{job_id}/ack", {"lease_token": token})
            except requests.RequestException:
                time.sleep(0.05)
                with lock:
                    uncertain.append(job_id)
                continue
            if r.status_code >= 500:
                time.sleep(0.05)
                continue
            with lock:
                if r.status_code == 200:
                    acked[job_id].append(token)
                elif r.status_code != 409:  # 409: the lease moved on (or the ack landed)
                    errors.append((job_id, r.status_code, r.text))
            return

    def worker(i):
        sess = requests.Session()
        while not stop.is_set():
            try:
                r = post(sess, f"/api/v1/queues/{q}/reserve",
                         {"count": 10, "wait_ms": 300, "lease_s": LEASE_S,
                          "worker_id": f"w{i}"})
            except requests.RequestException:
                time.sleep(0.05)
                sess = requests.Session()
                continue
            if r.status_code != 200:
                time.sleep(0.02)
                continue
            for j in r.json()["jobs"]:
                t0 = time.monotonic()
                time.sleep(random.uniform(0, 0.004))  # the work
                t1 = time.monotonic()
                with lock:
                    runs.append((j["job_id"], j["lease_token"], t0, t1))
                ack(sess, j["job_id"], j["lease_token"])

    def counts():
        try:
            r = requests.get(f"{base}/api/v1/queues/{q}", headers=auth, timeout=5)
            return r.json() if r.status_code == 200 else None
        except requests.RequestException:
            return None

    enqueue_batch(0, N // 2)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    feeder = threading.Thread(target=lambda: [enqueue_batch(lo, lo + 100)
                                              for lo in range(N // 2, N, 100)])
    feeder.start()
    t_start = time.monotonic()
    try:
        for _ in range(KILLS):
            time.sleep(random.uniform(1.0, 2.0))
            srv.kill9()
            time.sleep(random.uniform(0.05, 0.3))
            srv.start()
        feeder.join(timeout=60)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            c = counts()
            if c and c["succeeded"] + c["dead"] >= N and c["running"] == 0:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
    elapsed = time.monotonic() - t_start

    c = counts()
    assert c is not None
    assert (c["ready"], c["scheduled"], c["running"]) == (0, 0, 0), c
    assert c["succeeded"] + c["dead"] == N, c  # every job once, none twice
    assert not errors, errors[:5]

    # Every job's final state, by id; acked ones stayed succeeded.
    seen_args = set()
    by_job = defaultdict(list)
    for job_id, token, t0, t1 in runs:
        by_job[job_id].append((t0, t1, token))
    ids = list(by_job)

    def check(k):
        s = requests.Session()
        for job_id in ids[k::4]:
            r = s.get(f"{base}/api/v1/jobs/{job_id}", headers=auth, timeout=10)
            assert r.status_code == 200, r.text
            j = r.json()
            assert j["state"] in ("succeeded", "dead"), j
            if acked.get(job_id):
                assert j["state"] == "succeeded", j
            with lock:
                seen_args.add(j["args"][0])

    run_threads(4, check)
    assert seen_args == set(range(N)), f"jobs never run: {sorted(set(range(N)) - seen_args)[:10]}"

    tokens = [tok for _, tok, _, _ in runs]
    assert len(tokens) == len(set(tokens)), "a lease token was handed out twice"
    for job_id, tokens in acked.items():
        assert len(tokens) == 1, f"{job_id} acked under two leases: {tokens}"
    for job_id, rs in by_job.items():
        rs.sort()
        for (a0, a1, ta), (b0, b1, tb) in zip(rs, rs[1:]):
            assert a1 <= b0, f"{job_id} ran under {ta} and {tb} at once"
    print(f"{N} jobs, {len(runs)} runs, {KILLS} kills, {len(uncertain)} acks lost in "
          f"crashes, {elapsed:.1f}s")
    srv.stop()


def test_dlq_worker_processes_ride_out_kill9_of_the_server(dlq_bin, tmp_path, crash_server):
    """The same with `dlq worker` processes running a real command: their
    reserves, heartbeats and acks wait out each restart; each job's command
    appends its id to a log, so a job run twice shows up twice."""
    srv = crash_server
    q = uid("q.crashw.")
    n = 300
    r = srv.admin.post(f"/api/v1/queues/{q}/jobs/batch",
                       {"jobs": [{"task_name": "app.tasks.crash.cmd", "args": [i],
                                  "max_retries": 20, "timeout_s": 5,
                                  "backoff": {"base_ms": 1, "max_ms": 10}}
                                 for i in range(n)]})
    assert r.status_code == 201, r.text
    ran = tmp_path / "ran.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
    env.update({"DLQ_URL": srv.base, "DLQ_TOKEN": srv.admin_secret, "RAN": str(ran)})
    logs, procs = [], []
    for i in range(2):
        log = open(tmp_path / f"worker{i}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen(
            [dlq_bin, "worker", "--queue", q, "--concurrency", "4", "--worker-id", f"w{i}",
             "--", "/bin/sh", "-c", 'echo "$DLQ_JOB_ID s $(date +%s%N)" >>"$RAN"; '
             'cat >/dev/null; echo "$DLQ_JOB_ID e $(date +%s%N)" >>"$RAN"'],
            env=env, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL))
    try:
        for _ in range(3):
            time.sleep(random.uniform(0.8, 1.5))
            srv.kill9()
            time.sleep(random.uniform(0.05, 0.3))
            srv.start()
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            c = srv.admin.get(f"/api/v1/queues/{q}").json()
            if c["succeeded"] + c["dead"] >= n and c["running"] == 0:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        rcs = [p.wait(timeout=20) for p in procs]
        for log in logs:
            log.close()
    worker_logs = "".join((tmp_path / f"worker{i}.log").read_text() for i in range(2))
    assert rcs == [0, 0], worker_logs[-3000:]
    c = srv.admin.get(f"/api/v1/queues/{q}").json()
    assert (c["succeeded"], c["dead"], c["ready"], c["scheduled"], c["running"]) == (
        n, 0, 0, 0, 0), (c, worker_logs[-3000:])
    # A command runs again only when a reserve's answer was lost with a crash
    # and its lease ran out: never while another run of the same job goes on.
    runs = defaultdict(lambda: ([], []))
    for line in ran.read_text().splitlines():
        job_id, what, ns = line.split()
        runs[job_id][0 if what == "s" else 1].append(int(ns))
    assert len(runs) == n
    for job_id, (starts, ends) in runs.items():
        starts.sort()
        ends.sort()
        assert len(starts) == len(ends), (job_id, starts, ends)
        for e, s2 in zip(ends, starts[1:]):
            assert e <= s2, f"{job_id} ran twice at once: {starts} {ends}"
    reruns = sum(len(st) for st, _ in runs.values()) - n
    assert reruns <= 20, reruns
    assert "could not ack" not in worker_logs, worker_logs[-3000:]
    srv.stop()
