"""Ingest: POST /api/v1/dlq/entries and /batch.

Covers the 201 answer and Location, defaults, every producer field round
trip, task_args as text or value, idempotency by header and by field,
tenant forcing for tenant-bound producers, and batches (per-item results,
all-or-nothing on a bad item, the 1000 cap).
"""

import json
from datetime import datetime, timezone

from conftest import BATCH, ENTRIES, ID_RE, TIME_RE, assert_problem, uid


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_minimal_ingest_201(server):
    name = uid("app.tasks.min.")
    r = server.admin.post(ENTRIES, {"task_name": name})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"dlq_id", "status", "created"}
    assert ID_RE.match(body["dlq_id"]), body
    assert body["status"] == "pending_review"
    assert body["created"] is True
    assert r.headers["Location"].endswith(f"/api/v1/dlq/entries/{body['dlq_id']}")


def test_defaults(server):
    name = uid("app.tasks.defaults.")
    before = datetime.now(timezone.utc)
    dlq_id = server.admin.ingest(task_name=name)
    e = server.admin.entry(dlq_id)
    assert e["dlq_id"] == dlq_id
    assert e["task_name"] == name
    assert e["status"] == "pending_review"
    assert e["queue"] == "default"
    assert e["reason"] == "external"
    assert e["max_replays"] == 3
    assert e["retry_count"] == 0
    assert e["retries_attempted"] == 0
    assert e["priority"] == 0
    assert json.loads(e["task_args"]) == []
    assert json.loads(e["task_kwargs"]) == {}
    assert e["tenant_id"] is None
    assert e["original_task_id"] is None
    assert e["idempotency_key"] is None
    for k in ("last_retry_at", "retry_task_id", "resolved_at", "resolution_notes",
              "resolution_type", "resolved_by", "expires_at"):
        assert e[k] is None, k
    # failed_at defaults to the capture time; processed_at is the capture time
    for k in ("failed_at", "processed_at"):
        assert TIME_RE.match(e[k]), e[k]
        t = parse_time(e[k])
        assert abs((t - before).total_seconds()) < 30, (k, e[k])
    assert isinstance(e["fingerprint"], str) and len(e["fingerprint"]) == 16


def test_every_field_round_trips(server):
    name = uid("app.tasks.full.")
    body = {
        "task_name": name,
        "original_task_id": uid("task_"),
        "task_args": ["workbook_id", 7],
        "task_kwargs": {"format": "xlsx"},
        "exception": {"type": "ConnectionError", "message": "Database connection timeout",
                      "traceback": "Traceback (most recent call last):\n  File \"x.py\"\n"},
        "tenant_id": "t_abc123",
        "retries_attempted": 3,
        "failed_at": "2026-01-25T10:30:00Z",
        "queue": "exports",
        "priority": 5,
        "reason": "max_retries_exceeded",
        "error_code": "E_DB_TIMEOUT",
        "max_replays": 7,
        "expires_at": "2026-02-25T10:30:00.250Z",
        "metadata": {"host": "w1", "n": [1, 2]},
        "context": {"request": {"id": 9}},
        "idempotency_key": uid("idem-"),
    }
    dlq_id = server.admin.ingest(**body)
    e = server.admin.entry(dlq_id)
    assert json.loads(e["task_args"]) == ["workbook_id", 7]
    assert json.loads(e["task_kwargs"]) == {"format": "xlsx"}
    assert e["exception"] == body["exception"]
    assert e["failed_at"] == "2026-01-25T10:30:00Z"
    assert e["expires_at"] == "2026-02-25T10:30:00.250Z"
    assert e["metadata"] == body["metadata"]
    assert e["context"] == body["context"]
    for k in ("task_name", "original_task_id", "tenant_id", "retries_attempted", "queue",
              "priority", "reason", "error_code", "max_replays", "idempotency_key"):
        assert e[k] == body[k], k


def test_task_args_as_json_text(server):
    dlq_id = server.admin.ingest(task_name=uid("app.tasks.text."), task_args='["workbook_id"]',
                                 task_kwargs='{"format": "xlsx"}')
    e = server.admin.entry(dlq_id)
    assert isinstance(e["task_args"], str) and isinstance(e["task_kwargs"], str)
    assert json.loads(e["task_args"]) == ["workbook_id"]
    assert json.loads(e["task_kwargs"]) == {"format": "xlsx"}


def test_task_args_as_scalar_value(server):
    dlq_id = server.admin.ingest(task_name=uid("app.tasks.scalar."), task_args={"a": [1, None]})
    assert json.loads(server.admin.entry(dlq_id)["task_args"]) == {"a": [1, None]}


def test_failed_at_with_offset_is_normalised_to_utc(server):
    dlq_id = server.admin.ingest(task_name=uid("app.tasks.tz."),
                                 failed_at="2026-01-25T12:30:00+02:00")
    assert server.admin.entry(dlq_id)["failed_at"] == "2026-01-25T10:30:00Z"


