/*
 * store.h: the storage interface. Shaped like SQLite's sqlite3_io_methods: a
 * versioned table of function pointers (struct dlq_store_methods), a base
 * struct every backend embeds first (struct dlq_store), a registry that finds
 * a backend by name, and thin wrappers (dlq_store_capture() etc.) that assert
 * their arguments and are the one place where faults can be injected.
 *
 * Everything above src/store/ talks to storage only through this header:
 * no SQL, no backend types. Calls are synchronous and thread-safe: the server
 * calls them from many request threads at once. Backend error codes never
 * cross it: they become a dlq code plus detail text in err.
 */
#ifndef DLQ_STORE_H
#define DLQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/error.h"
#include "dlq/job.h"
#include "dlq/types.h"

enum dlq_durability {
    DLQ_DURABILITY_FULL = 0,   /* every commit reaches the disk (fsync) before it is acknowledged */
    DLQ_DURABILITY_NORMAL = 1, /* commits survive a process crash, not a power loss */
};

struct dlq_store_config {
    const char *path; /* sqlite: a file path; postgres: a conninfo string */
    enum dlq_durability durability;
    int busy_timeout_ms; /* how long a write may wait for a lock before failing */
    int migrate;         /* 1: create or upgrade the schema at open */
    int pool_size;       /* postgres: sessions at most (0: the default, 8) */
};

struct dlq_store;

/* ---- issue 3: what an action on entries carries (see the act method) ---- */
#include "dlq/state.h"

/* Edit-and-replay: fields to change before replaying; NULL / -1 unchanged. */
struct dlq_edit {
    const char *task_args;   /* JSON text */
    const char *task_kwargs; /* JSON text of an object */
    const char *queue;
    int max_retries; /* for the replayed job; -1: not given */
};

/* One action. Strings are borrowed. */
struct dlq_act {
    enum dlq_action action;
    int64_t now;
    const char *actor;  /* token name, or "system" */
    const char *tenant; /* NULL: any; else the entry must belong to it */
    const char *reason; /* force-redrive reason, discard reason */
    const char *ticket_url;
    const char *notes;           /* RESOLVE: resolution_notes */
    const char *resolution_type; /* RESOLVE: default "manual" */
    const struct dlq_edit *edit; /* RETRY / FORCE_RETRY: edit-and-replay, or NULL */
    const char *error_json;      /* REPLAY_FAILED: {"type","message","traceback"} text, or NULL */
    const char *op_id;           /* the bulk operation this is part of, or NULL */
    /* act_many of a bulk operation: the op as it stood before this call,
     * saved (as op_save does) in the same commit with n more processed, the
     * refused ids more skipped, and its cursor as given. NULL: no save.
     * With it act_many may return once committed, before the commit is on
     * the disk: no client is told of a chunk until a later durable write
     * (the op's end, a worker's reserve of its jobs), which carries the
     * chunk too; a crash before loses the chunk and its progress together,
     * and the op resumes from before it. */
    const struct dlq_op *progress;
    int keep_attempts; /* issue 4: RETRY/FORCE_RETRY: 1 continues the entry's attempt count
                          in the replay job (reset_attempts false); 0 starts at zero */
};

/* The outcome of an action on one entry of a bulk call. */
struct dlq_act_result {
    int code;               /* DLQ_OK, DLQ_E_NOTFOUND or DLQ_E_CONFLICT */
    enum dlq_status status; /* after (when DLQ_OK) */
    char detail[200];       /* why it was refused */
};

/* What audit_list filters on; NULL/0 means any. */
struct dlq_audit_filter {
    const char *actor;
    const char *action;
    const char *target; /* a dlq_id the record names */
    const char *tenant; /* a tenant-bound reader sees its tenant's records only */
    int64_t since, until;
    int limit;          /* 1..100 */
    const char *cursor; /* opaque, from a previous page */
};

/* ---- issue 3: bulk operations (slice B) types ---- */
/* A bulk operation as stored. filter and params are JSON object text, owned
 * when read back (dlq_op_clear frees them), borrowed when saved. succeeded
 * and failed are counted by the store as replays of the op get outcomes;
 * op_save never writes them. */
