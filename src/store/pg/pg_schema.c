/*
 * pg_schema.c: the PostgreSQL schema as an ordered list of migrations, with
 * the same version numbers as SQLite's (sq_schema.c): step N takes a
 * database from version N-1 to N. Steps are only ever appended.
 *
 * How it differs from SQLite's, and why:
 * - Counters are kept by statement-level triggers with transition tables:
 *   one statement that inserts or changes many rows sums its changes per
 *   key and adds one row of changes per key, in the statement's
 *   transaction, so every writer (capture, actions, maintenance,
 *   dead-lettering jobs) keeps them right without knowing about them, and
 *   no writer ever waits for another on a counter row (dlq_fold() folds
 *   the rows of a key together later). SQLite has one writer thread that
 *   sums a whole group commit instead (sq_cube.c).
 * - Stats sum entry_counts directly (a small table): there is no
 *   stats_rollup (SQLite's steps 3 and 4 are empty here).
 * - Full-text search is a stored tsvector with a GIN index, kept in the
 *   commit (SQLite's step 6, its deferred index, is empty here). Text is
 *   split on anything not a letter or digit, as SQLite's unicode61
 *   tokenizer does.
 * - Nodes that start together migrate once: the migration holds a
 *   transaction-level advisory lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "pg_int.h"

#define PENDING(alias) "(" alias "status IN (1, 2))::int"

// clang-format off
/* Counters are rows of changes, never updated in place: a trigger adds one
 * row per key a statement changed (its summed change), so writers never
 * wait for each other on a hot counter row, and readers sum the rows of a
 * key. dlq_fold() (step 5; run about every second by the listener,
 * pg_listen.c) folds the rows of each key into one, so the tables stay
 * about as small as their keys. Functions keep the search_path they were
 * created with, so the triggers find their tables whatever the session's. */
#define COUNT_KEY \
    "tenant_id, status, coalesce(queue, '') AS queue, task_name, reason," \
    " coalesce(exc_type, '') AS exc_type"
#define ECOUNT_KEY "tenant_id, status, queue, task_name, reason, exc_type"
#define COUNTS_ADD(rows) \
    "INSERT INTO entry_counts (" ECOUNT_KEY ", n) SELECT " ECOUNT_KEY ", sum(d)" \
    " FROM (" rows ") x GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0;"
#define FN(name, body) \
    "CREATE FUNCTION " name "() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT" \
    " AS $f$ BEGIN " body " RETURN NULL; END $f$;"
#define TRIG(name, op, table, refs, fn) \
    "CREATE TRIGGER " name " AFTER " op " ON " table " REFERENCING " refs \
    " FOR EACH STATEMENT EXECUTE FUNCTION " fn "();"

/* Groups: a capture adds a row with its count, pending and seen range and
 * the sample of its first entry (readers and the fold keep the sample of
 * the lowest entry id, even when a later one commits first); changes add
 * pending moves; deletes take both back. */
#define GROUPS_ADD \
    "INSERT INTO groups (fingerprint, tenant_id, task_name, exc_type, sample_message," \
    " sample_dlq_id, sample_entry, first_seen, last_seen, count, pending)" \
    " SELECT DISTINCT ON (fingerprint, tenant_id) fingerprint, tenant_id, task_name, exc_type," \
    " left(exc_message, 1000), dlq_id, id, min(at) OVER w, max(at) OVER w, count(*) OVER w," \
    " sum(p) OVER w FROM (SELECT *, CASE WHEN failed_at <> 0 THEN failed_at ELSE processed_at" \
    " END AS at, " PENDING("") " AS p FROM new_rows WHERE fingerprint IS NOT NULL) x" \
    " WINDOW w AS (PARTITION BY fingerprint, tenant_id) ORDER BY fingerprint, tenant_id, id;"
#define GROUPS_MOVE(rows) \
    "INSERT INTO groups (fingerprint, tenant_id, count, pending)" \
    " SELECT fingerprint, tenant_id, sum(dc), sum(dp) FROM (" rows ") u" \
    " WHERE fingerprint IS NOT NULL GROUP BY 1, 2 HAVING sum(dc) <> 0 OR sum(dp) <> 0;"
#define GROUP_COLS \
    "fingerprint, tenant_id, task_name, exc_type, sample_message, sample_dlq_id," \
    " sample_entry, first_seen, last_seen, count, pending"
