/*
 * service.h: the use cases, one level above storage: authenticate a token,
 * capture failures, query entries, manage tokens. The HTTP layer and the
 * server's start-up call these; they enforce tenancy and roles that are not a
 * matter of routing, assign ids and times, and talk to the store only
 * through include/dlq/store.h.
 */
#ifndef DLQ_SERVICE_H
#define DLQ_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "dlq/store.h"
#include "dlq/types.h"

struct dlq_service;

struct dlq_service_config {
    int health_warning_at;  /* pending >= this: warning (default 1) */
    int health_critical_at; /* pending > this: critical (default 10) */
    /* slice C1: alerts and notifications (0 / NULL: the default). Read by
     * dlq_service_alerts_start, not by dlq_service_new. */
    const char *alert_webhook;        /* POST firing/clearing here; NULL: none */
    const char *notify_url;           /* POST /report bodies here; NULL: none */
    int alert_cooldown_s;             /* per rule between notifications (300) */
    int alert_interval_s;             /* evaluation period (10) */
    double alert_pending_minutes;     /* pending_age: pending > 0 for longer (5) */
    int alert_new_per_hour;           /* ingest_rate: more new in the last hour (5) */
    double alert_replay_failure_rate; /* replay_failure_rate threshold (0.5) */
    int alert_replay_window;          /* over the last N finished replays (20) */
};

/* dlq_service_new creates a service over store (borrowed: it must outlive the
 * service). On DLQ_OK *out is set; free with dlq_service_free. */
int dlq_service_new(struct dlq_store *store, const struct dlq_service_config *cfg,
                    struct dlq_service **out);
void dlq_service_free(struct dlq_service *svc);
/* dlq_service_store returns the store (borrowed). */
struct dlq_store *dlq_service_store(struct dlq_service *svc);

/* dlq_service_authenticate maps a bearer secret to a principal. Unknown or
 * revoked secrets are DLQ_E_UNAUTHORIZED. Lookups are cached briefly; a
 * revocation made through this service takes effect at once. */
int dlq_service_authenticate(struct dlq_service *svc, const char *secret, struct dlq_principal *out,
                             char *err, size_t errlen);

/* dlq_service_bootstrap_admin runs at first start: when the store has no
 * tokens it creates an admin token named "admin" whose secret is env_secret
 * if non-NULL and non-empty, otherwise a random one. *created is set to 1
 * when a token was made, and the secret is copied to secret_out only when it
 * was generated (so the caller prints it once). */
int dlq_service_bootstrap_admin(struct dlq_service *svc, const char *env_secret, int *created,
                                char secret_out[DLQ_SECRET_MAX], char *err, size_t errlen);

/* dlq_service_capture stores n decoded entries for principal p in one commit:
 * it assigns dlq_id, status pending_review, processed_at and fingerprint,
 * fills failed_at when absent, and forces tenant_id to p's tenant when the
 * token is tenant-bound. The entries are modified (ids set) but stay owned by
 * the caller. res has n slots. */
int dlq_service_capture(struct dlq_service *svc, const struct dlq_principal *p,
                        struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                        char *err, size_t errlen);

/* dlq_service_get returns one entry visible to p, with history when hist is
 * non-NULL (see dlq_store_get for ownership). */
int dlq_service_get(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                    struct dlq_entry *out, struct dlq_event **hist, size_t *nhist, char *err,
                    size_t errlen);

/* dlq_service_list returns a page for p. A tenant-bound principal sees only
 * its tenant: a filter naming another tenant yields an empty page. f is
 * copied, not kept. */
int dlq_service_list(struct dlq_service *svc, const struct dlq_principal *p,
                     const struct dlq_filter *f, struct dlq_page *out, char *err, size_t errlen);

/* Tokens (admin only; the route checks the role). dlq_service_token_create
 * makes a token and writes its secret, shown this once, to secret_out. A
 * tenant-bound admin can only create tokens for its own tenant. */
int dlq_service_token_create(struct dlq_service *svc, const struct dlq_principal *p,
                             const char *name, enum dlq_role role, const char *tenant,
                             struct dlq_token *out, char secret_out[DLQ_SECRET_MAX], char *err,
                             size_t errlen);
