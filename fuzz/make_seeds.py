#!/usr/bin/env python3
"""make_seeds.py: (re)writes the small, meaningful seed corpora of fuzz/corpus/.

Run from anywhere; files are named after what they exercise. Crash inputs
found later are kept next to them as crash-<what>.bin (never regenerated).
"""
import base64
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "corpus"

ENTRY = {
    "task_name": "app.tasks.email.send",
    "original_task_id": "celery-7f3a",
    "task_args": [42, "x"],
    "task_kwargs": {"to": "a@b.c"},
    "exception": {"type": "SMTPError", "message": "connection to 10.0.0.5:25 refused",
                  "traceback": "Traceback (most recent call last):\n  File \"x.py\"\n"},
    "tenant_id": "acme",
    "retries_attempted": 3,
    "failed_at": "2026-01-25T10:30:00.123+02:00",
    "queue": "mail",
    "priority": 5,
    "reason": "max_retries_exceeded",
    "error_code": "E42",
    "max_replays": 2,
    "expires_at": "2026-03-01T00:00:00Z",
    "metadata": {"k": [1, 2.5, True, None, {"n": "é"}]},
    "context": {"worker": "w1"},
    "idempotency_key": "idem-1",
}


def put(name, fname, data):
    d = ROOT / name
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / fname).write_bytes(data)


def entries():
    minimal = json.dumps({"task_name": "app.tasks.x"})
    full = json.dumps(ENTRY, ensure_ascii=False)
    args_text = json.dumps({"task_name": "t", "task_args": "[1, 2]", "task_kwargs": "{\"a\": 1}"})
    escapes = '{"task_name": "a\\u00e9\\ud83d\\ude00\\n\\t\\"b", "exception": {"message": "\\/x"}}'
    replay = json.dumps({"task_name": "t", "replay_of": "dlq_01JH0000000000000000000000"})
    for n, body in [("minimal", minimal), ("full", full), ("args_text", args_text),
                    ("escapes", escapes), ("replay_of", replay),
                    ("bad_field", '{"task_name": "t", "status": "resolved"}'),
                    ("dup_key", '{"task_name": "a", "task_name": "b"}'),
                    ("deep", '{"task_name": "t", "metadata": ' + '{"a":' * 70 + "1" + "}" * 71)]:
        put("entry_decode", f"single_{n}.json", b"\x00" + body.encode())
        put("export_roundtrip", f"{n}.json", b"\x03" + body.encode())
    batch = json.dumps({"entries": [ENTRY, {"task_name": "b"}]}, ensure_ascii=False)
    put("entry_decode", "batch_obj.json", b"\x01" + batch.encode())
    put("entry_decode", "batch_array.json", b"\x01" + json.dumps([{"task_name": "a"}]).encode())
    put("entry_decode", "batch_over_max.json",
        b"\x03" + json.dumps([{"task_name": "a"}, {"task_name": "b"}]).encode())
    put("export_roundtrip", "csv_quotes.json", b"\x83" + json.dumps(
        {"task_name": "a,b", "exception": {"message": "say \"hi\"\r\nnext,line"},
         "queue": "q\"", "metadata": {"s": "x,\"y\""}}).encode())


def filters():
    cur = base64.urlsafe_b64encode(b"v1|0|1769337000000|dlq_01JH0000000000000000000000")
    cur = cur.decode().rstrip("=")
    for n, q in [("basic", "limit=10&offset=5&status=pending_review,retried&sort=failed_at"),
                 ("all", "task_name=app.x&tenant_id=acme&queue=q&reason=timeout&exception_type=E"
                  "&fingerprint=0123456789abcdef&failed_after=2026-01-01T00:00:00Z"
                  "&failed_before=2026-02-01T00:00:00%2B01:00&q=conn+refused"),
                 ("cursor", "cursor=" + cur), ("repeat", "limit=1&limit=2&limit=3"),
                 ("unknown", "foo=1&bar"), ("encoded", "task_name=a%00b&q=%22x%22+NEAR(y"),
                 ("empty", "status=&q=")]:
        put("filter", f"{n}.txt", q)


def cursors():
    for n, raw, sort in [("desc", b"v1|0|1769337000000|dlq_01JH0000000000000000000000", 0),
                         ("asc", b"v1|1|0|dlq_x", 1), ("wrong_sort", b"v1|1|5|dlq_x", 0),
                         ("neg", b"v1|0|-5|dlq_x", 0), ("big", b"v1|0|99999999999999999999|x", 0)]:
        enc = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        put("cursor", f"{n}.txt", bytes([sort]) + enc.encode())
    put("cursor", "position.bin", b"\x00" + (1769337000000 << 1).to_bytes(8, "little") + b"dlq_x")


