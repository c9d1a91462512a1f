"""`dlq worker` with real shell commands against a real server.

The worker reserves jobs (long poll), runs the command once per job with the
job's JSON on stdin and DLQ_JOB_ID, DLQ_TASK_NAME, DLQ_ATTEMPT, DLQ_QUEUE in
its environment: exit 0 acks (stdout, when JSON, is the result), exit 3 fails
for good, anything else (or running past the lease) fails retryably with the
end of stderr as the message. SIGTERM lets running commands finish; a killed
worker's lease gives the job back to another worker.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import uid


class Worker:
    """Worker runs `dlq worker` in the background, stderr kept in a file."""

    def __init__(self, dlq_bin, server, tmp_path, queue, command, *opts):
        self.log = tmp_path / f"worker-{uid()}.log"
        e = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
        e.update({"DLQ_URL": server.base, "DLQ_TOKEN": server.admin_secret,
                  "OUT_DIR": str(tmp_path)})
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([dlq_bin, "worker", "--queue", queue, *opts, "--",
                                          *command], env=e, stdout=subprocess.DEVNULL,
                                         stderr=err, stdin=subprocess.DEVNULL)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"dlq worker did not exit after SIGTERM\n{self.stderr()}")

    def stderr(self):
        return self.log.read_text(errors="replace")


@pytest.fixture
def workers(dlq_bin, server, tmp_path):
    made = []

    def start(queue, command, *opts):
        w = Worker(dlq_bin, server, tmp_path, queue, command, *opts)
        made.append(w)
        return w

    yield start
    for w in made:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def enqueue(server, queue, task="app.tasks.w.run", **fields):
    r = server.admin.post(f"/api/v1/queues/{queue}/jobs", dict(task_name=task, **fields))
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def job(server, job_id):
    r = server.admin.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(server, job_id, states, timeout=20, worker=None):
    deadline = time.monotonic() + timeout
    while True:
        j = job(server, job_id)
        if j["state"] in states:
            return j
        if time.monotonic() > deadline:
            extra = worker.stderr() if worker else ""
            pytest.fail(f"job {job_id} still {j['state']} after {timeout}s: {j}\n{extra}")
        time.sleep(0.05)


def sh(script):
    return ["/bin/sh", "-c", script]


ECHO_ENV = ('cat > "$OUT_DIR/$DLQ_JOB_ID.stdin"; '
            'printf \'{"id":"%s","task":"%s","attempt":%s,"queue":"%s"}\' '
            '"$DLQ_JOB_ID" "$DLQ_TASK_NAME" "$DLQ_ATTEMPT" "$DLQ_QUEUE"')


def test_success_acks_with_env_stdin_and_result(server, workers, tmp_path):
    q = uid("q.w.")
    ids = [enqueue(server, q, "app.tasks.w.echo", args=[i, "x"], kwargs={"k": i}) for i in range(3)]
    w = workers(q, sh(ECHO_ENV), "--concurrency", "2")
    for i, job_id in enumerate(ids):
        j = wait_state(server, job_id, {"succeeded"}, worker=w)
        assert j["result"] == {"id": job_id, "task": "app.tasks.w.echo", "attempt": 1,
                               "queue": q}
        got = json.loads((tmp_path / f"{job_id}.stdin").read_text())
        assert got["job_id"] == job_id and got["args"] == [i, "x"] and got["kwargs"] == {"k": i}
        assert got["task_name"] == "app.tasks.w.echo" and got["queue"] == q
        assert "lease_token" not in got
    assert w.stop() == 0
    log = w.stderr()
    assert all(job_id in log for job_id in ids) and "succeeded" in log


def test_non_json_stdout_acks_without_result(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q)
    w = workers(q, sh("cat >/dev/null; echo 'plain text, not JSON'"))
    j = wait_state(server, job_id, {"succeeded"}, worker=w)
    assert j["result"] is None
    assert w.stop() == 0


def entry_of(server, j):
    assert j["dlq_id"], j
    r = server.admin.get(f"/api/v1/dlq/entries/{j['dlq_id']}")
    assert r.status_code == 200, r.text
    return r.json()


def test_exit_3_dead_letters_at_once(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, max_retries=5)
    w = workers(q, sh("cat >/dev/null; echo 'ValueError: bad card number' >&2; exit 3"))
    j = wait_state(server, job_id, {"dead"}, worker=w)
    assert j["attempt"] == 1
    e = entry_of(server, j)
    assert e["reason"] == "permanent_failure"
    assert "bad card number" in json.dumps(e["exception"])
    assert w.stop() == 0
    assert "dead-lettered" in w.stderr()


def test_exit_1_retries_then_dead_letters_with_stderr_tail(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, max_retries=2, backoff={"base_ms": 1, "factor": 1, "max_ms": 5})
    # 8 KiB of noise, then the lines that matter: only the tail is kept.
    script = ("cat >/dev/null; i=0; while [ $i -lt 100 ]; do "
              "echo \"noise line $i ................................................\" >&2; "
              "i=$((i+1)); done; echo 'Traceback: connect()' >&2; "
              "echo \"ConnectionError: attempt $DLQ_ATTEMPT refused\" >&2; exit 1")
    w = workers(q, sh(script))
    j = wait_state(server, job_id, {"dead"}, worker=w)
    assert j["attempt"] == 3
    assert [a["outcome"] for a in j["attempts"]] == ["failed"] * 3
    msg = j["last_error"]["message"]
    assert j["last_error"]["type"] == "ExitStatus"
    assert msg.endswith("ConnectionError: attempt 3 refused"), msg[-200:]
    assert "Traceback: connect()" in msg and len(msg.encode()) <= 4096
    assert "noise line 0 " not in msg  # the head was cut, at a line boundary
    assert msg.startswith("noise line ")
    e = entry_of(server, j)
    assert e["reason"] == "max_retries_exceeded"
    assert "attempt 3 refused" in json.dumps(e["exception"])
    assert w.stop() == 0


def test_signal_fails_retryably(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, max_retries=0)
    w = workers(q, sh("cat >/dev/null; kill -KILL $$"))
    j = wait_state(server, job_id, {"dead"}, worker=w)
    assert j["last_error"]["type"] == "Signal"
    assert w.stop() == 0


def test_command_past_its_lease_is_killed_as_timeout(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, max_retries=0, timeout_s=30)
    t0 = time.monotonic()
    w = workers(q, sh("cat >/dev/null; echo started >&2; exec sleep 30"), "--lease", "2")
    j = wait_state(server, job_id, {"dead"}, worker=w)
    assert time.monotonic() - t0 < 10
    assert j["last_error"]["type"] == "Timeout"
    assert "started" in j["last_error"]["message"]
    assert w.stop() == 0


def test_heartbeats_extend_the_lease_while_the_command_runs(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, timeout_s=30, max_retries=0)
    # --lease 3: a heartbeat every second pushes lease_expires_at forward.
    w = workers(q, sh("cat >/dev/null; sleep 2.5; echo '{\"slow\": true}'"), "--lease", "3")
    first = wait_state(server, job_id, {"running"}, worker=w)["lease_expires_at"]
    time.sleep(1.8)
    j = job(server, job_id)
    assert j["state"] == "running" and j["lease_expires_at"] > first, (first, j)
    j = wait_state(server, job_id, {"succeeded"}, timeout=20, worker=w)
    assert j["result"] == {"slow": True} and j["attempt"] == 1
    assert w.stop() == 0


def test_task_filter(server, workers):
    q = uid("q.w.")
    a = enqueue(server, q, "app.tasks.w.mine")
    b = enqueue(server, q, "app.tasks.w.other")
    w = workers(q, sh("cat >/dev/null"), "--task", "app.tasks.w.mine")
    wait_state(server, a, {"succeeded"}, worker=w)
    time.sleep(0.5)
    assert job(server, b)["state"] == "queued"
    assert w.stop() == 0


def test_sigterm_finishes_the_running_job_and_exits_0(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q)
    w = workers(q, sh("cat >/dev/null; sleep 2; echo '{\"done\": 1}'"))
    wait_state(server, job_id, {"running"}, worker=w)
    time.sleep(0.3)
    w.proc.send_signal(signal.SIGTERM)
    later = enqueue(server, q)  # must not be taken any more
    rc = w.proc.wait(timeout=15)
    assert rc == 0, w.stderr()
    j = job(server, job_id)
    assert j["state"] == "succeeded" and j["result"] == {"done": 1}
    assert job(server, later)["state"] == "queued"


def wait_child(pid, timeout=10):
    """wait_child waits until process pid has a child process (Linux /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                if f.read().strip():
                    return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} started no command within {timeout}s")


