/*
 * sq_int.h: private declarations of the SQLite backend, shared by its files:
 * the store struct, connections with their prepared-statement caches, the
 * writer queue, the fixed SQL statements and the column order of an entry
 * row. Nothing outside src/store/sqlite/ includes it.
 *
 * Threads: one writer thread owns the read-write connection and runs every
 * write request (group commit, sq_writer.c); a syncer thread makes committed
 * groups durable and acknowledges them, and a checkpointer thread moves WAL
 * pages into the database, both off the commit path (sq_sync.c); request
 * threads read
 * through a bounded pool of read-only connections (sq_conn.c), one thread
 * at a time per connection.
 */
#ifndef DLQ_SQ_INT_H
#define DLQ_SQ_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "dlq/store.h"

/* Fixed statements, prepared once per connection on first use (sq_conn.c
 * holds their SQL). A connection prepares only those it runs. */
enum sq_sid {
    SQ_BEGIN,
    SQ_BEGIN_IMMEDIATE,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_SAVEPOINT,
    SQ_RELEASE,
    SQ_ROLLBACK_TO,
    SQ_IDEM_FIND,
    SQ_ENTRY_INSERT,
    SQ_COUNT_ADD,
    SQ_GET_BY_DLQ_ID,
    SQ_GET_BY_TASK_ID,
    SQ_HISTORY,
    SQ_TOKEN_INSERT,
    SQ_TOKEN_BY_HASH,
    SQ_TOKEN_LIST,
    SQ_TOKEN_REVOKE,
    SQ_TOKEN_REVOKED_AT,
    SQ_TOKEN_TOUCH,
    SQ_PING,
    SQ_NSTMT
};

/* Columns of an entry row, in table order: small, filterable columns first
 * so a row check rarely reads into the big text at the end (which may sit on
 * overflow pages). SQ_ENTRY_COLS lists them with alias e, in this order;
 * binding (?N = index + 1) and decoding use these indexes. Keep the three in
 * step with the CREATE TABLE in sq_schema.c. */
enum sq_col {
    SC_DLQ_ID,
    SC_STATUS,
    SC_FAILED_AT,
    SC_TENANT_ID,
    SC_TASK_NAME,
    SC_QUEUE,
    SC_REASON,
    SC_EXC_TYPE,
    SC_FINGERPRINT,
    SC_ORIGINAL_TASK_ID,
    SC_RETRY_TASK_ID,
    SC_IDEMPOTENCY_KEY,
    SC_PROCESSED_AT,
    SC_RETRIES_ATTEMPTED,
    SC_RETRY_COUNT,
    SC_LAST_RETRY_AT,
    SC_RESOLVED_AT,
    SC_PRIORITY,
    SC_MAX_REPLAYS,
    SC_EXPIRES_AT,
    SC_UPDATED_AT,
    SC_ERROR_CODE,
    SC_RESOLUTION_TYPE,
    SC_RESOLVED_BY,
    SC_RESOLUTION_NOTES,
    SC_EXC_MESSAGE,
    SC_TASK_ARGS,
    SC_TASK_KWARGS,
    SC_METADATA,
    SC_CONTEXT,
    SC_EXC_TRACEBACK,
    SC_NCOLS /* a select adds e.id (the rowid) at this index; get then e.captured_by */
};

#define SQ_ENTRY_COLS                                                                              \
    "e.dlq_id, e.status, e.failed_at, e.tenant_id, e.task_name, e.queue, e.reason, e.exc_type, "   \
    "e.fingerprint, e.original_task_id, e.retry_task_id, e.idempotency_key, e.processed_at, "      \
    "e.retries_attempted, e.retry_count, e.last_retry_at, e.resolved_at, e.priority, "             \
    "e.max_replays, e.expires_at, e.updated_at, e.error_code, e.resolution_type, e.resolved_by, "  \
    "e.resolution_notes, e.exc_message, e.task_args, e.task_kwargs, e.metadata, e.context, "       \
    "e.exc_traceback"

/* The small columns of SQ_ENTRY_COLS, SC_DLQ_ID to SC_RESOLUTION_NOTES: an
 * action's row read without the big text (sq_act.c, sq_bulk.c). */
