/*
 * sq_job.c: the job queue's shared pieces and its simple calls. A job is one
 * row of jobs (sq_schema.c step 5); its state moves are single-row UPDATEs by
 * rowid with statements cached on the writer connection, and every move
 * changes the per-queue depth counters (queue_counts) in the same
 * transaction: a request sums its changes per (queue, tenant, state), hands
 * them to the group when it succeeds, and the writer applies one upsert per
 * key before the group commits (struct sq_jdelta), so queue_list reads
 * counters and never counts rows, and the hot path pays no upsert per job. Here: row decoding, the
 * counter sums, the lease check every worker call starts with, the attempt record, and enqueue,
 * get, cancel and heartbeat. Reserve/ack/dispatch are in sq_job_run.c, failures and timers in
 * sq_job_fail.c, queues in sq_job_queue.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

/* dlq_sq_job_step steps a statement that returns no rows and resets it. */
int dlq_sq_job_step(struct sq_conn *w, sqlite3_stmt *st, char *err, size_t errlen, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, what);
    return DLQ_OK;
}

static int64_t col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, i);
}

/* dlq_sq_job_from_row fills j (zeroed first) from a row in SQ_JOB_COLS order.
 * DLQ_OK, or DLQ_E_NOMEM with j cleared. */
int dlq_sq_job_from_row(sqlite3_stmt *st, struct dlq_job *j)
{
    int oom = 0;
    memset(j, 0, sizeof *j);
    dlq_sq_col_copy(st, SJ_JOB_ID, j->job_id, sizeof j->job_id);
    j->queue = dlq_sq_col_dup(st, SJ_QUEUE, &oom);
    j->task_name = dlq_sq_col_dup(st, SJ_TASK_NAME, &oom);
    j->tenant_id = dlq_sq_col_dup(st, SJ_TENANT_ID, &oom);
    j->state = (enum dlq_job_state)sqlite3_column_int(st, SJ_STATE);
    j->priority = sqlite3_column_int(st, SJ_PRIORITY);
    j->run_at = col_time(st, SJ_RUN_AT);
    j->attempt = sqlite3_column_int(st, SJ_ATTEMPT);
    j->max_retries = sqlite3_column_int(st, SJ_MAX_RETRIES);
    j->timeout_s = sqlite3_column_int(st, SJ_TIMEOUT_S);
    dlq_sq_col_copy(st, SJ_LEASE_TOKEN, j->lease_token, sizeof j->lease_token);
    j->lease_expires_at = col_time(st, SJ_LEASE_EXPIRES_AT);
    j->worker_id = dlq_sq_col_dup(st, SJ_WORKER_ID, &oom);
    j->backoff_base_ms = sqlite3_column_int64(st, SJ_BACKOFF_BASE_MS);
    j->backoff_factor = sqlite3_column_double(st, SJ_BACKOFF_FACTOR);
    j->backoff_max_ms = sqlite3_column_int64(st, SJ_BACKOFF_MAX_MS);
    j->replay_of = dlq_sq_col_dup(st, SJ_REPLAY_OF, &oom);
    j->idempotency_key = dlq_sq_col_dup(st, SJ_IDEMPOTENCY_KEY, &oom);
    j->target = (enum dlq_target)sqlite3_column_int(st, SJ_TARGET);
    j->created_at = col_time(st, SJ_CREATED_AT);
    j->updated_at = col_time(st, SJ_UPDATED_AT);
    j->started_at = col_time(st, SJ_STARTED_AT);
    j->finished_at = col_time(st, SJ_FINISHED_AT);
    j->dlq_id = dlq_sq_col_dup(st, SJ_DLQ_ID, &oom);
    j->args = dlq_sq_col_dup(st, SJ_ARGS, &oom);
    j->kwargs = dlq_sq_col_dup(st, SJ_KWARGS, &oom);
    j->metadata = dlq_sq_col_dup(st, SJ_METADATA, &oom);
    j->last_error = dlq_sq_col_dup(st, SJ_LAST_ERROR, &oom);
    j->attempts = dlq_sq_col_dup(st, SJ_ATTEMPTS, &oom);
    j->result = dlq_sq_col_dup(st, SJ_RESULT, &oom);
    if (oom) {
        dlq_job_clear(j);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

/* ---- depth counters ---- */

void dlq_sq_jdelta_add(struct sq_jdelta *d, const char *queue, const char *tenant, int state,
                       int delta)
{
    if (queue == NULL)
        queue = "default";
    if (tenant == NULL)
        tenant = "";
    for (size_t i = 0; i < d->n; i++) {
        struct sq_jdelta_key *k = &d->k[i];
        if (k->state == state && strcmp(k->queue, queue) == 0 && strcmp(k->tenant, tenant) == 0) {
            k->d += delta;
            return;
        }
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct sq_jdelta_key *p = realloc(d->k, cap * sizeof *p);
        if (p == NULL) {
            d->oom = 1;
            return;
        }
        d->k = p;
        d->cap = cap;
    }
    struct sq_jdelta_key *k = &d->k[d->n];
    k->queue = strdup(queue);
    k->tenant = strdup(tenant);
    k->state = state;
    k->d = delta;
    if (k->queue == NULL || k->tenant == NULL) {
        free(k->queue);
        free(k->tenant);
        d->oom = 1;
        return;
    }
    d->n++;
}

void dlq_sq_jdelta_move(struct sq_jdelta *d, const char *queue, const char *tenant, int from,
                        int to)
{
    if (from != DLQ_JOB_NONE)
        dlq_sq_jdelta_add(d, queue, tenant, from, -1);
    if (to != DLQ_JOB_NONE)
        dlq_sq_jdelta_add(d, queue, tenant, to, 1);
}

void dlq_sq_jdelta_free(struct sq_jdelta *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->k[i].queue);
        free(d->k[i].tenant);
    }
    free(d->k);
    memset(d, 0, sizeof *d);
}