int dlq_service_token_list(struct dlq_service *svc, const struct dlq_principal *p,
                           struct dlq_token **out, size_t *n, char *err, size_t errlen);
int dlq_service_token_revoke(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                             char *err, size_t errlen);

/* ==== issue 3 slice A: single-entry actions and audit ==== */
/* What a retry asks for: force (admin only, needs reason), and the
 * edit-and-replay fields (NULL / -1: unchanged). Strings are borrowed;
 * task_args / task_kwargs are JSON text. */
struct dlq_retry_req {
    int force;
    const char *task_args;
    const char *task_kwargs;
    const char *queue;
    int max_retries;
    const char *reason;
    const char *ticket_url;
    int keep_attempts; /* issue 4: body reset_attempts false: the replay job continues the
                          entry's attempt count */
};

/* Single-entry actions for principal p on entry id (dlq_id or
 * original_task_id; another tenant's entry is DLQ_E_NOTFOUND). Each writes
 * the change, its history and one audit record in one transaction. On DLQ_OK
 * *after holds the entry as it now is (caller clears it with
 * dlq_entry_clear). A refused transition is DLQ_E_CONFLICT with the status
 * and the rule in err. dlq_service_retry: force without the admin role is
 * DLQ_E_FORBIDDEN, force without a reason DLQ_E_INVAL; the dispatch id is
 * after->retry_task_id ("job_<ULID>"). dlq_service_outcome reports how a
 * replay ended; error_json ({"type","message","traceback"}) may be NULL. */
int dlq_service_retry(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                      const struct dlq_retry_req *rq, struct dlq_entry *after, char *err,
                      size_t errlen);
int dlq_service_resolve(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                        const char *notes, struct dlq_entry *after, char *err, size_t errlen);
int dlq_service_discard(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                        const char *reason, struct dlq_entry *after, char *err, size_t errlen);
int dlq_service_outcome(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                        int succeeded, const char *error_json, struct dlq_entry *after, char *err,
                        size_t errlen);
/* dlq_service_audit_list lists audit records (newest first); a tenant-bound
 * principal sees only its tenant's. See dlq_store_audit_list for ownership. */
int dlq_service_audit_list(struct dlq_service *svc, const struct dlq_principal *p,
                           const struct dlq_audit_filter *f, struct dlq_audit **out, size_t *n,
                           char next_cursor[128], char *err, size_t errlen);
/* dlq_service_audit_note writes a stand-alone audit record by p (token
 * changes, and any action whose store call cannot carry one). Best effort is
 * the caller's choice; returns the store's code. */
int dlq_service_audit_note(struct dlq_service *svc, const struct dlq_principal *p,
                           const char *action, const char *target_ids, const char *reason,
                           const char *details, char *err, size_t errlen);
/* ==== end of slice A ==== */
/* ==== issue 3 slice B: bulk operations ==== */
/* Bulk request bodies are JSON text (ISSUE3_API.md "Bulk"); the service
 * decodes them, reporting every field problem in errs (DLQ_E_INVAL). */

/* What POST /replay-bulk answers: a dry run's preview, or the operation
 * started. dlq_bulk_answer_clear frees the preview. */
struct dlq_bulk_answer {
    int dry_run;
    struct dlq_bulk_preview preview; /* dry run */
    char op_id[40];                  /* real run */
    char state[16];                  /* real run: "running" ("done" when nothing can match) */
    int64_t matched;
};
void dlq_bulk_answer_clear(struct dlq_bulk_answer *a);

/* dlq_service_replay_bulk validates body and either previews the matches
 * (dry run, nothing changes) or creates a running operation, writes its
 * audit record and queues it for the runner (DLQ_E_UNAVAILABLE when the
 * runner is not started, DLQ_E_BUSY when its queue is full). */
int dlq_service_replay_bulk(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *body, size_t len, struct dlq_bulk_answer *out,
                            struct dlq_errors *errs, char *err, size_t errlen);

/* What resolve-bulk / discard-bulk answer. */
#define DLQ_BULK_SKIPPED_MAX 100
struct dlq_bulk_result {
    int dry_run;
    int64_t matched, succeeded, skipped;
    size_t nskipped_ids;
    struct {
        char dlq_id[40];
        char detail[200];
    } skipped_ids[DLQ_BULK_SKIPPED_MAX];
};