struct dlq_op {
    char id[40];    /* op_<ULID> */
    char kind[16];  /* "replay" */
    char state[16]; /* running, done, stopped, cancelled, interrupted */
    char tenant_id[128];
    char actor[128];
    char *filter;
    char *params;
    int64_t matched, processed, succeeded, failed, skipped;
    char early_stop_reason[200]; /* "" for none */
    char cursor[128];            /* where the next batch starts; "" from the start */
    int64_t created_at, updated_at, finished_at;
};
void dlq_op_clear(struct dlq_op *op);

/* What a dry run of a bulk call finds: up to max matches. by_task and by_exc
 * are malloc'd arrays of (name, n) pairs (names owned), sample_ids the first
 * ids in keyset order. dlq_bulk_preview_clear frees it. */
struct dlq_name_count {
    char *name;
    int64_t n;
};
struct dlq_bulk_preview {
    int64_t matched;
    struct dlq_name_count *by_task;
    size_t ntask;
    struct dlq_name_count *by_exc;
    size_t nexc;
    char sample_ids[20][40];
    size_t nsample;
};
void dlq_bulk_preview_clear(struct dlq_bulk_preview *p);
/* ---- end of slice B types ---- */

/* ---- issue 3 slice C1: what stats, groups, alerts and metrics read ---- */
/* One counted key of a stats breakdown (key owned). */
struct dlq_count {
    char *key;
    int64_t n;
};
/* A breakdown, largest first; at most DLQ_STATS_KEYS_MAX keys, the rest
 * summed in other. */
#define DLQ_STATS_KEYS_MAX  100
#define DLQ_STATS_HOURS_MAX 720
struct dlq_counts {
    struct dlq_count *items;
    size_t n;
    int64_t other;
};
/* Stats from counters (store.h stats method); dlq_stats_clear frees. */
struct dlq_stats {
    int64_t total;                                          /* every stored entry */
    int64_t pending;                                        /* pending_review + requires_review */
    int64_t by_status[DLQ_STATUS_COUNT];                    /* index: enum dlq_status */
    struct dlq_counts by_task, by_queue, by_reason, by_exc; /* pending only */
    int64_t oldest_pending_at;                              /* ms, 0: none pending */
    int64_t failures_last_hour;                             /* sliding hour, from hourly buckets */
    int64_t failures_in_window;
    int hours;                            /* window */
    int64_t hour0;                        /* ms start of by_hour[0] */
    int64_t by_hour[DLQ_STATS_HOURS_MAX]; /* oldest first, hours of them */
};
void dlq_stats_clear(struct dlq_stats *st);

/* Failure groups (by fingerprint). Strings owned; dlq_groups_free frees. */
struct dlq_group {
    char *fingerprint, *task_name, *exc_type, *sample_message, *sample_dlq_id;
    int64_t count, pending, first_seen, last_seen;
};
struct dlq_group_filter {
    const char *tenant; /* NULL: any */
    enum dlq_status status;
    const char *task_name, *queue, *exception_type;
    int limit; /* 1..100 */
};
void dlq_groups_free(struct dlq_group *g, size_t n);

/* Persistent alert state, one row per rule. reason owned by the caller's
 * buffer. */
struct dlq_alert_row {
    char rule[32];
    int firing;
    int64_t since, last_notified_at;
    char reason[256];
};

/* A histogram of durations in seconds with fixed upper bounds. */
#define DLQ_HIST_NB 14
extern const double dlq_hist_bounds[DLQ_HIST_NB - 1]; /* the last bucket is +Inf */
struct dlq_hist {
    uint64_t counts[DLQ_HIST_NB]; /* per bucket, not cumulative */
    uint64_t count;
    double sum;
};

/* What /metrics needs from storage. */
struct dlq_pending_qt {
    char *queue, *task;
    int64_t n;
};
struct dlq_store_metrics {
    int64_t by_status[DLQ_STATUS_COUNT];
    struct dlq_pending_qt *pending; /* top 50 by n; the rest in pending_other */
    size_t npending;
    int64_t pending_other;
    int64_t ingested; /* every capture ever (sum of hourly) */
    int64_t replay_succeeded, replay_failed;
};
void dlq_store_metrics_clear(struct dlq_store_metrics *m);
/* ---- end of slice C1 types ---- */