#define SQ_ENTRY_SMALL_COLS                                                                        \
    "e.dlq_id, e.status, e.failed_at, e.tenant_id, e.task_name, e.queue, e.reason, e.exc_type, "   \
    "e.fingerprint, e.original_task_id, e.retry_task_id, e.idempotency_key, e.processed_at, "      \
    "e.retries_attempted, e.retry_count, e.last_retry_at, e.resolved_at, e.priority, "             \
    "e.max_replays, e.expires_at, e.updated_at, e.error_code, e.resolution_type, e.resolved_by, "  \
    "e.resolution_notes"

/* Per-connection cache of dynamically built SQL (list queries), keyed by the
 * SQL text: a filter's shape, never its values, decides the text, so a few
 * slots cover the traffic. */
#define SQ_DYN_SLOTS 64 /* issue 4: the job statements joined the writer's set */
struct sq_dyn {
    char *sql;
    const void *key; /* the caller's pointer when last found: tried first */
    sqlite3_stmt *st;
};

struct sq_cube;

/* issue 4: job depth counter changes (queue_counts), summed per (queue,
 * tenant, state): a request sums its own (sq_job*.c) and hands them to the
 * writer connection's sums when it succeeds (dlq_sq_jdelta_flush); the
 * writer applies those once per key before the group commits
 * (dlq_sq_jdelta_apply), as it does with the cube. */
struct sq_jdelta_key {
    char *queue, *tenant;
    int state;
    int64_t d;
};
struct sq_jdelta {
    struct sq_jdelta_key *k;
    size_t n, cap;
    int oom;
};

/* A connection and its statement caches. Used by one thread at a time. */
/* The multi-row entry inserts (SQ_ENTRY_INSERT's columns, k rows per
 * statement): a batch inserts its rows in a few statements of these sizes,
 * largest first, so each index cursor stays open across the rows and an
 * append needs no seek from the root. */
#define SQ_ROWS_NSIZES 4
extern const int dlq_sq_rows_sizes[SQ_ROWS_NSIZES];
#define SQ_ROW_PARAMS (SC_NCOLS + 2) /* the columns, captured_by, id */

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *st[SQ_NSTMT];
    sqlite3_stmt *rows[SQ_ROWS_NSIZES]; /* writer only: dlq_sq_stmt_rows */
    struct sq_dyn dyn[SQ_DYN_SLOTS];
    unsigned dyn_next;      /* next slot to evict, round-robin */
    struct sq_cube *cube;   /* writer only: counter changes of the group */
    struct sq_jdelta jd;    /* writer only: job depth changes of the group (issue 4) */
    int64_t next_id;        /* writer only: the id of the next entry (see sq_fts.c) */
    struct sq_evbuf *evbuf; /* writer only: set, history events are kept there to flush */
    struct sq_conn *next;
};

/* A write request: fn runs on the writer connection inside the group's
 * transaction (in its own savepoint) and returns DLQ_OK or a dlq code with
 * detail in err. The submitter waits on cv until done; or, for a request
 * submitted without waiting (finish set), finish(r) runs once it is
 * durable or failed, on the writer or syncer thread with no lock held, and
 * owns r from then on. */
typedef int sq_write_fn(struct sq_conn *w, void *arg, char *err, size_t errlen);
struct sq_wreq {
    sq_write_fn *fn;
    void *arg;
    char *err;
    size_t errlen;
    int rc;
    int done;
    int at_commit; /* wake the submitter at the commit; the fsync follows */
    pthread_cond_t cv;
    void (*finish)(struct sq_wreq *r);
    struct sq_wreq *next;
};

#define SQ_QUEUE_MAX      8192 /* pending write requests; past it writes get DLQ_E_BUSY */
#define SQ_READERS_MAX    8    /* read connections; more readers than cores gain nothing */
#define SQ_TOUCH_SLOTS    64   /* distinct tokens whose last use awaits a write */
#define SQ_TOUCH_DELAY_MS 1000 /* longest a touch waits for a write to ride on */

struct sq_touch {
    char id[40];
    int64_t at;
};

/* A bulk replay's chunk read ahead (sq_preread.c): n rows in the order
 * selected (rowid 0: not read), read after seq writer transactions. */
#define SQ_PRE_SLOTS   2
#define SQ_PRE_BUCKETS (1u << 16)
#define SQ_PRE_BYTES   (4u << 20) /* most payload bytes one chunk reads ahead */
struct sq_pre {
    uint64_t seq;
    size_t n;
    struct sq_act_row *rows;
};

struct sq_store {
    struct dlq_store base; /* first: the interface's view */
    char *path;
    enum dlq_durability durability;
    int busy_timeout_ms;
    int version_at_open;

