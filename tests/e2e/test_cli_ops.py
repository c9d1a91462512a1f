"""The operator workflow through the `dlq` CLI against a real server.

Each command's effect is checked through the API, not only its output:
replay (single, edited, forced, bulk dry run, bulk with --wait), resolve,
delete, ops, stats, groups, alerts, audit, export and cleanup.
"""

import csv
import json
import os
import subprocess

import pytest

from conftest import ENTRIES, uid


@pytest.fixture(scope="module")
def cli(server, dlq_bin):
    def run(*args, timeout=60):
        e = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
        e.update({"NO_COLOR": "1", "DLQ_URL": server.base, "DLQ_TOKEN": server.admin_secret})
        return subprocess.run([dlq_bin, *args], env=e, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    return run


def seed(server, task, n, **extra):
    ids = []
    for i in range(n):
        body = {"task_name": task, "original_task_id": uid("op-"),
                "exception": {"type": "TimeoutError", "message": f"upstream timed out after {i} ms"}}
        body.update(extra)
        ids.append(server.admin.ingest(**body))
    return ids


def entry(server, dlq_id):
    r = server.admin.get(f"{ENTRIES}/{dlq_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_replay_one_then_resolve(server, cli):
    (i,) = seed(server, uid("app.tasks.cliops.one."), 1)
    r = cli("replay", i)
    assert r.returncode == 0, r.stderr
    e = entry(server, i)
    assert e["status"] == "retried" and e["retry_count"] == 1
    assert e["retry_task_id"] and e["retry_task_id"] in r.stdout
    r = cli("resolve", i, "--notes", "fixed by hand")
    assert r.returncode == 0, r.stderr
    e = entry(server, i)
    assert (e["status"], e["resolution_notes"]) == ("resolved", "fixed by hand")
    # resolving again is refused by the state machine: exit 1, one problem line
    r = cli("resolve", i)
    assert r.returncode == 1
    assert "409" in r.stderr and "resolved" in r.stderr


def test_edit_and_force(server, cli):
    (i,) = seed(server, uid("app.tasks.cliops.edit."), 1, max_replays=1)
    r = cli("replay", i, "--kwargs", '{"format": "csv"}', "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "retried"
    e = entry(server, i)
    assert json.loads(e["task_kwargs"]) == {"format": "csv"}
    assert any(h["event"] == "edited" for h in e["history"])
    # report the replay as failed: at the budget the entry needs review
    out = server.admin.post(f"{ENTRIES}/{i}/outcome", {"succeeded": False,
                                                       "error": {"type": "E", "message": "again"}})
    assert out.status_code == 200, out.text
    assert entry(server, i)["status"] == "requires_review"
    assert cli("replay", i).returncode == 1  # refused without force
    assert cli("replay", i, "--force").returncode == 2  # force needs a reason: usage error
    r = cli("replay", i, "--force", "--reason", "root cause fixed", "--ticket", "https://t/1")
    assert r.returncode == 0, r.stderr
    e = entry(server, i)
    assert (e["status"], e["retry_count"]) == ("retried", 1)


def test_delete(server, cli):
    (i,) = seed(server, uid("app.tasks.cliops.del."), 1)
    r = cli("delete", i, "--reason", "duplicate report")
    assert r.returncode == 0, r.stderr
    assert entry(server, i)["status"] == "discarded"


def test_bulk_dry_run_then_wait(server, cli):
    task = uid("app.tasks.cliops.bulk.")
    ids = seed(server, task, 12)
    r = cli("replay", "--task", task, "--max", "100", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    dry = json.loads(r.stdout)
    assert dry["matched"] == 12 and dry["by_task"] == {task: 12}
    assert all(entry(server, i)["status"] == "pending_review" for i in ids)
    r = cli("replay", "--task", task, "--max", "100", "--outcome-timeout", "0", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done" in r.stdout + r.stderr
    assert all(entry(server, i)["status"] == "retried" for i in ids)
    r = cli("ops", "--json")
    assert r.returncode == 0, r.stderr
    ops = json.loads(r.stdout)["items"]
    assert any(o["state"] == "done" and o["processed"] == 12 for o in ops)


def test_stats_groups_alerts_audit(server, cli):
    task = uid("app.tasks.cliops.stats.")
    seed(server, task, 3)
    r = cli("stats", "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["by_task"][task] == 3
    assert stats["health"] in ("warning", "critical")
    r = cli("groups", "--task", task, "--json")
    assert r.returncode == 0, r.stderr
    groups = json.loads(r.stdout)["items"]
    # messages differing only by a number form one group
    assert len(groups) == 1 and groups[0]["count"] == 3
    r = cli("alerts", "--json")
    assert r.returncode == 0, r.stderr
    assert {a["rule"] for a in json.loads(r.stdout)["items"]} >= {"pending_age", "ingest_rate"}
    r = cli("audit", "--action", "force_redrive", "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["items"]
    assert all(a["action"] == "force_redrive" for a in items)
    # human output too: a table with a header
    r = cli("stats")
    assert r.returncode == 0 and task in r.stdout


def test_export_csv_matches_list(server, cli, tmp_path):
    task = uid("app.tasks.cliops.export.")
    ids = seed(server, task, 5)
    out = tmp_path / "failures.csv"
    r = cli("export", "--format", "csv", "--output", str(out), "--task", task)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open(newline="")))
    assert sorted(row["dlq_id"] for row in rows) == sorted(ids)
    assert all(row["task_name"] == task for row in rows)


def test_cleanup_dry_run_changes_nothing(server, cli):
    (i,) = seed(server, uid("app.tasks.cliops.clean."), 1)
    assert cli("resolve", i).returncode == 0
    r = cli("cleanup", "--days", "0", "--dry-run", "--status", "resolved")
    assert r.returncode == 0, r.stderr
    assert entry(server, i)["status"] == "resolved"  # still there
    assert cli("cleanup", "--days", "-1").returncode == 2
