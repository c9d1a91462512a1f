"""GET /api/v1/dlq/export: json, ndjson and csv, streamed.

Each format must parse back (json module, csv module) to exactly the entries
the list API returns for the same filters, in the same order. The CSV is RFC
4180 with a header row, the exception split in three columns, JSON fields as
JSON text and null as an empty field. Bad formats and filters are 400 before
anything streams; a tenant-bound token exports its tenant only. At 100,000
entries the server's resident memory stays flat while the export streams.
"""

import csv
import io
import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ENTRY_KEYS, all_ids, assert_problem, uid

EXPORT = "/api/v1/dlq/export"
CSV_COLS = (ENTRY_KEYS[:5] + ["exception_type", "exception_message", "exception_traceback"]
            + ENTRY_KEYS[6:])
BASE = datetime(2025, 6, 1, tzinfo=timezone.utc)


def fmt(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"


@pytest.fixture(scope="module")
def data(server):
    """data ingests a varied set under one task prefix; returns the prefix."""
    tag = uid("exp")
    entries = []
    for i in range(40):
        e = {
            "task_name": f"{tag}.task{i % 3}",
            "queue": ["default", "mail"][i % 2],
            "exception": {"type": ["ValueError", "KeyError"][i % 2],
                          "message": f"bad value, \"quoted\" #{i}\nsecond line",
                          "traceback": "Traceback (most recent call last):\r\n  x" if i % 3 else None},
            "failed_at": fmt(BASE + timedelta(seconds=i, milliseconds=7 * i)),
            "task_args": [i, "a,b", {"k": "v\"w"}],
            "task_kwargs": {"n": i},
            "tenant_id": f"{tag}-ten{i % 2}",
        }
        if i % 4 == 0:
            e["metadata"] = {"source": "test", "list": [1, 2]}
            e["context"] = {"host": "h1"}
            e["idempotency_key"] = f"{tag}-k{i}"
            e["original_task_id"] = f"{tag}-orig{i}"
        if i % 5 == 0:
            e["expires_at"] = "2099-01-01T00:00:00Z"
        entries.append(e)
    ids = server.admin.ingest_batch(entries)
    # A few in other statuses, so status filters have something to pick.
    for d in ids[:3]:
        r = server.admin.post(f"/api/v1/dlq/entries/{d}/resolve", {"resolution_notes": "done, ok"})
        assert r.status_code == 200, r.text
    return tag


def listed(api, **params):
    """listed returns every entry the list API gives for params, in order."""
    params = dict(params, limit=100)
    out = []
    while True:
        r = api.get("/api/v1/dlq/entries", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        out.extend(page["items"])
        if not page["next_cursor"]:
            return out
        params["cursor"] = page["next_cursor"]


def export(api, fmt_, **params):
    r = api.get(EXPORT, params=dict(params, format=fmt_))
    assert r.status_code == 200, r.text[:500]
    return r


def csv_row(item):
    """csv_row turns a listed entry into what its CSV row must hold."""
    row = {}
    for k in CSV_COLS:
        if k.startswith("exception_"):
            v = item["exception"][k[len("exception_"):]]
        else:
            v = item[k]
        if v is None:
            row[k] = ""
        elif isinstance(v, (dict, list)):
            row[k] = v  # compared after json.loads
        else:
            row[k] = str(v)
    return row


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == CSV_COLS
    out = []
    for r in rows[1:]:
        assert len(r) == len(CSV_COLS)
        d = dict(zip(CSV_COLS, r))
        for k in ("metadata", "context"):
            if d[k]:
                d[k] = json.loads(d[k])
        out.append(d)
    return out


FILTERS = [
    {},
    {"status": "pending_review"},
    {"status": "resolved,pending_review", "sort": "failed_at"},
    {"queue": "mail"},
    {"exception_type": "KeyError", "queue": "mail"},
    {"q": "quoted"},
    {"failed_after": "2025-06-01T00:00:10Z", "failed_before": "2025-06-01T00:00:30Z"},
]


@pytest.mark.parametrize("extra", FILTERS)
@pytest.mark.parametrize("task", ["", ".task1"])
def test_json_equals_list(server, data, extra, task):
    params = {"task_name": f"{data}{task}"} if task else {}
    params.update(extra)
    want = listed(server.admin, **params)
    got = export(server.admin, "json", **params).json()
    assert got == want
    if task and not extra:
        assert len(want) > 0


def test_formats_equal_list_for_a_filter(server, data):
    params = {"tenant_id": f"{data}-ten0"}
    want = listed(server.admin, **params)
    assert len(want) == 20
    r = export(server.admin, "json", **params)
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Content-Disposition"] == 'attachment; filename="dlq-export.json"'
    assert r.json() == want

    r = export(server.admin, "ndjson", **params)
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    assert r.headers["Content-Disposition"] == 'attachment; filename="dlq-export.ndjson"'
    assert r.text.endswith("\n")
    assert [json.loads(line) for line in r.text.splitlines()] == want

    r = export(server.admin, "csv", **params)
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Content-Disposition"] == 'attachment; filename="dlq-export.csv"'
    assert "\r\n" in r.text
    assert parse_csv(r.content.decode("utf-8")) == [csv_row(it) for it in want]


def test_csv_quoting_round_trips_hard_values(server, data):
    want = listed(server.admin, task_name=f"{data}.task0")
    rows = parse_csv(export(server.admin, "csv", task_name=f"{data}.task0").content.decode())
    assert rows == [csv_row(it) for it in want]
    some = rows[0]
    assert "\n" in some["exception_message"] and '"quoted"' in some["exception_message"]
    assert json.loads(some["task_args"])[1] == "a,b"


def test_empty_export_is_valid(server, data):
    assert export(server.admin, "json", task_name=uid("none")).json() == []
    assert export(server.admin, "ndjson", task_name=uid("none")).text == ""
    assert export(server.admin, "csv", task_name=uid("none")).text.count("\r\n") == 1


def test_bad_format_and_filters_are_400(server, data):
    assert_problem(server.admin.get(EXPORT, params={"format": "xml"}), 400, "format")
    for k, v in (("limit", "10"), ("offset", "5"), ("cursor", "abc"), ("status", "nope"),
                 ("failed_after", "yesterday"), ("bogus", "1")):
        assert_problem(server.admin.get(EXPORT, params={"format": "csv", k: v}), 400, k)


def test_roles_and_tenancy(server, data):
    assert_problem(server.client("viewer").get(EXPORT), 403)
    assert_problem(server.api(None).get(EXPORT), 401)
    ten = f"{data}-ten1"
    op = server.client("operator", tenant=ten)
    got = export(op, "ndjson", task_name=f"{data}.task2").text.splitlines()
    got = [json.loads(x) for x in got]
    assert got and all(e["tenant_id"] == ten for e in got)
    assert got == listed(server.admin, task_name=f"{data}.task2", tenant_id=ten)
    # Naming another tenant matches nothing.
    assert export(op, "json", tenant_id=f"{data}-ten0").json() == []


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def sanitized(binary):
    """sanitized says whether the binary was built with AddressSanitizer."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def test_100k_entries_stream_in_flat_memory(fresh_server, dlq_bin):
    env = {}
    if sanitized(dlq_bin):
        # ASan keeps freed blocks in a quarantine (256 MiB by default), which
        # would read as growth; without it RSS reflects what is really held.
        env["ASAN_OPTIONS"] = ":".join(
            x for x in (os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0") if x)
    srv = fresh_server(extra_args=["--durability", "normal", "--quiet"], env=env).start()
    api = srv.admin
    n, per = 100_000, 1000
    t0 = time.monotonic()
    for b in range(n // per):
        batch = [{"task_name": f"bulk.task{i % 7}",
                  "exception": {"type": "ValueError", "message": f"row {b * per + i}, \"x\""},
                  "failed_at": fmt(BASE + timedelta(milliseconds=b * per + i)),
                  "task_kwargs": {"i": b * per + i}}
                 for i in range(per)]
        r = api.post("/api/v1/dlq/entries/batch", {"entries": batch}, timeout=60)
        assert r.status_code == 200, r.text[:300]
    seeded = time.monotonic() - t0
    # Warm up: the first export pays for the code and caches any export pays for.
    export(api, "ndjson", task_name="bulk.task0")
    pid = srv.proc.pid
    before = rss_kib(pid)
    peak = before
    for fmt_ in ("ndjson", "csv"):
        r = api.s.get(api.base + EXPORT, params={"format": fmt_}, headers=api.headers(),
                      stream=True, timeout=120)
        assert r.status_code == 200
        count, prev, first = 0, None, True
        buf = b""
        for chunk in r.iter_content(chunk_size=256 * 1024):
            buf += chunk
            if fmt_ == "ndjson":
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    e = json.loads(line)
                    at = datetime.fromisoformat(e["failed_at"].replace("Z", "+00:00"))
                    if prev is not None:
                        assert at <= prev  # newest first, the list order
                    prev = at
                    count += 1
            peak = max(peak, rss_kib(pid))
        if fmt_ == "csv":
            rows = list(csv.reader(io.StringIO(buf.decode(), newline="")))
            assert rows[0] == CSV_COLS
            count = len(rows) - 1
            assert all(len(x) == len(CSV_COLS) for x in rows[1:])
            assert len({x[0] for x in rows[1:]}) == n
        else:
            assert buf == b""
        assert count == n, (fmt_, count)
    grown = (peak - before) / 1024
    print(f"export of {n} entries: RSS {before / 1024:.1f} MiB -> peak {peak / 1024:.1f} MiB")
    assert grown < 32, f"RSS grew by {grown:.1f} MiB during the export (seeded in {seeded:.1f}s)"
    assert api.list(limit=1)["total"] == n
