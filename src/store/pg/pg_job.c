/*
 * pg_job.c: the job queue of the PostgreSQL backend, its shared pieces and
 * its simple calls, ported from SQLite's sq_job.c with the same answers. A
 * job is one row of jobs (pg_schema.c step 5); its depth counters
 * (queue_counts) are kept by triggers, so no call here counts anything.
 * Calls on one job take turns through its row lock (the lease check reads
 * FOR UPDATE), which SQLite's single writer gives for free. Here: row
 * decoding, the lease check, the attempt record, the notification of ready
 * queues, and enqueue and get. Reserve/ack/heartbeat/dispatch/cancel are in
 * pg_job_run.c, failures and timers in pg_job_fail.c, queues in
 * pg_job_queue.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "dlq/util.h"
#include "pg_job_int.h"

int dlq_pg_job_from_row(const PGresult *r, int row, int col0, struct dlq_job *j)
{
    int oom = 0;
#define COL(x) (col0 + (x))
    memset(j, 0, sizeof *j);
    dlq_pg_copy(r, row, COL(PJ_JOB_ID), j->job_id, sizeof j->job_id);
    j->queue = dlq_pg_dup(r, row, COL(PJ_QUEUE), &oom);
    j->task_name = dlq_pg_dup(r, row, COL(PJ_TASK_NAME), &oom);
    j->tenant_id = dlq_pg_dup(r, row, COL(PJ_TENANT_ID), &oom);
    j->state = (enum dlq_job_state)dlq_pg_i64(r, row, COL(PJ_STATE));
    j->priority = (int)dlq_pg_i64(r, row, COL(PJ_PRIORITY));
    j->run_at = dlq_pg_i64(r, row, COL(PJ_RUN_AT));
    j->attempt = (int)dlq_pg_i64(r, row, COL(PJ_ATTEMPT));
    j->max_retries = (int)dlq_pg_i64(r, row, COL(PJ_MAX_RETRIES));
    j->timeout_s = (int)dlq_pg_i64(r, row, COL(PJ_TIMEOUT_S));
    dlq_pg_copy(r, row, COL(PJ_LEASE_TOKEN), j->lease_token, sizeof j->lease_token);
    j->lease_expires_at = dlq_pg_i64(r, row, COL(PJ_LEASE_EXPIRES_AT));
    j->worker_id = dlq_pg_dup(r, row, COL(PJ_WORKER_ID), &oom);
    j->backoff_base_ms = dlq_pg_i64(r, row, COL(PJ_BACKOFF_BASE_MS));
    j->backoff_factor = dlq_pg_isnull(r, row, COL(PJ_BACKOFF_FACTOR))
                            ? 0.0
                            : strtod(PQgetvalue(r, row, COL(PJ_BACKOFF_FACTOR)), NULL);
    j->backoff_max_ms = dlq_pg_i64(r, row, COL(PJ_BACKOFF_MAX_MS));
    j->replay_of = dlq_pg_dup(r, row, COL(PJ_REPLAY_OF), &oom);
    j->idempotency_key = dlq_pg_dup(r, row, COL(PJ_IDEMPOTENCY_KEY), &oom);
    j->target = (enum dlq_target)dlq_pg_i64(r, row, COL(PJ_TARGET));
    j->created_at = dlq_pg_i64(r, row, COL(PJ_CREATED_AT));
    j->updated_at = dlq_pg_i64(r, row, COL(PJ_UPDATED_AT));
    j->started_at = dlq_pg_i64(r, row, COL(PJ_STARTED_AT));
    j->finished_at = dlq_pg_i64(r, row, COL(PJ_FINISHED_AT));
    j->dlq_id = dlq_pg_dup(r, row, COL(PJ_DLQ_ID), &oom);
    j->args = dlq_pg_dup(r, row, COL(PJ_ARGS), &oom);
    j->kwargs = dlq_pg_dup(r, row, COL(PJ_KWARGS), &oom);
    j->metadata = dlq_pg_dup(r, row, COL(PJ_METADATA), &oom);
    j->last_error = dlq_pg_dup(r, row, COL(PJ_LAST_ERROR), &oom);
    j->attempts = dlq_pg_dup(r, row, COL(PJ_ATTEMPTS), &oom);
    j->result = dlq_pg_dup(r, row, COL(PJ_RESULT), &oom);
#undef COL
    if (oom) {
        dlq_job_clear(j);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

/* ---- the lease check and the attempt record ---- */

