"""The audit trail (issue 3 slice A): one record per operator action with
actor, action, targets, reason, ticket and time; GET /api/v1/audit filters,
paging, roles and tenancy."""

import time

from conftest import ENTRIES, TIME_RE, TOKENS, assert_problem, uid

AUDIT = "/api/v1/audit"
KEYS = ["id", "at", "actor", "action", "target_ids", "filter", "reason", "ticket_url", "details"]


def new_entry(api, **fields):
    body = {"task_name": uid("task."), "exception": {"type": "E", "message": "m"}}
    body.update(fields)
    return api.ingest(**body)


def records(api, **params):
    r = api.get(AUDIT, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next_cursor"}
    return body["items"]


def for_target(api, dlq_id):
    return records(api, target=dlq_id)


def test_each_action_has_a_record(server):
    a = server.admin
    op = server.make_token("operator")
    opi = server.api(op["token"])
    i = new_entry(a, max_replays=1)
    assert opi.post(f"{ENTRIES}/{i}/retry", {"reason": "try", "ticket_url": "https://t/1"}
                    ).status_code == 200
    assert a.post(f"{ENTRIES}/{i}/outcome", {"succeeded": False}).status_code == 200
    assert a.post(f"{ENTRIES}/{i}/retry?force=true",
                  {"reason": "forced", "ticket_url": "https://t/2"}).status_code == 200
    assert opi.post(f"{ENTRIES}/{i}/resolve", {"resolution_notes": "done"}).status_code == 200
    assert opi.delete(f"{ENTRIES}/{i}", params={"reason": "cleanup"}).status_code == 200
    recs = for_target(a, i)
    assert [r["action"] for r in recs] == ["discard", "resolve", "force_redrive", "outcome",
                                           "retry"]
    for r in recs:
        assert list(r)[:len(KEYS)] == KEYS
        assert r["id"].startswith("aud_") and TIME_RE.match(r["at"])
        assert r["target_ids"] == [i]
    by = {r["action"]: r for r in recs}
    assert by["retry"]["actor"] == op["name"] and by["retry"]["reason"] == "try"
    assert by["retry"]["ticket_url"] == "https://t/1"
    assert by["retry"]["details"]["retry_task_id"].startswith("job_")
    assert by["force_redrive"]["actor"] == "admin" and by["force_redrive"]["reason"] == "forced"
    assert by["force_redrive"]["ticket_url"] == "https://t/2"
    assert by["outcome"]["details"]["succeeded"] is False
    assert by["resolve"]["reason"] == "done"
    assert by["discard"]["reason"] == "cleanup"


def test_edit_record(server):
    a = server.admin
    i = new_entry(a)
    r = a.post(f"{ENTRIES}/{i}/retry", {"queue": "other", "task_args": [9]})
    assert r.status_code == 200
    rec = for_target(a, i)[0]
    assert rec["action"] == "edit"
    assert rec["details"]["edit"] == {"queue": "other", "task_args": [9]}


def test_refused_action_writes_nothing(server):
    a = server.admin
    i = new_entry(a)
    assert a.post(f"{ENTRIES}/{i}/resolve").status_code == 200
    assert a.post(f"{ENTRIES}/{i}/resolve").status_code == 409
    assert [r["action"] for r in for_target(a, i)] == ["resolve"]


def test_token_changes_are_audited(server):
    a = server.admin
    t = server.make_token("viewer")
    assert a.delete(f"{TOKENS}/{t['id']}").status_code == 204
    recs = records(a, action="token_create", limit=100)
    assert any(r["details"]["token_id"] == t["id"] and r["details"]["name"] == t["name"]
               for r in recs)
    recs = records(a, action="token_revoke", limit=100)
    assert any(r["details"]["token_id"] == t["id"] for r in recs)


def test_filters_and_paging(server):
    a = server.admin
    op = server.make_token("operator")
    opi = server.api(op["token"])
    t0 = time.time()
    ids = [new_entry(a) for _ in range(5)]
    for i in ids:
        assert opi.post(f"{ENTRIES}/{i}/resolve").status_code == 200
    recs = records(a, actor=op["name"])
    assert len(recs) == 5 and all(r["actor"] == op["name"] for r in recs)
    assert [r["target_ids"][0] for r in recs] == ids[::-1]  # newest first
    assert all(r["action"] == "resolve" for r in records(a, action="resolve"))
    assert records(a, actor=op["name"], action="discard") == []
    # Paging by cursor walks every record once.
    seen, cursor = [], None
    while True:
        params = {"actor": op["name"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = a.get(AUDIT, params=params).json()
        seen += [r["id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [r["id"] for r in recs]
    # Time bounds.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 - 1))
    assert len(records(a, actor=op["name"], since=since)) == 5
    assert records(a, actor=op["name"], until=since) == []


def test_bad_queries(server):
    a = server.admin
    assert_problem(a.get(AUDIT, params={"limit": 0}), 400, field="limit")
    assert_problem(a.get(AUDIT, params={"since": "yesterday"}), 400, field="since")
    assert_problem(a.get(AUDIT, params={"cursor": "zzz"}), 400, field="cursor")
    assert_problem(a.get(AUDIT, params={"bogus": "1"}), 400, field="bogus")


def test_admin_only_and_tenancy(server):
    assert_problem(server.client("operator").get(AUDIT), 403)
    assert_problem(server.client("viewer").get(AUDIT), 403)
    assert_problem(server.api(None).get(AUDIT), 401)
    ten = uid("ten-")
    ta = server.client("admin", tenant=ten)
    i = new_entry(ta)
    assert ta.post(f"{ENTRIES}/{i}/resolve").status_code == 200
    mine = records(ta, limit=100)
    assert mine and all(r["target_ids"] is None or r["action"].startswith("token") or
                        r["target_ids"] == [i] for r in mine)
    # The global admin sees it too; another tenant's admin does not.
    assert for_target(server.admin, i)[0]["action"] == "resolve"
    tb = server.client("admin", tenant=uid("ten-"))
    assert for_target(tb, i) == []
