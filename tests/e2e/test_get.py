"""GET /api/v1/dlq/entries/{id}: by dlq_id or original_task_id, with history."""

import pytest

from conftest import ENTRIES, ENTRY_KEYS, TIME_RE, assert_problem, uid


@pytest.fixture(scope="module")
def one(server):
    orig = uid("task_")
    dlq_id = server.admin.ingest(
        task_name="src.workers.tasks.export.generate_export", original_task_id=orig,
        task_args='["workbook_id"]', task_kwargs={"format": "xlsx"},
        exception={"type": "ConnectionError", "message": "Database connection timeout",
                   "traceback": "..."},
        tenant_id="t_abc123", retries_attempted=3, failed_at="2026-01-25T10:30:00Z")
    return dlq_id, orig


def test_get_by_dlq_id(server, one):
    dlq_id, orig = one
    r = server.admin.get(f"{ENTRIES}/{dlq_id}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    e = r.json()
    assert list(e) == ENTRY_KEYS + ["history"]
    assert e["dlq_id"] == dlq_id and e["original_task_id"] == orig
    assert e["task_args"] == '["workbook_id"]'
    assert e["exception"] == {"type": "ConnectionError", "message": "Database connection timeout",
                              "traceback": "..."}
    assert e["tenant_id"] == "t_abc123" and e["retries_attempted"] == 3
    assert e["failed_at"] == "2026-01-25T10:30:00Z"
    assert e["status"] == "pending_review" and e["retry_count"] == 0


def test_get_matches_list_item(server, one):
    dlq_id, _ = one
    e = server.admin.entry(dlq_id)
    items = server.admin.list(task_name="src.workers.tasks.export.generate_export")["items"]
    item = [it for it in items if it["dlq_id"] == dlq_id][0]
    del e["history"]
    assert e == item


def test_get_by_original_task_id(server, one):
    dlq_id, orig = one
    e = server.admin.entry(orig)
    assert e["dlq_id"] == dlq_id
    assert e["original_task_id"] == orig


def test_history_has_captured_event(server, one):
    dlq_id, _ = one
    hist = server.admin.entry(dlq_id)["history"]
    assert isinstance(hist, list) and len(hist) == 1
    ev = hist[0]
    assert list(ev) == ["at", "event", "actor", "details"]
    assert ev["event"] == "captured"
    assert ev["actor"] == "admin"  # the bootstrap admin token's name
    assert TIME_RE.match(ev["at"])
    assert ev["details"] is None or isinstance(ev["details"], dict)


@pytest.mark.parametrize("ident", ["dlq_01ARZ3NDEKTSV4RRFFQ69G5FAV", "no-such-task",
                                   "dlq_", "x" * 300, "%27%20OR%201%3D1%20--"])
def test_unknown_is_404(server, one, ident):
    assert_problem(server.admin.get(f"{ENTRIES}/{ident}"), 404)


def test_producer_cannot_get(server, one):
    assert_problem(server.client("producer").get(f"{ENTRIES}/{one[0]}"), 403)


def test_viewer_can_get(server, one):
    assert server.client("viewer").get(f"{ENTRIES}/{one[0]}").status_code == 200