static int refuse(struct dlq_job_result *res, int code, const char *job_id, const char *state,
                  const char *why)
{
    res->code = code;
    if (state)
        snprintf(res->detail, sizeof res->detail, "job %.60s is %s: %s", job_id, state, why);
    else
        snprintf(res->detail, sizeof res->detail, "no job '%.100s'", job_id);
    return code;
}

int dlq_pg_job_lease(struct pg_conn *c, const char *job_id, const char *lease_token,
                     const char *tenant, struct dlq_job *j, int64_t *id, struct dlq_job_result *res,
                     char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    memset(j, 0, sizeof *j);
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, job_id);
    int code = dlq_pg_exec(c, "SELECT " PG_JOB_LEASE " FROM jobs WHERE job_id = $1 FOR UPDATE", &p,
                           &r, "find job", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return refuse(res, DLQ_E_NOTFOUND, job_id, NULL, NULL);
    }
    *id = dlq_pg_i64(r, 0, PJ_NCOLS);
    code = dlq_pg_job_from_row(r, 0, 0, j);
    PQclear(r);
    if (code != DLQ_OK)
        return dlq_errf(err, errlen, code, "out of memory");
    if (tenant && strcmp(j->tenant_id, tenant) != 0) {
        dlq_job_clear(j);
        return refuse(res, DLQ_E_NOTFOUND, job_id, NULL, NULL);
    }
    snprintf(res->job_id, sizeof res->job_id, "%s", j->job_id);
    res->state = j->state;
    res->attempt = j->attempt;
    const char *state = dlq_job_state_name(j->state);
    if (j->state != DLQ_JOB_RUNNING)
        return refuse(res, DLQ_E_CONFLICT, j->job_id, state ? state : "unknown",
                      "the lease is no longer held");
    size_t n = strlen(j->lease_token);
    if (lease_token == NULL || strlen(lease_token) != n || n == 0 ||
        !dlq_ct_equal(lease_token, j->lease_token, n))
        return refuse(res, DLQ_E_CONFLICT, j->job_id, state,
                      "this lease token does not hold its lease");
    return DLQ_OK;
}

int dlq_pg_job_notify(struct pg_conn *c, struct pg_qnotify *qn, const char *queue, char *err,
                      size_t errlen)
{
    if (queue == NULL || queue[0] == '\0')
        queue = "default";
    for (size_t i = 0; i < qn->n; i++)
        if (strcmp(qn->queue[i], queue) == 0)
            return DLQ_OK;
    /* past the few remembered, notify again: PostgreSQL folds repeats */
    if (qn->n < sizeof qn->queue / sizeof qn->queue[0])
        snprintf(qn->queue[qn->n++], sizeof qn->queue[0], "%s", queue);
    return dlq_pg_notify_queue(c, queue, err, errlen);
}

/* ---- enqueue ---- */

struct enqueue_req {
    const struct dlq_job *jobs;
    size_t n;
    struct dlq_job_result *res;
};

/* find_idem looks the job's idempotency key up; 1 with r filled when it
 * exists, 0 when not, or a negative code. */
static int find_idem(struct pg_conn *c, const struct dlq_job *j, const char *tenant,
                     struct dlq_job_result *r, char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *res = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, tenant);
    dlq_pg_p_text(&p, j->queue ? j->queue : "default");
    dlq_pg_p_text(&p, j->idempotency_key);
    int code = dlq_pg_exec(c,
                           "SELECT job_id, state, attempt FROM jobs WHERE tenant_id = $1"
                           " AND queue = $2 AND idempotency_key = $3",
                           &p, &res, "job idempotency lookup", err, errlen);
    if (code != DLQ_OK)
        return code;
    int found = PQntuples(res) > 0;
    if (found) {
        dlq_pg_copy(res, 0, 0, r->job_id, sizeof r->job_id);
        r->state = (enum dlq_job_state)dlq_pg_i64(res, 0, 1);
        r->attempt = (int)dlq_pg_i64(res, 0, 2);
        r->created = 0;
    }
    PQclear(res);
    return found;
}

/* insert_job stores j; *inserted is 0 when its idempotency key was taken
 * meanwhile (another node's enqueue committed first). */