/* dlq_service_act_bulk runs resolve-bulk (action RESOLVE) or discard-bulk
 * (DISCARD) synchronously, in commits of 500 entries. out is filled. */
int dlq_service_act_bulk(struct dlq_service *svc, const struct dlq_principal *p,
                         enum dlq_action action, const char *body, size_t len,
                         struct dlq_bulk_result *out, struct dlq_errors *errs, char *err,
                         size_t errlen);

/* Operations visible to p. op_get fills *out (caller clears); op_list gives
 * the newest 100 (caller clears each, frees the array); op_cancel moves a
 * running op to cancelled (DLQ_E_CONFLICT when it has finished), writes the
 * audit record, wakes the runner and fills *out with the op after. */
int dlq_service_op_get(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                       struct dlq_op *out, char *err, size_t errlen);
int dlq_service_op_list(struct dlq_service *svc, const struct dlq_principal *p, struct dlq_op **out,
                        size_t *n, char *err, size_t errlen);
int dlq_service_op_cancel(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                          struct dlq_op *out, char *err, size_t errlen);

/* dlq_service_ops_start starts the runner thread and queues every op left
 * running by a previous process (it resumes from its stored position; one
 * that cannot resume is marked interrupted). dlq_service_ops_stop stops the
 * runner between two commits, leaving its op running, so the next start
 * resumes it. Stop is idempotent; call it before dlq_service_free. */
int dlq_service_ops_start(struct dlq_service *svc, char *err, size_t errlen);
void dlq_service_ops_stop(struct dlq_service *svc);
/* ==== end of slice B ==== */
/* ==== issue 3 slice C1: stats, groups, alerts, metrics ==== */
#include "dlq/util.h"

/* Stats as the API shows them: the store's counters plus the service's
 * verdicts. Free st with dlq_stats_clear. */
struct dlq_stats_view {
    struct dlq_stats st;
    int64_t now;
    const char *health; /* "healthy", "warning" or "critical" (static) */
    int should_alert;
    char alert_reason[256];
    int warning_at, critical_at;
};
/* dlq_service_stats computes stats for p's tenant (all for an unbound
 * token) over the last hours (1..720). */
int dlq_service_stats(struct dlq_service *svc, const struct dlq_principal *p, int hours,
                      struct dlq_stats_view *out, char *err, size_t errlen);
/* dlq_service_health names the health level of `pending` entries. */
const char *dlq_service_health(const struct dlq_service *svc, int64_t pending);
/* dlq_service_notify queues json (a JSON object text, copied) for the
 * --notify-url; returns 1 when queued, 0 when there is no URL or no room. */
int dlq_service_notify(struct dlq_service *svc, const char *json);
/* dlq_service_groups lists failure groups visible to p (f->tenant forced). */
int dlq_service_groups(struct dlq_service *svc, const struct dlq_principal *p,
                       const struct dlq_group_filter *f, struct dlq_group **out, size_t *n,
                       char *err, size_t errlen);

/* Alerts. Rules: pending_age, ingest_rate, replay_failure_rate,
 * health_critical, retention_cap. */
#define DLQ_ALERT_RULES 5
struct dlq_alert_view {
    char rule[32];
    int firing;
    int64_t since; /* 0: null */
    char reason[256];
    double value, threshold;
    int64_t last_notified_at; /* 0: null */
};
/* dlq_service_alerts copies every rule's state; *webhook says whether a
 * webhook is configured. Works (nothing firing) before alerts_start. */
void dlq_service_alerts(struct dlq_service *svc, struct dlq_alert_view out[DLQ_ALERT_RULES],
                        size_t *n, int *webhook);
/* dlq_service_alerts_start takes the C1 fields of cfg, loads the stored
 * alert state and starts the evaluator and the notification sender
 * threads. dlq_service_alerts_stop stops them (idempotent; also done by
 * dlq_service_free's caller before freeing). */
int dlq_service_alerts_start(struct dlq_service *svc, const struct dlq_service_config *cfg,
                             char *err, size_t errlen);
void dlq_service_alerts_stop(struct dlq_service *svc);
/* dlq_service_alert_set sets a rule's state from outside the evaluator
 * (slice C2's retention_cap); reason may be NULL. Unknown rules ignored. */
