/*
 * sq_job_run.c: the worker's hot path: reserve, ack, and a webhook
 * dispatch's success. Each call is one write request of a few statements
 * cached on the writer connection. Reserve walks the ready index (target,
 * queue, priority DESC, run_at, id) from its start, so the first rows are
 * the ones to lease: highest priority first, then the longest ready; it
 * reads the rows first and then updates them by rowid (a row leaves the
 * partial index it is read from as it is updated). Ack appends the attempt record
 * by text concatenation in SQL (no JSON parse) and, for a replay job,
 * resolves the replayed entry through the entry state machine in the same
 * transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "../store_json.h"
#include "sq_int.h"

#define RESERVE_MAX 100

struct reserve_req {
    const struct dlq_reserve *rq;
    struct dlq_job *out;
    size_t n;
};

static int wanted(const struct dlq_reserve *rq, const unsigned char *task)
{
    if (rq->ntask == 0 || rq->task_names == NULL)
        return 1;
    for (size_t i = 0; i < rq->ntask; i++)
        if (task && rq->task_names[i] && strcmp((const char *)task, rq->task_names[i]) == 0)
            return 1;
    return 0;
}

/* paused returns 1 when queue is paused, 0 when not, or a negative code. */
static int paused(struct sq_conn *w, const char *queue, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code =
        dlq_sq_stmt_dyn(w, "SELECT paused FROM queue_settings WHERE queue = ?1", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), p = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "read queue settings");
    return p;
}

/* pick reads up to max ready jobs in reserve order into out (*n of them,
 * their rowids in ids): the rows are read once, here, and then updated. */
