#!/usr/bin/env bash
# bench/peers/pg.sh: PostgreSQL 15 used as a DLQ the way seed 004 describes it
# (a `dead_letters` table written by the worker's failure handler, listed and
# replayed by a small admin endpoint), measured with pgbench. Called by
# bench/run-all; can be run alone.
#
# Usage: bench/peers/pg.sh --out DIR [--rows N] [--runs R] [--secs S] [--reqs Q] [--replay M]
#   --rows N    rows loaded for the read cases (default 1000000)
#   --runs R    runs per case (default 3)
#   --secs S    seconds per insert run (default 10)
#   --reqs Q    transactions per page run (default 2000)
#   --replay M  rows per bulk-UPDATE run (default 100000)
#
# The cluster is private: initdb into a temporary directory on the same disk as
# bench/out, pg_ctl start on a free loopback port with the default durability
# (fsync=on, synchronous_commit=on, full_page_writes=on), the server run as the
# `postgres` system user (or `nobody`) when this script runs as root, since
# postgres refuses root. Clients connect over TCP on 127.0.0.1, like dlq's.
# The table: seed 004's columns (task, payload, error, created_at) plus what
# its list and replay endpoint need (a bigserial id, status, replayed_at), with
# the indexes such an endpoint needs: (task, created_at DESC), (created_at DESC),
# (status). Rows are ~500 bytes (jsonb args/kwargs, error text with traceback).
# Cases (pgbench -M prepared; kv lines in DIR/pg-<case>.kv):
#   insert1-1c, insert1-16c  one single-row INSERT per transaction, 1 / 16 clients
#   insert100-16c            one 100-row INSERT per transaction, 16 clients
#   then N rows are loaded (skewed: 45% hot task, 0.1% cold task) and:
#   page-hot, page-cold      the 50 newest rows of one task, 1 client
#   page-hot-total           the same page plus count(*) for that task (dlq's `total`)
#   page-offset              the 50 rows at OFFSET N/2 in created_at order
#   groupby                  SELECT task, count(*) ... GROUP BY task
#   update                   UPDATE ... SET status='replayed' of M failed rows of one task
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

OUT=""
ROWS=1000000
RUNS=3
SECS=10
REQS=2000
REPLAY=100000
while [ $# -gt 0 ]; do
    case "$1" in
    --out) OUT="$2"; shift ;;
    --rows) ROWS="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --secs) SECS="$2"; shift ;;
    --reqs) REQS="$2"; shift ;;
    --replay) REPLAY="$2"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pg.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OUT" ] || { echo "pg.sh: --out DIR is required" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PGBIN="$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || dirname "$(command -v pg_ctl)")"
[ -x "$PGBIN/pg_ctl" ] && command -v pgbench >/dev/null ||
    { echo "pg.sh: PostgreSQL 15 and pgbench missing: run scripts/bench-deps" >&2; exit 1; }