#define GROUP_SUMS \
    "(array_agg(task_name ORDER BY sample_entry))[1]," \
    " (array_agg(exc_type ORDER BY sample_entry))[1]," \
    " (array_agg(sample_message ORDER BY sample_entry))[1]," \
    " (array_agg(sample_dlq_id ORDER BY sample_entry))[1], min(sample_entry)," \
    " min(first_seen), max(last_seen), sum(count), sum(pending)"

/* Job depths per (queue, tenant, state). */
#define QCOUNTS_ADD(rows) \
    "INSERT INTO queue_counts (queue, tenant_id, state, n) SELECT queue, tenant_id, state," \
    " sum(d) FROM (" rows ") x GROUP BY 1, 2, 3 HAVING sum(d) <> 0;"

/* FOLD: the rows of every key of table that has several, replaced by one
 * row of their sums, in one statement (rows added meanwhile stay as they
 * are). k is the key as a row value, alias t for the table. */
#define FOLD(table, key, k, cols, sums, having) \
    "WITH d AS (DELETE FROM " table " t WHERE " k " IN (SELECT " key " FROM " table \
    " GROUP BY " key " HAVING count(*) > 1) RETURNING t.*) INSERT INTO " table " (" cols ")" \
    " SELECT " key ", " sums " FROM d GROUP BY " key having ";"
#define FOLD_FN(body) \
    "CREATE FUNCTION dlq_fold() RETURNS void LANGUAGE plpgsql SET search_path FROM CURRENT" \
    " AS $f$ BEGIN IF NOT pg_try_advisory_xact_lock(hashtextextended(current_schema()" \
    " || ':fold', 0)) THEN RETURN; END IF; " body " END $f$;"

