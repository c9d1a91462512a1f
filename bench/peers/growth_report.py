#!/usr/bin/env python3
"""growth_report.py: prints bench/growth's table (markdown) from the key=value
files of a run: per level, each figure as median [min-max] and its ratio to the
first level's median, and whether the largest level stays within 2x of the
first (PERFORMANCE.md's growth goal: rates >= 0.5x, latencies <= 2x).
Usage: growth_report.py GROWTHDIR"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fig, med, num, read_kv_file, stat, verdict  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: growth_report.py GROWTHDIR")
    root = sys.argv[1]
    settings = read_kv_file(os.path.join(root, "settings.txt"))
    with open(os.path.join(root, "levels.txt")) as f:
        levels = [int(x) for x in f.read().split()]
    P = lambda name: os.path.join(root, name)  # noqa: E731

    def worst_list(level):
        have = [stat(P("L%d-list-%s.kv" % (level, f)), "p99_ms") for f in ("cold", "hot", "status")]
        have = [s for s in have if s is not None]
        return max(have, key=lambda s: s[0]) if have else None

    cases = [
        ("durable single ingest, 64 connections (entries/s)", True,
         lambda lv: stat(P("L%d-ingest.kv" % lv), "eps"), ""),
        ("list: first page of 50 + total, p99 of the worst filter (ms)", False, worst_list, ""),
        ("stats?hours=24 p99 (ms)", False, lambda lv: stat(P("L%d-stats.kv" % lv), "p99_ms"), ""),
        ("bulk replay of %s entries, unthrottled (entries/s)" % num(float(settings.get("replay_n", "0"))),
         True, lambda lv: stat(P("L%d-replay.kv" % lv), "eps"), ""),
    ]
    print("## dlq growth (bench/growth%s)" % (" --quick: small sizes, 1 run, noisy"
                                              if settings.get("quick") == "1" else ""))
    print()
    with open(P("machine.txt")) as f:
        for line in f:
            print("- " + line.rstrip("\n"))
    print("- runs per case: %s; figures are medians [min-max]; (x) is the ratio to the first level"
          % settings.get("runs", "?"))
    if "big_skipped" in settings:
        print("- 10,000,000 left out: " + settings["big_skipped"])
    print()
    print("| case | " + " | ".join(num(float(lv)) for lv in levels) + " | within 2x at %s |" % num(float(levels[-1])))
    print("|---|" + "---|" * (len(levels) + 1))
    counts = [stat(P("L%d-count.kv" % lv), "entries") for lv in levels]
    sizes = [stat(P("L%d-size.kv" % lv), "bytes_per_entry") for lv in levels]
    print("| entries counted / database bytes per entry | " + " | ".join(
        "%s / %s" % (num(med(c)), num(med(s))) for c, s in zip(counts, sizes)) + " | |")
    for name, is_rate, get, _ in cases:
        figs = [get(lv) for lv in levels]
        base = med(figs[0])
        cells = []
        for s in figs:
            r = None if s is None or not base else s[0] / base
            cells.append(fig(s) + ("" if r is None else " (%.2fx)" % r))
        last = None if figs[-1] is None or not base else figs[-1][0] / base
        ok = None if last is None else (last >= 0.5 if is_rate else last <= 2)
        print("| %s | %s | %s |" % (name, " | ".join(cells), verdict(ok)))


if __name__ == "__main__":
    main()