/* ---- issue 4: the job queue's calls ---- */
/* What a reserve asks for. task_names (ntask of them) NULL: any task. */
struct dlq_reserve {
    const char *queue;  /* NULL only with target WEBHOOK: every queue */
    const char *tenant; /* NULL: any tenant */
    const char *const *task_names;
    size_t ntask;
    size_t max;  /* 1..100 */
    int lease_s; /* <= 0: each job's timeout_s */
    const char *worker_id;
    enum dlq_target target; /* NATIVE for workers; WEBHOOK for the dispatcher */
    int64_t now;
};
/* One ack of a batch. result is JSON text or NULL. */
struct dlq_job_ack {
    const char *job_id;
    const char *lease_token;
    const char *result;
};
/* A failed attempt reported by the worker holding the lease. */
struct dlq_job_fail {
    const char *job_id;
    const char *lease_token;
    const char *tenant; /* NULL: any; else the job must belong to it */
    int retryable;
    enum dlq_reason reason; /* not retryable: PERMANENT_FAILURE, JOB_NOT_FOUND or
                               INVALID_ARGUMENTS (NONE: PERMANENT_FAILURE) */
    const char *error_json; /* {"type","message","traceback"} text, or NULL */
    int64_t now;
};
/* The outcome of one job call (enqueue, ack, fail, heartbeat, cancel). */
struct dlq_job_result {
    int code;    /* DLQ_OK, DLQ_E_NOTFOUND, DLQ_E_CONFLICT or DLQ_E_INVAL */
    int created; /* enqueue: 0 when the idempotency key matched an existing job */
    char job_id[40];
    enum dlq_job_state state; /* after the call */
    int attempt;
    int64_t next_run_at;      /* fail: when the retry runs (state SCHEDULED) */
    int64_t lease_expires_at; /* heartbeat */
    char dlq_id[40];          /* fail to DEAD: the entry created (or the replayed one) */
    char detail[200];         /* why it was refused */
};
/* ---- end of issue 4 types ---- */

/* Version 1 of the methods. A backend fills every pointer. Each returns DLQ_OK
 * or a negative dlq code with detail written to err (errlen bytes). */
struct dlq_store_methods {
    int version;
    const char *name;

    /* close flushes pending writes, stops backend threads and frees s. */
    void (*close)(struct dlq_store *s);

    /* migrate brings the schema to the newest version; *from and *to receive
     * the versions before and after. */
    int (*migrate)(struct dlq_store *s, int *from, int *to, char *err, size_t errlen);

    /* capture stores n entries in one durable commit. Each entry arrives
     * complete (dlq_id, status, processed_at, fingerprint set by the caller);
     * an entry whose idempotency_key (within its tenant) already exists is not
     * stored again: its result has created 0 and the existing dlq_id. actor
     * names who captured (recorded in the "captured" history event). The
     * entries stay owned by the caller. res has n slots. */
    int (*capture)(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                   const char *actor, struct dlq_capture_result *res, char *err, size_t errlen);

    /* get finds an entry by dlq_id or else by original_task_id (the newest
     * such). tenant non-NULL restricts the search to that tenant (others are
     * DLQ_E_NOTFOUND). On DLQ_OK *out is filled (caller clears it) and, when
     * hist is non-NULL, *hist and *nhist receive the history, oldest first
     * (caller frees with dlq_events_free). */
    int (*get)(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
               struct dlq_event **hist, size_t *nhist, char *err, size_t errlen);

    /* list returns one page matching f (f->tenant_id already forced by the
     * caller for tenant-bound tokens), with the exact total of matches and,
     * when more rows follow, next_cursor. Uses f->offset unless a cursor is set. */
    int (*list)(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                size_t errlen);

    /* Tokens. token_by_hash finds an active or revoked token by the SHA-256
     * of its secret. token_list returns every token, newest first (caller
     * frees the array with free()). token_revoke sets revoked_at (DLQ_E_NOTFOUND
     * when no such token, DLQ_E_CONFLICT when already revoked). token_touch
     * records a use (best effort, may be deferred). */
    int (*token_create)(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen);
    int (*token_by_hash)(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                         char *err, size_t errlen);
    int (*token_list)(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                      size_t errlen);
    int (*token_revoke)(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);
    int (*token_touch)(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);

    /* ping checks the store can serve reads and writes (readiness). */
    int (*ping)(struct dlq_store *s, char *err, size_t errlen);

