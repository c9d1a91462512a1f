/*
 * sq_open.c: the SQLite backend's life cycle and methods table: open (the
 * writer connection, the schema check or migration, the threads), close
 * (drain, optimize, close every connection), migrate and ping. The data
 * methods live in sq_capture.c, sq_read.c, sq_list.c and sq_tokens.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq/error.h"
#include "sq_int.h"
#include "../store_int.h"

#define SQ_BUSY_TIMEOUT_DEFAULT 5000

static void sq_close(struct dlq_store *base);
static int sq_migrate(struct dlq_store *base, int *from, int *to, char *err, size_t errlen);
static int sq_ping(struct dlq_store *base, char *err, size_t errlen);
static int sq_lock_try(struct dlq_store *base, const char *name, int *held, char *err,
                       size_t errlen);
static void sq_lock_release(struct dlq_store *base, const char *name);
static int sq_watch(struct dlq_store *base, void (*fn)(void *ctx, const char *queue), void *ctx,
                    char *err, size_t errlen);

static const struct dlq_store_methods sq_methods = {
    .version = 1,
    .name = "sqlite",
    .close = sq_close,
    .migrate = sq_migrate,
    .capture = dlq_sq_capture,
    .get = dlq_sq_get,
    .list = dlq_sq_list,
    .token_create = dlq_sq_token_create,
    .token_by_hash = dlq_sq_token_by_hash,
    .token_list = dlq_sq_token_list,
    .token_revoke = dlq_sq_token_revoke,
    .token_touch = dlq_sq_token_touch,
    .ping = sq_ping,
    /* slice A */
    .act = dlq_sq_act,
    .act_many = dlq_sq_act_many,
    .audit_append = dlq_sq_audit_append,
    .audit_list = dlq_sq_audit_list,
    /* slice B: bulk operations */
    .bulk_select = dlq_sq_bulk_select,
    .bulk_preview = dlq_sq_bulk_preview,
    .op_save = dlq_sq_op_save,
    .op_finish = dlq_sq_op_finish,
    .op_get = dlq_sq_op_get,
    .op_list = dlq_sq_op_list,
    /* slice C2: maintenance, cleanup, export */
    .maint_step = dlq_sq_maint_step,
    .cleanup = dlq_sq_cleanup,
    .export_page = dlq_sq_export_page,
    .count_entries = dlq_sq_count_entries,
    /* slice C1: stats, groups, alerts, metrics */
    .stats = dlq_sq_stats,
    .groups = dlq_sq_groups,
    .replay_window = dlq_sq_replay_window,
    .alert_load = dlq_sq_alert_load,
    .alert_save = dlq_sq_alert_save,
    .metrics = dlq_sq_metrics,
    .commit_histogram = dlq_sq_commit_histogram,
    /* issue 4: the job queue */
    .job_enqueue = dlq_sq_job_enqueue,
    .job_reserve = dlq_sq_job_reserve,
    .job_ack = dlq_sq_job_ack,
    .job_fail = dlq_sq_job_fail,
    .job_heartbeat = dlq_sq_job_heartbeat,
    .job_cancel = dlq_sq_job_cancel,
    .job_get = dlq_sq_job_get,
    .job_dispatched = dlq_sq_job_dispatched,
    .job_tick = dlq_sq_job_tick,
    .job_purge = dlq_sq_job_purge,
    .queue_list = dlq_sq_queue_list,
    .queue_settings_get = dlq_sq_queue_settings_get,
    .queue_settings_put = dlq_sq_queue_settings_put,
    /* issue 7 */
    .lock_try = sq_lock_try,
    .lock_release = sq_lock_release,
    .watch = sq_watch,
    .capture_submit = dlq_sq_capture_submit,
};

/* apply_missing applies every step above the version db is at, inside the
 * caller's transaction. *from receives the version found. */
static int apply_missing(sqlite3 *db, int *from, char *err, size_t errlen)
{
    int v, code = dlq_sq_schema_version(db, &v, err, errlen);
    if (code != DLQ_OK)
        return code;
    *from = v;
    for (int step = v + 1; step <= dlq_sq_schema_latest(); step++) {
        if ((code = dlq_sq_schema_step(db, step, err, errlen)) != DLQ_OK)
            return code;
    }
    return DLQ_OK;
}

/* migrate_at_open applies the missing steps before the writer thread runs,
 * each step in its own transaction. BEGIN IMMEDIATE and a fresh read of the
 * version make two processes migrating at once apply each step once. */
static int migrate_at_open(struct sq_store *s, char *err, size_t errlen)
{
    for (int step = s->version_at_open + 1; step <= dlq_sq_schema_latest(); step++) {
        int v, code = dlq_sq_exec(s->w, SQ_BEGIN_IMMEDIATE, err, errlen);
        if (code != DLQ_OK)
            return code;
        code = dlq_sq_schema_version(s->w->db, &v, err, errlen);
        if (code == DLQ_OK && v < step)
            code = dlq_sq_schema_step(s->w->db, step, err, errlen);
        if (code == DLQ_OK)
            code = dlq_sq_exec(s->w, SQ_COMMIT, err, errlen);
        if (code != DLQ_OK) {
            if (!sqlite3_get_autocommit(s->w->db))
                dlq_sq_exec(s->w, SQ_ROLLBACK, NULL, 0);
            return code;
        }
    }
    return DLQ_OK;
}

