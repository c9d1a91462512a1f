"""Alert rules and their webhook (issue 3 slice C1).

Each test starts its own server with low thresholds, a one-second
evaluation interval and a webhook pointing at a small HTTP listener in this
process, then makes a rule fire and clear and checks both the alerts API
and the JSON the listener received ("text" plus structured fields).
"""

import http.server
import json
import threading
import time

import pytest

from conftest import ENTRIES, TIME_RE, free_port

ALERTS = "/api/v1/dlq/alerts"
REPORT = "/api/v1/dlq/report"
RULES = ["pending_age", "ingest_rate", "replay_failure_rate", "health_critical", "retention_cap"]
ITEM_KEYS = {"rule", "firing", "since", "reason", "value", "threshold", "last_notified_at"}


class Hook:
    """Hook is a webhook listener on a free loopback port that records bodies."""

    def __init__(self, status=200):
        self.bodies = []
        self.status = status
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                with hook.lock:
                    hook.bodies.append((self.headers.get("Content-Type"), json.loads(raw)))
                    code = hook.status
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def messages(self, rule=None):
        with self.lock:
            return [b for _, b in self.bodies if rule is None or b.get("rule") == rule]


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def wait_for(fn, timeout=12.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start(fresh_server, hook, *args):
    return fresh_server(extra_args=["--alert-interval-s", "1", "--alert-webhook", hook.url,
                                    "--alert-cooldown-s", "3", *args]).start()


def alerts(api):
    r = api.get(ALERTS)
    assert r.status_code == 200, r.text
    return r.json()


def rule(api, name):
    return next(it for it in alerts(api)["items"] if it["rule"] == name)


def firing(api, name, want=True):
    return lambda: rule(api, name)["firing"] == want


def check_message(m, name, state):
    assert m["rule"] == name and m["state"] == state
    assert m["text"].startswith(f"[dlq] {'FIRING' if state == 'firing' else 'RESOLVED'} {name}:")
    assert set(m) == {"text", "rule", "state", "reason", "value", "threshold", "at"}
    assert TIME_RE.match(m["at"])
    assert isinstance(m["value"], (int, float)) and isinstance(m["threshold"], (int, float))


def ingest(api, n, task="a.task"):
    return [api.ingest(task_name=task, exception={"type": "E", "message": f"m {i}"})
            for i in range(n)]


def resolve_all(api, ids):
    for i in ids:
        r = api.post(f"{ENTRIES}/{i}/resolve", {})
        if r.status_code in (404, 405):
            pytest.skip("resolve is not available")
        assert r.status_code == 200, r.text


def test_alerts_shape(fresh_server, hook):
    srv = start(fresh_server, hook)
    body = alerts(srv.client("viewer"))
    assert body["webhook"] is True
    assert [it["rule"] for it in body["items"]] == RULES
    for it in body["items"]:
        assert set(it) == ITEM_KEYS
        assert it["firing"] is False and it["last_notified_at"] is None
    assert srv.client("producer").get(ALERTS).status_code == 403


def test_pending_age_fires_and_clears(fresh_server, hook):
    srv = start(fresh_server, hook, "--alert-pending-minutes", "0.02")
    api = srv.admin
    ids = ingest(api, 1)
    wait_for(firing(api, "pending_age"), what="pending_age firing")
    it = rule(api, "pending_age")
    assert TIME_RE.match(it["since"]) and it["threshold"] == 0.02
    m = wait_for(lambda: hook.messages("pending_age"), what="webhook")[0]
    check_message(m, "pending_age", "firing")
    assert wait_for(lambda: rule(api, "pending_age")["last_notified_at"])
    st = api.get("/api/v1/dlq/stats").json()
    assert st["alert_status"]["should_alert"] is True
    assert "DLQ depth" in st["alert_status"]["reason"]
    resolve_all(api, ids)
    wait_for(firing(api, "pending_age", False), what="pending_age clear")
    msgs = wait_for(lambda: len(hook.messages("pending_age")) >= 2 and
                    hook.messages("pending_age"), what="resolved message")
    check_message(msgs[1], "pending_age", "resolved")
    assert rule(api, "pending_age")["since"] is None


def test_health_critical_and_cooldown(fresh_server, hook):
    srv = start(fresh_server, hook, "--health-critical", "2")
    api = srv.admin
    ids = ingest(api, 3)
    wait_for(firing(api, "health_critical"), what="health_critical firing")
    wait_for(lambda: hook.messages("health_critical"), what="webhook")
    resolve_all(api, ids[:1])
    wait_for(firing(api, "health_critical", False), what="clear")
    wait_for(lambda: len(hook.messages("health_critical")) == 2, what="resolved message")
    # Firing again within the cool-down (3 s) is shown but not announced.
    ingest(api, 1)
    wait_for(firing(api, "health_critical"), what="firing again")
    time.sleep(1.0)
    assert [m["state"] for m in hook.messages("health_critical")] == ["firing", "resolved"]
    # Its clearing is not announced either (its firing was not).
    resolve_all(api, ids[1:2])
    wait_for(firing(api, "health_critical", False), what="clear again")
    time.sleep(3.5)
    # After the cool-down a new firing is announced again.
    ingest(api, 1)
    wait_for(lambda: len(hook.messages("health_critical")) == 3, what="announced after cool-down")
    check_message(hook.messages("health_critical")[2], "health_critical", "firing")


def test_ingest_rate_fires_and_clears_across_restart(fresh_server, hook):
    srv = start(fresh_server, hook, "--alert-new-per-hour", "3")
    api = srv.admin
    ingest(api, 4)
    wait_for(firing(api, "ingest_rate"), what="ingest_rate firing")
    m = wait_for(lambda: hook.messages("ingest_rate"), what="webhook")[0]
    check_message(m, "ingest_rate", "firing")
    assert m["value"] == 4 and m["threshold"] == 3
    # The state survives a restart; with a higher threshold the rule clears
    # and the clearing of the announced firing is sent.
    srv.stop()
    srv.extra_args = ["--alert-interval-s", "1", "--alert-webhook", hook.url,
                      "--alert-new-per-hour", "100"]
    srv.start()
    wait_for(firing(srv.admin, "ingest_rate", False), what="ingest_rate clear")
    msgs = wait_for(lambda: len(hook.messages("ingest_rate")) >= 2 and
                    hook.messages("ingest_rate"), what="resolved message")
    check_message(msgs[1], "ingest_rate", "resolved")
    assert len(msgs) == 2


def test_replay_failure_rate(fresh_server, hook):
    srv = start(fresh_server, hook, "--alert-replay-window", "20")
    api = srv.admin
    ids = ingest(api, 12, task="r.task")

    def replay(i, ok):
        r = api.post(f"{ENTRIES}/{i}/retry", {})
        if r.status_code in (404, 405):
            pytest.skip("retry is not available")
        assert r.status_code == 200, r.text
        r = api.post(f"{ENTRIES}/{i}/outcome", {"succeeded": ok})
        assert r.status_code == 200, r.text

    for i in ids[:4]:
        replay(i, False)
    time.sleep(1.5)
    assert rule(api, "replay_failure_rate")["firing"] is False  # fewer than 5 finished
    replay(ids[4], False)
    wait_for(firing(api, "replay_failure_rate"), what="replay_failure_rate firing")
    m = wait_for(lambda: hook.messages("replay_failure_rate"), what="webhook")[0]
    check_message(m, "replay_failure_rate", "firing")
    assert m["value"] == 1.0 and m["threshold"] == 0.5
    for i in ids[5:11]:
        replay(i, True)  # 5 failed of 11 finished: 0.45
    wait_for(firing(api, "replay_failure_rate", False), what="clear")
    wait_for(lambda: len(hook.messages("replay_failure_rate")) == 2, what="resolved message")


def test_webhook_retries(fresh_server):
    h = Hook(status=500)
    try:
        srv = fresh_server(extra_args=["--alert-interval-s", "1", "--alert-webhook", h.url,
                                       "--health-critical", "1"]).start()
        ingest(srv.admin, 2)
        wait_for(lambda: len(h.messages()) >= 1, what="first attempt")
        with h.lock:
            h.status = 200
        # The failed POST is retried after 1 s with the same body.
        wait_for(lambda: len(h.messages()) >= 2, what="retry", timeout=6)
        a, b = h.messages()[:2]
        assert a == b
    finally:
        h.close()


def test_report_notifies(fresh_server, hook):
    srv = fresh_server(extra_args=["--notify-url", hook.url]).start()
    ingest(srv.admin, 2)
    r = srv.client("operator").post(REPORT, {})
    assert r.status_code == 200, r.text
    assert r.json()["notified"] is True
    assert "text" not in r.json()
    m = wait_for(lambda: hook.messages(), what="report posted")[0]
    assert m["text"].startswith("[dlq] report: 2 pending")
    assert m["pending_entries"] == 2 and m["total_failures"] == 2


def test_retention_cap(fresh_server, hook):
    srv = start(fresh_server, hook, "--max-entries", "2", "--maintenance-interval-s", "1")
    ingest(srv.admin, 3)
    try:
        wait_for(firing(srv.admin, "retention_cap"), timeout=5, what="retention_cap")
    except AssertionError:
        pytest.skip("maintenance does not raise retention_cap through alerts yet")
    m = wait_for(lambda: hook.messages("retention_cap"), what="webhook")[0]
    check_message(m, "retention_cap", "firing")


def test_tenant_token_sees_no_other_tenants_alerts(fresh_server, hook):
    # Rules count every tenant, so their state and reasons are not a tenant's
    # to read; its stats' alert_status judges its own counters only.
    srv = start(fresh_server, hook, "--health-critical", "2")
    ingest(srv.admin, 3)
    wait_for(firing(srv.admin, "health_critical"), what="health_critical firing")
    quiet = srv.client("viewer", tenant="t-quiet")
    r = quiet.get(ALERTS)
    assert r.status_code == 403, r.text
    assert "server-wide" in r.json()["detail"]
    st = quiet.get("/api/v1/dlq/stats").json()
    assert st["pending_entries"] == 0
    assert st["alert_status"]["should_alert"] is False
    assert "3" not in (st["alert_status"]["reason"] or "")
    assert srv.admin.get("/api/v1/dlq/stats").json()["alert_status"]["should_alert"] is True