    /* ==== issue 3: actions on entries and the audit trail (slice A) ====
     * act applies a->action to the entry id (dlq_id or original_task_id),
     * atomically in the writer: it reads the entry, asks dlq_state_next(),
     * and either refuses (DLQ_E_CONFLICT, the rule in err; DLQ_E_NOTFOUND for
     * no entry or another tenant's) or writes the new state, the history
     * events, the counters and, when audit is non-NULL, the audit record, all
     * in one transaction. retry_task_id is the dispatch id of a RETRY or
     * FORCE_RETRY (NULL otherwise). On DLQ_OK *after (if non-NULL) holds the
     * entry as it now is (caller clears it). */
    int (*act)(struct dlq_store *s, const char *id, const struct dlq_act *a,
               const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
               char *err, size_t errlen);
    /* act_many applies a to n entries by dlq_id in ONE commit (bulk). Each
     * id gets its own result; a refused id does not stop the others.
     * retry_task_ids has n dispatch ids for RETRY/FORCE_RETRY, else NULL.
     * audit (one record for the whole call) may be NULL. */
    int (*act_many)(struct dlq_store *s, const char *const *ids, size_t n, const struct dlq_act *a,
                    const char *const *retry_task_ids, const struct dlq_audit *audit,
                    struct dlq_act_result *res, char *err, size_t errlen);
    /* audit_append writes one audit record on its own (token changes, cleanup). */
    int (*audit_append)(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                        size_t errlen);
    /* audit_list returns records matching f, newest first (caller frees each
     * with dlq_audit_clear, then the array with free()); next_cursor is ""
     * when no more. */
    int (*audit_list)(struct dlq_store *s, const struct dlq_audit_filter *f, struct dlq_audit **out,
                      size_t *n, char next_cursor[128], char *err, size_t errlen);
    /* ==== end of slice A ==== */

    /* ==== issue 3: bulk operations (slice B) ==== */
    /* bulk_select returns up to max dlq_ids matching f (f->sort, limit,
     * offset ignored) in keyset order (failed_at, id) ascending, after the
     * position `after` ("" or NULL: from the start), skipping entries already
     * linked to skip_op (NULL: none). ids is a caller array of max slots; *n
     * receives the count and next the position after the last id. */
    int (*bulk_select)(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                       const char *skip_op, size_t max, char (*ids)[40], size_t *n, char next[128],
                       char *err, size_t errlen);
    /* bulk_preview counts the first max matches of f and breaks them down. */
    int (*bulk_preview)(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                        struct dlq_bulk_preview *out, char *err, size_t errlen);
    /* op_save inserts op or updates its progress (state, matched, processed,
     * skipped, cursor, early_stop_reason, updated_at, finished_at). A state
     * other than running is final: a later save keeps it. */
    int (*op_save)(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen);
    /* op_finish moves a running op (of tenant, when non-NULL) to state with
     * reason (may be NULL) at now. DLQ_E_NOTFOUND: no such op; DLQ_E_CONFLICT:
     * it is not running (err names its state). */
    int (*op_finish)(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                     const char *reason, int64_t now, char *err, size_t errlen);
    /* op_get reads an op (of tenant, when non-NULL); caller clears *out. */
    int (*op_get)(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                  char *err, size_t errlen);
    /* op_list returns up to limit ops, newest first (state non-NULL: in that
     * state, oldest first), of tenant when non-NULL. Caller clears each and
     * frees the array. */
    int (*op_list)(struct dlq_store *s, const char *tenant, const char *state, int limit,
                   struct dlq_op **out, size_t *n, char *err, size_t errlen);
    /* ==== end of slice B ==== */

    /* ==== issue 3: stats, groups, alerts, metrics (slice C1) ==== */
    /* stats fills *out (cleared first; caller frees with dlq_stats_clear)
     * from counters for tenant (NULL: all) at now over the last hours. */
    int (*stats)(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                 struct dlq_stats *out, char *err, size_t errlen);
    /* groups returns failure groups by pending desc, count desc. */
    int (*groups)(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                  size_t *n, char *err, size_t errlen);
    /* replay_window counts the last `window` finished replays: *finished and
     * *failed. */
    int (*replay_window)(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                         size_t errlen);
    /* alert_load reads up to max rows; alert_save upserts one. */
    int (*alert_load)(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                      char *err, size_t errlen);
    int (*alert_save)(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                      size_t errlen);
    /* metrics fills *out (caller frees with dlq_store_metrics_clear). */
    int (*metrics)(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen);
    /* commit_histogram copies the commit-duration histogram (never fails). */
    void (*commit_histogram)(struct dlq_store *s, struct dlq_hist *out);
    /* ==== end of slice C1 ==== */