static const char *const steps[] = {
    /* 1: entries, history, counters, full text, tokens */
    "CREATE TABLE schema_version(version integer NOT NULL);"
    "INSERT INTO schema_version(version) VALUES(0);"
    "CREATE TABLE entries("
    " id bigserial PRIMARY KEY,"
    " dlq_id text NOT NULL UNIQUE,"
    " status integer NOT NULL,"
    " failed_at bigint NOT NULL,"
    " tenant_id text NOT NULL DEFAULT '',"
    " task_name text NOT NULL,"
    " queue text,"
    " reason integer NOT NULL DEFAULT 0,"
    " exc_type text,"
    " fingerprint text,"
    " original_task_id text,"
    " retry_task_id text,"
    " idempotency_key text,"
    " processed_at bigint NOT NULL,"
    " retries_attempted integer NOT NULL DEFAULT 0,"
    " retry_count integer NOT NULL DEFAULT 0,"
    " last_retry_at bigint,"
    " resolved_at bigint,"
    " priority integer NOT NULL DEFAULT 0,"
    " max_replays integer NOT NULL DEFAULT 3,"
    " expires_at bigint,"
    " updated_at bigint,"
    " error_code text,"
    " resolution_type text,"
    " resolved_by text,"
    " resolution_notes text,"
    " exc_message text,"
    " task_args text,"
    " task_kwargs text,"
    " metadata text,"
    " context text,"
    " exc_traceback text,"
    " captured_by text,"
    " fts tsvector GENERATED ALWAYS AS (to_tsvector('simple', left(regexp_replace("
    "coalesce(task_name, '') || ' ' || coalesce(exc_type, '') || ' ' || coalesce(exc_message, '')"
    " || ' ' || coalesce(exc_traceback, ''), '[^[:alnum:]]+', ' ', 'g'), 200000))) STORED);"
    "CREATE INDEX ix_entries_status ON entries(status, failed_at, id);"
    "CREATE INDEX ix_entries_task ON entries(task_name, failed_at, id);"
    "CREATE INDEX ix_entries_queue ON entries(queue, failed_at, id);"
    "CREATE INDEX ix_entries_tenant ON entries(tenant_id, failed_at, id);"
    "CREATE INDEX ix_entries_reason ON entries(reason, failed_at, id);"
    "CREATE INDEX ix_entries_exc ON entries(exc_type, failed_at, id);"
    "CREATE INDEX ix_entries_fp ON entries(fingerprint, failed_at, id);"
    "CREATE INDEX ix_entries_failed ON entries(failed_at, id);"
    "CREATE INDEX ix_entries_orig ON entries(original_task_id);"
    "CREATE INDEX ix_entries_retry ON entries(retry_task_id) WHERE retry_task_id IS NOT NULL;"
    "CREATE UNIQUE INDEX ux_entries_idem ON entries(tenant_id, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
    "CREATE INDEX ix_entries_fts ON entries USING gin(fts);"
    "CREATE TABLE entry_events("
    " seq bigserial PRIMARY KEY,"
    " entry_id bigint NOT NULL,"
    " at bigint NOT NULL,"
    " event text NOT NULL,"
    " actor text,"
    " details text);"
    "CREATE INDEX ix_events_entry ON entry_events(entry_id, at, seq);"
    "CREATE TABLE entry_counts("
    " tenant_id text NOT NULL,"
    " status integer NOT NULL,"
    " queue text NOT NULL,"
    " task_name text NOT NULL,"
    " reason integer NOT NULL,"
    " exc_type text NOT NULL,"
    " n bigint NOT NULL);"
    "CREATE INDEX ix_counts_key ON entry_counts(" ECOUNT_KEY ");"
    FN("dlq_counts_ins", COUNTS_ADD("SELECT " COUNT_KEY ", 1 AS d FROM new_rows"))
    FN("dlq_counts_upd", COUNTS_ADD("SELECT " COUNT_KEY ", -1 AS d FROM old_rows"
                                    " UNION ALL SELECT " COUNT_KEY ", 1 FROM new_rows"))
    FN("dlq_counts_del", COUNTS_ADD("SELECT " COUNT_KEY ", -1 AS d FROM old_rows"))
    TRIG("tr_counts_ins", "INSERT", "entries", "NEW TABLE AS new_rows", "dlq_counts_ins")
    TRIG("tr_counts_upd", "UPDATE", "entries", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
         "dlq_counts_upd")
    TRIG("tr_counts_del", "DELETE", "entries", "OLD TABLE AS old_rows", "dlq_counts_del")
    "CREATE TABLE tokens("
    " id text PRIMARY KEY,"
    " name text NOT NULL,"
    " role integer NOT NULL,"
    " tenant_id text NOT NULL DEFAULT '',"
    " secret_hash text NOT NULL UNIQUE,"
    " created_at bigint NOT NULL,"
    " last_used_at bigint,"
    " revoked_at bigint);",

    /* 2: issue 3: operator actions, audit, bulk operations, stats, groups, alerts */
    "ALTER TABLE entries ADD COLUMN op_id text;"
    "CREATE INDEX ix_entries_op ON entries(op_id) WHERE op_id IS NOT NULL;"
    "CREATE TABLE audit(id bigserial PRIMARY KEY, audit_id text NOT NULL UNIQUE,"
    " at bigint NOT NULL, actor text, tenant_id text NOT NULL DEFAULT '', action text NOT NULL,"
    " target_ids text, filter text, reason text, ticket_url text, details text);"
    "CREATE INDEX ix_audit_at ON audit(at, id);"
    "CREATE INDEX ix_audit_actor ON audit(actor, at, id);"
    "CREATE INDEX ix_audit_action ON audit(action, at, id);"
    "CREATE TABLE audit_targets(audit bigint NOT NULL, dlq_id text NOT NULL);"
    "CREATE INDEX ix_audit_targets ON audit_targets(dlq_id, audit);"
    "CREATE TABLE operations(id text PRIMARY KEY, kind text NOT NULL, state text NOT NULL,"
    " tenant_id text NOT NULL DEFAULT '', actor text, filter text, params text,"
    " matched bigint NOT NULL DEFAULT 0, processed bigint NOT NULL DEFAULT 0,"
    " succeeded bigint NOT NULL DEFAULT 0, failed bigint NOT NULL DEFAULT 0,"
    " skipped bigint NOT NULL DEFAULT 0, early_stop_reason text, cursor text,"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL, finished_at bigint);"
    "CREATE INDEX ix_ops_created ON operations(created_at);"
    "CREATE TABLE hourly(hour bigint NOT NULL, tenant_id text NOT NULL DEFAULT '',"
    " n bigint NOT NULL);"
    "CREATE INDEX ix_hourly ON hourly(hour, tenant_id);"
    "CREATE TABLE groups(fingerprint text NOT NULL, tenant_id text NOT NULL DEFAULT '',"
    " task_name text, exc_type text, sample_message text, sample_dlq_id text, sample_entry bigint,"
    " first_seen bigint, last_seen bigint, count bigint NOT NULL DEFAULT 0,"
    " pending bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX ix_groups ON groups(fingerprint, tenant_id);"
    "CREATE TABLE replay_outcomes(id bigserial PRIMARY KEY, at bigint NOT NULL, dlq_id text,"
    " tenant_id text NOT NULL DEFAULT '', op_id text, succeeded integer NOT NULL);"
    "CREATE TABLE alert_state(rule text PRIMARY KEY, firing integer NOT NULL, since bigint,"
    " last_notified_at bigint, reason text);"
    FN("dlq_extras_ins",
       "INSERT INTO hourly (hour, tenant_id, n) SELECT (CASE WHEN failed_at <> 0 THEN"
       " failed_at ELSE processed_at END) / 3600000 * 3600000, tenant_id, count(*) FROM new_rows"
       " GROUP BY 1, 2;" GROUPS_ADD)
    FN("dlq_extras_upd",
       GROUPS_MOVE("SELECT fingerprint, tenant_id, 0 AS dc, -" PENDING("") " AS dp FROM old_rows"
                   " UNION ALL SELECT fingerprint, tenant_id, 0, " PENDING("") " FROM new_rows"))
    FN("dlq_extras_del", GROUPS_MOVE("SELECT fingerprint, tenant_id, -1 AS dc, -" PENDING("")
                                     " AS dp FROM old_rows"))
    TRIG("tr_extras_ins", "INSERT", "entries", "NEW TABLE AS new_rows", "dlq_extras_ins")
    TRIG("tr_extras_upd", "UPDATE", "entries", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
         "dlq_extras_upd")
    TRIG("tr_extras_del", "DELETE", "entries", "OLD TABLE AS old_rows", "dlq_extras_del"),

    /* 3 and 4: SQLite's stats rollup; stats here sum entry_counts. */
    "SELECT 1;",
    "SELECT 1;",

    /* 5: issue 4: the job queue. Partial indexes as on SQLite: a job sits in
     * job_id's and its state's. queue_counts by trigger. And dlq_fold(),
     * which folds every counter table. */
    "CREATE TABLE jobs("
    " id bigserial PRIMARY KEY,"
    " job_id text NOT NULL UNIQUE,"
    " queue text NOT NULL,"
    " task_name text NOT NULL,"
    " tenant_id text NOT NULL DEFAULT '',"
    " state integer NOT NULL,"
    " priority integer NOT NULL DEFAULT 0,"
    " run_at bigint NOT NULL,"
    " attempt integer NOT NULL DEFAULT 0,"
    " max_retries integer NOT NULL,"
    " timeout_s integer NOT NULL,"
    " lease_token text,"
    " lease_expires_at bigint,"
    " worker_id text,"
    " backoff_base_ms bigint NOT NULL,"
    " backoff_factor double precision NOT NULL,"
    " backoff_max_ms bigint NOT NULL,"
    " replay_of text,"
    " idempotency_key text,"
    " target integer NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " started_at bigint,"
    " finished_at bigint,"
    " dlq_id text,"
    " args text,"
    " kwargs text,"
    " metadata text,"
    " last_error text,"
    " attempts text,"
    " result text);"
    "CREATE INDEX ix_jobs_ready ON jobs(target, queue, priority DESC, run_at, id) WHERE state = 1;"
    "CREATE INDEX ix_jobs_sched ON jobs(run_at) WHERE state = 2;"
    "CREATE INDEX ix_jobs_lease ON jobs(lease_expires_at) WHERE state = 3;"
    "CREATE INDEX ix_jobs_done ON jobs(finished_at) WHERE state >= 4;"
    "CREATE UNIQUE INDEX ux_jobs_idem ON jobs(tenant_id, queue, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
    "CREATE TABLE queue_counts(queue text NOT NULL, tenant_id text NOT NULL,"
    " state integer NOT NULL, n bigint NOT NULL);"
    "CREATE INDEX ix_qcounts ON queue_counts(queue, tenant_id, state);"
    "CREATE TABLE queue_settings(queue text PRIMARY KEY, target integer NOT NULL DEFAULT 0,"
    " webhook_url text, webhook_secret text, max_replays integer NOT NULL DEFAULT -1,"
    " paused integer NOT NULL DEFAULT 0);"
    FN("dlq_qcounts_ins", QCOUNTS_ADD("SELECT queue, tenant_id, state, 1 AS d FROM new_rows"))
    FN("dlq_qcounts_upd", QCOUNTS_ADD("SELECT queue, tenant_id, state, -1 AS d FROM old_rows"
                                      " UNION ALL SELECT queue, tenant_id, state, 1 FROM new_rows"))
    FN("dlq_qcounts_del", QCOUNTS_ADD("SELECT queue, tenant_id, state, -1 AS d FROM old_rows"))
    TRIG("tr_qcounts_ins", "INSERT", "jobs", "NEW TABLE AS new_rows", "dlq_qcounts_ins")
    TRIG("tr_qcounts_upd", "UPDATE", "jobs", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
         "dlq_qcounts_upd")
    TRIG("tr_qcounts_del", "DELETE", "jobs", "OLD TABLE AS old_rows", "dlq_qcounts_del")
    FOLD_FN(FOLD("entry_counts", ECOUNT_KEY, "(t.tenant_id, t.status, t.queue, t.task_name,"
                 " t.reason, t.exc_type)", ECOUNT_KEY ", n", "sum(n)", " HAVING sum(n) <> 0")
            FOLD("hourly", "hour, tenant_id", "(t.hour, t.tenant_id)", "hour, tenant_id, n",
                 "sum(n)", "")
            FOLD("queue_counts", "queue, tenant_id, state", "(t.queue, t.tenant_id, t.state)",
                 "queue, tenant_id, state, n", "sum(n)", " HAVING sum(n) <> 0")
            FOLD("groups", "fingerprint, tenant_id", "(t.fingerprint, t.tenant_id)", GROUP_COLS,
                 GROUP_SUMS, "")),

    /* 6: SQLite's deferred text index; the tsvector here is kept in the commit. */
    "SELECT 1;",

    /* 7: SQLite's search index moved to a file of its own; nothing here. */
    "SELECT 1;",

    /* 8: no lookup goes by op_id (bulk selects only filter on it), and every
     * replay moved the entry in this index: dropped, as on SQLite. */
    "DROP INDEX IF EXISTS ix_entries_op;",

    /* 9: expiry finds pending entries past their expires_at through this
     * index rather than walking every pending entry each interval, as on
     * SQLite. Entries without expires_at are not in it. */
    "CREATE INDEX IF NOT EXISTS ix_entries_expires ON entries(expires_at)"
    " WHERE status = 1 AND expires_at IS NOT NULL;",
};
// clang-format on