/* merge adds the sums of d to into (a request's sums into the group's). */
static void merge(struct sq_jdelta *into, const struct sq_jdelta *d)
{
    into->oom |= d->oom;
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].d != 0)
            dlq_sq_jdelta_add(into, d->k[i].queue, d->k[i].tenant, d->k[i].state, (int)d->k[i].d);
}

int dlq_sq_jdelta_flush(struct sq_conn *w, struct sq_jdelta *d, char *err, size_t errlen)
{
    int oom = d->oom;
    merge(&w->jd, d);
    dlq_sq_jdelta_free(d);
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

int dlq_sq_jdelta_apply(struct sq_conn *w, char *err, size_t errlen)
{
    struct sq_jdelta *d = &w->jd;
    int code = DLQ_OK;
    if (d->oom)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    for (size_t i = 0; i < d->n && code == DLQ_OK; i++) {
        struct sq_jdelta_key *k = &d->k[i];
        sqlite3_stmt *st;
        if (k->d == 0)
            continue;
        code = dlq_sq_stmt_dyn(w,
                               "INSERT INTO queue_counts(queue, tenant_id, state, n)"
                               " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(queue, tenant_id, state)"
                               " DO UPDATE SET n = n + excluded.n",
                               &st, err, errlen);
        if (code != DLQ_OK)
            break;
        sqlite3_bind_text(st, 1, k->queue, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, k->state);
        sqlite3_bind_int64(st, 4, k->d);
        code = dlq_sq_job_step(w, st, err, errlen, "count jobs");
    }
    dlq_sq_jdelta_free(d);
    return code;
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

int dlq_sq_job_lease(struct sq_conn *w, const char *job_id, const char *lease_token,
                     const char *tenant, struct dlq_job *j, sqlite3_int64 *rowid,
                     struct dlq_job_result *res, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    memset(j, 0, sizeof *j);
    int code =
        dlq_sq_stmt_dyn(w, "SELECT " SQ_JOB_LEASE " FROM jobs WHERE job_id = ?1", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(st, SJ_NCOLS);
        code = dlq_sq_job_from_row(st, j);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE ||
        (rc == SQLITE_ROW && code == DLQ_OK && tenant && strcmp(j->tenant_id, tenant) != 0)) {
        dlq_job_clear(j);
        return refuse(res, DLQ_E_NOTFOUND, job_id, NULL, NULL);
    }
    if (rc != SQLITE_ROW)
        return dlq_sq_err(w->db, rc, err, errlen, "find job");
    if (code != DLQ_OK)
        return dlq_errf(err, errlen, code, "out of memory");
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

/* ---- enqueue ---- */

struct enqueue_req {
    const struct dlq_job *jobs;
    size_t n;
    struct dlq_job_result *res;
};

/* find_idem looks the job's idempotency key up; 1 with r filled when it
 * exists, 0 when not, or a negative code. */
static int find_idem(struct sq_conn *w, const struct dlq_job *j, const char *tenant,
                     struct dlq_job_result *r, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "SELECT job_id, state, attempt FROM jobs INDEXED BY ux_jobs_idem"
                               " WHERE tenant_id = ?1 AND queue = ?2 AND idempotency_key = ?3",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, j->queue);
    sqlite3_bind_text(st, 3, j->idempotency_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        dlq_sq_col_copy(st, 0, r->job_id, sizeof r->job_id);
        r->state = (enum dlq_job_state)sqlite3_column_int(st, 1);
        r->attempt = sqlite3_column_int(st, 2);
        r->created = 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "job idempotency lookup");
    return 0;
}

static int insert_job(struct sq_conn *w, const struct dlq_job *j, const char *tenant, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(
        w,
        "INSERT INTO jobs(job_id, queue, task_name, tenant_id, state, priority, run_at, attempt,"
        " max_retries, timeout_s, backoff_base_ms, backoff_factor, backoff_max_ms, replay_of,"
        " idempotency_key, target, created_at, updated_at, args, kwargs, metadata)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)",
        &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, j->job_id, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, j->queue ? j->queue : "default");
    dlq_sq_bind_text(st, 3, j->task_name);
    sqlite3_bind_text(st, 4, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, j->state);
    sqlite3_bind_int(st, 6, j->priority);
    sqlite3_bind_int64(st, 7, j->run_at);
    sqlite3_bind_int(st, 8, j->attempt);
    sqlite3_bind_int(st, 9, j->max_retries);
    sqlite3_bind_int(st, 10, j->timeout_s);
    sqlite3_bind_int64(st, 11, j->backoff_base_ms);
    sqlite3_bind_double(st, 12, j->backoff_factor);
    sqlite3_bind_int64(st, 13, j->backoff_max_ms);
    dlq_sq_bind_text(st, 14, j->replay_of);
    dlq_sq_bind_text(st, 15, j->idempotency_key);
    sqlite3_bind_int(st, 16, j->target);
    sqlite3_bind_int64(st, 17, j->created_at);
    sqlite3_bind_int64(st, 18, j->updated_at ? j->updated_at : j->created_at);
    dlq_sq_bind_text(st, 19, j->args ? j->args : "[]");
    dlq_sq_bind_text(st, 20, j->kwargs ? j->kwargs : "{}");
    dlq_sq_bind_text(st, 21, j->metadata);
    return dlq_sq_job_step(w, st, err, errlen, "insert job");
}

static int enqueue_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct enqueue_req *q = arg;
    struct sq_jdelta d = {0};
    int code = DLQ_OK;
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        const struct dlq_job *j = &q->jobs[i];
        struct dlq_job_result *r = &q->res[i];
        const char *tenant = j->tenant_id ? j->tenant_id : "";
        memset(r, 0, sizeof *r);
        if (j->idempotency_key) {
            code = find_idem(w, j, tenant, r, err, errlen);
            if (code == 1) {
                code = DLQ_OK;
                continue;
            }
            if (code < 0)
                break;
        }
        if ((code = insert_job(w, j, tenant, err, errlen)) != DLQ_OK)
            break;
        dlq_sq_jdelta_add(&d, j->queue, tenant, j->state, 1);
        snprintf(r->job_id, sizeof r->job_id, "%s", j->job_id);
        r->state = j->state;
        r->attempt = j->attempt;
        r->created = 1;
    }
    if (code == DLQ_OK)
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_job_enqueue implements job_enqueue (store.h). */
int dlq_sq_job_enqueue(struct dlq_store *base, const struct dlq_job *jobs, size_t n,
                       struct dlq_job_result *res, char *err, size_t errlen)
{
    struct enqueue_req q = {jobs, n, res};
    int code = dlq_sq_write((struct sq_store *)base, enqueue_fn, &q, err, errlen);
    for (size_t i = 0; i < n && code != DLQ_OK; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].code = code;
    }
    return code;
}