def fingerprints():
    for n, m in [("numbers", "user 42 not found after 3.5s"),
                 ("uuid", "job 123e4567-e89b-12d3-a456-426614174000 failed"),
                 ("hex", "at 0xdeadBEEF and cafebabe1 ptr"), ("quotes", "key 'abc' and \"d\\\"e\""),
                 ("apostrophe", "can't open 'x"), ("utf8", "café 'naïve' 42€ 😀"),
                 ("empty", "")]:
        put("fingerprint", f"{n}.txt", m)


def tokens():
    for n, b in [("viewer", {"name": "ci", "role": "viewer"}),
                 ("tenant", {"name": "t", "role": "admin", "tenant_id": "acme"}),
                 ("long", {"name": "n" * 200, "role": "producer"}),
                 ("bad_role", {"name": "x", "role": "root"})]:
        put("token_request", f"{n}.json", json.dumps(b))


def bulk():
    for n, kind, b in [("replay", 0, {"task_name": "app.x", "status": "pending_review",
                                      "max_tasks": 10, "dry_run": True,
                                      "rate_per_second": 5, "batch_size": 2,
                                      "stop_failure_rate": 0.5, "min_samples": 3}),
                       ("resolve_ids", 1, {"ids": ["dlq_a", "dlq_b"], "resolution_notes": "ok"}),
                       ("discard_filter", 2, {"queue": "q", "failed_after": "2026-01-01T00:00:00Z",
                                              "note": "n"}),
                       ("tenant_other", 0x80, {"tenant_id": "other"}),
                       ("empty", 0, {})]:
        put("bulk_spec", f"{n}.json", bytes([kind]) + json.dumps(b).encode())


def routes():
    # method index: 0 GET 1 POST 2 DELETE 3 PUT 4 HEAD 5 PATCH
    for n, m, p in [("list", 0, "/api/v1/dlq/entries?limit=5"),
                    ("get", 0, "/api/v1/dlq/entries/dlq_01JH0000000000000000000000"),
                    ("retry", 1, "/api/v1/dlq/entries/dlq_x/retry"),
                    ("token", 2, "/api/v1/tokens/tok_x"), ("health", 4, "/healthz"),
                    ("dotdot", 0, "/api/v1/dlq/entries/%2e%2e"),
                    ("enc_slash", 0, "/api/v1/dlq/entries/a%2Fb"),
                    ("nul", 0, "/api/v1/dlq/entries/a%00b"), ("double", 0, "//api/v1/tokens"),
                    ("method", 3, "/api/v1/dlq/entries"), ("jobs", 1, "/api/v1/queues/q/jobs"),
                    ("static", 0, "/assets/js/app.js"), ("whoami", 0, "/api/v1/whoami?x"), ("long", 0, "/api/v1/dlq/entries/" + "a" * 300)]:
        put("route", f"{n}.txt", bytes([m]) + p.encode())


def jobs():
    job = {"task_name": "app.tasks.resize", "args": [1, "a"], "kwargs": {"w": 2},
           "priority": 5, "max_retries": 2, "timeout_s": 10, "delay_ms": 1000,
           "backoff": {"base_ms": 100, "factor": 1.5, "max_ms": 5000},
           "tenant_id": "acme", "metadata": {"m": 1}, "idempotency_key": "k1"}
    token = "lt_" + "A" * 26
    for n, mode, b in [("enqueue", 0, job), ("enqueue_min", 0, {"task_name": "t"}),
                       ("enqueue_both_times", 0, {"task_name": "t", "delay_ms": 1,
                                                  "run_at": "2026-01-25T10:30:00Z"}),
                       ("batch", 1, {"jobs": [job, {"task_name": "u"}]}),
                       ("reserve", 2, {"count": 10, "wait_ms": 500, "lease_s": 30,
                                       "task_names": ["a", "b"], "worker_id": "w-1"}),
                       ("reserve_empty", 2, None),
                       ("ack", 3, {"lease_token": token, "result": {"ok": True}}),
                       ("fail", 4, {"lease_token": token, "retryable": False,
                                    "reason": "timeout",
                                    "error": {"type": "E", "message": "m", "traceback": "t"}}),
                       ("heartbeat", 5, {"lease_token": token, "extend_s": 60}),
                       ("acks", 6, {"acks": [{"job_id": "job_x", "lease_token": token,
                                              "result": [1]}]}),
                       ("settings", 7, {"target": "webhook", "webhook_url": "http://x/y",
                                        "webhook_secret": "s", "max_replays": 2,
                                        "paused": True})]:
        put("job_decode", f"{n}.json", bytes([mode]) + (json.dumps(b).encode() if b else b""))


if __name__ == "__main__":
    jobs()
    entries()
    filters()
    cursors()
    fingerprints()
    tokens()
    bulk()
    routes()
