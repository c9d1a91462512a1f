#!/usr/bin/env python3
"""gen_bodies.py: request bodies for POST /api/v1/dlq/entries/batch, 1000 entries
per line, for bench/growth's seeding (dlq-loadgen --bodies-file cycles the lines).
The data is skewed like bench/run-ops' seed (the same weights, so figures compare):
8 task names from 45% down to 1% plus one cold task (1 entry in 1000), their
queues, 4 exception types, 4 reasons, ~50 tenants skewed to low ids, failures
spread over the last 72 hours (more of them recent). With --task every entry has
that task name (a replay set). {{n}} (loadgen's request number) and --prefix keep
original_task_id unique across loadgen runs.
Usage: gen_bodies.py FILE LINES [--task NAME] [--prefix P]"""
import argparse
import json
import random
import time

TASKS = [("app.tasks.email.send_welcome", "mail", .45), ("app.tasks.export.generate_export", "default", .25),
         ("app.tasks.billing.charge_card", "billing", .12), ("app.tasks.sync.pull_crm", "default", .08),
         ("app.tasks.search.reindex", "search", .04), ("app.tasks.images.resize", "images", .03),
         ("app.tasks.webhooks.deliver", "webhooks", .02), ("app.tasks.ledger.close_day", "billing", .01)]
EXCS = [("ConnectionError", "database connection refused on host db-%d after %d ms", .5),
        ("TimeoutError", "upstream did not answer within %d ms (attempt %d)", .3),
        ("ValueError", "invalid literal for int() with base 10: row %d col %d", .15),
        ("KeyError", "customer %d has no field %d", .05)]
REASONS = [("max_retries_exceeded", .6), ("timeout", .2), ("permanent_failure", .15), ("external", .05)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("lines", type=int)
    ap.add_argument("--task")
    ap.add_argument("--prefix", default="seed")
    a = ap.parse_args()
    rnd = random.Random(42)

    def pick(items):
        r, acc = rnd.random(), 0.0
        for it in items:
            acc += it[-1]
            if r < acc:
                return it
        return items[-1]

    now = time.time()
    with open(a.file, "w") as f:
        for _ in range(a.lines):
            out = []
            for k in range(1000):
                if a.task:
                    t, q = a.task, "replay"
                elif k == 500:
                    t, q = "app.tasks.reports.cold_rebuild", "reports"
                else:
                    t, q = pick(TASKS)[:2]
                e, m, _ = pick(EXCS)
                age = 72 * 3600 * rnd.random() ** 2
                out.append({
                    "task_name": t, "original_task_id": "%s-{{n}}-%d" % (a.prefix, k), "task_args": [k],
                    "exception": {"type": e, "message": m % (rnd.randrange(1000), rnd.randrange(5000)),
                                  "traceback": "Traceback (most recent call last):\n  File \"worker.py\", "
                                               "line %d, in run\n%s" % (rnd.randrange(400), e)},
                    "tenant_id": "t_%d" % int(50 * rnd.random() * rnd.random()), "retries_attempted": 3,
                    "queue": q, "reason": pick(REASONS)[0],
                    "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - age))})
            f.write(json.dumps({"entries": out}, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
