"""Retention and cleanup: POST /api/v1/dlq/cleanup and the maintenance thread.

Cleanup deletes entries of the listed statuses (default: the closed ones)
whose failure is older than N days; a dry run counts them and changes
nothing, and pending entries go only when listed explicitly. Each real run
leaves one audit record. The maintenance thread, run here with tiny periods,
archives closed entries, then purges archived ones, expires pending ones only
when asked (expires_at, or --expiry-hours), and never removes anything
pending; over --max-entries it raises the retention_cap alert instead of
dropping anything.
"""

import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import assert_problem, store_location, uid

CLEANUP = "/api/v1/dlq/cleanup"
ENTRIES = "/api/v1/dlq/entries"
OLD = "2020-01-01T00:00:00Z"


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_minus(**kw):
    return iso(datetime.now(timezone.utc) - timedelta(**kw))


def resolve(api, d):
    r = api.post(f"{ENTRIES}/{d}/resolve", {"resolution_notes": "fixed"})
    assert r.status_code == 200, r.text


def discard(api, d):
    r = api.delete(f"{ENTRIES}/{d}")
    assert r.status_code == 200, r.text


def seed(api, tenant=None):
    """seed makes old and recent entries in several statuses; returns ids by kind."""
    def mk(kind, failed_at):
        e = {"task_name": f"cleanup.{kind}", "exception": {"type": "E", "message": kind},
             "failed_at": failed_at}
        if tenant:
            e["tenant_id"] = tenant
        return e

    kinds = ["old_res1", "old_res2", "old_disc", "old_pend1", "old_pend2", "new_res", "new_pend"]
    ids = api.ingest_batch([mk(k, OLD if k.startswith("old") else now_minus(hours=1))
                            for k in kinds])
    got = dict(zip(kinds, ids))
    for k in ("old_res1", "old_res2", "new_res"):
        resolve(api, got[k])
    discard(api, got["old_disc"])
    return got