    /* Writer: queue, thread and connection; mu guards the queue, the
     * touches and the flags. */
    struct sq_conn *w;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    struct sq_wreq *head, *tail;
    size_t queued;
    struct sq_touch touch[SQ_TOUCH_SLOTS];
    size_t ntouch;
    int64_t touch_since_ns; /* monotonic time of the oldest pending touch */
    int stopping;           /* close has begun: no new requests */
    int running;            /* the writer thread is in its loop */
    int started;            /* the writer thread was created (join it) */
    pthread_t writer;

    /* Reads ahead (sq_preread.c). txn_seq: writer transactions finished
     * (written by the writer under mu); pre and pre_next: under mu; the
     * marks, pre_dv and pre_valid_from: the writer thread's. */
    uint64_t txn_seq;
    uint64_t *pre_marks;
    int64_t pre_dv;
    uint64_t pre_valid_from;
    struct sq_pre pre[SQ_PRE_SLOTS];
    unsigned pre_next;

    /* Syncer (durability full): committed groups awaiting the fdatasync of
     * the WAL (wal_fd) that makes them durable; guarded by mu. broken: a
     * sync failed, no more writes. */
    int wal_fd;
    struct sq_wreq *sync_head, *sync_tail;
    pthread_cond_t sync_cv;
    int sync_more; /* a commit awaits the fsync with nobody waiting on it */
    int sync_stop;
    int sync_started;
    int broken;
    pthread_t syncer;

    /* Checkpointer: its own connection; woken by the writer's WAL hook. */
    sqlite3 *ck_db;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_wanted;
    int ck_stop;
    int ck_started;
    pthread_t ckpt;

    /* Search index (sq_fts.c): <path>.fts, its indexer thread and
     * connection; fts_mu guards the progress (upto, logseq) and the flags. */
    char *fts_path;
    sqlite3 *fts_db;
    pthread_mutex_t fts_mu;
    pthread_cond_t fts_cv;      /* wakes the indexer */
    pthread_cond_t fts_done_cv; /* the indexer finished a round */
    int64_t fts_upto, fts_logseq;
    int fts_kick, fts_stop, fts_started;
    pthread_t fts_thread;

    /* Readers: idle read-only connections, and how many exist. */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct sq_conn *pool;
    int nreaders;
};

/* ---- sq_conn.c ---- */
int dlq_sq_err(sqlite3 *db, int rc, char *err, size_t errlen, const char *what);
int dlq_sq_conn_open(struct sq_store *s, int writer, struct sq_conn **out, char *err,
                     size_t errlen);
void dlq_sq_conn_close(struct sq_conn *c);
int dlq_sq_stmt(struct sq_conn *c, enum sq_sid id, sqlite3_stmt **out, char *err, size_t errlen);
int dlq_sq_stmt_rows(struct sq_conn *c, int size, sqlite3_stmt **out, char *err, size_t errlen);
int dlq_sq_stmt_dyn(struct sq_conn *c, const char *sql, sqlite3_stmt **out, char *err,
                    size_t errlen);
int dlq_sq_exec(struct sq_conn *c, enum sq_sid id, char *err, size_t errlen);
int dlq_sq_reader_get(struct sq_store *s, struct sq_conn **out, char *err, size_t errlen);
void dlq_sq_reader_put(struct sq_store *s, struct sq_conn *c);
void dlq_sq_bind_text(sqlite3_stmt *st, int i, const char *v);
void dlq_sq_bind_time(sqlite3_stmt *st, int i, int64_t ms);
char *dlq_sq_col_dup(sqlite3_stmt *st, int i, int *oom);
void dlq_sq_col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen);

/* ---- sq_cube.c ---- */
struct sq_cube *dlq_sq_cube_new(void);
void dlq_sq_cube_free(struct sq_cube *c);
void dlq_sq_cube_reset(struct sq_cube *c);
int dlq_sq_cube_add(struct sq_cube *c, const char *tenant, int status, const char *queue,
                    const char *task, int reason, const char *exc, int delta);
size_t dlq_sq_cube_mark(const struct sq_cube *c);
void dlq_sq_cube_undo(struct sq_cube *c, size_t mark);
int dlq_sq_cube_flush(struct sq_conn *w, struct sq_cube *c, char *err, size_t errlen);
int dlq_sq_cube_hourly(struct sq_cube *c, int64_t hour, const char *tenant);
int dlq_sq_cube_group(struct sq_cube *c, const char *fp, const char *tenant, int dcount,
                      int dpending, const struct dlq_entry *cap, int64_t at);

