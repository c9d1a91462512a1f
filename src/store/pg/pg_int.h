/*
 * pg_int.h: what the files of the PostgreSQL backend (src/store/pg/) share:
 * the store struct, the connection pool, a statement runner that prepares
 * each SQL text once per connection, a transaction runner that retries on
 * serialization failures and deadlocks, parameter and row helpers, and the
 * methods, one group per file.
 *
 * Conventions every file follows:
 * - Parameters are passed as text ($1, $2, ...); struct pg_params builds
 *   them, numbers formatted into its own buffers.
 * - Times are bigint milliseconds, statuses, reasons and states integers,
 *   tenant_id '' for "no tenant" (NULL in the API): the same values as
 *   SQLite's, so both backends answer alike.
 * - Counters (entry_counts, hourly, groups, queue_counts) are kept by
 *   statement triggers in the same transaction as the rows they count
 *   (pg_schema.c): no method touches them.
 * - A write runs inside dlq_pg_tx(): its body must be safe to run again
 *   (it is, after a rollback, when PostgreSQL reports a serialization
 *   failure or a deadlock).
 */
#ifndef DLQ_PG_INT_H
#define DLQ_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "dlq/store.h"

struct pg_prep {
    uint64_t hash;
    char *sql;
    char name[16];
};

/* One pooled connection with its prepared statements. */
struct pg_conn {
    PGconn *pc;
    struct pg_prep *prep;
    size_t nprep, capprep;
    unsigned next_name;
    int broken; /* the link failed: closed instead of going back to the pool */
    int in_tx;
};

struct pg_listener;

struct pg_store {
    struct dlq_store base;
    char *conninfo; /* what libpq gets (the URL without dlq's own parameters) */
    char *schema;   /* the schema= parameter, or NULL: the user's search_path */
    enum dlq_durability durability;
    int pool_max;
    int lock_timeout_ms; /* busy_timeout_ms: a write waiting longer for a lock fails */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pg_conn **idle;
    size_t nidle, nopen;
    int closing;
    /* advisory locks live on one session of their own (pg_lock.c) */
    pthread_mutex_t lock_mu;
    struct pg_conn *lock_conn;
    char **held; /* names of the locks lock_conn holds */
    size_t nheld;
    /* commit durations for /metrics */
    pthread_mutex_t hist_mu;
    struct dlq_hist hist;
    struct pg_listener *listener;
    int opened_from; /* the version found by the migration at open; -1: reported */
};

#define PG(s) ((struct pg_store *)(s))

/* ---- pool and statements (pg_conn.c) ---- */

/* dlq_pg_connect opens one session set up for s (durability, search_path);
 * NULL with err filled when the server cannot be reached. */
struct pg_conn *dlq_pg_connect(struct pg_store *s, char *err, size_t errlen);
void dlq_pg_disconnect(struct pg_conn *c);
/* dlq_pg_acquire takes an idle connection, opens one while fewer than
 * pool_max are open, or waits for one. NULL (DLQ_E_UNAVAILABLE in err)
 * when none can be had. dlq_pg_release gives it back (a broken one, or one
 * left inside a transaction, is closed instead). */
struct pg_conn *dlq_pg_acquire(struct pg_store *s, char *err, size_t errlen);
void dlq_pg_release(struct pg_store *s, struct pg_conn *c);

/* Text parameters for one statement. */
#define PG_MAXP 40
struct pg_params {
    const char *v[PG_MAXP];
    char buf[PG_MAXP][24];
    int n;
};
void dlq_pg_p_init(struct pg_params *p);
void dlq_pg_p_text(struct pg_params *p, const char *s);   /* NULL is SQL NULL */
void dlq_pg_p_tenant(struct pg_params *p, const char *s); /* NULL is '' */
void dlq_pg_p_int(struct pg_params *p, int64_t v);
void dlq_pg_p_int_or_null(struct pg_params *p, int64_t v); /* 0 is SQL NULL */