AS=()
if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then AS=(runuser -u postgres --); else AS=(runuser -u nobody --); fi
fi
# The cluster lives next to bench/out (same disk), in a directory the server user owns.
PGDIR="$(mktemp -d "$OUT/pgcluster.XXXXXX")"
[ ${#AS[@]} -gt 0 ] && chown "${AS[2]}" "$PGDIR" && chmod 700 "$PGDIR"
PORT=""
STARTED=0
cleanup() {
    if [ "$STARTED" = 1 ]; then
        "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGDIR"
}
trap cleanup EXIT

echo "postgres: initdb + start ..." >&2
# The parent must be traversable by the server user.
chmod o+x "$OUT" 2>/dev/null || true
"${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --no-sync \
    >"$OUT/pg-initdb.log" 2>&1
for _ in 1 2 3; do
    PORT="$(free_port)"
    if "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$PGDIR \
-c fsync=on -c synchronous_commit=on -c max_connections=40 -c shared_buffers=256MB" \
        start >/dev/null 2>&1; then
        STARTED=1
        break
    fi
done
[ "$STARTED" = 1 ] || { cp "$PGDIR/server.log" "$OUT/pg-server.log" 2>/dev/null; echo "pg.sh: server did not start" >&2; exit 1; }

CONN=(-h 127.0.0.1 -p "$PORT" -U postgres)
sql() { psql "${CONN[@]}" -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"; }
SCRIPTS="$PGDIR/scripts"
mkdir -p "$SCRIPTS"

INDEXES="CREATE INDEX dead_letters_task_created ON dead_letters (task, created_at DESC);
CREATE INDEX dead_letters_created ON dead_letters (created_at DESC);
CREATE INDEX dead_letters_status ON dead_letters (status);"
sql <<SQL
CREATE TABLE dead_letters (
    id bigserial PRIMARY KEY,
    task text NOT NULL,
    payload jsonb NOT NULL,
    error text NOT NULL,
    status text NOT NULL DEFAULT 'failed',
    created_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
$INDEXES
SQL

# One failed job as the worker's failure handler would write it (~500 bytes).
# ID_EXPR numbers the row's original_task_id, N_EXPR its other numbers (at most
# 255 parameters per pgbench statement: the 100-row insert uses literals for N).
row_values() { # N_EXPR TASK [ID_EXPR]
    printf "('%s', jsonb_build_object('args', jsonb_build_array('user', %s), 'kwargs', jsonb_build_object('locale', 'en'), 'original_task_id', 'bench-' || %s, 'queue', 'mail', 'tenant_id', 't_17', 'retries', 3), 'SMTPServerDisconnected: Connection unexpectedly closed while sending to user ' || %s || E'\\\\nTraceback (most recent call last):\\\\n  File \"mailer.py\", line 88, in send\\\\n    smtp.sendmail(sender, rcpt, msg)\\\\n  File \"/usr/lib/python3.11/smtplib.py\", line 887, in sendmail\\\\nsmtplib.SMTPServerDisconnected: Connection unexpectedly closed')" \
        "$2" "$1" "${3:-$1}" "$1"
}
{
    echo '\set n random(1, 2000000000)'
    echo "INSERT INTO dead_letters (task, payload, error) VALUES $(row_values 'CAST(:n AS bigint)' app.tasks.email.send_welcome);"
} >"$SCRIPTS/insert1.sql"
{
    echo '\set n random(1, 2000000000)'
    printf 'INSERT INTO dead_letters (task, payload, error) VALUES '
    for i in $(seq 1 100); do
        [ "$i" -gt 1 ] && printf ', '
        row_values "$i" app.tasks.email.send_welcome "(CAST(:n AS bigint) + $i)"
    done
    echo ';'
} >"$SCRIPTS/insert100.sql"

# pgb NAME PER_TX CLIENTS ARGS...: one pgbench run; appends rps= (rows/s) and tps= to NAME.kv.
pgb() {
    local name="$1" per="$2" clients="$3" jobs=1 line
    shift 3
    [ "$clients" -gt 1 ] && jobs=2
    if ! line="$(pgbench "${CONN[@]}" -n -M prepared -c "$clients" -j "$jobs" "$@" postgres 2>>"$OUT/pg-$name.err")"; then
        echo "pg.sh: pgbench $name failed; see $OUT/pg-$name.err" >&2
        exit 1
    fi
    echo "$line" >>"$OUT/pg-$name.out"
    echo "$line" | awk -v per="$per" '/^tps = / { printf("tps=%.1f rps=%.1f\n", $3, $3 * per) }' >>"$OUT/pg-$name.kv"
}

# pgl NAME SCRIPT TX: one latency run of TX transactions at 1 client, each
# logged; appends p50_ms, p99_ms, mean_ms and max_ms to NAME.kv.
pgl() {
    local name="$1" script="$2" tx="$3" prefix="$PGDIR/log-$1"
    rm -f "$prefix".*
    if ! pgbench "${CONN[@]}" -n -M prepared -c 1 -j 1 -t "$tx" -f "$script" \
        --log --log-prefix="$prefix" postgres >>"$OUT/pg-$name.out" 2>>"$OUT/pg-$name.err"; then
        echo "pg.sh: pgbench $name failed; see $OUT/pg-$name.err" >&2
        exit 1
    fi
    cat "$prefix".* | awk '{ print $3 / 1000 }' | sort -g | awk '{ v[NR] = $1; s += $1 } END {
        i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
        printf("n=%d p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f\n", NR, v[int((NR + 1) / 2)], v[i], s / NR, v[NR]) }' \
        >>"$OUT/pg-$name.kv"
}

# ---- inserts, into the empty table with its indexes ----
for r in $(seq 1 "$RUNS"); do
    echo "postgres: inserts, run $r ..." >&2
    sql -c CHECKPOINT
    pgb insert1-1c 1 1 -T "$SECS" -f "$SCRIPTS/insert1.sql"
    pgb insert1-16c 1 16 -T "$SECS" -f "$SCRIPTS/insert1.sql"
    pgb insert100-16c 100 16 -T "$SECS" -f "$SCRIPTS/insert100.sql"
done

# ---- load N rows: tasks skewed like bench/run's data, failures over 72 hours ----
echo "postgres: loading $ROWS rows ..." >&2
t0=$(date +%s.%N)
sql >/dev/null <<SQL
TRUNCATE dead_letters;
DROP INDEX dead_letters_task_created, dead_letters_created, dead_letters_status;
SELECT setseed(0.42);
INSERT INTO dead_letters (task, payload, error, created_at)
SELECT t.task,
       jsonb_build_object('args', jsonb_build_array(g), 'kwargs', jsonb_build_object('locale', 'en'),
                          'original_task_id', 'seed-' || g, 'queue', 'default', 'tenant_id',
                          't_' || (50 * random() * random())::int, 'retries', 3),
       'ConnectionError: database connection refused on host db-' || (g % 1000) || ' after '
           || (g % 5000) || E' ms\\nTraceback (most recent call last):\\n  File "worker.py", line '
           || (g % 400) || E', in run\\n    conn = pool.get(timeout=5)\\n  File "/usr/lib/python3/dist-packages/psycopg2/pool.py", line 12, in get\\nConnectionError',
       now() - make_interval(secs => 259200 * random() ^ 2)
FROM (SELECT g, random() AS r FROM generate_series(1, $ROWS) g) s,
     LATERAL (SELECT CASE WHEN g % 1000 = 500 THEN 'app.tasks.reports.cold_rebuild'
                          WHEN r < 0.45 THEN 'app.tasks.email.send_welcome'
                          WHEN r < 0.70 THEN 'app.tasks.export.generate_export'
                          WHEN r < 0.82 THEN 'app.tasks.billing.charge_card'
                          WHEN r < 0.90 THEN 'app.tasks.sync.pull_crm'
                          WHEN r < 0.94 THEN 'app.tasks.search.reindex'
                          WHEN r < 0.97 THEN 'app.tasks.images.resize'
                          WHEN r < 0.99 THEN 'app.tasks.webhooks.deliver'
                          ELSE 'app.tasks.ledger.close_day' END AS task) t;
$INDEXES
VACUUM ANALYZE dead_letters;
CHECKPOINT;
SQL
t1=$(date +%s.%N)
awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN { printf("rows=%d secs=%.1f\n", n, b - a) }' >"$OUT/pg-load.kv"
echo "postgres: $(cat "$OUT/pg-load.kv"); table $(sql -c "SELECT pg_size_pretty(pg_total_relation_size('dead_letters'))")" >&2

PAGE="SELECT id, task, payload, error, status, created_at FROM dead_letters"
echo "$PAGE WHERE task = 'app.tasks.email.send_welcome' ORDER BY created_at DESC LIMIT 50;" >"$SCRIPTS/page-hot.sql"
echo "$PAGE WHERE task = 'app.tasks.reports.cold_rebuild' ORDER BY created_at DESC LIMIT 50;" >"$SCRIPTS/page-cold.sql"
{
    echo "$PAGE WHERE task = 'app.tasks.email.send_welcome' ORDER BY created_at DESC LIMIT 50;"
    echo "SELECT count(*) FROM dead_letters WHERE task = 'app.tasks.email.send_welcome';"
} >"$SCRIPTS/page-hot-total.sql"
echo "$PAGE ORDER BY created_at DESC LIMIT 50 OFFSET $((ROWS / 2));" >"$SCRIPTS/page-offset.sql"
echo "SELECT task, count(*) FROM dead_letters GROUP BY task;" >"$SCRIPTS/groupby.sql"

SLOW=$((REQS / 100))
[ "$SLOW" -lt 3 ] && SLOW=3
for c in page-hot page-cold page-hot-total page-offset groupby; do
    tx="$REQS"
    case "$c" in page-hot-total | page-offset | groupby) tx="$SLOW" ;; esac
    echo "postgres: $c ($tx transactions x $RUNS) ..." >&2
    pgl "$c-warm" "$SCRIPTS/$c.sql" 2 # warm-up, not reported
    for r in $(seq 1 "$RUNS"); do pgl "$c" "$SCRIPTS/$c.sql" "$tx"; done
done
rm -f "$OUT"/pg-*-warm.kv "$OUT"/pg-*-warm.out

# ---- bulk replay: a fresh set of M failed rows of one task per run ----
for r in $(seq 1 "$RUNS"); do
    task="bench.replay.run$r"
    sql -c "INSERT INTO dead_letters (task, payload, error)
            SELECT '$task', jsonb_build_object('args', jsonb_build_array(g)), 'ReplayMe: ' || g
            FROM generate_series(1, $REPLAY) g" -c "VACUUM ANALYZE dead_letters" -c CHECKPOINT
    echo "postgres: bulk UPDATE of $REPLAY rows, run $r ..." >&2
    psql "${CONN[@]}" -d postgres -v ON_ERROR_STOP=1 -AtX -c '\timing on' -c "UPDATE dead_letters SET status = 'replayed', replayed_at = now()
            WHERE task = '$task' AND status = 'failed';" | tee -a "$OUT/pg-update.out" |
        awk -v n="$REPLAY" '/^UPDATE/ { got = $2 } /^Time: / { ms = $2 } END {
            if (got != n) { print "bad UPDATE count " got > "/dev/stderr"; exit 1 }
            printf("rows=%d ms=%.1f rps=%.1f\n", got, ms, n / (ms / 1000)) }' >>"$OUT/pg-update.kv"
done
cp "$PGDIR/server.log" "$OUT/pg-server.log" 2>/dev/null || true
find "$OUT" -maxdepth 1 -name 'pg-*.err' -empty -delete
echo "postgres: done (kv files in $OUT)" >&2
