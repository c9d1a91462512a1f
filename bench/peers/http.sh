#!/usr/bin/env bash
# bench/peers/http.sh: the HTTP floor (PERFORMANCE.md: "minimal libmicrohttpd
# server, 64 keep-alive connections, wrk"): what the HTTP layer alone gives on
# this machine, with no storage behind it. Called by bench/run-all.
#
# Usage: bench/peers/http.sh --out DIR --bin BINDIR [--runs R] [--secs S]
# Starts BINDIR/http_floor (bench/peers/http_floor.c, thread pool of 2) on a free
# loopback port, then R runs of S seconds each of `wrk -t2 -c64 --latency`:
#   get   GET /                      (200, 12-byte body)
#   post  POST / with a 500-byte JSON body (201, like an ingest answer)
# kv lines in DIR/http-get.kv and DIR/http-post.kv: rps= p50_ms= p99_ms=.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

OUT=""
BIN=""
RUNS=3
SECS=10
while [ $# -gt 0 ]; do
    case "$1" in
    --out) OUT="$2"; shift ;;
    --bin) BIN="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --secs) SECS="$2"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "http.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OUT" ] && [ -x "$BIN/http_floor" ] || { echo "http.sh: --out DIR and --bin BINDIR are required" >&2; exit 2; }
command -v wrk >/dev/null || { echo "http.sh: wrk missing: run scripts/bench-deps" >&2; exit 1; }
mkdir -p "$OUT"
PID=""
LUA="$(mktemp "$OUT/http-post.XXXXXX.lua")"
cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -f "$LUA"
}
trap cleanup EXIT

body="$(printf '{"task_name":"app.tasks.email.send_welcome","exception":{"type":"SMTPServerDisconnected","message":"%0420d"}}' 0)"
printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$body" >"$LUA"

for _ in 1 2 3; do
    PORT="$(free_port)"
    "$BIN/http_floor" "$PORT" 2 2>>"$OUT/http-server.err" &
    PID=$!
    for _i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break 2; fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    wait "$PID" 2>/dev/null || true
    PID=""
done
[ -n "$PID" ] || { echo "http.sh: http_floor did not start" >&2; exit 1; }

# to_ms VALUE: wrk's "1.23ms" / "456.00us" / "1.02s" in milliseconds.
wrk_kv() {
    awk '/^Requests\/sec:/ { rps = $2 }
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        END { printf("rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d\n", rps, p50, p99, bad) }'
}
"$(command -v wrk)" -t2 -c64 -d1s "http://127.0.0.1:$PORT/" >/dev/null # warm-up
for r in $(seq 1 "$RUNS"); do
    echo "http floor: run $r (GET, POST; ${SECS}s each, 64 connections) ..." >&2
    wrk -t2 -c64 -d"${SECS}s" --latency "http://127.0.0.1:$PORT/" | tee -a "$OUT/http-get.out" | wrk_kv >>"$OUT/http-get.kv"
    wrk -t2 -c64 -d"${SECS}s" --latency -s "$LUA" "http://127.0.0.1:$PORT/" | tee -a "$OUT/http-post.out" |
        wrk_kv >>"$OUT/http-post.kv"
done
cat "$OUT/http-get.kv" "$OUT/http-post.kv" >&2
