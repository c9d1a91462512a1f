"""Replay to a webhook target: the server's dispatcher POSTs the replay job
to the queue's webhook_url, signed (X-DLQ-Signature: t=..,v1=HMAC-SHA256 of
"<t>.<body>"); a 2xx is a dispatch and the answer's task_id becomes the
entry's retry_task_id; a failing webhook is retried with backoff and finally
the entry is back for review. The receiver is a python http.server that
checks every signature itself."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ENTRIES, uid


class Receiver:
    """Receiver records signed POSTs and answers with a status and body."""

    def __init__(self, secret, status=200, answer=None):
        self.secret, self.status, self.answer = secret, status, answer
        self.calls = []
        me = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                me.calls.append((dict(self.headers), body))
                out = json.dumps(me.answer).encode() if me.answer is not None else b""
                self.send_response(me.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def verify(self, headers, body):
        ts = headers["X-DLQ-Timestamp"]
        sig = dict(p.split("=", 1) for p in headers["X-DLQ-Signature"].split(","))
        assert sig["t"] == ts and abs(int(ts) - time.time()) < 60
        want = hmac.new(self.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256)
        assert hmac.compare_digest(sig["v1"], want.hexdigest()), "bad signature"
        assert headers["Content-Type"] == "application/json"
        return json.loads(body)

    def wait(self, n, timeout=20):
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.calls) >= n, f"{len(self.calls)} calls, want {n}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*a, **kw):
        r = Receiver(*a, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def dead_entry(api, q, **job):
    r = api.post(f"/api/v1/queues/{q}/jobs", dict({"task_name": "app.tasks.hook",
                                                     "max_retries": 0}, **job))
    assert r.status_code == 201, r.text
    [j] = api.post(f"/api/v1/queues/{q}/reserve", {}).json()["jobs"]
    r = api.post(f"/api/v1/jobs/{j['job_id']}/fail", {"lease_token": j["lease_token"]})
    assert r.json()["state"] == "dead", r.text
    return r.json()["dlq_id"]


def settings(api, q, **body):
    r = api.req("PUT", f"/api/v1/queues/{q}/settings", json_body=body)
    assert r.status_code == 200, r.text


def wait_job(api, jid, states, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = api.get(f"/api/v1/jobs/{jid}").json()
        if j["state"] in states:
            return j
        time.sleep(0.05)
    raise AssertionError(j)


def test_signed_dispatch_and_task_id(server, receiver):
    api, q = server.admin, uid("q")
    secret = "whsec_" + uid()
    rcv = receiver(secret, 202, {"task_id": "ext-" + uid()})
    dlq_id = dead_entry(api, q, args=[1, {"a": 2}], kwargs={"k": "v"}, metadata={"m": 1})
    settings(api, q, replay_target="webhook", webhook_url=rcv.url, webhook_secret=secret)
    r = api.post(f"{ENTRIES}/{dlq_id}/retry")
    assert r.status_code == 200, r.text
    jid = r.json()["retry_task_id"]
    rcv.wait(1)
    body = rcv.verify(*rcv.calls[0])
    assert body == {"job_id": jid, "queue": q, "task_name": "app.tasks.hook",
                    "args": [1, {"a": 2}], "kwargs": {"k": "v"}, "attempt": 1,
                    "replay_of": dlq_id, "tenant_id": None, "metadata": {"m": 1}}
    j = wait_job(api, jid, ("dispatched",))
    assert j["target"] == "webhook" and [a["outcome"] for a in j["attempts"]] == ["dispatched"]
    e = api.entry(dlq_id)
    assert e["retry_task_id"] == rcv.answer["task_id"] and e["status"] == "retried"
    # never handed to a worker
    assert api.post(f"/api/v1/queues/{q}/reserve", {}).status_code == 204


def test_failing_webhook_is_retried_then_entry_back_for_review(server, receiver):
    api, q = server.admin, uid("q")
    rcv = receiver("", 500, {"error": "down"})
    dlq_id = dead_entry(api, q)
    settings(api, q, replay_target="webhook", webhook_url=rcv.url)  # no secret: empty key
    r = api.post(f"{ENTRIES}/{dlq_id}/retry", {"max_retries": 1})
    assert r.status_code == 200, r.text
    jid = r.json()["retry_task_id"]
    j = wait_job(api, jid, ("dead",))
    assert len(rcv.calls) == 2
    for h, b in rcv.calls:
        rcv.verify(h, b)
    assert [json.loads(b)["attempt"] for _, b in rcv.calls] == [1, 2]
    assert all("HTTP 500" in a["error"]["message"] for a in j["attempts"])
    e = api.entry(dlq_id)
    assert e["status"] == "pending_review" and e["retry_count"] == 1
    assert any(h["event"] == "replay_failed" for h in e["history"])


def test_unreachable_webhook_counts_as_failed_attempt(server):
    api, q = server.admin, uid("q")
    dlq_id = dead_entry(api, q)
    settings(api, q, replay_target="webhook", webhook_url="http://127.0.0.1:9/nothing")
    r = api.post(f"{ENTRIES}/{dlq_id}/retry", {"max_retries": 0})
    jid = r.json()["retry_task_id"]
    j = wait_job(api, jid, ("dead",))
    assert j["attempts"][0]["error"]["type"] == "WebhookError"
    assert api.entry(dlq_id)["status"] == "pending_review"