/* free_store closes every connection and frees s. The threads are stopped. */
static void free_store(struct sq_store *s)
{
    struct sq_conn *c = s->pool;
    while (c) {
        struct sq_conn *next = c->next;
        dlq_sq_conn_close(c);
        c = next;
    }
    /* The writer's connection closes last: as the last connection it runs
     * the final checkpoint and removes the WAL. */
    dlq_sq_conn_close(s->w);
    dlq_sq_pre_close(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_mutex_destroy(&s->ck_mu);
    pthread_cond_destroy(&s->ck_cv);
    pthread_cond_destroy(&s->sync_cv);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->fts_mu);
    pthread_cond_destroy(&s->fts_cv);
    pthread_cond_destroy(&s->fts_done_cv);
    free(s->fts_path);
    free(s->path);
    free(s);
}

/* dlq_sqlite_open opens (creating if needed) the database at cfg->path.
 * With cfg->migrate the schema is created or upgraded; without it an out of
 * date schema is an error naming `dlq migrate`. On DLQ_OK *out is the store
 * (dlq_store_close frees it); on error *out is NULL. */
/* configure_sqlite runs once, before SQLite's first use in the process:
 * without memory statistics, every allocation SQLite makes skips a global
 * mutex (dlq never reads those statistics). Too late (SQLite already in
 * use) it changes nothing, which is harmless. */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int dlq_sqlite_open(const struct dlq_store_config *cfg, struct dlq_store **out, char *err,
                    size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_sqlite);
    *out = NULL;
    if (cfg->path == NULL || cfg->path[0] == '\0')
        return dlq_errf(err, errlen, DLQ_E_INVAL, "no database path");
    struct sq_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(cfg->path)) == NULL) {
        free(s);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    s->base.m = &sq_methods;
    s->wal_fd = -1;
    s->durability = cfg->durability;
    s->busy_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : SQ_BUSY_TIMEOUT_DEFAULT;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the touch timer's clock */
    pthread_cond_init(&s->work_cv, &ca);
    pthread_cond_init(&s->fts_cv, &ca);
    pthread_cond_init(&s->fts_done_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->fts_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ck_mu, NULL);
    pthread_cond_init(&s->ck_cv, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);

    int latest = dlq_sq_schema_latest();
    int code = dlq_sq_conn_open(s, 1, &s->w, err, errlen);
    if (code == DLQ_OK)
        code = dlq_sq_schema_version(s->w->db, &s->version_at_open, err, errlen);
    if (code != DLQ_OK)
        goto fail;
    if (s->version_at_open > latest) {
        code = dlq_errf(err, errlen, DLQ_E_STORE,
                        "schema is at version %d, newer than this dlq knows (%d)",
                        s->version_at_open, latest);
        goto fail;
    }
    if (s->version_at_open < latest) {
        if (!cfg->migrate) {
            code = dlq_errf(err, errlen, DLQ_E_STORE, "schema is at version %d, run dlq migrate",
                            s->version_at_open);
            goto fail;
        }
        if ((code = migrate_at_open(s, err, errlen)) != DLQ_OK)
            goto fail;
    }
    if ((code = dlq_sq_writer_start(s, err, errlen)) != DLQ_OK)
        goto fail;
    *out = &s->base;
    return DLQ_OK;
fail:
    dlq_sq_writer_stop(s);
    free_store(s);
    return code;
}

/* sq_close commits every queued write, stops the threads, lets SQLite
 * refresh its planner statistics cheaply and closes the database. */
static void sq_close(struct dlq_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    dlq_sq_writer_stop(s);
    /* analysis_limit bounds the work optimize may do on a large table. */
    sqlite3_exec(s->w->db, "PRAGMA analysis_limit=400; PRAGMA optimize", NULL, NULL, NULL);
    free_store(s);
}

struct migrate_req {
    int from;
};

static int migrate_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct migrate_req *m = arg;
    return apply_missing(w->db, &m->from, err, errlen);
}

/* sq_migrate brings the schema to the newest version through the writer.
 * *from is the version the database had when this store opened it (so a
 * store opened with migrate=1 still reports what it upgraded from). */
static int sq_migrate(struct dlq_store *base, int *from, int *to, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct migrate_req m = {0};
    int code = dlq_sq_write(s, migrate_fn, &m, err, errlen);
    if (code != DLQ_OK)
        return code;
    *from = s->version_at_open < m.from ? s->version_at_open : m.from;
    *to = dlq_sq_schema_latest();
    return DLQ_OK;
}

/* sq_ping reads from the database on a reader and checks the writer runs. */
static int sq_ping(struct dlq_store *base, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_stmt(c, SQ_PING, &st, err, errlen);
    if (code == DLQ_OK) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "ping");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    if (code == DLQ_OK && !dlq_sq_writer_alive(s))
        code = dlq_errf(err, errlen, DLQ_E_UNAVAILABLE, "the writer thread is not running");
    return code;
}

/* One process owns a SQLite store (the writer thread is the only writer),
 * so every lock is this server's and no other server makes jobs ready. */
static int sq_lock_try(struct dlq_store *base, const char *name, int *held, char *err,
                       size_t errlen)
{
    (void)base, (void)name, (void)err, (void)errlen;
    *held = 1;
    return DLQ_OK;
}

static void sq_lock_release(struct dlq_store *base, const char *name)
{
    (void)base, (void)name;
}

static int sq_watch(struct dlq_store *base, void (*fn)(void *ctx, const char *queue), void *ctx,
                    char *err, size_t errlen)
{
    (void)base, (void)fn, (void)ctx, (void)err, (void)errlen;
    return DLQ_OK;
}