static int pick(struct sq_conn *w, const struct dlq_reserve *rq, size_t max, struct dlq_job *out,
                sqlite3_int64 *ids, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    const char *sql = rq->queue
                          ? "SELECT " SQ_JOB_RESERVE " FROM jobs WHERE state = 1 AND target = ?1"
                            " AND queue = ?2 AND (?3 IS NULL OR tenant_id = ?3)"
                            " ORDER BY priority DESC, run_at, id"
                          : "SELECT " SQ_JOB_RESERVE " FROM jobs WHERE state = 1 AND target = ?1"
                            " AND (?3 IS NULL OR tenant_id = ?3) AND NOT EXISTS (SELECT 1 FROM"
                            " queue_settings s WHERE s.queue = jobs.queue AND s.paused)"
                            " ORDER BY queue, priority DESC, run_at, id";
    int code = dlq_sq_stmt_dyn(w, sql, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int(st, 1, rq->target);
    dlq_sq_bind_text(st, 2, rq->queue);
    dlq_sq_bind_text(st, 3, rq->tenant);
    int rc = SQLITE_DONE;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!wanted(rq, sqlite3_column_text(st, SJ_TASK_NAME)))
            continue;
        if (dlq_sq_job_from_row(st, &out[*n]) != DLQ_OK) {
            sqlite3_reset(st);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        ids[(*n)++] = sqlite3_column_int64(st, SJ_NCOLS);
    }
    sqlite3_reset(st);
    if (*n < max && rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "find ready jobs");
    return DLQ_OK;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* lease makes the picked job j (row id) RUNNING for rq, in the row and in j. */
static int lease(struct sq_conn *w, sqlite3_stmt *st, const struct dlq_reserve *rq,
                 sqlite3_int64 id, const uint8_t rnd[16], struct dlq_job *j, char *err,
                 size_t errlen)
{
    const char *worker = rq->worker_id ? rq->worker_id : "worker";
    char *wcopy = strdup(worker);
    if (wcopy == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    free(j->worker_id);
    j->worker_id = wcopy;
    hex(rnd, 16, j->lease_token);
    j->state = DLQ_JOB_RUNNING;
    j->attempt++;
    j->lease_expires_at = rq->now + 1000 * (int64_t)(rq->lease_s > 0 ? rq->lease_s : j->timeout_s);
    j->started_at = j->updated_at = rq->now;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, j->lease_token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, rq->now);
    sqlite3_bind_int64(st, 4, j->lease_expires_at);
    sqlite3_bind_text(st, 5, j->worker_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, j->attempt);
    return dlq_sq_job_step(w, st, err, errlen, "lease job");
}

static int reserve_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct reserve_req *q = arg;
    const struct dlq_reserve *rq = q->rq;
    sqlite3_int64 ids[RESERVE_MAX];
    uint8_t rnd[16 * RESERVE_MAX];
    size_t max = rq->max > RESERVE_MAX ? RESERVE_MAX : rq->max;
    /* A request may run twice (its group retried): start from nothing. */
    for (size_t i = 0; i < q->n; i++)
        dlq_job_clear(&q->out[i]);
    q->n = 0;
    if (rq->queue) {
        int p = paused(w, rq->queue, err, errlen);
        if (p != 0)
            return p < 0 ? p : DLQ_OK;
    }
    int code = pick(w, rq, max, q->out, ids, &q->n, err, errlen);
    if (code != DLQ_OK || q->n == 0)
        return code;
    if (dlq_random(rnd, 16 * q->n) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    sqlite3_stmt *st;
    code = dlq_sq_stmt_dyn(w,
                           "UPDATE jobs SET state = 3, attempt = ?6, lease_token = ?2,"
                           " lease_expires_at = ?4, worker_id = ?5, started_at = ?3,"
                           " updated_at = ?3 WHERE id = ?1",
                           &st, err, errlen);
    struct sq_jdelta d = {0};
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        struct dlq_job *j = &q->out[i];
        code = lease(w, st, rq, ids[i], rnd + 16 * i, j, err, errlen);
        dlq_sq_jdelta_move(&d, j->queue, j->tenant_id, DLQ_JOB_QUEUED, DLQ_JOB_RUNNING);
    }
    if (code == DLQ_OK)
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_job_reserve implements job_reserve (store.h). */
int dlq_sq_job_reserve(struct dlq_store *base, const struct dlq_reserve *rq, struct dlq_job *out,
                       size_t *n, char *err, size_t errlen)
{
    struct reserve_req q = {rq, out, 0};
    *n = 0;
    int code = dlq_sq_write((struct sq_store *)base, reserve_fn, &q, err, errlen);
    if (code != DLQ_OK) {
        for (size_t i = 0; i < q.n; i++)
            dlq_job_clear(&out[i]);
        return code;
    }
    *n = q.n;
    return DLQ_OK;
}

/* ---- ack ---- */

struct ack_req {
    const struct dlq_job_ack *acks;
    size_t n;
    const char *tenant;
    int64_t now;
    struct dlq_job_result *res;
};

/* finish moves the leased job j (row rowid) to state with its attempt
 * appended (outcome) and result; counts it in d. */
static int finish(struct sq_conn *w, const struct dlq_job *j, sqlite3_int64 rowid, int state,
                  const char *outcome, const char *result, int64_t now, struct sq_jdelta *d,
                  char *err, size_t errlen)
{
    sqlite3_stmt *st;
    char *attempt = dlq_store_job_attempt(j, now, outcome, NULL);
    if (attempt == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int code = dlq_sq_stmt_dyn(
        w,
        "UPDATE jobs SET state = ?5, result = ?2, finished_at = ?3,"
        " updated_at = ?3, lease_token = NULL, lease_expires_at = NULL, " SQ_JOB_APPEND(
            "4") " WHERE id = ?1",
        &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int64(st, 1, rowid);
        dlq_sq_bind_text(st, 2, result);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_text(st, 4, attempt, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, state);
        code = dlq_sq_job_step(w, st, err, errlen, "finish job");
    }
    free(attempt);
    if (code == DLQ_OK)
        dlq_sq_jdelta_move(d, j->queue, j->tenant_id, DLQ_JOB_RUNNING, state);
    return code;
}

static int ack_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct ack_req *q = arg;
    struct sq_jdelta d = {0};
    int code = DLQ_OK;
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        const struct dlq_job_ack *a = &q->acks[i];
        struct dlq_job_result *r = &q->res[i];
        struct dlq_job j;
        sqlite3_int64 rowid;
        memset(r, 0, sizeof *r);
        code =
            dlq_sq_job_lease(w, a->job_id, a->lease_token, q->tenant, &j, &rowid, r, err, errlen);
        if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
            dlq_job_clear(&j);
            snprintf(r->job_id, sizeof r->job_id, "%s", a->job_id);
            code = DLQ_OK;
            continue;
        }
        if (code == DLQ_OK)
            code = finish(w, &j, rowid, DLQ_JOB_SUCCEEDED, "succeeded", a->result, q->now, &d, err,
                          errlen);
        /* A replay's success resolves its entry; an entry that moved on
         * meanwhile (resolved by hand, say) is left as it is. */
        if (code == DLQ_OK && j.replay_of) {
            code = dlq_sq_act_replay_outcome(w, j.replay_of, j.job_id, 1, NULL,
                                             j.worker_id ? j.worker_id : "system", q->now, err,
                                             errlen);
            snprintf(r->dlq_id, sizeof r->dlq_id, "%s", j.replay_of);
        }
        r->code = code;
        r->state = DLQ_JOB_SUCCEEDED;
        dlq_job_clear(&j);
    }
    if (code == DLQ_OK)
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_job_ack implements job_ack (store.h). */
int dlq_sq_job_ack(struct dlq_store *base, const struct dlq_job_ack *acks, size_t n,
                   const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                   size_t errlen)
{
    struct ack_req q = {acks, n, tenant, now, res};
    int code = dlq_sq_write((struct sq_store *)base, ack_fn, &q, err, errlen);
    for (size_t i = 0; i < n && code != DLQ_OK; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].code = code;
        snprintf(res[i].detail, sizeof res[i].detail, "%s", err ? err : "");
    }
    return code;
}