def test_ids_are_unique_and_time_ordered(server):
    ids = [server.admin.ingest(task_name=uid("app.tasks.order.")) for _ in range(5)]
    assert len(set(ids)) == 5
    assert ids == sorted(ids)


def test_idempotency_by_header(server):
    name = uid("app.tasks.idem_header.")
    key = uid("key-")
    r1 = server.admin.post(ENTRIES, {"task_name": name}, headers={"Idempotency-Key": key})
    assert r1.status_code == 201, r1.text
    assert r1.json()["created"] is True
    r2 = server.admin.post(ENTRIES, {"task_name": name}, headers={"Idempotency-Key": key})
    assert r2.status_code == 200, r2.text
    assert r2.json()["dlq_id"] == r1.json()["dlq_id"]
    assert r2.json()["created"] is False
    assert server.admin.total(task_name=name) == 1
    assert server.admin.entry(r1.json()["dlq_id"])["idempotency_key"] == key


def test_idempotency_by_field(server):
    name = uid("app.tasks.idem_field.")
    key = uid("key-")
    r1 = server.admin.post(ENTRIES, {"task_name": name, "idempotency_key": key})
    assert r1.status_code == 201, r1.text
    r2 = server.admin.post(ENTRIES, {"task_name": name, "idempotency_key": key})
    assert r2.status_code == 200, r2.text
    assert r2.json()["dlq_id"] == r1.json()["dlq_id"]
    assert r2.json()["created"] is False
    assert server.admin.total(task_name=name) == 1


def test_idempotency_header_matches_earlier_field(server):
    name = uid("app.tasks.idem_mix.")
    key = uid("key-")
    first = server.admin.ingest(task_name=name, idempotency_key=key)
    r = server.admin.post(ENTRIES, {"task_name": name}, headers={"Idempotency-Key": key})
    assert r.status_code == 200, r.text
    assert r.json()["dlq_id"] == first
    assert server.admin.total(task_name=name) == 1


def test_different_keys_make_different_entries(server):
    name = uid("app.tasks.idem_diff.")
    a = server.admin.ingest(task_name=name, idempotency_key=uid("k"))
    b = server.admin.ingest(task_name=name, idempotency_key=uid("k"))
    assert a != b
    assert server.admin.total(task_name=name) == 2


def test_concurrent_repeats_of_one_key_make_one_entry(server):
    from conftest import run_threads
    name = uid("app.tasks.idem_race.")
    key = uid("key-")
    results = []

    def go(i):
        api = server.api()
        r = api.post(ENTRIES, {"task_name": name}, headers={"Idempotency-Key": key})
        results.append((r.status_code, r.json()["dlq_id"]))

    run_threads(8, go)
    assert sorted(c for c, _ in results) == [200] * 7 + [201]
    assert len({i for _, i in results}) == 1
    assert server.admin.total(task_name=name) == 1


def test_tenant_bound_producer_is_forced_into_its_tenant(server):
    tenant = uid("ten-")
    prod = server.client("producer", tenant)
    name = uid("app.tasks.forced.")
    other = prod.ingest(task_name=name, tenant_id="someone-else")
    none = prod.ingest(task_name=name)
    assert server.admin.entry(other)["tenant_id"] == tenant
    assert server.admin.entry(none)["tenant_id"] == tenant
    ids = prod.ingest_batch([{"task_name": name, "tenant_id": "x"}, {"task_name": name}])
    for i in ids:
        assert server.admin.entry(i)["tenant_id"] == tenant
    assert server.admin.total(task_name=name, tenant_id=tenant) == 4
    assert server.admin.total(task_name=name, tenant_id="someone-else") == 0


def test_unbound_producer_keeps_given_tenant(server):
    prod = server.client("producer")
    tenant = uid("ten-")
    dlq_id = prod.ingest(task_name=uid("app.tasks.unbound."), tenant_id=tenant)
    assert server.admin.entry(dlq_id)["tenant_id"] == tenant


def test_history_actor_is_the_producer(server):
    tok = server.make_token("producer", name=uid("prod-name-"))
    dlq_id = server.api(tok["token"]).ingest(task_name=uid("app.tasks.actor."))
    hist = server.admin.entry(dlq_id)["history"]
    assert hist[0]["event"] == "captured"
    assert hist[0]["actor"] == tok["name"]


# ---- batch ----

