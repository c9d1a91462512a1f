/*
 * sq_schema.c: the SQLite schema as an ordered list of migrations. Step N
 * takes the database from version N-1 to N; a database records the version
 * it is at in schema_version. Steps are only ever appended: a released step
 * never changes, so every database converges to the same schema.
 *
 * Why the schema looks the way it does:
 * - entries keeps the rowid as the tie-breaker of the page order
 *   (failed_at, id); every secondary index ends in the rowid implicitly, so
 *   (col, failed_at) serves "WHERE col = ? ORDER BY failed_at, id" and the
 *   keyset condition without a sort. tenant_id is '' for "no tenant" so
 *   equality and the idempotency uniqueness work.
 * - entry_counts is a cube of counters over the list's equality filters,
 *   updated in the same transaction as each change, so an exact total is a
 *   SUM over a small table instead of a count over the matches. Its key
 *   columns are NOT NULL ('' for none) because NULLs never conflict in a
 *   unique key. It is clustered by its key (WITHOUT ROWID), so sums for a
 *   tenant read one range; the status and task_name indexes carry n, so the
 *   most common totals never leave the index. The writer changes each key
 *   once per group commit (sq_cube.c), which keeps those index updates off
 *   the per-entry path.
 * - entry_events holds history after capture; the "captured" event is
 *   derived from the entry (captured_by, processed_at, reason, queue), which
 *   saves a row and an index entry per ingested entry.
 * - The full-text index (steps 1-6: entries_fts here) lives since step 7
 *   in a database file of its own, kept by its own thread (sq_fts.c). Here
 *   remain fts_log, the old text of entries whose text changed or which
 *   were deleted, for that index to follow; and id_floor, the highest entry
 *   id ever given, so that a deleted entry's id is never given again, and
 *   ident, which ties an index file to this database.
 */
#include <stdio.h>
#include <string.h>

#include "sq_int.h"

/* Slice C1: stats read per-dimension sums (entries by status; pending
 * entries by task, queue, reason, exception type) for one tenant or for all.
 * Summing the entry_counts cube at read time costs a pass over every key
 * combination, which grows with tenants x tasks x queues x reasons x
 * exceptions; stats_rollup holds those sums directly (dims 0-4 per tenant,
 * 10-14 over all tenants with tenant_id ''; 15: pending by queue and task,
 * key queue || char(31) || task, for /metrics). Step 3 kept it by triggers
 * on entry_counts; since step 4 the writer applies the same projections of
 * its summed cube changes itself (sq_cube.c rollup_of). Statuses and
 * reasons are stored by their integer value. */
#define STATS_ROLLUP_ROWS                                                                          \
    "SELECT new.tenant_id AS t, 0 AS d, new.status AS k"                                           \
    " UNION ALL SELECT '', 10, new.status"                                                         \
    " UNION ALL SELECT new.tenant_id, 1, new.task_name WHERE new.status IN (1, 2)"                 \
    " UNION ALL SELECT '', 11, new.task_name WHERE new.status IN (1, 2)"                           \
    " UNION ALL SELECT new.tenant_id, 2, new.queue WHERE new.status IN (1, 2)"                     \
    " UNION ALL SELECT '', 12, new.queue WHERE new.status IN (1, 2)"                               \
    " UNION ALL SELECT new.tenant_id, 3, new.reason WHERE new.status IN (1, 2)"                    \
    " UNION ALL SELECT '', 13, new.reason WHERE new.status IN (1, 2)"                              \
    " UNION ALL SELECT new.tenant_id, 4, new.exc_type WHERE new.status IN (1, 2)"                  \
    " UNION ALL SELECT '', 14, new.exc_type WHERE new.status IN (1, 2)"                            \
    " UNION ALL SELECT '', 15, new.queue || char(31) || new.task_name WHERE new.status IN (1, 2)"
#define STATS_ROLLUP_UPSERT(delta)                                                                 \
    "INSERT INTO stats_rollup(tenant_id, dim, key, n) SELECT t, d, k, " delta                      \
    " FROM (" STATS_ROLLUP_ROWS                                                                    \
    ") WHERE 1 ON CONFLICT(tenant_id, dim, key) DO UPDATE SET n = n + excluded.n;"