    /* ==== issue 3: maintenance, cleanup, export (slice C2) ==== */
    /* maint_step runs ONE bounded batch (at most limit rows, one write
     * request) of a maintenance action, each row through dlq_state_next():
     * DLQ_ACTION_EXPIRE: pending_review entries whose expires_at <= now, or
     *   (cutoff > 0) whose failed_at < cutoff -> expired;
     * DLQ_ACTION_ARCHIVE: resolved/discarded/expired entries updated before
     *   cutoff -> archived;
     * DLQ_ACTION_PURGE: archived entries updated before cutoff are deleted
     *   with their history, text index row and counters.
     * *done receives how many rows changed; fewer than limit means no more. */
    int (*maint_step)(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                      int limit, int64_t *done, char *err, size_t errlen);
    /* cleanup deletes (or with dry_run only counts) entries of tenant (NULL:
     * any) whose status bit is in status_mask and whose failed_at < before.
     * A real run deletes at most limit rows (one write request; call again
     * until *n < limit); a dry run counts every match. by_status (indexed by
     * status) is added to, *n receives the rows of this call. */
    int (*cleanup)(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                   int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                   char *err, size_t errlen);
    /* export_page returns up to limit (1..1000) entries matching f in f's
     * order, after f's cursor when set (f->limit, f->offset ignored), without
     * a total (out->total is -1). out->next_cursor continues after the last
     * entry ("" when the page is short). */
    int (*export_page)(struct dlq_store *s, const struct dlq_filter *f, int limit,
                       struct dlq_page *out, char *err, size_t errlen);
    /* count_entries sets *n to how many entries are stored (any status). */
    int (*count_entries)(struct dlq_store *s, int64_t *n, char *err, size_t errlen);
    /* ==== end of slice C2 ==== */