/* ---- sq_schema.c ---- */
int dlq_sq_schema_latest(void);
int dlq_sq_schema_version(sqlite3 *db, int *version, char *err, size_t errlen);
int dlq_sq_schema_step(sqlite3 *db, int to, char *err, size_t errlen);

/* ---- sq_writer.c ---- */
int dlq_sq_writer_start(struct sq_store *s, char *err, size_t errlen);
void dlq_sq_writer_stop(struct sq_store *s);
int dlq_sq_write(struct sq_store *s, sq_write_fn *fn, void *arg, char *err, size_t errlen);
int dlq_sq_write_at_commit(struct sq_store *s, sq_write_fn *fn, void *arg, char *err,
                           size_t errlen);
int dlq_sq_write_submit(struct sq_store *s, struct sq_wreq *r);
void dlq_sq_wake(struct sq_store *s, struct sq_wreq *list);
void dlq_sq_touch(struct sq_store *s, const char *id, int64_t at);
int64_t dlq_sq_touch_pending(struct sq_store *s, const char *id);
int dlq_sq_writer_alive(struct sq_store *s);

/* ---- sq_sync.c ---- */
/* sq_vfs.c: the writer's WAL write gathering. */
#define DLQ_SQ_WAL_VFS "dlq-wal"
const char *dlq_sq_wal_vfs(void);

int dlq_sq_sync_start(struct sq_store *s, char *err, size_t errlen);
void dlq_sq_sync_stop(struct sq_store *s);
void dlq_sq_sync_submit(struct sq_store *s, struct sq_wreq *list);

/* ---- sq_fts.c: the search index, in a file and a thread of its own ---- */
int dlq_sq_fts_start(struct sq_store *s, char *err, size_t errlen);
void dlq_sq_fts_stop(struct sq_store *s);
int dlq_sq_fts_attach(struct sq_store *s, sqlite3 *db, char *err, size_t errlen);
int dlq_sq_fts_log(struct sq_conn *w, int64_t id, int deleting, char *err, size_t errlen);
int dlq_sq_fts_ready(struct sq_store *s, char *err, size_t errlen);

/* ---- sq_read.c ---- */
int dlq_sq_entry_from_row(sqlite3_stmt *st, struct dlq_entry *e);

/* ---- methods, one file each ---- */
int dlq_sq_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                   const char *actor, struct dlq_capture_result *res, char *err, size_t errlen);
int dlq_sq_capture_submit(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                          const char *actor, struct dlq_capture_result *res, char *err,
                          size_t errlen, void (*done)(void *arg, int rc), void *arg);
int dlq_sq_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
               struct dlq_event **hist, size_t *nhist, char *err, size_t errlen);
int dlq_sq_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                size_t errlen);
int dlq_sq_token_create(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen);
int dlq_sq_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                         char *err, size_t errlen);
int dlq_sq_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                      size_t errlen);
int dlq_sq_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);
int dlq_sq_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);

/* sq_ops.c: op_save of the struct dlq_op op, in the caller's write request. */
int dlq_sq_op_save_in(struct sq_conn *w, void *op, char *err, size_t errlen);

/* ---- slice A: actions and audit (sq_act.c, sq_audit.c) ---- */
int dlq_sq_act(struct dlq_store *s, const char *id, const struct dlq_act *a,
               const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
               char *err, size_t errlen);
int dlq_sq_act_many(struct dlq_store *s, const char *const *ids, size_t n, const struct dlq_act *a,
                    const char *const *retry_task_ids, const struct dlq_audit *audit,
                    struct dlq_act_result *res, char *err, size_t errlen);
int dlq_sq_audit_append(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                        size_t errlen);
int dlq_sq_audit_list(struct dlq_store *s, const struct dlq_audit_filter *f, struct dlq_audit **out,
                      size_t *n, char next_cursor[128], char *err, size_t errlen);
/* dlq_sq_audit_write writes one audit record inside the caller's write
 * request (any slice may call it from its own write fn): targets are
 * audit->target_ids when set, else the n ids. */
int dlq_sq_audit_write(struct sq_conn *w, const struct dlq_audit *audit, int64_t now,
                       const char *const *ids, size_t n, char *err, size_t errlen);
/* An entry row being acted on (sq_act.c finds it, sq_act_apply.c changes
 * it): the entry as read, then as written; its rowid; the bulk operation it
 * was last replayed by. */