void dlq_service_alert_set(struct dlq_service *svc, const char *rule, int firing,
                           const char *reason);
/* dlq_service_metrics_text appends the store and alert metric families in
 * Prometheus text format 0.0.4 to b. */
int dlq_service_metrics_text(struct dlq_service *svc, struct dlq_buf *b, char *err, size_t errlen);
/* ==== end of slice C1 ==== */
/* ==== issue 3 slice C2: maintenance, cleanup, export ==== */
/* What POST /api/v1/dlq/cleanup answers. by_status is indexed by status. */
struct dlq_cleanup_result {
    int dry_run;
    int64_t matched, deleted;
    int64_t by_status[DLQ_STATUS_COUNT];
};
/* dlq_service_cleanup deletes (or with dry_run counts) p's entries whose
 * status bit is in status_mask and whose failed_at is older than
 * older_than_days, in write batches of 500, then writes one audit record
 * (action "cleanup") for a real run. *out is filled. */
int dlq_service_cleanup(struct dlq_service *svc, const struct dlq_principal *p, int older_than_days,
                        unsigned status_mask, int dry_run, struct dlq_cleanup_result *out,
                        char *err, size_t errlen);

/* dlq_service_export_page returns the next page (up to limit entries, no
 * total) of an export for p: f's cursor marks where the previous page ended
 * (f->limit and f->offset are ignored). A tenant-bound p sees its tenant
 * only. out->next_cursor is "" after the last page. */
int dlq_service_export_page(struct dlq_service *svc, const struct dlq_principal *p,
                            const struct dlq_filter *f, int limit, struct dlq_page *out, char *err,
                            size_t errlen);

/* Retention (ISSUE3_API.md): the maintenance thread's settings. */
struct dlq_maint_config {
    int interval_s;      /* between runs (default 60 when <= 0) */
    int retention_days;  /* archive resolved/discarded/expired after this (>= 0) */
    int purge_days;      /* delete archived entries after this (>= 0) */
    int expiry_hours;    /* pending_review older than this -> expired; 0: only expires_at */
    int64_t max_entries; /* more stored entries raise retention_cap; 0: off */
};
/* What one maintenance run did. */
struct dlq_maint_counts {
    int64_t expired, archived, purged, stored;
    int over_cap; /* stored > max_entries */
};
struct dlq_maint;
/* dlq_maint_run_once runs every step once at time now (each in batches of
 * 500 until done or a per-run cap). For tests and the thread. */
int dlq_maint_run_once(struct dlq_service *svc, const struct dlq_maint_config *cfg, int64_t now,
                       struct dlq_maint_counts *out, char *err, size_t errlen);
/* dlq_maint_start starts the maintenance thread (first run right away);
 * dlq_maint_stop wakes it, waits for it and frees it (NULL: no-op). It never
 * removes a pending entry: only expiry, when configured, changes one. */
int dlq_maint_start(struct dlq_service *svc, const struct dlq_maint_config *cfg,
                    struct dlq_maint **out, char *err, size_t errlen);
void dlq_maint_stop(struct dlq_maint *m);
/* ==== end of slice C2 ==== */

/* ==== issue 4: the job queue (ISSUE4_API.md) ==== */
#include "dlq/job_codec.h"

/* Worker protocol for principal p (a tenant-bound p touches its tenant's
 * jobs only: others are DLQ_E_NOTFOUND). enqueue stamps n decoded specs for
 * queue (job_<ULID> ids, state queued or scheduled, run_at, times, tenant
 * forced to p's when bound) and stores them in one commit; res has n slots.
 * It wakes the queue's reserve waiters and the timer. */
int dlq_service_job_enqueue(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *queue, struct dlq_job_spec *specs, size_t n,
                            struct dlq_job_result *res, char *err, size_t errlen);
/* reserve leases up to rq->count jobs of queue; out has rq->count slots
 * (caller clears each), *n how many (0 is DLQ_OK: nothing ready). */
int dlq_service_job_reserve(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *queue, const struct dlq_job_reserve_req *rq,
                            struct dlq_job *out, size_t *n, char *err, size_t errlen);