    /* ==== issue 4: the job queue ====
     * job_enqueue stores n jobs in one commit. Each arrives complete from the
     * service: job_id, state QUEUED (run_at <= now) or SCHEDULED, run_at,
     * created_at/updated_at, every default filled, tenant_id "" for none. A
     * job whose idempotency_key exists within its tenant and queue is not
     * stored again: its result has created 0, the existing job_id and state.
     * res has n slots. */
    int (*job_enqueue)(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                       struct dlq_job_result *res, char *err, size_t errlen);
    /* job_reserve leases up to rq->max QUEUED jobs of rq->queue whose target
     * is rq->target, highest priority first, then oldest (by index), unless
     * the queue is paused (then none). Each becomes RUNNING with attempt + 1,
     * a fresh random lease_token, lease_expires_at = now + lease, worker_id
     * and started_at = now. out has rq->max slots (caller clears each); *n
     * receives how many were leased (0 is DLQ_OK). */
    int (*job_reserve)(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                       size_t *n, char *err, size_t errlen);
    /* job_ack finishes n leased jobs in one commit. Each must be RUNNING with
     * that lease_token (else its result is DLQ_E_CONFLICT naming the state,
     * or DLQ_E_NOTFOUND; tenant non-NULL: jobs of that tenant only). It
     * becomes SUCCEEDED with result and finished_at, the attempt appended to
     * attempts. A job with replay_of moves that entry by REPLAY_SUCCEEDED
     * (resolved, resolution_type replay_succeeded, counted in its bulk op)
     * in the same transaction; an entry that moved on meanwhile is left as it
     * is and the ack still succeeds. res has n slots. */
    int (*job_ack)(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                   const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                   size_t errlen);
    /* job_fail records a failed attempt of a leased job (stale token:
     * DLQ_E_CONFLICT). Retryable with attempts left (attempt <= max_retries):
     * SCHEDULED at now + dlq_backoff_ms(the job's backoff, attempt, random).
     * Otherwise DEAD, and in the same transaction either (no replay_of) a
     * new DLQ entry: original_task_id = job_id; task_name, args, kwargs,
     * queue, priority, tenant, metadata from the job; exception from
     * error_json; reason f->reason, or max_retries_exceeded when retryable;
     * retries_attempted = attempt; max_replays from the queue's settings;
     * history: one "attempt_failed" event per attempt (actor the worker,
     * details {attempt, error, duration_ms, started_at}), then "captured";
     * or (replay_of) that entry gets REPLAY_FAILED with the error in its
     * history (pending_review, or requires_review at the cap). *res tells
     * which (state, attempt, next_run_at or dlq_id). */
    int (*job_fail)(struct dlq_store *s, const struct dlq_job_fail *f, struct dlq_job_result *res,
                    char *err, size_t errlen);
    /* job_heartbeat extends a lease to now + extend_s (<= 0: the job's
     * timeout_s); res->lease_expires_at. Stale token: DLQ_E_CONFLICT. */
    int (*job_heartbeat)(struct dlq_store *s, const char *job_id, const char *lease_token,
                         const char *tenant, int extend_s, int64_t now, struct dlq_job_result *res,
                         char *err, size_t errlen);
    /* job_cancel moves a QUEUED or SCHEDULED job to CANCELLED (else
     * DLQ_E_CONFLICT naming its state). */
    int (*job_cancel)(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                      struct dlq_job_result *res, char *err, size_t errlen);
    /* job_get reads a job by job_id (of tenant when non-NULL; caller clears). */
    int (*job_get)(struct dlq_store *s, const char *job_id, const char *tenant, struct dlq_job *out,
                   char *err, size_t errlen);
    /* job_dispatched finishes a leased WEBHOOK job the target accepted: it
     * becomes DISPATCHED; task_id (non-NULL) becomes the replayed entry's
     * retry_task_id, so the target's later failure report finds the entry. */
    int (*job_dispatched)(struct dlq_store *s, const char *job_id, const char *lease_token,
                          const char *task_id, int64_t now, char *err, size_t errlen);
    /* job_tick runs one bounded batch of the timers at now, found by index
     * in time order: at most limit SCHEDULED jobs due (run_at <= now) become
     * QUEUED; at most limit RUNNING jobs whose lease expired are failed
     * attempts with error {"type":"timeout",...} (retried with backoff, or
     * DEAD with reason timeout, as job_fail). *ready and *expired count
     * them; *next_due is the earliest run_at / lease_expires_at still ahead
     * (0: none). */
    int (*job_tick)(struct dlq_store *s, int64_t now, int limit, int64_t *ready, int64_t *expired,
                    int64_t *next_due, char *err, size_t errlen);
    /* job_purge deletes at most limit final jobs (succeeded, cancelled,
     * dispatched; dead ones too: their entry keeps them) finished before
     * cutoff; *n receives how many. */
    int (*job_purge)(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                     size_t errlen);
    /* queue_list returns the depths of every queue that has jobs or
     * settings, by name, from counters (tenant non-NULL: that tenant's
     * jobs). Caller frees the array with free(). */
    int (*queue_list)(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                      size_t *n, char *err, size_t errlen);
    /* queue_settings_get fills *out (the defaults when never set: native,
     * max_replays -1, not paused); queue_settings_put upserts every field. */
    int (*queue_settings_get)(struct dlq_store *s, const char *queue,
                              struct dlq_queue_settings *out, char *err, size_t errlen);
    int (*queue_settings_put)(struct dlq_store *s, const struct dlq_queue_settings *in, char *err,
                              size_t errlen);
    /* ==== end of issue 4 ==== */

    /* ==== issue 7: several servers on one store ====
     * lock_try takes the named lock for this store (this server) without
     * waiting: *held is 1 when this store holds it (now, or already), 0
     * when another holder has it. A lock lasts until lock_release, the
     * close, or the death of this server (the database frees it), so
     * another server can take over work left half done. A backend that only
     * one process can open grants every lock. */
    int (*lock_try)(struct dlq_store *s, const char *name, int *held, char *err, size_t errlen);
    void (*lock_release)(struct dlq_store *s, const char *name);
    /* watch asks to hear of other servers' work on the same store, on a
     * backend thread: fn(ctx, queue) when jobs of queue were made ready
     * elsewhere, and fn(ctx, NULL) now and then (about every second) to run
     * the job timers, so the leases and retries of a server that died are
     * taken over. At most one watcher; fn NULL stops watching and returns
     * once no call is in progress. A backend only one process can open
     * never calls fn (the one server wakes its own waiters). */
    int (*watch)(struct dlq_store *s, void (*fn)(void *ctx, const char *queue), void *ctx,
                 char *err, size_t errlen);
    /* ==== end of issue 7 ==== */