struct sq_act_row {
    struct dlq_entry e;
    sqlite3_int64 rowid;
    char *op_id;
    int payload; /* e's task_args, task_kwargs and metadata are the row's */
};
void dlq_sq_act_row_clear(struct sq_act_row *r);
/* sq_act_rows.c: a bulk action's history events and replay jobs, kept and
 * inserted together in multi-row statements. */
struct sq_evrow {
    sqlite3_int64 entry_id;
    int64_t at;
    const char *event, *actor; /* alive until the flush */
    char *details;
};
struct sq_evbuf {
    struct sq_evrow *v;
    size_t n, cap;
};
int dlq_sq_evbuf_add(struct sq_evbuf *b, sqlite3_int64 entry_id, int64_t at, const char *event,
                     const char *actor, const char *details);
int dlq_sq_evbuf_flush(struct sq_conn *w, struct sq_evbuf *b, char *err, size_t errlen);
void dlq_sq_evbuf_clear(struct sq_evbuf *b);
void dlq_sq_evbuf_free(struct sq_evbuf *b);
struct sq_jobrow {
    const struct sq_act_row *r; /* alive until the flush */
    const char *job_id, *args;
    char *owned;
};
struct sq_jobbuf {
    struct sq_jobrow *v;
    size_t n, cap;
};
struct sq_jdelta;
int dlq_sq_jobbuf_add(struct sq_jobbuf *b, const struct sq_act_row *r, const char *job_id);
int dlq_sq_jobbuf_flush(struct sq_conn *w, struct sq_jobbuf *b, const struct dlq_act *a,
                        struct sq_jdelta *d, char *err, size_t errlen);
void dlq_sq_jobbuf_clear(struct sq_jobbuf *b);
void dlq_sq_jobbuf_free(struct sq_jobbuf *b);
int dlq_sq_act_row_read(sqlite3_stmt *st, struct sq_act_row *out);
int dlq_sq_act_apply(struct sq_conn *w, struct sq_act_row *r, const struct dlq_act *a,
                     const char *retry_task_id, char *err, size_t errlen);
/* dlq_sq_capture_replay: capture calls it before inserting e; 1 when e was a
 * failed replay that updated an existing entry (r filled), 0 when e is new. */
int dlq_sq_capture_replay(struct sq_conn *w, const struct dlq_entry *e, const char *tenant,
                          const char *actor, int64_t now, struct dlq_capture_result *r, char *err,
                          size_t errlen);
/* ---- end of slice A ---- */

/* ---- slice B: bulk operations (sq_bulk.c, sq_ops.c) ---- */
int dlq_sq_bulk_select(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                       const char *skip_op, size_t max, char (*ids)[40], size_t *n, char next[128],
                       char *err, size_t errlen);
int dlq_sq_bulk_preview(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                        struct dlq_bulk_preview *out, char *err, size_t errlen);
/* sq_preread.c: a bulk replay's rows read ahead on a reader for the writer. */
void dlq_sq_pre_attach(struct sq_store *s);
void dlq_sq_pre_txn_done(struct sq_store *s);
int dlq_sq_pre_enabled(struct sq_store *s);
uint64_t dlq_sq_pre_snapshot(struct sq_store *s);
void dlq_sq_pre_put(struct sq_store *s, struct sq_pre *p);
int dlq_sq_pre_take(struct sq_store *s, struct sq_conn *w, const char *const *ids, size_t n,
                    struct sq_pre *out);
int dlq_sq_pre_row(struct sq_store *s, struct sq_pre *p, size_t i, const char *id,
                   struct sq_act_row *out);
void dlq_sq_pre_free(struct sq_pre *p);
void dlq_sq_pre_close(struct sq_store *s);
int dlq_sq_op_save(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen);
int dlq_sq_op_finish(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                     const char *reason, int64_t now, char *err, size_t errlen);
int dlq_sq_op_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                  char *err, size_t errlen);
int dlq_sq_op_list(struct dlq_store *s, const char *tenant, const char *state, int limit,
                   struct dlq_op **out, size_t *n, char *err, size_t errlen);
/* ---- end of slice B ---- */

/* ---- slice C2: maintenance, cleanup, export (sq_maint.c, sq_export.c) ---- */
int dlq_sq_maint_step(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                      int limit, int64_t *done, char *err, size_t errlen);
int dlq_sq_cleanup(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                   int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                   char *err, size_t errlen);
int dlq_sq_export_page(struct dlq_store *s, const struct dlq_filter *f, int limit,
                       struct dlq_page *out, char *err, size_t errlen);