/* dlq_pg_exec runs sql with p (NULL: none), preparing it on c the first
 * time c sees that text. *res (when non-NULL) receives the result, to free
 * with PQclear; *res is NULL on error. Errors: DLQ_E_BUSY for a
 * serialization failure or deadlock (dlq_pg_tx retries those),
 * DLQ_E_CONFLICT for a unique violation, DLQ_E_UNAVAILABLE when the link
 * or the server is gone (c is marked broken), DLQ_E_INTERNAL otherwise;
 * what in err names the statement's purpose. */
int dlq_pg_exec(struct pg_conn *c, const char *sql, const struct pg_params *p, PGresult **res,
                const char *what, char *err, size_t errlen);
/* dlq_pg_exec_simple runs a parameterless script (several statements). */
int dlq_pg_exec_simple(struct pg_conn *c, const char *sql, const char *what, char *err,
                       size_t errlen);

/* dlq_pg_tx runs body(c, ctx) inside BEGIN ... COMMIT on a pooled
 * connection, rolling back on error and running it again (up to a few
 * times) when the error was DLQ_E_BUSY. The commit's duration is observed
 * in the store's histogram. */
typedef int (*pg_tx_body)(struct pg_conn *c, void *ctx, char *err, size_t errlen);
int dlq_pg_tx(struct pg_store *s, pg_tx_body body, void *ctx, char *err, size_t errlen);
/* dlq_pg_read runs body on a pooled connection outside a transaction
 * (each statement sees the latest commits). */
int dlq_pg_read(struct pg_store *s, pg_tx_body body, void *ctx, char *err, size_t errlen);

/* Row helpers. dlq_pg_dup returns a malloc'd copy or NULL for SQL NULL
 * (sets *oom when the copy fails); dlq_pg_i64 reads 0 for NULL. */
char *dlq_pg_dup(const PGresult *r, int row, int col, int *oom);
int64_t dlq_pg_i64(const PGresult *r, int row, int col);
int dlq_pg_isnull(const PGresult *r, int row, int col);
/* dlq_pg_copy copies a column into a fixed buffer ("" for NULL). */
void dlq_pg_copy(const PGresult *r, int row, int col, char *buf, size_t len);

/* ---- entries (pg_entry.c) ---- */

/* The columns of an entry, alias e, in the order dlq_pg_entry_from_row
 * reads them from col0 on. PG_ENTRY_NCOLS of them. */
#define PG_ENTRY_COLS                                                                              \
    "e.dlq_id, e.status, e.failed_at, e.tenant_id, e.task_name, e.queue, e.reason, e.exc_type, "   \
    "e.fingerprint, e.original_task_id, e.retry_task_id, e.idempotency_key, e.processed_at, "      \
    "e.retries_attempted, e.retry_count, e.last_retry_at, e.resolved_at, e.priority, "             \
    "e.max_replays, e.expires_at, e.updated_at, e.error_code, e.resolution_type, e.resolved_by, "  \
    "e.resolution_notes, e.exc_message, e.task_args, e.task_kwargs, e.metadata, e.context, "       \
    "e.exc_traceback"
#define PG_ENTRY_NCOLS 31
/* dlq_pg_entry_from_row fills e (zeroed first; "" tenant becomes NULL).
 * DLQ_OK or DLQ_E_NOMEM (e cleared). */
int dlq_pg_entry_from_row(const PGresult *r, int row, int col0, struct dlq_entry *e);
/* dlq_pg_entry_params appends the 32 insert values of e (in
 * PG_ENTRY_COLS order, then captured_by) to p. */
void dlq_pg_entry_params(struct pg_params *p, const struct dlq_entry *e, const char *captured_by);
/* The INSERT matching dlq_pg_entry_params with parameters $1..$32. */
extern const char dlq_pg_entry_insert_sql[];

/* ---- schema (pg_schema.c) ---- */
int dlq_pg_schema_latest(void);
/* dlq_pg_migrate brings the schema to the newest version under an
 * advisory lock, so nodes starting together migrate once. */
int dlq_pg_migrate(struct pg_store *s, int *from, int *to, char *err, size_t errlen);
/* dlq_pg_schema_check refuses (DLQ_E_STORE) a schema older or newer than
 * this dlq's: a store opened without migrating. */
int dlq_pg_schema_check(struct pg_store *s, char *err, size_t errlen);

