"""GET /metrics in Prometheus text format 0.0.4 (issue 3 slice C1).

Every line is a comment or `name{labels} value`; the families of the
contract exist with their types; counters grow after requests; histograms
are cumulative and end in +Inf equal to their _count.
"""

import re

from conftest import assert_problem

LINE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

FAMILIES = {
    "dlq_entries": "gauge",
    "dlq_pending": "gauge",
    "dlq_ingested_total": "counter",
    "dlq_replays_total": "counter",
    "dlq_alert_firing": "gauge",
    "dlq_http_requests_total": "counter",
    "dlq_http_request_duration_seconds": "histogram",
    "dlq_store_commit_duration_seconds": "histogram",
}


def scrape(api):
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    types, samples = {}, []
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name not in types, f"family {name} declared twice"
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = LINE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(LABEL_RE.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    assert r.text.endswith("\n")
    return types, samples


def value(samples, name, **labels):
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert len(vals) == 1, (name, labels, vals)
    return vals[0]


def check_histogram(samples, name, **labels):
    buckets = [(l["le"], v) for n, l, v in samples
               if n == name + "_bucket" and all(l.get(k) == w for k, w in labels.items())]
    assert buckets and buckets[-1][0] == "+Inf"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets must be cumulative"
    assert value(samples, name + "_count", **labels) == counts[-1]
    assert value(samples, name + "_sum", **labels) >= 0


def test_metrics_format_and_families(server):
    server.admin.ingest(task_name="m.task", queue="mq", exception={"type": "E", "message": "x"})
    types, samples = scrape(server.admin)
    for fam, typ in FAMILIES.items():
        assert types.get(fam) == typ, (fam, types.get(fam))
    for n, _, _ in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        assert n in types or base in types, f"sample {n} without a TYPE"
    statuses = {l["status"] for n, l, _ in samples if n == "dlq_entries"}
    assert statuses == {"pending_review", "requires_review", "retried", "resolved", "discarded",
                        "expired", "archived"}
    assert value(samples, "dlq_pending", queue="mq", task="m.task") >= 1
    for res in ("dispatched", "succeeded", "failed"):
        assert value(samples, "dlq_replays_total", result=res) >= 0
    assert {l["rule"] for n, l, _ in samples if n == "dlq_alert_firing"} == {
        "pending_age", "ingest_rate", "replay_failure_rate", "health_critical", "retention_cap"}
    check_histogram(samples, "dlq_store_commit_duration_seconds")
    assert value(samples, "dlq_store_commit_duration_seconds_count") >= 1
    check_histogram(samples, "dlq_http_request_duration_seconds", route="/api/v1/dlq/entries")


def test_counters_grow(server):
    api = server.admin
    _, before = scrape(api)
    for i in range(3):
        api.ingest(task_name="grow.task", exception={"type": "E", "message": str(i)})
    api.get("/api/v1/dlq/entries/dlq_nope")
    _, after = scrape(api)

    def get(samples, name, **labels):
        try:
            return value(samples, name, **labels)
        except AssertionError:
            return 0.0

    assert get(after, "dlq_ingested_total") == get(before, "dlq_ingested_total") + 3
    route = "/api/v1/dlq/entries"
    assert get(after, "dlq_http_requests_total", route=route, code="201") == \
        get(before, "dlq_http_requests_total", route=route, code="201") + 3
    assert get(after, "dlq_http_requests_total", route="/api/v1/dlq/entries/{id}",
               code="404") >= 1
    assert get(after, "dlq_http_request_duration_seconds_count", route=route) >= 3
    # The previous scrape itself was counted.
    assert get(after, "dlq_http_requests_total", route="/metrics", code="200") >= 1
    assert get(after, "dlq_store_commit_duration_seconds_count") > \
        get(before, "dlq_store_commit_duration_seconds_count")


def test_unmatched_routes_are_one_series(server):
    api = server.admin
    for p in ("/nope/a", "/nope/b", "/nope/c"):
        assert api.get(p).status_code == 404
    _, samples = scrape(api)
    routes = {l["route"] for n, l, _ in samples if n == "dlq_http_requests_total"}
    assert not any(r.startswith("/nope") for r in routes)
    assert "unmatched" in routes


def test_metrics_needs_read(server):
    assert_problem(server.api(None).get("/metrics"), 401)
    assert_problem(server.client("producer").get("/metrics"), 403)
    assert server.client("viewer").get("/metrics").status_code == 200