int dlq_sq_count_entries(struct dlq_store *s, int64_t *n, char *err, size_t errlen);
/* ---- end of slice C2 ---- */

/* ---- slice C1: sq_groups.c, sq_stats.c ---- */
int dlq_sq_capture_extras(struct sq_conn *w, const struct dlq_entry *e, char *err, size_t errlen);
int dlq_sq_groups_pending(struct sq_conn *w, const char *fingerprint, const char *tenant, int delta,
                          char *err, size_t errlen);
/* struct sq_group_delta is a failure group's summed change in one commit
 * (sq_cube.c): with captured, the sample is its first capture's. */
struct sq_group_delta {
    const char *fp, *tenant, *task, *exc, *message, *dlq_id;
    int64_t first, last, dcount, dpending;
    int captured;
};
int dlq_sq_hourly_apply(struct sq_conn *w, int64_t hour, const char *tenant, int64_t n, char *err,
                        size_t errlen);
int dlq_sq_group_apply(struct sq_conn *w, const struct sq_group_delta *g, char *err, size_t errlen);
void dlq_sq_commit_observe(double seconds);
int dlq_sq_stats(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                 struct dlq_stats *out, char *err, size_t errlen);
int dlq_sq_groups(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                  size_t *n, char *err, size_t errlen);
int dlq_sq_replay_window(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                         size_t errlen);
int dlq_sq_alert_load(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                      char *err, size_t errlen);
int dlq_sq_alert_save(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                      size_t errlen);
int dlq_sq_metrics(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen);
void dlq_sq_commit_histogram(struct dlq_store *s, struct dlq_hist *out);
/* ---- end of slice C1 ---- */

/* ---- shared filter SQL (sq_where.c): list, bulk and export ---- */
/* A query being built: its text and the values of its "?"s, in order. */
struct sq_sql {
    char buf[8192];
    size_t len;
    int overflow; /* text or parameters did not fit: refused at prepare */
    struct {
        int text; /* s bound as text, else i as an integer */
        int64_t i;
        const char *s;
    } p[48];
    int np;
};
void dlq_sq_sql_add(struct sq_sql *q, const char *s);
void dlq_sq_sql_int(struct sq_sql *q, const char *s, int64_t v);
void dlq_sq_sql_text(struct sq_sql *q, const char *s, const char *v);
int dlq_sq_sql_prepare(struct sq_conn *c, const struct sq_sql *q, sqlite3_stmt **st, char *err,
                       size_t errlen);
/* A normalized filter: "" strings dropped (not tenant: "" is a tenant),
 * statuses unpacked (none: any), q as a safe FTS5 expression. */
struct sq_where {
    int status[DLQ_STATUS_COUNT];
    int nstatus;
    int empty; /* the filter can match nothing: skip the queries */
    const char *tenant, *task, *queue, *exc, *fp;
    char *match; /* malloc'd */
    int reason;
    int64_t after, before;
    int desc;
    int has_cursor;
    int64_t cur_at, cur_id;
};
#define SQ_WHERE_STATUS 1u /* dlq_sq_where_conds: test the statuses */
#define SQ_WHERE_CURSOR 2u /* ... and the keyset position */
#define SQ_WHERE_CUBE   4u /* ... on entry_counts' columns */
int dlq_sq_where_init(const struct dlq_filter *f, int use_cursor, struct sq_where *w, char *err,
                      size_t errlen);
void dlq_sq_where_free(struct sq_where *w);
const char *dlq_sq_where_index(const struct sq_where *w);
void dlq_sq_where_from(struct sq_sql *q, const struct sq_where *w, const char *ix);
void dlq_sq_where_status(struct sq_sql *q, const struct sq_where *w, const char *col);
void dlq_sq_where_conds(struct sq_sql *q, const struct sq_where *w, unsigned flags);
/* ---- end of shared filter SQL ---- */

/* ---- issue 4: the job queue (sq_job.c, sq_job_run.c, sq_job_fail.c, sq_job_queue.c) ---- */
int dlq_sq_job_enqueue(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                       struct dlq_job_result *res, char *err, size_t errlen);
int dlq_sq_job_reserve(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                       size_t *n, char *err, size_t errlen);
int dlq_sq_job_ack(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                   const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                   size_t errlen);
int dlq_sq_job_fail(struct dlq_store *s, const struct dlq_job_fail *f, struct dlq_job_result *res,
                    char *err, size_t errlen);