/* ---- methods (one group per file) ---- */
/* pg_capture.c, pg_read.c: capture, get, list, export_page, count_entries */
int dlq_pg_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                   const char *actor, struct dlq_capture_result *res, char *err, size_t errlen);
int dlq_pg_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
               struct dlq_event **hist, size_t *nhist, char *err, size_t errlen);
int dlq_pg_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                size_t errlen);
int dlq_pg_export_page(struct dlq_store *s, const struct dlq_filter *f, int limit,
                       struct dlq_page *out, char *err, size_t errlen);
int dlq_pg_count_entries(struct dlq_store *s, int64_t *n, char *err, size_t errlen);
/* pg_bulk.c: bulk_select, bulk_preview */
int dlq_pg_bulk_select(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                       const char *skip_op, size_t max, char (*ids)[40], size_t *n, char next[128],
                       char *err, size_t errlen);
int dlq_pg_bulk_preview(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                        struct dlq_bulk_preview *out, char *err, size_t errlen);
/* pg_tokens.c */
int dlq_pg_token_create(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen);
int dlq_pg_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                         char *err, size_t errlen);
int dlq_pg_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                      size_t errlen);
int dlq_pg_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);
int dlq_pg_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);
/* pg_act.c: act, act_many; pg_audit.c: audit_append, audit_list */
int dlq_pg_act(struct dlq_store *s, const char *id, const struct dlq_act *a,
               const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
               char *err, size_t errlen);
int dlq_pg_act_many(struct dlq_store *s, const char *const *ids, size_t n, const struct dlq_act *a,
                    const char *const *retry_task_ids, const struct dlq_audit *audit,
                    struct dlq_act_result *res, char *err, size_t errlen);
int dlq_pg_audit_append(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                        size_t errlen);
int dlq_pg_audit_list(struct dlq_store *s, const struct dlq_audit_filter *f, struct dlq_audit **out,
                      size_t *n, char next_cursor[128], char *err, size_t errlen);
/* pg_ops.c: bulk operations */
int dlq_pg_op_save(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen);
int dlq_pg_op_finish(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                     const char *reason, int64_t now, char *err, size_t errlen);
int dlq_pg_op_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                  char *err, size_t errlen);
int dlq_pg_op_list(struct dlq_store *s, const char *tenant, const char *state, int limit,
                   struct dlq_op **out, size_t *n, char *err, size_t errlen);
/* pg_stats.c: stats, groups, replay_window, alerts, metrics */
int dlq_pg_stats(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                 struct dlq_stats *out, char *err, size_t errlen);
int dlq_pg_groups(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                  size_t *n, char *err, size_t errlen);
int dlq_pg_replay_window(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                         size_t errlen);
int dlq_pg_alert_load(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                      char *err, size_t errlen);
int dlq_pg_alert_save(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                      size_t errlen);
int dlq_pg_metrics(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen);
/* pg_maint.c: maint_step, cleanup */
int dlq_pg_maint_step(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                      int limit, int64_t *done, char *err, size_t errlen);
int dlq_pg_cleanup(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                   int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                   char *err, size_t errlen);
/* pg_job*.c: the job queue */
int dlq_pg_job_enqueue(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                       struct dlq_job_result *res, char *err, size_t errlen);
int dlq_pg_job_reserve(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                       size_t *n, char *err, size_t errlen);
int dlq_pg_job_ack(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                   const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                   size_t errlen);
int dlq_pg_job_fail(struct dlq_store *s, const struct dlq_job_fail *f, struct dlq_job_result *res,
                    char *err, size_t errlen);
int dlq_pg_job_heartbeat(struct dlq_store *s, const char *job_id, const char *lease_token,
                         const char *tenant, int extend_s, int64_t now, struct dlq_job_result *res,
                         char *err, size_t errlen);
int dlq_pg_job_cancel(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                      struct dlq_job_result *res, char *err, size_t errlen);
int dlq_pg_job_get(struct dlq_store *s, const char *job_id, const char *tenant, struct dlq_job *out,
                   char *err, size_t errlen);
int dlq_pg_job_dispatched(struct dlq_store *s, const char *job_id, const char *lease_token,
                          const char *task_id, int64_t now, char *err, size_t errlen);