/* ---- get ---- */

/* dlq_sq_job_get implements job_get (store.h). */
int dlq_sq_job_get(struct dlq_store *base, const char *job_id, const char *tenant,
                   struct dlq_job *out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_stmt_dyn(c,
                           "SELECT " SQ_JOB_COLS " FROM jobs WHERE job_id = ?1"
                           " AND (?2 IS NULL OR tenant_id = ?2)",
                           &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
        dlq_sq_bind_text(st, 2, tenant);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            code = dlq_sq_job_from_row(st, out);
        if (rc == SQLITE_ROW && code != DLQ_OK)
            code = dlq_errf(err, errlen, code, "out of memory");
        else if (rc == SQLITE_DONE)
            code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no job '%.100s'", job_id);
        else if (rc != SQLITE_ROW)
            code = dlq_sq_err(c->db, rc, err, errlen, "get job");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    return code;
}

/* ---- cancel and heartbeat ---- */

struct one_req {
    const char *job_id, *token, *tenant;
    int extend_s;
    int64_t now;
    struct dlq_job_result *res;
};

static int cancel_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct one_req *q = arg;
    struct dlq_job j;
    sqlite3_int64 rowid;
    sqlite3_stmt *st;
    memset(q->res, 0, sizeof *q->res);
    /* The lease check's refusals: only "not found" matters here. */
    int code = dlq_sq_job_lease(w, q->job_id, NULL, q->tenant, &j, &rowid, q->res, err, errlen);
    if (code == DLQ_E_NOTFOUND)
        return dlq_errf(err, errlen, code, "%s", q->res->detail);
    if (code != DLQ_OK && code != DLQ_E_CONFLICT)
        return code;
    memset(q->res, 0, sizeof *q->res);
    snprintf(q->res->job_id, sizeof q->res->job_id, "%s", j.job_id);
    q->res->state = j.state;
    q->res->attempt = j.attempt;
    if (j.state != DLQ_JOB_QUEUED && j.state != DLQ_JOB_SCHEDULED) {
        const char *name = dlq_job_state_name(j.state);
        q->res->code = dlq_errf(err, errlen, DLQ_E_CONFLICT,
                                "job %s is %s: only a queued or scheduled job can be cancelled",
                                j.job_id, name ? name : "unknown");
        snprintf(q->res->detail, sizeof q->res->detail, "%s", err ? err : "");
        dlq_job_clear(&j);
        return DLQ_E_CONFLICT;
    }
    code = dlq_sq_stmt_dyn(w,
                           "UPDATE jobs SET state = 6, finished_at = ?2, updated_at = ?2"
                           " WHERE id = ?1",
                           &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_int64(st, 2, q->now);
        code = dlq_sq_job_step(w, st, err, errlen, "cancel job");
    }
    if (code == DLQ_OK) {
        struct sq_jdelta d = {0};
        dlq_sq_jdelta_move(&d, j.queue, j.tenant_id, j.state, DLQ_JOB_CANCELLED);
        code = dlq_sq_jdelta_flush(w, &d, err, errlen);
    }
    q->res->state = DLQ_JOB_CANCELLED;
    dlq_job_clear(&j);
    return code;
}