def exists(api, d):
    r = api.get(f"{ENTRIES}/{d}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def test_dry_run_counts_and_changes_nothing(fresh_server):
    srv = fresh_server().start()
    api = srv.admin
    ids = seed(api)
    before = api.list(limit=100)
    r = api.post(CLEANUP, {"older_than_days": 30, "dry_run": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True
    assert body["matched"] == 3
    assert body["deleted"] == 0
    assert body["by_status"]["resolved"] == 2
    assert body["by_status"]["discarded"] == 1
    assert body["by_status"].get("pending_review", 0) == 0
    after = api.list(limit=100)
    assert after == before
    assert all(exists(api, d) for d in ids.values())
    # Pending entries are counted only when listed.
    r = api.post(CLEANUP, {"older_than_days": 30, "dry_run": True,
                           "statuses": ["pending_review", "resolved"]})
    assert r.json()["matched"] == 4
    assert r.json()["by_status"] == {"pending_review": 2, "resolved": 2}


def test_real_run_deletes_exactly_the_matches(fresh_server):
    srv = fresh_server().start()
    api = srv.admin
    ids = seed(api)
    r = api.post(CLEANUP, {"older_than_days": 30})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"dry_run": False, "matched": 3, "deleted": 3,
                    "by_status": {"resolved": 2, "discarded": 1, "expired": 0, "archived": 0}}
    gone = {"old_res1", "old_res2", "old_disc"}
    for k, d in ids.items():
        assert exists(api, d) == (k not in gone), k
    # Counters follow the deletes: totals by status are exact.
    assert api.total() == 4
    assert api.total(status="resolved") == 1
    assert api.total(status="pending_review") == 3
    assert api.list(q="old_disc")["items"] == []
    # A second run finds nothing.
    assert api.post(CLEANUP, {"older_than_days": 30}).json()["deleted"] == 0
    # Pending only when listed, and then only the old ones.
    r = api.post(CLEANUP, {"older_than_days": 30, "statuses": ["pending_review"]})
    assert r.json()["deleted"] == 2
    assert not exists(api, ids["old_pend1"]) and not exists(api, ids["old_pend2"])
    assert exists(api, ids["new_pend"]) and exists(api, ids["new_res"])
    assert api.total() == 2
    # older_than_days 0 takes the recent ones too.
    r = api.post(CLEANUP, {"older_than_days": 0, "statuses": ["resolved"]})
    assert r.json()["deleted"] == 1
    assert not exists(api, ids["new_res"])


def test_each_real_run_is_audited(fresh_server):
    srv = fresh_server().start()
    api = srv.admin
    seed(api)
    api.post(CLEANUP, {"older_than_days": 30, "dry_run": True})
    api.post(CLEANUP, {"older_than_days": 30})
    r = api.get("/api/v1/audit", params={"action": "cleanup"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1
    a = items[0]
    assert a["actor"] == "admin"
    assert a["filter"]["older_than_days"] == 30
    assert set(a["filter"]["statuses"]) == {"resolved", "discarded", "expired", "archived"}
    assert a["details"]["deleted"] == 3


def test_many_entries_go_in_batches(fresh_server):
    srv = fresh_server(extra_args=["--durability", "normal"]).start()
    api = srv.admin
    for _ in range(3):
        api.ingest_batch([{"task_name": "bulk", "exception": {"type": "E", "message": "m"},
                           "failed_at": OLD} for _ in range(500)])
    api.ingest_batch([{"task_name": "keep", "failed_at": OLD}])
    r = api.post(CLEANUP, {"older_than_days": 1, "statuses": ["pending_review"],
                           "dry_run": True})
    assert r.json()["matched"] == 1501
    r = api.post(CLEANUP, {"older_than_days": 1, "statuses": ["pending_review"]})
    assert r.json()["deleted"] == 1501
    assert api.total() == 0
    assert api.list(q="bulk")["items"] == []


def test_bad_requests_and_roles(server):
    api = server.admin
    assert_problem(api.post(CLEANUP, {}), 400, "older_than_days")
    assert_problem(api.post(CLEANUP, {"older_than_days": -1}), 400, "older_than_days")
    assert_problem(api.post(CLEANUP, {"older_than_days": "3"}), 400, "older_than_days")
    assert_problem(api.post(CLEANUP, {"older_than_days": 3, "statuses": ["bogus"]}), 400,
                   "statuses")
    assert_problem(api.post(CLEANUP, {"older_than_days": 3, "statuses": []}), 400, "statuses")
    assert_problem(api.post(CLEANUP, {"older_than_days": 3, "dry_run": "yes"}), 400, "dry_run")
    assert_problem(api.post(CLEANUP, {"older_than_days": 3, "extra": 1}), 400, "extra")
    assert_problem(api.req("POST", CLEANUP, data="[1]",
                           headers={"Content-Type": "application/json"}), 400)
    assert_problem(server.client("operator").post(CLEANUP, {"older_than_days": 3}), 403)
    assert_problem(server.api(None).post(CLEANUP, {"older_than_days": 3}), 401)


def test_tenant_bound_admin_cleans_its_tenant_only(fresh_server):
    srv = fresh_server().start()
    mine, theirs = seed(srv.admin, "t-mine"), seed(srv.admin, "t-theirs")
    adm = srv.client("admin", tenant="t-mine")
    r = adm.post(CLEANUP, {"older_than_days": 30})
    assert r.json()["deleted"] == 3
    assert not exists(srv.admin, mine["old_res1"])
    assert all(exists(srv.admin, d) for d in theirs.values())


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def history(api, d):
    return [h["event"] for h in api.entry(d)["history"]]


def test_maintenance_archives_closed_entries(fresh_server):
    srv = fresh_server(extra_args=["--retention-days", "0", "--purge-days", "1",
                                   "--maintenance-interval-s", "1"]).start()
    api = srv.admin
    ids = api.ingest_batch([{"task_name": f"m{i}"} for i in range(4)])
    resolve(api, ids[0])
    discard(api, ids[1])
    wait_for(lambda: api.total(status="archived") == 2, what="archiving")
    assert api.entry(ids[0])["status"] == "archived"
    assert history(api, ids[0])[-1] == "archived"
    assert api.entry(ids[1])["status"] == "archived"
    time.sleep(1.5)  # more runs: purge_days 1 keeps them; pending ones are never touched
    assert api.total(status="archived") == 2
    assert api.total(status="pending_review") == 2
    assert api.total() == 4
    for d in ids[2:]:
        assert api.entry(d)["status"] == "pending_review"


def test_maintenance_purges_archived_entries(fresh_server):
    srv = fresh_server(extra_args=["--retention-days", "0", "--purge-days", "0",
                                   "--maintenance-interval-s", "1"]).start()
    api = srv.admin
    ids = api.ingest_batch([{"task_name": f"p{i}", "exception": {"type": "E", "message": "zorp"},
                             "failed_at": OLD} for i in range(4)])
    resolve(api, ids[0])
    discard(api, ids[1])
    wait_for(lambda: not exists(api, ids[0]) and not exists(api, ids[1]), what="purge")
    assert api.total() == 2
    assert api.total(status="archived") == 0
    assert api.total(status="pending_review") == 2
    assert sorted(it["dlq_id"] for it in api.list(q="zorp")["items"]) == sorted(ids[2:])
    time.sleep(1.2)
    assert all(api.entry(d)["status"] == "pending_review" for d in ids[2:])


def test_expiry_by_expires_at_without_flags(fresh_server):
    srv = fresh_server(extra_args=["--maintenance-interval-s", "1"]).start()
    api = srv.admin
    past, future, none = api.ingest_batch([
        {"task_name": "x1", "expires_at": now_minus(minutes=5)},
        {"task_name": "x2", "expires_at": iso(datetime.now(timezone.utc) + timedelta(days=1))},
        {"task_name": "x3", "failed_at": OLD},
    ])
    wait_for(lambda: api.entry(past)["status"] == "expired", what="expiry")
    assert history(api, past)[-1] == "expired"
    time.sleep(1.2)
    assert api.entry(future)["status"] == "pending_review"
    assert api.entry(none)["status"] == "pending_review"  # no --expiry-hours: age alone is not enough
    assert api.total(status="expired") == 1


def test_expiry_hours(fresh_server):
    srv = fresh_server(extra_args=["--expiry-hours", "1", "--maintenance-interval-s", "1"]).start()
    api = srv.admin
    old, new = api.ingest_batch([{"task_name": "e1", "failed_at": now_minus(hours=2)},
                                 {"task_name": "e2", "failed_at": now_minus(minutes=10)}])
    wait_for(lambda: api.entry(old)["status"] == "expired", what="expiry")
    time.sleep(1.2)
    assert api.entry(new)["status"] == "pending_review"


def test_max_entries_alerts_and_drops_nothing(fresh_server):
    srv = fresh_server(extra_args=["--max-entries", "2", "--retention-days", "0",
                                   "--purge-days", "0", "--maintenance-interval-s", "1"]).start()
    api = srv.admin
    ids = api.ingest_batch([{"task_name": f"c{i}"} for i in range(5)])
    wait_for(lambda: "retention_cap" in srv.stderr_tail(100000), what="retention_cap warning")
    time.sleep(1.2)
    assert all(exists(api, d) for d in ids)
    assert api.total() == 5


def test_stop_is_immediate_with_a_long_interval(fresh_server):
    srv = fresh_server(extra_args=["--maintenance-interval-s", "3600"]).start()
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("opt,val", [("--retention-days", "-1"), ("--purge-days", "x"),
                                     ("--expiry-hours", "-2"),
                                     ("--maintenance-interval-s", "0"),
                                     ("--max-entries", "-5")])
def test_bad_options_are_usage_errors(dlq_bin, tmp_path, opt, val):
    import subprocess
    p = subprocess.run([dlq_bin, "serve", "--store", store_location(tmp_path), opt, val],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert opt in p.stderr