def test_second_signal_kills_and_the_lease_returns_the_job(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, timeout_s=2, max_retries=3)
    w = workers(q, sh("cat >/dev/null; exec sleep 30"))
    wait_state(server, job_id, {"running"}, worker=w)
    wait_child(w.proc.pid)  # leased is not yet started: the command must be running
    w.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=10) != 0
    w2 = workers(q, sh("cat >/dev/null; echo '{\"second\": true}'"))
    j = wait_state(server, job_id, {"succeeded"}, timeout=20, worker=w2)
    assert j["result"] == {"second": True} and j["attempt"] == 2
    # The killed command was not reported as the job's failure: its lease
    # expired and returned the job.
    assert j["attempts"][0]["outcome"] == "timeout", j["attempts"]
    assert w2.stop() == 0


def test_sigkill_worker_lease_returns_the_job_to_another(server, workers):
    q = uid("q.w.")
    job_id = enqueue(server, q, timeout_s=2, max_retries=3)
    w = workers(q, sh("cat >/dev/null; exec sleep 30"))
    first = wait_state(server, job_id, {"running"}, worker=w)
    w.proc.kill()
    w.proc.wait()
    w2 = workers(q, sh("cat >/dev/null; echo '{\"by\": \"w2\"}'"), "--worker-id", "w2")
    j = wait_state(server, job_id, {"succeeded"}, timeout=20, worker=w2)
    assert j["result"] == {"by": "w2"} and j["worker_id"] == "w2"
    assert j["attempts"][0]["worker_id"] == first["worker_id"]
    assert j["attempts"][0]["outcome"] == "timeout"
    assert w2.stop() == 0