    /* capture_submit (optional: NULL when the backend has none) queues what
     * capture does and returns at once. DLQ_OK: queued, and done(arg, rc)
     * runs exactly once on a backend thread when the commit is durable (rc
     * DLQ_OK, res filled) or failed (rc, err and res as capture leaves
     * them); entries, actor, res and err must stay valid until then, and
     * done must not block. Any other return: nothing was queued, done never
     * runs. It lets a request thread serve other connections while its
     * write waits for the group commit. */
    int (*capture_submit)(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                          const char *actor, struct dlq_capture_result *res, char *err,
                          size_t errlen, void (*done)(void *arg, int rc), void *arg);
};

/* The base every backend struct embeds as its first member. */
struct dlq_store {
    const struct dlq_store_methods *m;
};

/* dlq_store_open opens a store with the named backend ("sqlite"). On DLQ_OK
 * *out is the store (free with dlq_store_close); on error *out is NULL. */
int dlq_store_open(const char *backend, const struct dlq_store_config *cfg, struct dlq_store **out,
                   char *err, size_t errlen);

/* dlq_store_backend_of names the backend for a store location: "postgres"
 * for a postgres:// or postgresql:// URL, else "sqlite" (a file path). */
const char *dlq_store_backend_of(const char *location);
/* dlq_store_location_shown copies location into buf (len bytes) with a
 * URL's password hidden, for messages. Returns buf. */
const char *dlq_store_location_shown(const char *location, char *buf, size_t len);

/* A registered backend: its name and its open function. */
struct dlq_store_backend {
    const char *name;
    int (*open)(const struct dlq_store_config *cfg, struct dlq_store **out, char *err,
                size_t errlen);
};
/* dlq_store_backends returns the registry, terminated by a {NULL, NULL} row. */
const struct dlq_store_backend *dlq_store_backends(void);

/* Wrappers: assert arguments, then call s->m->X. */
void dlq_store_close(struct dlq_store *s);
int dlq_store_migrate(struct dlq_store *s, int *from, int *to, char *err, size_t errlen);
int dlq_store_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                      const char *actor, struct dlq_capture_result *res, char *err, size_t errlen);
int dlq_store_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
                  struct dlq_event **hist, size_t *nhist, char *err, size_t errlen);
int dlq_store_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                   size_t errlen);
int dlq_store_token_create(struct dlq_store *s, const struct dlq_token *t, char *err,
                           size_t errlen);
int dlq_store_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                            char *err, size_t errlen);
int dlq_store_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                         size_t errlen);
int dlq_store_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err,
                           size_t errlen);
int dlq_store_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err,
                          size_t errlen);
int dlq_store_ping(struct dlq_store *s, char *err, size_t errlen);

/* ---- issue 3 wrappers (slice A) ---- */
int dlq_store_act(struct dlq_store *s, const char *id, const struct dlq_act *a,
                  const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
                  char *err, size_t errlen);
int dlq_store_act_many(struct dlq_store *s, const char *const *ids, size_t n,
                       const struct dlq_act *a, const char *const *retry_task_ids,
                       const struct dlq_audit *audit, struct dlq_act_result *res, char *err,
                       size_t errlen);
int dlq_store_audit_append(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                           size_t errlen);
int dlq_store_audit_list(struct dlq_store *s, const struct dlq_audit_filter *f,
                         struct dlq_audit **out, size_t *n, char next_cursor[128], char *err,
                         size_t errlen);
/* ---- end of slice A wrappers ---- */
/* ---- slice B wrappers ---- */
int dlq_store_bulk_select(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                          const char *skip_op, size_t max, char (*ids)[40], size_t *n,
                          char next[128], char *err, size_t errlen);
int dlq_store_bulk_preview(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                           struct dlq_bulk_preview *out, char *err, size_t errlen);
int dlq_store_op_save(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen);
int dlq_store_op_finish(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                        const char *reason, int64_t now, char *err, size_t errlen);
int dlq_store_op_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                     char *err, size_t errlen);
int dlq_store_op_list(struct dlq_store *s, const char *tenant, const char *state, int limit,
                      struct dlq_op **out, size_t *n, char *err, size_t errlen);