def test_batch_ok(server):
    name = uid("app.tasks.batch.")
    entries = [{"task_name": name, "original_task_id": f"{name}-{i}",
                "exception": {"type": "ValueError", "message": f"bad {i}"}} for i in range(5)]
    r = server.admin.post(BATCH, {"entries": entries})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 5 and body["duplicates"] == 0
    assert [it["index"] for it in body["items"]] == list(range(5))
    assert all(it["created"] is True for it in body["items"])
    ids = [it["dlq_id"] for it in body["items"]]
    assert len(set(ids)) == 5 and all(ID_RE.match(i) for i in ids)
    for i, dlq_id in enumerate(ids):
        e = server.admin.entry(dlq_id)
        assert e["original_task_id"] == f"{name}-{i}"
        assert e["exception"]["message"] == f"bad {i}"
    assert server.admin.total(task_name=name) == 5


def test_batch_reports_duplicates(server):
    name = uid("app.tasks.batchdup.")
    key = uid("key-")
    first = server.admin.ingest(task_name=name, idempotency_key=key)
    r = server.admin.post(BATCH, {"entries": [{"task_name": name},
                                              {"task_name": name, "idempotency_key": key}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 1 and body["duplicates"] == 1
    assert body["items"][0]["created"] is True
    assert body["items"][1] == {"index": 1, "dlq_id": first, "created": False}
    assert server.admin.total(task_name=name) == 2


def test_batch_repeated_key_inside_one_batch_makes_one_entry(server):
    name = uid("app.tasks.batchsame.")
    key = uid("key-")
    r = server.admin.post(BATCH, {"entries": [{"task_name": name, "idempotency_key": key},
                                              {"task_name": name, "idempotency_key": key}]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[0]["dlq_id"] == items[1]["dlq_id"]
    assert [it["created"] for it in items] == [True, False]
    assert server.admin.total(task_name=name) == 1


def test_batch_all_or_nothing(server):
    name = uid("app.tasks.batchbad.")
    before = server.admin.total()
    entries = [{"task_name": name}, {"task_name": name, "priority": "high"},
               {"task_name": name}, {"exception": {"type": "X"}}]
    r = server.admin.post(BATCH, {"entries": entries})
    body = assert_problem(r, 400, "entries[1].priority")
    assert "entries[3].task_name" in [e["field"] for e in body["errors"]]
    assert server.admin.total(task_name=name) == 0
    assert server.admin.total() == before


def test_batch_of_1000_ok_and_1001_rejected(server):
    name = uid("app.tasks.batchmax.")
    r = server.admin.post(BATCH, {"entries": [{"task_name": name}] * 1000})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["created"] == 1000 and len(r.json()["items"]) == 1000
    name2 = uid("app.tasks.batchover.")
    r = server.admin.post(BATCH, {"entries": [{"task_name": name2}] * 1001})
    assert_problem(r, 400)
    assert server.admin.total(task_name=name2) == 0
    assert server.admin.total(task_name=name) == 1000


def test_batch_empty_or_malformed_rejected(server):
    before = server.admin.total()
    assert_problem(server.admin.post(BATCH, {"entries": []}), 400)
    assert_problem(server.admin.post(BATCH, {"entries": {"task_name": "x"}}), 400)
    assert_problem(server.admin.post(BATCH, {}), 400)
    assert_problem(server.admin.post(BATCH, {"entries": [{"task_name": "x"}], "foo": 1}), 400)
    assert_problem(server.admin.post(BATCH, {"entries": ["x"]}), 400)
    assert server.admin.total() == before


def test_location_header_resolves(server):
    r = server.admin.post(ENTRIES, {"task_name": uid("app.tasks.loc.")})
    assert r.status_code == 201
    loc = r.headers["Location"]
    path = loc[loc.index("/api/"):]
    assert server.admin.entry(path.rsplit("/", 1)[1])["dlq_id"] == r.json()["dlq_id"]
    assert server.admin.get(path).status_code == 200


def test_unicode_and_control_characters_round_trip(server):
    name = uid("app.tasks.unicode.")
    exc = {"type": "DatabaseError",
           "message": "Ошибка подключения к базе 数据库 🚀 \"quoted\" \\ back",
           "traceback": "line 1\n\tline 2\r\nend \u2028 \u00e9"}
    dlq_id = server.admin.ingest(task_name=name, exception=exc, metadata={"ключ": "значение"},
                                 task_kwargs={"emoji": "🚀"})
    e = server.admin.entry(dlq_id)
    assert e["exception"] == exc
    assert e["metadata"] == {"ключ": "значение"}
    assert json.loads(e["task_kwargs"]) == {"emoji": "🚀"}
    ids = [it["dlq_id"] for it in server.admin.list(q="подключения")["items"]]
    assert ids == [dlq_id]


def test_concurrent_ingest_all_distinct(server):
    from conftest import run_threads
    name = uid("app.tasks.concurrent.")
    got = [[] for _ in range(8)]

    def go(i):
        api = server.api()
        for k in range(40):
            got[i].append(api.ingest(task_name=name, original_task_id=f"{i}-{k}"))

    run_threads(8, go)
    ids = [x for g in got for x in g]
    assert len(ids) == len(set(ids)) == 320
    assert server.admin.total(task_name=name) == 320
