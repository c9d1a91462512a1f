#!/usr/bin/env python3
"""report.py: prints bench/run-all's tables (markdown, so that they paste into the
README as they are) from the key=value result files a run left behind.

Usage: report.py ALLDIR
ALLDIR is bench/out/all-<stamp>/: machine.txt, settings.txt, dirs.txt (RUN=, OPS=,
JOBS= result directories of bench/run, bench/run-ops, bench/run-jobs), floors/
(floor-*.kv) and peers/ (pg-*.kv, bs-*.kv). Every figure is the median of the
runs with [min-max]; every ratio is between medians of the same invocation.
A missing figure prints as "-" (a part that was skipped or failed)."""
import os
import re
import sys


def vals(path, key):
    """vals returns the values of key over the lines of a kv file (may be empty)."""
    if not path or not os.path.isfile(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            m = re.search(r"(?:^|\s)" + re.escape(key) + r"=(-?[0-9.eE+-]+)", line)
            if m:
                out.append(float(m.group(1)))
    return sorted(out)


def stat(path, key, scale=1.0):
    """stat returns (median, min, max) of key in a kv file, or None."""
    v = [x * scale for x in vals(path, key)]
    if not v:
        return None
    return (v[(len(v) - 1) // 2], v[0], v[-1])


def med(s):
    return None if s is None else s[0]


def num(x, digits=None):
    """num formats a figure: thousands separators for rates, 2-3 significant ms."""
    if x is None:
        return "-"
    if digits is None:
        digits = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return "{:,.{}f}".format(x, digits)


def fig(s, unit="", digits=None):
    """fig formats a stat as 'median unit [min-max]' (no range for a single run)."""
    if s is None:
        return "-"
    m, lo, hi = s
    text = num(m, digits) + unit
    if lo != hi:
        text += " [{}-{}]".format(num(lo, digits), num(hi, digits))
    return text


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rx(r):
    return "-" if r is None else ("{:.2f}x".format(r) if r < 10 else "{:,.0f}x".format(r))


def verdict(ok):
    return "-" if ok is None else ("met" if ok else "**missed**")


def at_least(x, goal):
    return None if x is None else x >= goal


def below(x, goal):
    return None if x is None else x < goal


def read_kv_file(path):
    out = {}
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k.strip()] = v.strip()
    return out


def job_lines(root, jobs_dir, mode):
    """job_lines returns the dlq-jobgen result lines of one mode ("cycle" or
    "fullcycle") that bench/run-jobs left: in the *.kv files of its result
    directory or, failing that, in its log (ALLDIR/jobs.log)."""
    files = []
    if jobs_dir and os.path.isdir(jobs_dir):
        files = [os.path.join(jobs_dir, n) for n in sorted(os.listdir(jobs_dir)) if n.endswith(".kv")]
    found = []
    for path in files + [os.path.join(root, "jobs.log")]:
        if path.endswith("jobs.log") and found:
            break
        if os.path.isfile(path):
            with open(path) as f:
                found += [ln for ln in f if re.search(r"(^|\s)mode=%s(\s|$)" % mode, ln)]
    return found


def line_stat(lines, key):
    """line_stat is stat() over lines already read."""
    v = []
    for ln in lines:
        m = re.search(r"(?:^|\s)" + re.escape(key) + r"=(-?[0-9.eE+-]+)", ln)
        if m:
            v.append(float(m.group(1)))
    v.sort()
    return (v[(len(v) - 1) // 2], v[0], v[-1]) if v else None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py ALLDIR")
    root = sys.argv[1]
    dirs = read_kv_file(os.path.join(root, "dirs.txt"))
    settings = read_kv_file(os.path.join(root, "settings.txt"))
    run, ops, jobs = dirs.get("RUN"), dirs.get("OPS"), dirs.get("JOBS")
    fl = os.path.join(root, "floors")
    pe = os.path.join(root, "peers")
    P = lambda d, n: os.path.join(d, n) if d else None  # noqa: E731

    fsync = stat(P(fl, "floor-fsync.kv"), "rps")
    sqlf = stat(P(fl, "floor-sqlite.kv"), "rps")
    sqls = stat(P(fl, "floor-sqlite-single.kv"), "rps")
    hget, hpost = stat(P(pe, "http-get.kv"), "rps"), stat(P(pe, "http-post.kv"), "rps")
    hget99, hpost99 = stat(P(pe, "http-get.kv"), "p99_ms"), stat(P(pe, "http-post.kv"), "p99_ms")
    pg1 = stat(P(pe, "pg-insert1-1c.kv"), "rps")
    pg16 = stat(P(pe, "pg-insert1-16c.kv"), "rps")
    pg100 = stat(P(pe, "pg-insert100-16c.kv"), "rps")
    pgp = {c: (stat(P(pe, "pg-%s.kv" % c), "p50_ms"), stat(P(pe, "pg-%s.kv" % c), "p99_ms"))
           for c in ("page-hot", "page-cold", "page-hot-total", "page-offset", "groupby")}
    pgup = stat(P(pe, "pg-update.kv"), "rps")
    bs = {c: {k: stat(P(pe, "bs-%s.kv" % c), k + "_jps") for k in ("put", "bury", "kick")}
          for c in ("f0", "nosync")}

    d1 = stat(P(run, "ingest-single-1conn.kv"), "eps")
    d16 = stat(P(run, "ingest-single-16conn.kv"), "eps")
    d64 = stat(P(run, "ingest-single-64conn.kv"), "eps")
    db = stat(P(run, "ingest-batch100-16conn.kv"), "eps")
    filters = [("cold task", "list-cold-task"), ("hot task", "list-hot-task"),
               ("status", "list-status"), ("full-text q", "list-q-rare")]
    lists = {c: {f: stat(P(run, "%s-%dconn.kv" % (n, c)), "p99_ms") for f, n in filters} for c in (1, 4)}

    def worst(c):
        have = [(s[0], f, s) for f, s in lists[c].items() if s is not None]
        return max(have, key=lambda t: t[0]) if have else (None, None, None)

    w1, w1f, w1s = worst(1)
    w4, w4f, w4s = worst(4)
    st1 = stat(P(ops, "stats-1conn.kv"), "p99_ms")
    st4 = stat(P(ops, "stats-4conn.kv"), "p99_ms")
    scan = stat(P(ops, "scan.kv"), "ms")
    rep = stat(P(ops, "replay-unthrottled.kv"), "eps")
    reprate = stat(P(ops, "replay-rate.kv"), "eps")
    sqlup = stat(P(ops, "update.kv"), "eps")
    rss = stat(P(run, "rss.kv"), "rss_kb", 1 / 1024)
    hwm = stat(P(run, "rss.kv"), "hwm_kb", 1 / 1024)
    cyc = line_stat(job_lines(root, jobs, "cycle"), "jps")
    full = job_lines(root, jobs, "fullcycle")

    entries = num(float(settings["entries"])) if "entries" in settings else "?"
    pgrows = settings.get("pg_rows", "?")
    bsconns = settings.get("bs_conns", "16")
    print("## dlq against its peers (bench/run-all%s)" % (" --quick: small sizes, 1 run, noisy"
                                                        if settings.get("quick") == "1" else ""))
    print()
    with open(os.path.join(root, "machine.txt")) as f:
        for line in f:
            print("- " + line.rstrip("\n"))
    print("- runs per case: %s; figures are medians [min-max]; ratios are between medians of this run"
          % settings.get("runs", "?"))
    print("- dlq: `dlq serve --durability full` (release build); %s entries stored for the read cases"
          % entries)
    print()
    print("| workload | dlq | floor / goal | baselines, same run | ratios (goal) |")
    print("|---|---|---|---|---|")
    r_pg16, r_bs = ratio(med(d64), med(pg16)), ratio(med(d64), med(bs["f0"]["put"]))
    print("| durable single-entry ingest, 64 connections | %s | >= 10,000 /s: %s; >= 30,000 /s: %s "
          "| PostgreSQL 1-row INSERT per tx: %s (1 client), %s (16 clients); beanstalkd -f0 put: %s; "
          "fsync floor: %s; HTTP floor POST: %s | %s PG 16 clients (>= 2x: %s); %s beanstalkd -f0 (>= 4x: %s); "
          "%s fsync floor; %s HTTP floor |"
          % (fig(d64, " /s"), verdict(at_least(med(d64), 10000)), verdict(at_least(med(d64), 30000)),
             fig(pg1, " /s"), fig(pg16, " /s"), fig(bs["f0"]["put"], " /s"), fig(fsync, " /s"),
             fig(hpost, " /s"), rx(r_pg16), verdict(at_least(r_pg16, 2)), rx(r_bs), verdict(at_least(r_bs, 4)),
             rx(ratio(med(d64), med(fsync))), rx(ratio(med(d64), med(hpost)))))
    r_sq = ratio(med(db), med(sqlf))
    print("| durable batch ingest, 100 per request, 16 connections | %s | >= 50,000 /s: %s; "
          ">= 0.6x SQLite floor: %s | SQLite storage floor: %s; PostgreSQL 100-row INSERT per tx "
          "(16 clients): %s | %s SQLite floor (>= 0.6x); %s PostgreSQL |"
          % (fig(db, " /s"), verdict(at_least(med(db), 50000)), verdict(at_least(r_sq, 0.6)),
             fig(sqlf, " /s"), fig(pg100, " /s"), rx(r_sq), rx(ratio(med(db), med(pg100)))))
    r_tot = ratio(med(pgp["page-hot-total"][1]), w1)
    print("| first page of 50 + exact total, one filter, %s entries: p99, worst filter, 1 connection "
          "| %s (%s) | p99 < 10 ms: %s; < 2 ms: %s | PostgreSQL page of one task, p99: %s (hot), %s (cold); "
          "with count(*) of the task: %s; OFFSET %s: %s | PostgreSQL page + count / dlq: %s |"
          % (entries, fig(w1s, " ms"), w1f or "-", verdict(below(w1, 10)), verdict(below(w1, 2)),
             fig(pgp["page-hot"][1], " ms"), fig(pgp["page-cold"][1], " ms"),
             fig(pgp["page-hot-total"][1], " ms"), num(float(pgrows) / 2) if pgrows != "?" else "rows/2",
             fig(pgp["page-offset"][1], " ms"), rx(r_tot)))
    r_gb = ratio(med(pgp["groupby"][0]), med(st1))
    print("| stats over %s entries: p99, 1 connection | %s | p99 < 5 ms: %s; < 1 ms: %s "
          "| PostgreSQL count(*) GROUP BY task (p50): %s; SQLite GROUP BY scans on dlq's table: %s "
          "| %s PostgreSQL GROUP BY (>= 40x: %s); %s SQLite scans |"
          % (entries, fig(st1, " ms"), verdict(below(med(st1), 5)), verdict(below(med(st1), 1)),
             fig(pgp["groupby"][0], " ms"), fig(scan, " ms"), rx(r_gb), verdict(at_least(r_gb, 40)),
             rx(ratio(med(scan), med(st1)))))
    r_kick = ratio(med(rep), med(bs["f0"]["kick"]))
    print("| bulk replay, unthrottled | %s | >= 20,000 /s: %s; >= 50,000 /s: %s | beanstalkd kick all: "
          "%s (-f0), %s (no fsync); PostgreSQL bulk UPDATE: %s; SQLite bare UPDATE: %s "
          "| %s beanstalkd -f0 kick (>= 5x: %s); %s PostgreSQL UPDATE |"
          % (fig(rep, " /s"), verdict(at_least(med(rep), 20000)), verdict(at_least(med(rep), 50000)),
             fig(bs["f0"]["kick"], " /s"), fig(bs["nosync"]["kick"], " /s"), fig(pgup, " /s"),
             fig(sqlup, " /s"), rx(r_kick), verdict(at_least(r_kick, 5)), rx(ratio(med(rep), med(pgup)))))
    print("| job cycle enqueue -> reserve -> ack, durable | %s | >= 10,000 /s: %s; >= 20,000 /s: %s "
          "| beanstalkd -f0 put: %s, reserve+bury: %s (BullMQ: not run, not in Debian) | %s floor |"
          % (fig(cyc, " /s") if cyc else "- (bench/run-jobs not run)",
             verdict(at_least(med(cyc), 10000)), verdict(at_least(med(cyc), 20000)),
             fig(bs["f0"]["put"], " /s"), fig(bs["f0"]["bury"], " /s"), rx(ratio(med(cyc), 10000))))
    print("| memory: server RSS with %s entries stored (after the list cases) | %s (peak %s) "
          "| <= 64 MiB: %s | | |"
          % (entries, fig(rss, " MiB", 1), fig(hwm, " MiB", 1), verdict(None if rss is None else rss[0] <= 64)))
    print()
    print("Other dlq figures of the same run:")
    print()
    print("| case | dlq |")
    print("|---|---|")
    print("| durable single-entry ingest, 1 / 16 connections | %s / %s |" % (fig(d1, " /s"), fig(d16, " /s")))
    for c in (1, 4):
        print("| first page + total, p99 per filter, %d connection%s | %s |" % (
            c, "s" if c > 1 else "",
            "; ".join("%s %s" % (f, fig(s, " ms")) for f, s in lists[c].items())))
    print("| stats p99, 4 connections | %s |" % fig(st4, " ms"))
    print("| bulk replay at the requested rate (run-ops --rate) | %s |" % fig(reprate, " /s"))
    if full:
        print("| job dead-letter round trip (dlq-jobgen fullcycle, %s jobs): enqueue / fail to DLQ / "
              "replay start / replay to resolved / total | %s |" % (
                  num(med(line_stat(full, "jobs"))),
                  " / ".join(fig(line_stat(full, k), " s") for k in (
                      "enqueue_secs", "fail_to_dlq_secs", "replay_start_secs",
                      "replay_to_resolved_secs", "total_secs"))))
    print()
    print("Baselines of the same run (PERFORMANCE.md's reference figures in the last column):")
    print()
    print("| baseline | this run | PERFORMANCE.md |")
    print("|---|---|---|")
    rows = [
        ("disk: one 500 B append + fdatasync", fig(fsync, " /s"), "~5,500 /s"),
        ("SQLite storage floor: %s rows of 500 B, WAL, 1,000 per tx, synchronous=NORMAL"
         % num(float(settings.get("sqlite_rows", "0"))), fig(sqlf, " rows/s"), "~111,000 rows/s"),
        ("SQLite, one row per tx, synchronous=FULL", fig(sqls, " rows/s"), "~5,500 rows/s"),
        ("HTTP floor: minimal libmicrohttpd server, 64 connections, wrk: GET (p99) / POST 500 B (p99)",
         "%s (%s) / %s (%s)" % (fig(hget, " req/s"), fig(hget99, " ms"), fig(hpost, " req/s"), fig(hpost99, " ms")),
         "GET ~129,000 req/s (p99 4-8 ms), POST ~101,000 req/s"),
        ("PostgreSQL 15 (seed 004's table): 1-row INSERT per tx, 1 / 16 clients",
         "%s / %s" % (fig(pg1, " rows/s"), fig(pg16, " rows/s")), "3,700 / 16,300 rows/s"),
        ("PostgreSQL: 100-row INSERT per tx, 16 clients", fig(pg100, " rows/s"), "~80,000 rows/s"),
        ("PostgreSQL: 50-row page of one task over %s rows, p50 / p99, hot task"
         % (num(float(pgrows)) if pgrows != "?" else "?"),
         "%s / %s" % (fig(pgp["page-hot"][0], " ms"), fig(pgp["page-hot"][1], " ms")), "0.3 ms"),
        ("PostgreSQL: same, cold task", "%s / %s" % (fig(pgp["page-cold"][0], " ms"),
                                                    fig(pgp["page-cold"][1], " ms")), "1.3 ms"),
        ("PostgreSQL: hot-task page + count(*) of the task, p50 / p99",
         "%s / %s" % (fig(pgp["page-hot-total"][0], " ms"), fig(pgp["page-hot-total"][1], " ms")), "-"),
        ("PostgreSQL: page at OFFSET rows/2, p50", fig(pgp["page-offset"][0], " ms"), "~840 ms"),
        ("PostgreSQL: count(*) GROUP BY task, p50", fig(pgp["groupby"][0], " ms"), "~46 ms"),
        ("PostgreSQL: bulk UPDATE failed -> replayed (%s rows)" % settings.get("pg_replay", "?"),
         fig(pgup, " rows/s"), "~16,000 rows/s"),
        ("beanstalkd 1.12 -b -f0 (fsync each write), %s conns: put / reserve+bury / kick all" % bsconns,
         " / ".join(fig(bs["f0"][k], " /s") for k in ("put", "bury", "kick")), "7,200 / 6,800 / 9,600 /s"),
        ("beanstalkd 1.12 -b -F (no fsync): put / reserve+bury / kick all",
         " / ".join(fig(bs["nosync"][k], " /s") for k in ("put", "bury", "kick")), "67,000 / 55,000 / 600,000 /s"),
    ]
    for r in rows:
        print("| %s | %s | %s |" % r)
    print()
    print("Not run here: BullMQ on Redis (not in Debian).")


if __name__ == "__main__":
    main()