/* ---- end of slice B wrappers ---- */
/* ---- slice C1 wrappers ---- */
int dlq_store_stats(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                    struct dlq_stats *out, char *err, size_t errlen);
int dlq_store_groups(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                     size_t *n, char *err, size_t errlen);
int dlq_store_replay_window(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                            size_t errlen);
int dlq_store_alert_load(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                         char *err, size_t errlen);
int dlq_store_alert_save(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                         size_t errlen);
int dlq_store_metrics(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen);
void dlq_store_commit_histogram(struct dlq_store *s, struct dlq_hist *out);
/* dlq_hist_observe adds one duration (seconds) to h (not thread-safe). */
void dlq_hist_observe(struct dlq_hist *h, double seconds);
/* ---- end of slice C1 wrappers ---- */
/* ---- slice C2 wrappers ---- */
int dlq_store_maint_step(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                         int limit, int64_t *done, char *err, size_t errlen);
int dlq_store_cleanup(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                      int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                      char *err, size_t errlen);
int dlq_store_export_page(struct dlq_store *s, const struct dlq_filter *f, int limit,
                          struct dlq_page *out, char *err, size_t errlen);
int dlq_store_count_entries(struct dlq_store *s, int64_t *n, char *err, size_t errlen);
/* ---- end of slice C2 wrappers ---- */
/* ---- issue 4 wrappers (the job queue) ---- */
int dlq_store_job_enqueue(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                          struct dlq_job_result *res, char *err, size_t errlen);
int dlq_store_job_reserve(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                          size_t *n, char *err, size_t errlen);
int dlq_store_job_ack(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                      const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                      size_t errlen);
int dlq_store_job_fail(struct dlq_store *s, const struct dlq_job_fail *f,
                       struct dlq_job_result *res, char *err, size_t errlen);
int dlq_store_job_heartbeat(struct dlq_store *s, const char *job_id, const char *lease_token,
                            const char *tenant, int extend_s, int64_t now,
                            struct dlq_job_result *res, char *err, size_t errlen);
int dlq_store_job_cancel(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                         struct dlq_job_result *res, char *err, size_t errlen);
int dlq_store_job_get(struct dlq_store *s, const char *job_id, const char *tenant,
                      struct dlq_job *out, char *err, size_t errlen);
int dlq_store_job_dispatched(struct dlq_store *s, const char *job_id, const char *lease_token,
                             const char *task_id, int64_t now, char *err, size_t errlen);
int dlq_store_job_tick(struct dlq_store *s, int64_t now, int limit, int64_t *ready,
                       int64_t *expired, int64_t *next_due, char *err, size_t errlen);
int dlq_store_job_purge(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                        size_t errlen);
int dlq_store_queue_list(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                         size_t *n, char *err, size_t errlen);
int dlq_store_queue_settings_get(struct dlq_store *s, const char *queue,
                                 struct dlq_queue_settings *out, char *err, size_t errlen);
int dlq_store_queue_settings_put(struct dlq_store *s, const struct dlq_queue_settings *in,
                                 char *err, size_t errlen);
/* ---- end of issue 4 wrappers ---- */
/* ---- issue 7 wrappers ---- */
int dlq_store_lock_try(struct dlq_store *s, const char *name, int *held, char *err, size_t errlen);
void dlq_store_lock_release(struct dlq_store *s, const char *name);
int dlq_store_watch(struct dlq_store *s, void (*fn)(void *ctx, const char *queue), void *ctx,
                    char *err, size_t errlen);
/* ---- end of issue 7 wrappers ---- */
/* dlq_store_can_submit is 1 when the backend has capture_submit. */
int dlq_store_can_submit(const struct dlq_store *s);
int dlq_store_capture_submit(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                             const char *actor, struct dlq_capture_result *res, char *err,
                             size_t errlen, void (*done)(void *arg, int rc), void *arg);

/* dlq_store_fault_new wraps inner in a store that fails with DLQ_E_UNAVAILABLE
 * every call from the fail_from-th on (counting from 1, all methods but close
 * together) until fail_count calls have failed (-1: forever). It takes
 * ownership of inner: closing the wrapper closes inner. Used by tests. */
struct dlq_store *dlq_store_fault_new(struct dlq_store *inner, long fail_from, long fail_count);
/* dlq_store_fault_calls returns how many calls a fault store has seen. */
long dlq_store_fault_calls(const struct dlq_store *s);

#endif
