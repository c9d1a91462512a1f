/*
 * pg_job_int.h: what the job queue's files of the PostgreSQL backend
 * (pg_job.c, pg_job_run.c, pg_job_fail.c, pg_job_queue.c) share: the column
 * list of a job row and its decoding, the lease check every worker call
 * starts with, the attempt record, the failed-attempt step, and the
 * once-per-queue notification of ready jobs. Nothing outside these files
 * includes it.
 */
#ifndef DLQ_PG_JOB_INT_H
#define DLQ_PG_JOB_INT_H

#include "pg_int.h"

/* Columns of a job row, in table order (pg_schema.c step 5); PG_JOB_COLS
 * lists them, then the row id; the light lists have NULL for the big text
 * a lease check or a reserve does not need. */
enum pg_jcol {
    PJ_JOB_ID,
    PJ_QUEUE,
    PJ_TASK_NAME,
    PJ_TENANT_ID,
    PJ_STATE,
    PJ_PRIORITY,
    PJ_RUN_AT,
    PJ_ATTEMPT,
    PJ_MAX_RETRIES,
    PJ_TIMEOUT_S,
    PJ_LEASE_TOKEN,
    PJ_LEASE_EXPIRES_AT,
    PJ_WORKER_ID,
    PJ_BACKOFF_BASE_MS,
    PJ_BACKOFF_FACTOR,
    PJ_BACKOFF_MAX_MS,
    PJ_REPLAY_OF,
    PJ_IDEMPOTENCY_KEY,
    PJ_TARGET,
    PJ_CREATED_AT,
    PJ_UPDATED_AT,
    PJ_STARTED_AT,
    PJ_FINISHED_AT,
    PJ_DLQ_ID,
    PJ_ARGS,
    PJ_KWARGS,
    PJ_METADATA,
    PJ_LAST_ERROR,
    PJ_ATTEMPTS,
    PJ_RESULT,
    PJ_NCOLS /* the row id follows */
};
#define PG_JOB_SMALL_COLS                                                                          \
    "job_id, queue, task_name, tenant_id, state, priority, run_at, attempt, max_retries,"          \
    " timeout_s, lease_token, lease_expires_at, worker_id, backoff_base_ms, backoff_factor,"       \
    " backoff_max_ms, replay_of, idempotency_key, target, created_at, updated_at, started_at,"     \
    " finished_at, dlq_id"
#define PG_JOB_COLS    PG_JOB_SMALL_COLS ", args, kwargs, metadata, last_error, attempts, result, id"
#define PG_JOB_LEASE   PG_JOB_SMALL_COLS ", NULL, NULL, NULL, NULL, NULL, NULL, id"
#define PG_JOB_RESERVE PG_JOB_SMALL_COLS ", args, kwargs, metadata, NULL, NULL, NULL, id"

/* The SET clause that appends attempt $N (text of one JSON object) to attempts. */
#define PG_JOB_APPEND(n)                                                                           \
    "attempts = CASE WHEN attempts IS NULL OR attempts = '[]' THEN '[' || $" n "::text || ']'"     \
    " ELSE left(attempts, -1) || ',' || $" n "::text || ']' END"

/* dlq_pg_job_from_row fills j (zeroed first) from row's columns col0.. in
 * PG_JOB_COLS order. DLQ_OK, or DLQ_E_NOMEM with j cleared. */
int dlq_pg_job_from_row(const PGresult *r, int row, int col0, struct dlq_job *j);

/* dlq_pg_job_lease reads the job job_id (light row, locked FOR UPDATE so
 * the calls on one job take turns across nodes; *id its row id) and checks
 * that lease_token holds its lease: DLQ_OK; DLQ_E_NOTFOUND (no such job, or
 * not of tenant) or DLQ_E_CONFLICT (naming its state) with res->code and
 * res->detail set; or another code with err set. j is the caller's to
 * clear in every case. */
int dlq_pg_job_lease(struct pg_conn *c, const char *job_id, const char *lease_token,
                     const char *tenant, struct dlq_job *j, int64_t *id, struct dlq_job_result *res,
                     char *err, size_t errlen);

/* Queues a transaction made jobs ready in: each is notified once. */
struct pg_qnotify {
    char queue[8][129];
    size_t n;
};
/* dlq_pg_job_notify notifies queue (NULL: "default") unless qn already did
 * in this transaction. */
int dlq_pg_job_notify(struct pg_conn *c, struct pg_qnotify *qn, const char *queue, char *err,
                      size_t errlen);

/* dlq_pg_job_failed records a failed attempt of the leased job j (row id):
 * the retry (SCHEDULED after the backoff) or the job's end (DEAD: a new
 * entry, or the replayed entry's REPLAY_FAILED), in c's transaction; res
 * tells which. */
int dlq_pg_job_failed(struct pg_conn *c, const struct dlq_job *j, int64_t id, int retryable,
                      enum dlq_reason reason, int timeout, const char *error_json, int64_t now,
                      struct pg_qnotify *qn, struct dlq_job_result *res, char *err, size_t errlen);

#endif
