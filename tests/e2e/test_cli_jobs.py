"""The job queue commands of the `dlq` CLI against a real server.

enqueue, queues, queue set|pause|resume and job: each command's effect is
checked through the API, not only its output. Exit codes as for every client
command: 0 success, 1 an API or server error (the problem on stderr), 2 bad
usage (caught before any request).
"""

import json
import os
import re
import subprocess

import pytest

from conftest import uid

JOB_RE = re.compile(r"^job_[0-9A-HJKMNP-TV-Z]{26}$")


@pytest.fixture(scope="module")
def cli(server, dlq_bin):
    def run(*args, token="__admin__", timeout=30):
        e = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
        e.update({"NO_COLOR": "1", "DLQ_URL": server.base})
        e["DLQ_TOKEN"] = server.admin_secret if token == "__admin__" else token
        return subprocess.run([dlq_bin, *args], env=e, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    return run


def job(server, job_id):
    r = server.admin.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def queue(server, name):
    r = server.admin.get(f"/api/v1/queues/{name}")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("cmd", ["enqueue", "queues", "queue", "job", "worker", "demo"])
def test_command_help(cli, cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert f"dlq {cmd}" in r.stdout
    r = cli("--help")
    assert re.search(rf"^  {cmd}\b", r.stdout, re.M), r.stdout


def test_enqueue_prints_the_id_and_sends_every_option(cli, server):
    q = uid("q.cli.")
    r = cli("enqueue", q, "app.tasks.cli.charge", "--args", '[42, "x"]', "--kwargs",
            '{"amount": 250}', "--max-retries", "2", "--priority", "5", "--timeout", "7",
            "--delay", "60", "--idempotency-key", "k-" + q)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    assert JOB_RE.match(job_id), r.stdout
    j = job(server, job_id)
    assert (j["queue"], j["task_name"], j["args"], j["kwargs"]) == (
        q, "app.tasks.cli.charge", [42, "x"], {"amount": 250})
    assert (j["max_retries"], j["priority"], j["timeout_s"]) == (2, 5, 7)
    assert j["state"] == "scheduled" and j["idempotency_key"] == "k-" + q
    # the same idempotency key gives the same job
    r = cli("enqueue", q, "app.tasks.cli.charge", "--idempotency-key", "k-" + q)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == job_id


def test_enqueue_json_and_defaults(cli, server):
    q = uid("q.cli.")
    r = cli("enqueue", q, "app.tasks.cli.plain", "--json")
    assert r.returncode == 0, r.stderr
    ans = json.loads(r.stdout)
    assert JOB_RE.match(ans["job_id"]) and ans["state"] == "queued" and ans["queue"] == q
    j = job(server, ans["job_id"])
    assert (j["args"], j["kwargs"], j["max_retries"], j["timeout_s"], j["priority"]) == (
        [], {}, 3, 30, 0)


def test_enqueue_fractional_and_duration_delay(cli, server):
    q = uid("q.cli.")
    for delay in ("1.5", "5m"):
        r = cli("enqueue", q, "app.tasks.cli.later", "--delay", delay)
        assert r.returncode == 0, r.stderr
        assert job(server, r.stdout.strip())["state"] == "scheduled"


@pytest.mark.parametrize("args", [
    ["enqueue"], ["enqueue", "q"], ["enqueue", "q", "t", "extra"],
    ["enqueue", "q", "t", "--args", "[1,"], ["enqueue", "q", "t", "--args", '{"a": 1}'],
    ["enqueue", "q", "t", "--kwargs", "[1]"], ["enqueue", "q", "t", "--kwargs", "nope"],
    ["enqueue", "q", "t", "--max-retries", "101"], ["enqueue", "q", "t", "--priority", "x"],
    ["enqueue", "q", "t", "--delay", "-1"], ["enqueue", "q", "t", "--timeout", "0"],
    ["enqueue", "", "t"], ["enqueue", "q", "t", "--bogus"],
    ["queues", "extra"], ["queue"], ["queue", "frob", "q"], ["queue", "set", "q"],
    ["queue", "pause", "q", "--target", "native"], ["queue", "set", "q", "--target", "ftp"],
    ["queue", "set", "q", "--webhook-url", "ftp://x"], ["queue", "set", "q", "--max-replays", "0"],
    ["job"], ["job", "a", "b"],
    ["worker"], ["worker", "--queue", "q"], ["worker", "--queue", "q", "--concurrency", "0"],
    ["worker", "--queue", "q", "--lease", "x", "--", "true"], ["worker", "--", "true"],
    ["demo", "extra"],
], ids=lambda a: " ".join(a))
def test_bad_usage_exits_2(cli, args):
    r = cli(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip() and r.stdout == ""


def test_bad_args_json_sends_nothing(cli, server):
    q = uid("q.cli.")
    r = cli("enqueue", q, "app.tasks.cli.bad", "--args", "[1, 2")
    assert r.returncode == 2
    assert "--args" in r.stderr
    assert server.admin.get(f"/api/v1/queues/{q}").status_code == 404


def test_server_refusal_exits_1_with_the_detail(cli):
    r = cli("enqueue", "bad queue!", "app.tasks.cli.x")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert first.startswith("dlq: 400") and len(first) > len("dlq: 400 bad request")


def test_job_unknown_exits_1(cli):
    r = cli("job", "job_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert r.returncode == 1
    assert "404" in r.stderr and r.stdout == ""


def test_job_shows_the_job(cli, server):
    q = uid("q.cli.")
    job_id = cli("enqueue", q, "app.tasks.cli.show", "--args", '["hello"]').stdout.strip()
    r = cli("job", job_id)
    assert r.returncode == 0, r.stderr
    for text in (job_id, q, "app.tasks.cli.show", "queued", "0 of 4", '["hello"]'):
        assert text in r.stdout, text
    r = cli("job", job_id, "--json")
    assert r.returncode == 0, r.stderr
    ans = json.loads(r.stdout)
    assert ans == job(server, job_id) | {"updated_at": ans["updated_at"]}
    assert "lease_token" not in ans


def test_job_shows_attempts_and_last_error(cli, server):
    q = uid("q.cli.")
    job_id = cli("enqueue", q, "app.tasks.cli.fails", "--max-retries", "0").stdout.strip()
    r = server.admin.post(f"/api/v1/queues/{q}/reserve", {"count": 1})
    assert r.status_code == 200, r.text
    tok = r.json()["jobs"][0]["lease_token"]
    r = server.admin.post(f"/api/v1/jobs/{job_id}/fail",
                          {"lease_token": tok, "error": {"type": "KeyError",
                                                         "message": "no such customer"}})
    assert r.status_code == 200, r.text
    out = cli("job", job_id).stdout
    assert "dead" in out and "KeyError: no such customer" in out and "attempts:" in out
    assert tok not in out


def test_queues_table_and_json(cli, server):
    q = uid("q.cli.")
    for _ in range(3):
        assert cli("enqueue", q, "app.tasks.cli.depth").returncode == 0
    cli("enqueue", q, "app.tasks.cli.depth", "--delay", "600")
    r = cli("queues")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["QUEUE", "READY", "SCHEDULED", "RUNNING", "SUCCEEDED", "DEAD"]
    row = next(ln for ln in lines if ln.startswith(q)).split()
    assert row[1:4] == ["3", "1", "0"], row
    assert row[-2:] == ["no", "native"], row
    r = cli("queues", "--json")
    assert r.returncode == 0, r.stderr
    items = {it["queue"]: it for it in json.loads(r.stdout)["items"]}
    assert items[q]["ready"] == 3 and items[q]["scheduled"] == 1


def test_queue_set_pause_resume(cli, server):
    q = uid("q.cli.")
    cli("enqueue", q, "app.tasks.cli.set")
    r = cli("queue", "set", q, "--max-replays", "5")
    assert r.returncode == 0, r.stderr
    assert queue(server, q)["max_replays"] == 5
    secret = "s3cr3t-" + uid()
    r = cli("queue", "set", q, "--target", "webhook", "--webhook-url",
            "http://127.0.0.1:9/hook", "--webhook-secret", secret)
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout and "webhook" in r.stdout
    it = queue(server, q)
    assert it["replay_target"] == "webhook" and it["webhook_url"] == "http://127.0.0.1:9/hook"
    assert it.get("webhook_secret_set") is True and secret not in json.dumps(it)
    r = cli("queue", "set", q, "--target", "native", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["replay_target"] == "native"

    r = cli("queue", "pause", q)
    assert r.returncode == 0, r.stderr
    assert queue(server, q)["paused"] is True
    r = server.admin.post(f"/api/v1/queues/{q}/reserve", {"count": 1, "wait_ms": 0})
    assert r.status_code == 204
    r = cli("queue", "resume", q)
    assert r.returncode == 0, r.stderr
    assert queue(server, q)["paused"] is False
    r = server.admin.post(f"/api/v1/queues/{q}/reserve", {"count": 1, "wait_ms": 0})
    assert r.status_code == 200


def test_queue_set_webhook_without_url_is_refused(cli):
    q = uid("q.cli.")
    cli("enqueue", q, "app.tasks.cli.x")
    r = cli("queue", "set", q, "--target", "webhook")
    assert r.returncode == 1 and r.stderr.startswith("dlq: 4"), r.stderr


def test_roles(cli, server):
    q = uid("q.cli.")
    producer = server.make_token("producer")["token"]
    r = cli("enqueue", q, "app.tasks.cli.prod", token=producer)
    assert r.returncode == 0, r.stderr
    r = cli("queue", "set", q, "--max-replays", "2", token=producer)
    assert r.returncode == 1 and "403" in r.stderr
    viewer = server.make_token("viewer")["token"]
    assert cli("queues", token=viewer).returncode == 0
    r = cli("enqueue", q, "app.tasks.cli.view", token=viewer)
    assert r.returncode == 1 and "403" in r.stderr


def test_demo_runs_to_the_end_and_resolves_every_entry(cli, server):
    before = {p for p in os.listdir("/tmp") if p.startswith("dlq-demo-")}
    r = cli("demo", timeout=90)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "dead-letter queue" in r.stdout and "resolved" in r.stdout
    ids = set(re.findall(r"dlq_[0-9A-HJKMNP-TV-Z]{26}", r.stdout))
    assert len(ids) == 4, r.stdout
    for dlq_id in ids:
        e = server.admin.entry(dlq_id)
        assert e["queue"] == "demo"
        assert (e["status"], e["resolution_type"]) == ("resolved", "replay_succeeded"), e
    assert {e["reason"] for e in map(server.admin.entry, ids)} == {
        "max_retries_exceeded", "permanent_failure"}
    # nothing of the demo's is left running or waiting, and no temp files stay
    q = server.admin.get("/api/v1/queues/demo").json()
    assert (q["ready"], q["scheduled"], q["running"]) == (0, 0, 0)
    after = {p for p in os.listdir("/tmp") if p.startswith("dlq-demo-")}
    assert after <= before


def test_demo_without_a_server_exits_1(cli):
    r = cli("demo", "--url", "http://127.0.0.1:9")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