static int insert_job(struct pg_conn *c, const struct dlq_job *j, const char *tenant, int *inserted,
                      char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    char factor[32];
    snprintf(factor, sizeof factor, "%.17g", j->backoff_factor);
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, j->job_id);
    dlq_pg_p_text(&p, j->queue ? j->queue : "default");
    dlq_pg_p_text(&p, j->task_name);
    dlq_pg_p_text(&p, tenant);
    dlq_pg_p_int(&p, j->state);
    dlq_pg_p_int(&p, j->priority);
    dlq_pg_p_int(&p, j->run_at);
    dlq_pg_p_int(&p, j->attempt);
    dlq_pg_p_int(&p, j->max_retries);
    dlq_pg_p_int(&p, j->timeout_s);
    dlq_pg_p_int(&p, j->backoff_base_ms);
    dlq_pg_p_text(&p, factor);
    dlq_pg_p_int(&p, j->backoff_max_ms);
    dlq_pg_p_text(&p, j->replay_of);
    dlq_pg_p_text(&p, j->idempotency_key);
    dlq_pg_p_int(&p, j->target);
    dlq_pg_p_int(&p, j->created_at);
    dlq_pg_p_int(&p, j->updated_at ? j->updated_at : j->created_at);
    dlq_pg_p_text(&p, j->args ? j->args : "[]");
    dlq_pg_p_text(&p, j->kwargs ? j->kwargs : "{}");
    dlq_pg_p_text(&p, j->metadata);
    int code = dlq_pg_exec(
        c,
        "INSERT INTO jobs(job_id, queue, task_name, tenant_id, state, priority, run_at, attempt,"
        " max_retries, timeout_s, backoff_base_ms, backoff_factor, backoff_max_ms, replay_of,"
        " idempotency_key, target, created_at, updated_at, args, kwargs, metadata)"
        " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
        " ON CONFLICT (tenant_id, queue, idempotency_key) WHERE idempotency_key IS NOT NULL"
        " DO NOTHING",
        &p, &r, "insert job", err, errlen);
    if (code != DLQ_OK)
        return code;
    *inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return DLQ_OK;
}

static int enqueue_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct enqueue_req *q = ctx;
    struct pg_qnotify qn = {.n = 0};
    int code = DLQ_OK;
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        const struct dlq_job *j = &q->jobs[i];
        struct dlq_job_result *r = &q->res[i];
        const char *tenant = j->tenant_id ? j->tenant_id : "";
        int inserted = 0;
        memset(r, 0, sizeof *r);
        if (j->idempotency_key) {
            code = find_idem(c, j, tenant, r, err, errlen);
            if (code == 1) {
                code = DLQ_OK;
                continue;
            }
            if (code < 0)
                break;
        }
        if ((code = insert_job(c, j, tenant, &inserted, err, errlen)) != DLQ_OK)
            break;
        if (!inserted) {
            code = find_idem(c, j, tenant, r, err, errlen);
            if (code == 0)
                code = dlq_errf(err, errlen, DLQ_E_BUSY, "idempotency key taken and gone");
            code = code == 1 ? DLQ_OK : code;
            continue;
        }
        snprintf(r->job_id, sizeof r->job_id, "%s", j->job_id);
        r->state = j->state;
        r->attempt = j->attempt;
        r->created = 1;
        if (j->state == DLQ_JOB_QUEUED)
            code = dlq_pg_job_notify(c, &qn, j->queue, err, errlen);
    }
    return code;
}

int dlq_pg_job_enqueue(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                       struct dlq_job_result *res, char *err, size_t errlen)
{
    struct enqueue_req q = {jobs, n, res};
    int code = dlq_pg_tx(PG(s), enqueue_body, &q, err, errlen);
    for (size_t i = 0; i < n && code != DLQ_OK; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].code = code;
    }
    return code;
}

/* ---- get ---- */

struct get_req {
    const char *job_id, *tenant;
    struct dlq_job *out;
};

static int get_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct get_req *q = ctx;
    struct pg_params p;
    PGresult *r = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->job_id);
    dlq_pg_p_text(&p, q->tenant);
    int code = dlq_pg_exec(c,
                           "SELECT " PG_JOB_COLS " FROM jobs WHERE job_id = $1"
                           " AND ($2::text IS NULL OR tenant_id = $2)",
                           &p, &r, "get job", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) == 0)
        code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no job '%.100s'", q->job_id);
    else if (dlq_pg_job_from_row(r, 0, 0, q->out) != DLQ_OK)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    PQclear(r);
    return code;
}

int dlq_pg_job_get(struct dlq_store *s, const char *job_id, const char *tenant, struct dlq_job *out,
                   char *err, size_t errlen)
{
    struct get_req q = {job_id, tenant, out};
    memset(out, 0, sizeof *out);
    return dlq_pg_read(PG(s), get_body, &q, err, errlen);
}