#define STATS_ROLLUP_DIM(tcol, dim, alldim, col, where)                                            \
    "SELECT " tcol ", " dim ", " col ", sum(n) FROM entry_counts " where " GROUP BY 1, 3"          \
    " UNION ALL SELECT '', " alldim ", " col ", sum(n) FROM entry_counts " where " GROUP BY 3"
/* Step 3: the rollup table, filled from entry_counts, then kept by triggers.
 * (clang-format cannot lay out string pieces joined with macro calls.) */
// clang-format off
#define STATS_PENDING "WHERE status IN (1, 2)"
#define STATS_ROLLUP_FILL                                                                          \
    "INSERT INTO stats_rollup(tenant_id, dim, key, n) "                                            \
    STATS_ROLLUP_DIM("tenant_id", "0", "10", "status", "WHERE 1")                                  \
    " UNION ALL " STATS_ROLLUP_DIM("tenant_id", "1", "11", "task_name", STATS_PENDING)             \
    " UNION ALL " STATS_ROLLUP_DIM("tenant_id", "2", "12", "queue", STATS_PENDING)                 \
    " UNION ALL " STATS_ROLLUP_DIM("tenant_id", "3", "13", "reason", STATS_PENDING)                \
    " UNION ALL " STATS_ROLLUP_DIM("tenant_id", "4", "14", "exc_type", STATS_PENDING)              \
    " UNION ALL SELECT '', 15, queue || char(31) || task_name, sum(n) FROM entry_counts"           \
    " " STATS_PENDING " GROUP BY 3;"
#define STATS_ROLLUP_STEP                                                                          \
    "CREATE TABLE stats_rollup(tenant_id TEXT NOT NULL, dim INTEGER NOT NULL, key TEXT NOT NULL,"  \
    " n INTEGER NOT NULL, PRIMARY KEY(tenant_id, dim, key)) WITHOUT ROWID;"                        \
    STATS_ROLLUP_FILL                                                                              \
    "CREATE TRIGGER tr_rollup_ins AFTER INSERT ON entry_counts BEGIN "                             \
    STATS_ROLLUP_UPSERT("new.n") " END;"                                                           \
    "CREATE TRIGGER tr_rollup_upd AFTER UPDATE OF n ON entry_counts WHEN new.n != old.n BEGIN "    \
    STATS_ROLLUP_UPSERT("new.n - old.n") " END;"
// clang-format on