int dlq_sq_job_heartbeat(struct dlq_store *s, const char *job_id, const char *lease_token,
                         const char *tenant, int extend_s, int64_t now, struct dlq_job_result *res,
                         char *err, size_t errlen);
int dlq_sq_job_cancel(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                      struct dlq_job_result *res, char *err, size_t errlen);
int dlq_sq_job_get(struct dlq_store *s, const char *job_id, const char *tenant, struct dlq_job *out,
                   char *err, size_t errlen);
int dlq_sq_job_dispatched(struct dlq_store *s, const char *job_id, const char *lease_token,
                          const char *task_id, int64_t now, char *err, size_t errlen);
int dlq_sq_job_tick(struct dlq_store *s, int64_t now, int limit, int64_t *ready, int64_t *expired,
                    int64_t *next_due, char *err, size_t errlen);
int dlq_sq_job_purge(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                     size_t errlen);
int dlq_sq_queue_list(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                      size_t *n, char *err, size_t errlen);
int dlq_sq_queue_settings_get(struct dlq_store *s, const char *queue,
                              struct dlq_queue_settings *out, char *err, size_t errlen);
int dlq_sq_queue_settings_put(struct dlq_store *s, const struct dlq_queue_settings *in, char *err,
                              size_t errlen);

/* Columns of a job row, in table order (sq_schema.c step 5); SQ_JOB_COLS
 * lists them, then the rowid; the light list has NULL for the big text a
 * lease check or a reserve does not need (args .. result, or the last three). */
enum sq_jcol {
    SJ_JOB_ID,
    SJ_QUEUE,
    SJ_TASK_NAME,
    SJ_TENANT_ID,
    SJ_STATE,
    SJ_PRIORITY,
    SJ_RUN_AT,
    SJ_ATTEMPT,
    SJ_MAX_RETRIES,
    SJ_TIMEOUT_S,
    SJ_LEASE_TOKEN,
    SJ_LEASE_EXPIRES_AT,
    SJ_WORKER_ID,
    SJ_BACKOFF_BASE_MS,
    SJ_BACKOFF_FACTOR,
    SJ_BACKOFF_MAX_MS,
    SJ_REPLAY_OF,
    SJ_IDEMPOTENCY_KEY,
    SJ_TARGET,
    SJ_CREATED_AT,
    SJ_UPDATED_AT,
    SJ_STARTED_AT,
    SJ_FINISHED_AT,
    SJ_DLQ_ID,
    SJ_ARGS,
    SJ_KWARGS,
    SJ_METADATA,
    SJ_LAST_ERROR,
    SJ_ATTEMPTS,
    SJ_RESULT,
    SJ_NCOLS /* the rowid follows */
};
#define SQ_JOB_SMALL_COLS                                                                          \
    "job_id, queue, task_name, tenant_id, state, priority, run_at, attempt, max_retries,"          \
    " timeout_s, lease_token, lease_expires_at, worker_id, backoff_base_ms, backoff_factor,"       \
    " backoff_max_ms, replay_of, idempotency_key, target, created_at, updated_at, started_at,"     \
    " finished_at, dlq_id"
#define SQ_JOB_COLS    SQ_JOB_SMALL_COLS ", args, kwargs, metadata, last_error, attempts, result, id"
#define SQ_JOB_LEASE   SQ_JOB_SMALL_COLS ", NULL, NULL, NULL, NULL, NULL, NULL, id"
#define SQ_JOB_RESERVE SQ_JOB_SMALL_COLS ", args, kwargs, metadata, NULL, NULL, NULL, id"
int dlq_sq_job_from_row(sqlite3_stmt *st, struct dlq_job *j);
int dlq_sq_job_step(struct sq_conn *w, sqlite3_stmt *st, char *err, size_t errlen,
                    const char *what);

/* dlq_sq_jdelta_flush hands a succeeded request's sums d to the group (w->jd)
 * and frees d: call it last, when nothing after it can fail the request.
 * dlq_sq_jdelta_apply (the writer, before the commit) upserts the group's
 * sums and frees them; dlq_sq_jdelta_free drops sums (a rolled back group). */
void dlq_sq_jdelta_add(struct sq_jdelta *d, const char *queue, const char *tenant, int state,
                       int delta);
/* dlq_sq_jdelta_move counts a job leaving state from and joining state to. */
void dlq_sq_jdelta_move(struct sq_jdelta *d, const char *queue, const char *tenant, int from,
                        int to);
