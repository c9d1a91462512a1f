"""soak.py: mixed load against one `dlq serve` for MINUTES (run by scripts/soak).

Client threads keep ingesting (single, keyed repeats, batches), listing,
reading, retrying, resolving, running a job cycle (enqueue, reserve, ack or
fail), reading stats and metrics and, now and then, a bulk replay and a
cleanup. Every answer must have an expected status (no 5xx). The server's
RSS is sampled every SAMPLE_S seconds; after the warm-up (the first quarter)
the largest RSS of the last quarter may exceed the largest of the second
quarter by at most GROWTH (relative) + SLACK_MB (SQLite's caches filling up
as the database grows). LeakSanitizer, at exit, finds true leaks. At the end the server gets
SIGTERM and must exit 0 with no sanitizer report on stderr.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

SAMPLE_S = 5
GROWTH = 0.25
SERVER_THREADS = 4
# SQLite's page caches fill as the database grows (16 MiB for the writer,
# 4 MiB per reader connection: one per HTTP thread and background thread):
# legitimate growth up to this much, then flat.
SLACK_MB = 16 + 4 * (SERVER_THREADS + 4) + 8
ADMIN = "soak-admin-" + uuid.uuid4().hex
SAN_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                    r"WARNING: ThreadSanitizer|SUMMARY: (Address|Leak|Undefined)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Load:
    def __init__(self, base, seed):
        self.base = base
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {ADMIN}"
        self.rnd = random.Random(seed)
        self.ids = []
        self.bad = []
        self.count = 0

    def call(self, method, path, ok, body=None, headers=None, **kw):
        h = dict(headers or {})
        if body is not None:
            h["Content-Type"] = "application/json"
        r = self.s.request(method, self.base + path, timeout=30,
                           data=None if body is None else json.dumps(body), headers=h, **kw)
        self.count += 1
        if r.status_code not in ok:
            self.bad.append(f"{method} {path} -> {r.status_code}: {r.text[:200]}")
        return r

    def step(self):
        rnd = self.rnd
        x = rnd.random()
        name = f"soak.task{rnd.randrange(20)}"
        if x < 0.30:
            key = uuid.uuid4().hex if rnd.random() < 0.5 else None
            h = {"Idempotency-Key": key} if key else {}
            body = {"task_name": name, "queue": "soak-replay",
                    "exception": {"type": f"E{rnd.randrange(5)}", "message": f"failed {rnd.random()}",
                                  "traceback": "tb\n" * rnd.randrange(1, 50)},
                    "task_args": [rnd.random()], "metadata": {"n": rnd.randrange(100)}}
            for _ in range(2 if key and rnd.random() < 0.3 else 1):
                r = self.call("POST", "/api/v1/dlq/entries", (200, 201), body, headers=h)
            if r.status_code in (200, 201):
                self.ids.append(r.json()["dlq_id"])
                del self.ids[:-500]
        elif x < 0.38:
            r = self.call("POST", "/api/v1/dlq/entries/batch", (200,),
                          {"entries": [{"task_name": name} for _ in range(rnd.randrange(1, 50))]})
        elif x < 0.50:
            self.call("GET", "/api/v1/dlq/entries", (200,),
                      params={"limit": rnd.choice([10, 50, 100]), "task_name": name})
        elif x < 0.56:
            self.call("GET", "/api/v1/dlq/entries", (200,), params={"q": "failed", "limit": 20})
        elif x < 0.64 and self.ids:
            # 404: resolved and then deleted by the cleanup below
            self.call("GET", f"/api/v1/dlq/entries/{rnd.choice(self.ids)}", (200, 404))
        elif x < 0.70 and self.ids:
            self.call("POST", f"/api/v1/dlq/entries/{rnd.choice(self.ids)}/retry", (200, 404, 409), {})
        elif x < 0.74 and self.ids:
            self.call("POST", f"/api/v1/dlq/entries/{rnd.choice(self.ids)}/resolve", (200, 404, 409), {})
        elif x < 0.86:
            self.jobs()
        elif x < 0.92:
            self.call("GET", "/api/v1/dlq/stats", (200,))
            self.call("GET", "/api/v1/dlq/groups", (200,))
        elif x < 0.96:
            self.call("GET", "/metrics", (200,))
            self.call("GET", "/readyz", (200,))
        elif x < 0.98:
            self.call("POST", "/api/v1/dlq/replay-bulk", (202,),
                      {"task_name": name, "max_tasks": 50, "outcome_timeout_s": 0})
        else:
            self.call("POST", "/api/v1/dlq/cleanup", (200,),
                      {"older_than_days": 0, "statuses": ["resolved"], "dry_run": False})

    def jobs(self):
        rnd = self.rnd
        self.call("POST", "/api/v1/queues/soakq/jobs", (201,),
                  {"task_name": "soak.job", "args": [rnd.random()], "max_retries": 1,
                   "backoff": {"base_ms": 10, "factor": 1, "max_ms": 10}})
        r = self.call("POST", "/api/v1/queues/soakq/reserve", (200, 204), {"count": 5})
        if r.status_code != 200:
            return
        for j in r.json()["jobs"]:
            if rnd.random() < 0.8:
                self.call("POST", f"/api/v1/jobs/{j['job_id']}/ack", (200,),
                          {"lease_token": j["lease_token"], "result": {"ok": True}})
            else:
                self.call("POST", f"/api/v1/jobs/{j['job_id']}/fail", (200,),
                          {"lease_token": j["lease_token"], "error": {"type": "E", "message": "x"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dlq-soak-")
    port = free_port()
    env = dict(os.environ, DLQ_ADMIN_TOKEN=ADMIN)
    err_path = os.path.join(work, "stderr.log")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([a.bin, "serve", "--db", os.path.join(work, "dlq.db"), "--listen",
                                 f"127.0.0.1:{port}", "--quiet", "--maintenance-interval-s", "5",
                                 "--threads", str(SERVER_THREADS)],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    end = time.monotonic() + a.minutes * 60
    stop = threading.Event()
    loads = [Load(base, i) for i in range(a.threads)]
    fatal = []

    def run(ld):
        while not stop.is_set():
            try:
                ld.step()
            except Exception as e:  # noqa: BLE001 - reported below
                fatal.append(repr(e))
                return

    ts = [threading.Thread(target=run, args=(ld,)) for ld in loads]
    for t in ts:
        t.start()
    samples = []
    while time.monotonic() < end and proc.poll() is None and not fatal:
        samples.append(rss_kb(proc.pid))
        reqs = sum(ld.count for ld in loads)
        print(f"soak: {len(samples) * SAMPLE_S:>5}s rss {samples[-1] / 1024:.1f} MiB, "
              f"{reqs} requests", flush=True)
        time.sleep(SAMPLE_S)
    stop.set()
    for t in ts:
        t.join()
    died = proc.poll()
    if died is None:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
    else:
        rc = f"died ({died})"
    problems = list(fatal)
    for ld in loads:
        problems += ld.bad[:10]
    stderr = open(err_path, errors="replace").read()
    if SAN_RE.search(stderr):
        problems.append("sanitizer report:\n" + stderr[-4000:])
    if rc != 0:
        problems.append(f"server exit: {rc}\n{stderr[-2000:]}")
    n = len(samples)
    if n >= 8:
        q = n // 4
        warm = max(samples[q:2 * q])
        last = max(samples[3 * q:])
        bound = warm * (1 + GROWTH) + SLACK_MB * 1024
        print(f"soak: rss warm max {warm / 1024:.1f} MiB, last quarter max {last / 1024:.1f} MiB, "
              f"bound {bound / 1024:.1f} MiB")
        if last > bound:
            problems.append(f"RSS grew from {warm / 1024:.1f} to {last / 1024:.1f} MiB")
    total = sum(ld.count for ld in loads)
    if problems:
        print(f"soak: FAILED after {total} requests ({work}):")
        for p in problems[:30]:
            print("  " + p)
        return 1
    print(f"soak: passed: {total} requests in {a.minutes:g} min, no error, no sanitizer report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