static const char *const steps[] = {
    /* 1: entries, history, counters, full text, tokens */
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "INSERT INTO schema_version(version) VALUES(0);"

    "CREATE TABLE entries("
    " id INTEGER PRIMARY KEY,"
    " dlq_id TEXT NOT NULL UNIQUE,"
    " status INTEGER NOT NULL,"
    " failed_at INTEGER NOT NULL,"
    " tenant_id TEXT NOT NULL DEFAULT '',"
    " task_name TEXT NOT NULL,"
    " queue TEXT,"
    " reason INTEGER NOT NULL DEFAULT 0,"
    " exc_type TEXT,"
    " fingerprint TEXT,"
    " original_task_id TEXT,"
    " retry_task_id TEXT,"
    " idempotency_key TEXT,"
    " processed_at INTEGER NOT NULL,"
    " retries_attempted INTEGER NOT NULL DEFAULT 0,"
    " retry_count INTEGER NOT NULL DEFAULT 0,"
    " last_retry_at INTEGER,"
    " resolved_at INTEGER,"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " max_replays INTEGER NOT NULL DEFAULT 3,"
    " expires_at INTEGER,"
    " updated_at INTEGER,"
    " error_code TEXT,"
    " resolution_type TEXT,"
    " resolved_by TEXT,"
    " resolution_notes TEXT,"
    " exc_message TEXT,"
    " task_args TEXT,"
    " task_kwargs TEXT,"
    " metadata TEXT,"
    " context TEXT,"
    " exc_traceback TEXT,"
    " captured_by TEXT);"
    "CREATE INDEX ix_entries_status ON entries(status, failed_at);"
    "CREATE INDEX ix_entries_task ON entries(task_name, failed_at);"
    "CREATE INDEX ix_entries_queue ON entries(queue, failed_at);"
    "CREATE INDEX ix_entries_tenant ON entries(tenant_id, failed_at);"
    "CREATE INDEX ix_entries_reason ON entries(reason, failed_at);"
    "CREATE INDEX ix_entries_exc ON entries(exc_type, failed_at);"
    "CREATE INDEX ix_entries_fp ON entries(fingerprint, failed_at);"
    "CREATE INDEX ix_entries_failed ON entries(failed_at);"
    "CREATE INDEX ix_entries_orig ON entries(original_task_id);"
    "CREATE INDEX ix_entries_retry ON entries(retry_task_id) WHERE retry_task_id IS NOT NULL;"
    "CREATE UNIQUE INDEX ux_entries_idem ON entries(tenant_id, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"

    "CREATE TABLE entry_events("
    " entry_id INTEGER NOT NULL,"
    " at INTEGER NOT NULL,"
    " event TEXT NOT NULL,"
    " actor TEXT,"
    " details TEXT);"
    "CREATE INDEX ix_events_entry ON entry_events(entry_id, at);"

    "CREATE TABLE entry_counts("
    " tenant_id TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " queue TEXT NOT NULL,"
    " task_name TEXT NOT NULL,"
    " reason INTEGER NOT NULL,"
    " exc_type TEXT NOT NULL,"
    " n INTEGER NOT NULL,"
    " PRIMARY KEY(tenant_id, status, queue, task_name, reason, exc_type)) WITHOUT ROWID;"
    "CREATE INDEX ix_counts_status ON entry_counts(status, n);"
    "CREATE INDEX ix_counts_task ON entry_counts(task_name, status, n);"
    "CREATE INDEX ix_counts_queue ON entry_counts(queue, status);"
    "CREATE INDEX ix_counts_exc ON entry_counts(exc_type, status);"
    "CREATE INDEX ix_counts_reason ON entry_counts(reason, status);"

    "CREATE VIRTUAL TABLE entries_fts USING fts5(task_name, exc_type, exc_message,"
    " exc_traceback, content='entries', content_rowid='id', columnsize=0);"
    "INSERT INTO entries_fts(entries_fts, rank) VALUES('automerge', 8);"

    "CREATE TABLE tokens("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " role INTEGER NOT NULL,"
    " tenant_id TEXT NOT NULL DEFAULT '',"
    " secret_hash TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL,"
    " last_used_at INTEGER,"
    " revoked_at INTEGER);",

    /* 2: issue 3: operator actions, audit, bulk operations, stats, groups, alerts */
    "ALTER TABLE entries ADD COLUMN op_id TEXT;"
    "CREATE INDEX ix_entries_op ON entries(op_id) WHERE op_id IS NOT NULL;"
    "CREATE TABLE audit(id INTEGER PRIMARY KEY, audit_id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL,"
    " actor TEXT, tenant_id TEXT NOT NULL DEFAULT '', action TEXT NOT NULL, target_ids TEXT, "
    "filter TEXT,"
    " reason TEXT, ticket_url TEXT, details TEXT);"
    "CREATE INDEX ix_audit_at ON audit(at);"
    "CREATE INDEX ix_audit_actor ON audit(actor, at);"
    "CREATE INDEX ix_audit_action ON audit(action, at);"
    "CREATE TABLE audit_targets(audit INTEGER NOT NULL, dlq_id TEXT NOT NULL);"
    "CREATE INDEX ix_audit_targets ON audit_targets(dlq_id, audit);"
    "CREATE TABLE operations(id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL DEFAULT '', actor TEXT, filter TEXT, params TEXT,"
    " matched INTEGER NOT NULL DEFAULT 0, processed INTEGER NOT NULL DEFAULT 0,"
    " succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,"
    " skipped INTEGER NOT NULL DEFAULT 0, early_stop_reason TEXT, cursor TEXT,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER);"
    "CREATE INDEX ix_ops_created ON operations(created_at);"
    "CREATE TABLE hourly(hour INTEGER NOT NULL, tenant_id TEXT NOT NULL DEFAULT '', n INTEGER NOT "
    "NULL,"
    " PRIMARY KEY(hour, tenant_id)) WITHOUT ROWID;"
    "CREATE TABLE groups(fingerprint TEXT NOT NULL, tenant_id TEXT NOT NULL DEFAULT '', task_name "
    "TEXT,"
    " exc_type TEXT, sample_message TEXT, sample_dlq_id TEXT, first_seen INTEGER, last_seen "
    "INTEGER,"
    " count INTEGER NOT NULL DEFAULT 0, pending INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(fingerprint, tenant_id)) WITHOUT ROWID;"
    "CREATE TABLE replay_outcomes(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, dlq_id TEXT,"
    " tenant_id TEXT NOT NULL DEFAULT '', op_id TEXT, succeeded INTEGER NOT NULL);"
    "CREATE TABLE alert_state(rule TEXT PRIMARY KEY, firing INTEGER NOT NULL, since INTEGER,"
    " last_notified_at INTEGER, reason TEXT);",

    /* 3: slice C1: stats_rollup, the cube summed per dimension, kept by
     * triggers on entry_counts (see STATS_ROLLUP_ROWS) */
    STATS_ROLLUP_STEP,

    /* 4: the writer keeps stats_rollup itself, from the cube sums it applies
     * (sq_cube.c), one upsert per rollup key per commit instead of eleven
     * per changed cube key */
    "DROP TRIGGER IF EXISTS tr_rollup_ins;"
    "DROP TRIGGER IF EXISTS tr_rollup_upd;",

    /* 5: issue 4: the job queue (sq_job*.c). Small columns first, the big
     * text last (as for entries). Every index is partial, so a job sits in
     * at most two of them at a time (job_id's, and its state's): ready jobs
     * in reserve order (priority, then readiness, run_at), scheduled ones
     * by run_at and running ones by lease expiry for the timers, final ones
     * by finished_at for purge (without it purge would scan every job while
     * holding the writer). queue_counts are the depths per queue, tenant
     * and state, changed in the transaction of each job change. */
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY,"
    " job_id TEXT NOT NULL UNIQUE,"
    " queue TEXT NOT NULL,"
    " task_name TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL DEFAULT '',"
    " state INTEGER NOT NULL,"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " run_at INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL DEFAULT 0,"
    " max_retries INTEGER NOT NULL,"
    " timeout_s INTEGER NOT NULL,"
    " lease_token TEXT,"
    " lease_expires_at INTEGER,"
    " worker_id TEXT,"
    " backoff_base_ms INTEGER NOT NULL,"
    " backoff_factor REAL NOT NULL,"
    " backoff_max_ms INTEGER NOT NULL,"
    " replay_of TEXT,"
    " idempotency_key TEXT,"
    " target INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " started_at INTEGER,"
    " finished_at INTEGER,"
    " dlq_id TEXT,"
    " args TEXT,"
    " kwargs TEXT,"
    " metadata TEXT,"
    " last_error TEXT,"
    " attempts TEXT,"
    " result TEXT);"
    "CREATE INDEX ix_jobs_ready ON jobs(target, queue, priority DESC, run_at, id) WHERE state = 1;"
    "CREATE INDEX ix_jobs_sched ON jobs(run_at) WHERE state = 2;"
    "CREATE INDEX ix_jobs_lease ON jobs(lease_expires_at) WHERE state = 3;"
    "CREATE INDEX ix_jobs_done ON jobs(finished_at) WHERE state >= 4;"
    "CREATE UNIQUE INDEX ux_jobs_idem ON jobs(tenant_id, queue, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
    "CREATE TABLE queue_counts(queue TEXT NOT NULL, tenant_id TEXT NOT NULL, state INTEGER NOT "
    "NULL,"
    " n INTEGER NOT NULL, PRIMARY KEY(queue, tenant_id, state)) WITHOUT ROWID;"
    "CREATE TABLE queue_settings(queue TEXT PRIMARY KEY, target INTEGER NOT NULL DEFAULT 0,"
    " webhook_url TEXT, webhook_secret TEXT, max_replays INTEGER NOT NULL DEFAULT -1,"
    " paused INTEGER NOT NULL DEFAULT 0);",

    /* 6: the text index is brought up to date in bulk, off the ingest
     * path; upto is the highest entries.id it covers (sq_fts.c). Every
     * existing row is indexed already. */
    "CREATE TABLE fts_state(k INTEGER PRIMARY KEY CHECK (k = 1), upto INTEGER NOT NULL);"
    "INSERT INTO fts_state(k, upto) SELECT 1, coalesce(max(id), 0) FROM entries;",

    /* 7: the text index moves to <db>.fts, off the writer (sq_fts.c). */
    "DROP TABLE entries_fts;"
    "DROP TABLE fts_state;"
    "CREATE TABLE fts_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL,"
    " task_name TEXT, exc_type TEXT, exc_message TEXT, exc_traceback TEXT);"
    "CREATE INDEX ix_fts_log_id ON fts_log(id, seq);"
    "CREATE TABLE id_floor(k INTEGER PRIMARY KEY CHECK (k = 1), hw INTEGER NOT NULL,"
    " ident TEXT NOT NULL);"
    "INSERT INTO id_floor(k, hw, ident)"
    " SELECT 1, coalesce(max(id), 0), lower(hex(randomblob(16))) FROM entries;",

    /* 8: no lookup goes by op_id: a bulk select only filters the rows it
     * reads on it. Every replay inserted the entry into this index at its
     * rowid among the op's, which is random when the op walks the entries
     * in failed_at order; without it a 100,000-entry bulk replay over 1.1M
     * entries runs about 18% faster (bench/run-ops' data). */
    "DROP INDEX IF EXISTS ix_entries_op;",

    /* 9: expiry finds pending entries past their expires_at through this
     * index instead of walking every pending entry (the whole status=1
     * range of ix_entries_status, reading each row) every interval: on
     * 500,000 pending entries that walk was ~1.8 s of CPU a minute on an
     * idle server. Entries without expires_at are not in it, so replays
     * and other status changes of those pay nothing for it. */
    "CREATE INDEX IF NOT EXISTS ix_entries_expires ON entries(expires_at)"
    " WHERE status = 1 AND expires_at IS NOT NULL;",
};