int dlq_pg_job_tick(struct dlq_store *s, int64_t now, int limit, int64_t *ready, int64_t *expired,
                    int64_t *next_due, char *err, size_t errlen);
int dlq_pg_job_purge(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                     size_t errlen);
int dlq_pg_queue_list(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                      size_t *n, char *err, size_t errlen);
int dlq_pg_queue_settings_get(struct dlq_store *s, const char *queue,
                              struct dlq_queue_settings *out, char *err, size_t errlen);
int dlq_pg_queue_settings_put(struct dlq_store *s, const struct dlq_queue_settings *in, char *err,
                              size_t errlen);

/* ---- what one slice calls in another, inside the caller's transaction ---- */
/* pg_ops.c: op_save of the struct dlq_op op. */
int dlq_pg_op_save_in(struct pg_conn *c, void *op, char *err, size_t errlen);
/* pg_audit.c: one audit record; targets are audit->target_ids when set,
 * else the n ids. */
int dlq_pg_audit_write(struct pg_conn *c, const struct dlq_audit *audit, int64_t now,
                       const char *const *ids, size_t n, char *err, size_t errlen);
/* pg_act*.c: an entry row being acted on (read FOR UPDATE), then changed. */
struct pg_act_row {
    struct dlq_entry e;
    int64_t id; /* entries.id */
    char *op_id;
};
void dlq_pg_act_row_clear(struct pg_act_row *r);
int dlq_pg_act_apply(struct pg_conn *c, struct pg_act_row *r, const struct dlq_act *a,
                     const char *retry_task_id, char *err, size_t errlen);
/* dlq_pg_capture_replay: capture calls it before inserting e; 1 when e was a
 * failed replay that updated an existing entry (r filled), 0 when e is new. */
int dlq_pg_capture_replay(struct pg_conn *c, const struct dlq_entry *e, const char *tenant,
                          const char *actor, int64_t now, struct dlq_capture_result *r, char *err,
                          size_t errlen);
/* dlq_pg_act_replay_outcome applies REPLAY_SUCCEEDED (ok) or REPLAY_FAILED
 * (with error_json) to the entry dlq_id replayed as job_id, by actor at now;
 * an entry not awaiting this job's outcome is left alone: DLQ_OK. */
int dlq_pg_act_replay_outcome(struct pg_conn *c, const char *dlq_id, const char *job_id, int ok,
                              const char *error_json, const char *actor, int64_t now, char *err,
                              size_t errlen);
/* pg_capture.c: stores one complete new entry as capture does; *id
 * receives its entries.id. */
int dlq_pg_capture_insert(struct pg_conn *c, const struct dlq_entry *e, const char *actor,
                          int64_t *id, char *err, size_t errlen);
/* pg_job*.c: inserts the replay job job_id of the entry row r (as just
 * updated by RETRY/FORCE_RETRY a). */
int dlq_pg_job_from_entry(struct pg_conn *c, const struct pg_act_row *r, const char *job_id,
                          const struct dlq_act *a, char *err, size_t errlen);
/* pg_job*.c: queue's settings read on c (the defaults when never set). */
int dlq_pg_queue_settings_read(struct pg_conn *c, const char *queue, struct dlq_queue_settings *out,
                               char *err, size_t errlen);
/* pg_listen.c: tells every node (at commit) that queue has ready jobs. */
int dlq_pg_notify_queue(struct pg_conn *c, const char *queue, char *err, size_t errlen);
/* pg_listen.c: the watch method; dlq_pg_listen_stop ends the listener. */
int dlq_pg_watch(struct dlq_store *s, void (*fn)(void *ctx, const char *queue), void *ctx,
                 char *err, size_t errlen);
void dlq_pg_listen_stop(struct pg_store *s);
/* pg_lock.c: the lock methods (advisory locks on a session of their own);
 * dlq_pg_locks_close drops that session and every lock with it. */
int dlq_pg_lock_try(struct dlq_store *s, const char *name, int *held, char *err, size_t errlen);
void dlq_pg_lock_release(struct dlq_store *s, const char *name);
void dlq_pg_locks_close(struct pg_store *s);

#endif