/* ---- a webhook target accepted a job ---- */

struct dispatched_req {
    const char *job_id, *token, *task_id;
    int64_t now;
};

static int dispatched_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct dispatched_req *q = arg;
    struct dlq_job_result r = {0};
    struct dlq_job j;
    struct sq_jdelta d = {0};
    sqlite3_int64 rowid;
    int code = dlq_sq_job_lease(w, q->job_id, q->token, NULL, &j, &rowid, &r, err, errlen);
    if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", r.detail);
    }
    if (code == DLQ_OK)
        code =
            finish(w, &j, rowid, DLQ_JOB_DISPATCHED, "dispatched", NULL, q->now, &d, err, errlen);
    /* The target's own task id: its later failure report (ingest with
     * original_task_id = task_id) then finds the replayed entry. */
    if (code == DLQ_OK && q->task_id && j.replay_of) {
        sqlite3_stmt *st;
        code = dlq_sq_stmt_dyn(w, "UPDATE entries SET retry_task_id = ?1 WHERE dlq_id = ?2", &st,
                               err, errlen);
        if (code == DLQ_OK) {
            sqlite3_bind_text(st, 1, q->task_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, j.replay_of, -1, SQLITE_STATIC);
            code = dlq_sq_job_step(w, st, err, errlen, "link target task");
        }
    }
    dlq_job_clear(&j);
    if (code == DLQ_OK)
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_job_dispatched implements job_dispatched (store.h). */
int dlq_sq_job_dispatched(struct dlq_store *base, const char *job_id, const char *lease_token,
                          const char *task_id, int64_t now, char *err, size_t errlen)
{
    struct dispatched_req q = {job_id, lease_token, task_id, now};
    return dlq_sq_write((struct sq_store *)base, dispatched_fn, &q, err, errlen);
}