#define NSTEPS ((int)(sizeof steps / sizeof steps[0]))

/* dlq_sq_schema_latest returns the version the newest step brings a database to. */
int dlq_sq_schema_latest(void)
{
    return NSTEPS;
}

/* dlq_sq_schema_version reads the version db is at into *version: 0 for a
 * database without a schema_version table (new or foreign). */
int dlq_sq_schema_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    *version = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                                " AND name = 'schema_version'",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(db, rc, err, errlen, "read schema version");
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return DLQ_OK;
    if (rc != SQLITE_ROW)
        return dlq_sq_err(db, rc, err, errlen, "read schema version");
    rc = sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int code = dlq_sq_err(db, rc, err, errlen, "read schema version");
        sqlite3_finalize(st);
        return code;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return DLQ_OK;
}

/* dlq_sq_schema_step applies step `to` (taking the database from to-1 to to)
 * and records the new version. The caller provides the transaction, so a
 * step and its version change commit together or not at all. */
int dlq_sq_schema_step(sqlite3 *db, int to, char *err, size_t errlen)
{
    if (to < 1 || to > NSTEPS)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no schema step %d", to);
    char *msg = NULL;
    int rc = sqlite3_exec(db, steps[to - 1], NULL, NULL, &msg);
    if (rc == SQLITE_OK) {
        char sql[64];
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", to);
        sqlite3_free(msg);
        msg = NULL;
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    }
    if (rc != SQLITE_OK) {
        int code = dlq_sq_err(NULL, rc, err, errlen, "migrate");
        if (msg)
            code = dlq_errf(err, errlen, code, "schema step %d: %s", to, msg);
        sqlite3_free(msg);
        return code;
    }
    return DLQ_OK;
}