def test_concurrency_runs_jobs_at_once(server, workers, tmp_path):
    q = uid("q.w.")
    ids = [enqueue(server, q) for _ in range(4)]
    t0 = time.monotonic()
    w = workers(q, sh("cat >/dev/null; sleep 1"), "--concurrency", "4")
    for job_id in ids:
        wait_state(server, job_id, {"succeeded"}, worker=w)
    assert time.monotonic() - t0 < 3.5, "4 jobs of 1 s with --concurrency 4 ran one by one"
    assert w.stop() == 0
    # no zombie left behind by the worker (it has exited: none can be its child)
    assert w.stderr().count("succeeded in") == 4


def test_refused_reserve_exits_1(dlq_bin, server):
    e = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
    e.update({"DLQ_URL": server.base, "DLQ_TOKEN": "not-a-valid-token"})
    r = subprocess.run([dlq_bin, "worker", "--queue", uid("q.w."), "--", "true"], env=e,
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stderr
    assert "401" in r.stderr
    e["DLQ_TOKEN"] = server.admin_secret
    r = subprocess.run([dlq_bin, "worker", "--queue", "bad queue!", "--", "true"], env=e,
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "400" in r.stderr, r.stderr


def test_worker_waits_out_an_unreachable_server(dlq_bin, server, tmp_path):
    from conftest import free_port
    e = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
    e.update({"DLQ_URL": f"http://127.0.0.1:{free_port()}", "DLQ_TOKEN": server.admin_secret})
    p = subprocess.Popen([dlq_bin, "worker", "--queue", "q", "--", "true"], env=e,
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    time.sleep(1.5)
    assert p.poll() is None  # still waiting for the server
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=10)
    assert p.returncode == 0
    assert err.count("cannot reach") == 1, err  # said once, not once a second


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid:
                out.append((int(p), fields[0]))
    return out


def test_no_fd_leak_and_no_zombie(server, workers):
    q = uid("q.w.")
    first = enqueue(server, q)
    w = workers(q, sh("cat >/dev/null; echo oops >&2; exit $((DLQ_ATTEMPT % 2))"),
                "--concurrency", "4")
    wait_state(server, first, {"succeeded", "scheduled", "queued", "dead"}, worker=w)
    wait_state(server, first, {"succeeded", "dead"}, worker=w)
    time.sleep(0.3)
    fds = len(os.listdir(f"/proc/{w.proc.pid}/fd"))
    ids = [enqueue(server, q, max_retries=1, backoff={"base_ms": 1, "max_ms": 2})
           for _ in range(30)]
    for job_id in ids:
        wait_state(server, job_id, {"succeeded", "dead"}, worker=w)
    time.sleep(0.5)
    assert len(os.listdir(f"/proc/{w.proc.pid}/fd")) <= fds
    assert children_of(w.proc.pid) == []  # every command reaped
    assert w.stop() == 0