/* dlq_sq_job_cancel implements job_cancel (store.h). */
int dlq_sq_job_cancel(struct dlq_store *base, const char *job_id, const char *tenant, int64_t now,
                      struct dlq_job_result *res, char *err, size_t errlen)
{
    struct one_req q = {.job_id = job_id, .tenant = tenant, .now = now, .res = res};
    int code = dlq_sq_write((struct sq_store *)base, cancel_fn, &q, err, errlen);
    res->code = code;
    return code;
}

static int heartbeat_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct one_req *q = arg;
    struct dlq_job j;
    sqlite3_int64 rowid;
    sqlite3_stmt *st;
    memset(q->res, 0, sizeof *q->res);
    int code = dlq_sq_job_lease(w, q->job_id, q->token, q->tenant, &j, &rowid, q->res, err, errlen);
    if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", q->res->detail);
    }
    if (code != DLQ_OK)
        return code;
    int64_t until = q->now + 1000 * (int64_t)(q->extend_s > 0 ? q->extend_s : j.timeout_s);
    code =
        dlq_sq_stmt_dyn(w, "UPDATE jobs SET lease_expires_at = ?2, updated_at = ?3 WHERE id = ?1",
                        &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_int64(st, 2, until);
        sqlite3_bind_int64(st, 3, q->now);
        code = dlq_sq_job_step(w, st, err, errlen, "extend lease");
    }
    q->res->lease_expires_at = until;
    dlq_job_clear(&j);
    return code;
}

/* dlq_sq_job_heartbeat implements job_heartbeat (store.h). */
int dlq_sq_job_heartbeat(struct dlq_store *base, const char *job_id, const char *lease_token,
                         const char *tenant, int extend_s, int64_t now, struct dlq_job_result *res,
                         char *err, size_t errlen)
{
    struct one_req q = {job_id, lease_token, tenant, extend_s, now, res};
    int code = dlq_sq_write((struct sq_store *)base, heartbeat_fn, &q, err, errlen);
    res->code = code;
    return code;
}