#define NSTEPS ((int)(sizeof steps / sizeof steps[0]))

int dlq_pg_schema_latest(void)
{
    return NSTEPS;
}

/* A fixed advisory lock key: "dlq migrate". */
#define MIGRATE_LOCK "7235401"

struct mig {
    int from, to;
};

/* version_body reads the version the schema is at into *(int *)ctx: 0 for
 * a schema without a schema_version table (new or foreign). */
static int version_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    int *v = ctx;
    PGresult *r = NULL;
    int code = dlq_pg_exec(c, "SELECT to_regclass('schema_version') IS NOT NULL", NULL, &r,
                           "read the schema version", err, errlen);
    if (code != DLQ_OK)
        return code;
    int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    *v = 0;
    if (!exists)
        return DLQ_OK;
    code = dlq_pg_exec(c, "SELECT max(version) FROM schema_version", NULL, &r,
                       "read the schema version", err, errlen);
    if (code != DLQ_OK)
        return code;
    *v = (int)dlq_pg_i64(r, 0, 0);
    PQclear(r);
    if (*v > NSTEPS)
        return dlq_errf(err, errlen, DLQ_E_STORE,
                        "schema is at version %d, newer than this dlq knows (%d)", *v, NSTEPS);
    return DLQ_OK;
}

int dlq_pg_schema_check(struct pg_store *s, char *err, size_t errlen)
{
    int v = 0;
    int code = dlq_pg_read(s, version_body, &v, err, errlen);
    if (code == DLQ_OK && v < NSTEPS)
        code = dlq_errf(err, errlen, DLQ_E_STORE, "schema is at version %d, run dlq migrate", v);
    return code;
}

static int migrate_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct mig *m = ctx;
    int code = dlq_pg_exec_simple(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")",
                                  "lock the schema", err, errlen);
    if (code == DLQ_OK)
        code = version_body(c, &m->from, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int step = m->from + 1; step <= NSTEPS; step++) {
        char what[48], sql[64];
        snprintf(what, sizeof what, "schema step %d", step);
        code = dlq_pg_exec_simple(c, steps[step - 1], what, err, errlen);
        if (code != DLQ_OK)
            return code;
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", step);
        code = dlq_pg_exec_simple(c, sql, what, err, errlen);
        if (code != DLQ_OK)
            return code;
    }
    m->to = NSTEPS;
    return DLQ_OK;
}

int dlq_pg_migrate(struct pg_store *s, int *from, int *to, char *err, size_t errlen)
{
    struct mig m = {0, 0};
    int code = dlq_pg_tx(s, migrate_body, &m, err, errlen);
    if (code == DLQ_OK) {
        /* like SQLite's: the first migrate reports what open found */
        *from = s->opened_from >= 0 ? s->opened_from : m.from;
        s->opened_from = -1;
        *to = m.to;
    }
    return code;
}