int dlq_sq_jdelta_flush(struct sq_conn *w, struct sq_jdelta *d, char *err, size_t errlen);
int dlq_sq_jdelta_apply(struct sq_conn *w, char *err, size_t errlen);
void dlq_sq_jdelta_free(struct sq_jdelta *d);

/* dlq_sq_job_lease reads the job job_id (light row, *rowid) and checks that
 * lease_token holds its lease: DLQ_OK; DLQ_E_NOTFOUND (no such job, or not
 * of tenant) or DLQ_E_CONFLICT (naming its state) with res->code and
 * res->detail set; or another code with err set. */
int dlq_sq_job_lease(struct sq_conn *w, const char *job_id, const char *lease_token,
                     const char *tenant, struct dlq_job *j, sqlite3_int64 *rowid,
                     struct dlq_job_result *res, char *err, size_t errlen);
/* The SET clause that appends attempt ?N (text of one JSON object) to attempts. */
#define SQ_JOB_APPEND(n)                                                                           \
    "attempts = CASE WHEN attempts IS NULL OR attempts = '[]' THEN '[' || ?" n " || ']'"           \
    " ELSE substr(attempts, 1, length(attempts) - 1) || ',' || ?" n " || ']' END"
/* dlq_sq_job_failed records a failed attempt of the leased job j (row rowid)
 * at now: SCHEDULED after a backoff when retryable with attempts left, else
 * DEAD with its entry (or the replayed entry's REPLAY_FAILED). timeout marks
 * an expired lease (outcome "timeout", reason timeout when dead). */
int dlq_sq_job_failed(struct sq_conn *w, const struct dlq_job *j, sqlite3_int64 rowid,
                      int retryable, enum dlq_reason reason, int timeout, const char *error_json,
                      int64_t now, struct sq_jdelta *d, struct dlq_job_result *res, char *err,
                      size_t errlen);
/* dlq_sq_queue_settings_read reads queue's settings on connection c (the
 * defaults when never set). */
int dlq_sq_queue_settings_read(struct sq_conn *c, const char *queue, struct dlq_queue_settings *out,
                               char *err, size_t errlen);
/* dlq_sq_job_from_entry inserts the replay job job_id of the entry row r
 * (as just updated by RETRY/FORCE_RETRY a) and counts it in d. */
struct sq_act_row;
/* The replay job's insert: head, one row's values (?1..?16), and how many
 * parameters a row takes (sq_job_queue.c, sq_act_rows.c). */
#define SQ_JOB_INSERT_HEAD                                                                         \
    "INSERT OR IGNORE INTO jobs(job_id, queue, task_name, tenant_id, state, priority, run_at,"     \
    " attempt, max_retries, timeout_s, backoff_base_ms, backoff_factor, backoff_max_ms,"           \
    " replay_of, target, created_at, updated_at, dlq_id, args, kwargs, metadata)"
#define SQ_JOB_INSERT_TUPLE                                                                        \
    "?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"                                   \
    " coalesce((SELECT target FROM queue_settings WHERE queue = ?2), 0), ?6, ?6, ?13, ?14, ?15,"   \
    " ?16"
#define SQ_JOB_INSERT_PER 16
const char *dlq_sq_job_args(const char *args, char **owned);
void dlq_sq_job_bind(sqlite3_stmt *st, int off, const struct dlq_entry *e, const char *job_id,
                     const struct dlq_act *a, const char *args, const char *kwargs,
                     const char *metadata);
int dlq_sq_job_from_entry(struct sq_conn *w, const struct sq_act_row *r, const char *job_id,
                          const struct dlq_act *a, struct sq_jdelta *d, char *err, size_t errlen);
/* dlq_sq_act_replay_outcome applies REPLAY_SUCCEEDED (ok) or REPLAY_FAILED
 * (with error_json) to the entry dlq_id replayed as job_id, by actor at now;
 * an entry that is not awaiting this job's outcome (moved on, replayed
 * again, gone) is left alone: DLQ_OK. */
int dlq_sq_act_replay_outcome(struct sq_conn *w, const char *dlq_id, const char *job_id, int ok,
                              const char *error_json, const char *actor, int64_t now, char *err,
                              size_t errlen);
/* dlq_sq_capture_insert stores one complete new entry as capture does (row,
 * text index, counters, hourly and group counts); *rowid receives its row. */
int dlq_sq_capture_insert(struct sq_conn *w, const struct dlq_entry *e, const char *actor,
                          sqlite3_int64 *rowid, char *err, size_t errlen);
/* ---- end of issue 4 ---- */

#endif