int dlq_service_job_ack(struct dlq_service *svc, const struct dlq_principal *p,
                        const struct dlq_job_ack *acks, size_t n, struct dlq_job_result *res,
                        char *err, size_t errlen);
int dlq_service_job_fail(struct dlq_service *svc, const struct dlq_principal *p, const char *job_id,
                         const struct dlq_job_call *c, struct dlq_job_result *res, char *err,
                         size_t errlen);
int dlq_service_job_heartbeat(struct dlq_service *svc, const struct dlq_principal *p,
                              const char *job_id, const char *lease_token, int extend_s,
                              struct dlq_job_result *res, char *err, size_t errlen);
int dlq_service_job_cancel(struct dlq_service *svc, const struct dlq_principal *p,
                           const char *job_id, struct dlq_job_result *res, char *err,
                           size_t errlen);
int dlq_service_job_get(struct dlq_service *svc, const struct dlq_principal *p, const char *job_id,
                        struct dlq_job *out, char *err, size_t errlen);
/* Queues. list: caller frees *out. get: DLQ_E_NOTFOUND when the queue has
 * neither jobs (visible to p) nor settings. settings applies rq over the
 * stored settings (webhook target needs a URL: DLQ_E_UNPROCESSABLE) and
 * audits "queue_settings" (never the secret); pause sets paused and audits
 * "queue_pause"/"queue_resume" (a resume wakes the queue's waiters). Each
 * fills *out with the queue after. */
int dlq_service_queue_list(struct dlq_service *svc, const struct dlq_principal *p,
                           struct dlq_queue_info **out, size_t *n, char *err, size_t errlen);
int dlq_service_queue_get(struct dlq_service *svc, const struct dlq_principal *p, const char *queue,
                          struct dlq_queue_info *out, char *err, size_t errlen);
int dlq_service_queue_settings(struct dlq_service *svc, const struct dlq_principal *p,
                               const char *queue, const struct dlq_queue_settings_req *rq,
                               struct dlq_queue_info *out, char *err, size_t errlen);
int dlq_service_queue_pause(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *queue, int paused, struct dlq_queue_info *out, char *err,
                            size_t errlen);

/* Reserve waiters (the long poll). The caller owns w and fills queue,
 * deadline_ns (monotonic) and fn/arg; the rest is the service's. fn(arg)
 * runs at most once per registration, on a service thread, without locks
 * held, when the queue may have a job ready, at the deadline, or at
 * shutdown; after fn returns the service never touches w again.
 * Usage: e = dlq_service_job_epoch(queue); try to reserve; if nothing,
 * dlq_service_job_wait(w, e): 0 registered, 1 the queue moved since e (or
 * the service is closing): try again now; DLQ_E_UNAVAILABLE: no timer
 * thread (answer now). dlq_service_job_unwait removes w if still waiting. */
typedef void (*dlq_job_wake_fn)(void *arg);
struct dlq_job_waiter {
    char queue[DLQ_JOB_QUEUE_MAX + 1];
    int64_t deadline_ns;
    dlq_job_wake_fn fn;
    void *arg;
    struct dlq_job_waiter *prev, *next; /* private */
    int linked, bucket;                 /* private */
};
uint64_t dlq_service_job_epoch(struct dlq_service *svc, const char *queue);
int dlq_service_job_wait(struct dlq_service *svc, struct dlq_job_waiter *w, uint64_t epoch);
void dlq_service_job_unwait(struct dlq_service *svc, struct dlq_job_waiter *w);
/* dlq_service_job_wake wakes queue's waiters (NULL: every queue) and the
 * webhook dispatcher. dlq_service_job_close wakes every waiter and refuses
 * new ones (HTTP drain). */
void dlq_service_job_wake(struct dlq_service *svc, const char *queue);
void dlq_service_job_close(struct dlq_service *svc);
/* dlq_service_jobs_start starts the timer thread (job_tick, lease expiry,
 * waiter deadlines) and the webhook dispatcher; jobs_stop stops them
 * (idempotent; call before the store closes). */
