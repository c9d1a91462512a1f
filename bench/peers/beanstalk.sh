#!/usr/bin/env bash
# bench/peers/beanstalk.sh: beanstalkd 1.12 with a binlog, the C job server people
# know, as a peer baseline for dlq's ingest, bury and replay figures. Called by
# bench/run-all; can be run alone.
#
# Usage: bench/peers/beanstalk.sh --out DIR --bin BINDIR [--jobs N] [--runs R] [--conns C] [--depth D]
#   --bin BINDIR  where build_peers put beanstalk_bench (bench/peers/beanstalk_bench.c)
#   --jobs N      jobs per run (default 20000)
#   --runs R      runs per configuration (default 3)
#   --conns C     client connections (default 16)
#   --depth D     puts in flight per connection (default 1: not pipelined)
#
# For each configuration a private beanstalkd is started on a free loopback port
# with its binlog in a fresh directory under DIR (the disk of bench/out):
#   f0     -b DIR -f0   fsync after every write (durable like dlq's acknowledgements)
#   nosync -b DIR -F    binlog written, never fsynced
# then one warm-up run and R runs of beanstalk_bench, each on a fresh tube: put N
# jobs of 500 bytes, reserve + bury all of them, `kick N` (the replay of every
# buried job). kv lines in DIR/bs-<config>.kv (put_jps, bury_jps, kick_jps).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

OUT=""
BIN=""
JOBS=20000
RUNS=3
CONNS=16
DEPTH=1
while [ $# -gt 0 ]; do
    case "$1" in
    --out) OUT="$2"; shift ;;
    --bin) BIN="$2"; shift ;;
    --jobs) JOBS="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --conns) CONNS="$2"; shift ;;
    --depth) DEPTH="$2"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "beanstalk.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OUT" ] && [ -x "$BIN/beanstalk_bench" ] ||
    { echo "beanstalk.sh: --out DIR and --bin BINDIR (with beanstalk_bench) are required" >&2; exit 2; }
command -v beanstalkd >/dev/null || { echo "beanstalk.sh: beanstalkd missing: run scripts/bench-deps" >&2; exit 1; }
mkdir -p "$OUT"
BS_PID=""
BS_DIR=""
cleanup() {
    if [ -n "$BS_PID" ]; then
        kill -TERM "$BS_PID" 2>/dev/null || true
        wait "$BS_PID" 2>/dev/null || true
    fi
    [ -n "$BS_DIR" ] && rm -rf "$BS_DIR"
    return 0
}
trap cleanup EXIT

# bs_start FLAGS...: a fresh binlog directory and server; sets PORT and BS_PID.
bs_start() {
    local _i
    for _ in 1 2 3; do
        BS_DIR="$(mktemp -d "$OUT/bs-binlog.XXXXXX")"
        PORT="$(free_port)"
        beanstalkd -l 127.0.0.1 -p "$PORT" -b "$BS_DIR" "$@" 2>>"$OUT/bs-server.err" &
        BS_PID=$!
        for _i in $(seq 1 100); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return; fi
            kill -0 "$BS_PID" 2>/dev/null || break
            sleep 0.05
        done
        cleanup
        BS_PID=""
        BS_DIR=""
    done
    echo "beanstalk.sh: beanstalkd did not start; see $OUT/bs-server.err" >&2
    exit 1
}

for cfg in f0 nosync; do
    flags=(-f0)
    [ "$cfg" = nosync ] && flags=(-F)
    bs_start "${flags[@]}"
    echo "beanstalkd $cfg (${flags[*]}): $RUNS runs of $JOBS jobs, $CONNS connections, depth $DEPTH ..." >&2
    "$BIN/beanstalk_bench" -p "$PORT" -t warmup -c "$CONNS" -D "$DEPTH" -n $((JOBS / 10 > CONNS ? JOBS / 10 : CONNS)) \
        >/dev/null
    for r in $(seq 1 "$RUNS"); do
        "$BIN/beanstalk_bench" -p "$PORT" -t "run$r" -c "$CONNS" -D "$DEPTH" -n "$JOBS" | tee -a "$OUT/bs-$cfg.kv" >&2
    done
    cleanup
    BS_PID=""
    BS_DIR=""
done
echo "beanstalkd: done (kv files in $OUT)" >&2