int dlq_service_jobs_start(struct dlq_service *svc, char *err, size_t errlen);
void dlq_service_jobs_stop(struct dlq_service *svc);
/* issue 7: dlq_service_cluster_start listens for other servers on the same
 * store (cluster.c): their ready jobs wake waiters here, and a regular tick
 * runs the job timers and adopts bulk operations whose server died. Start
 * it after the job threads and the bulk runner; stop it before them. */
int dlq_service_cluster_start(struct dlq_service *svc, char *err, size_t errlen);
void dlq_service_cluster_stop(struct dlq_service *svc);
/* ==== end of issue 4 ==== */

/* ==== issue 6: the spool (spool*.c) ==== */
/* When the store cannot take an ingest (unavailable, I/O or storage error:
 * disk full, locked past its timeout), the stamped entries are appended to
 * an fsynced spool file and the ingest is acknowledged as spooled; a drain
 * thread moves them into the store, in order, when it recovers, and at
 * start. A spooled entry may be 404 on GET until drained. */
struct dlq_spool_config {
    const char *path;  /* spool file (e.g. "<db>.spool"); NULL: no spool */
    int64_t max_bytes; /* past it a spooled ingest is DLQ_E_BUSY (503); <= 0: 64 MiB */
};
struct dlq_spool_stats {
    int enabled;
    int store_down;           /* the last store write failed; ingests go to the spool */
    int64_t pending;          /* entries waiting in the spool */
    int64_t bytes;            /* spool file size */
    int64_t spooled, drained; /* since start */
    int64_t skipped;          /* found already stored at drain (an earlier drain died) */
    int64_t rejected;         /* refused by the store at drain: in <path>.rejected */
    int64_t torn;             /* damaged records dropped at load (a torn tail) */
};
/* dlq_service_spool_start opens (creating) the spool, loads what a previous
 * process left, drains it into the store when the store answers, and starts
 * the drain thread. A store that fails now is not an error: the thread
 * keeps retrying. dlq_service_spool_stop stops the thread (idempotent). */
int dlq_service_spool_start(struct dlq_service *svc, const struct dlq_spool_config *cfg, char *err,
                            size_t errlen);
void dlq_service_spool_stop(struct dlq_service *svc);
/* dlq_service_ingest is dlq_service_capture with the spool behind it: on
 * DLQ_OK *spooled says whether any result came from the spool (the entries
 * are durable in the spool file, not yet in the store). A repeated
 * idempotency key that is still spooled answers the spooled dlq_id (created
 * 0). DLQ_E_BUSY when the spool is full; without a spool it is
 * dlq_service_capture. */
int dlq_service_ingest(struct dlq_service *svc, const struct dlq_principal *p,
                       struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                       int *spooled, char *err, size_t errlen);
/* dlq_service_ingest_submit starts dlq_service_ingest without waiting for
 * the commit, when it can: it returns 1 when the store took the entries,
 * and then done(arg, rc) runs once on a store thread when they are durable
 * or failed; call dlq_service_ingest_finish with that rc, from a thread
 * that may block. It returns 0 when the ingest must take
 * dlq_service_ingest's way instead (no spool, a store without capture_submit,
 * a key still spooled, the store known to be down, or a refused submit):
 * nothing was stored then. entries, res and err stay in use until done. */
int dlq_service_ingest_submit(struct dlq_service *svc, const struct dlq_principal *p,
                              struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                              char *err, size_t errlen, void (*done)(void *arg, int rc), void *arg);
/* dlq_service_ingest_finish ends a submitted ingest whose commit ended with
 * rc: a store that could not take it sends the entries to the spool, as
 * dlq_service_ingest does. Returns what dlq_service_ingest would have. */
int dlq_service_ingest_finish(struct dlq_service *svc, const struct dlq_principal *p,
                              struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                              int rc, int *spooled, char *err, size_t errlen);
/* dlq_service_spool_stats fills *out (all zero without a spool). */
void dlq_service_spool_stats(struct dlq_service *svc, struct dlq_spool_stats *out);
/* dlq_service_spool_metrics_text appends the dlq_spool_* families to b. */
int dlq_service_spool_metrics_text(struct dlq_service *svc, struct dlq_buf *b);
/* ==== end of issue 6 spool ==== */

/* dlq_service_ready checks the store answers (for /readyz). */
int dlq_service_ready(struct dlq_service *svc, char *err, size_t errlen);

#endif
