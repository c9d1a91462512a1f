/*
 * pg_job_run.c: the worker's hot path on PostgreSQL, ported from SQLite's
 * sq_job_run.c and sq_job.c: reserve, ack, heartbeat, a webhook dispatch's
 * success, and cancel. Reserve is one statement: it locks the first ready
 * rows in reserve order (priority DESC, run_at, id) with FOR UPDATE SKIP
 * LOCKED, so nodes reserving at once each take other jobs and never wait
 * for one another, and leases them in the same UPDATE. The other calls
 * start with the lease check, which locks the job's row, so an ack racing
 * a lease expiry on another node sees the state the first one left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "dlq/util.h"
#include "../store_json.h"
#include "pg_job_int.h"

#define RESERVE_MAX 100

/* ---- reserve ---- */

struct reserve_req {
    const struct dlq_reserve *rq;
    struct dlq_job *out;
    size_t n;
    char *tasks; /* the task_names as a text[] literal, or NULL */
    char tokens[32 * RESERVE_MAX + 1];
    int64_t t0_ns; /* when the call began (monotonic) */
};

/* tasks_literal returns rq's task names as an array literal ({"a","b"}),
 * malloc'd; NULL when out of memory. */
static char *tasks_literal(const struct dlq_reserve *rq)
{
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{");
    int first = 1;
    for (size_t i = 0; i < rq->ntask; i++) {
        const char *t = rq->task_names[i];
        if (t == NULL)
            continue;
        dlq_buf_puts(&b, first ? "\"" : ",\"");
        first = 0;
        for (; *t; t++) {
            char ch[3] = {'\\', *t, '\0'};
            dlq_buf_puts(&b, (*t == '"' || *t == '\\') ? ch : ch + 1);
        }
        dlq_buf_puts(&b, "\"");
    }
    dlq_buf_puts(&b, "}");
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
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

/* The reserve statement: $1 target, $2 queue or NULL, $3 tenant or NULL,
 * $4 task names or NULL, $5 max, $6 tokens (32 hex digits per row, in
 * reserve order), $7 now, $8 lease seconds (<= 0: the job's timeout), $9
 * worker. A paused queue's jobs are never picked. The picked rows are
 * numbered in reserve order so each gets its own token and the answer
 * comes back in that order. */
/* A grant that came late counts from when it was made, so a reserve that
 * waited a second or more for locks (or was retried after a deadlock)
 * does not hand out a lease about to expire; a prompt one is exactly now
 * + lease. $10 is the time since the call (earlier attempts), WAITED_MS
 * how long this statement has run, by the database's clock (a difference,
 * so clock skew does not matter). */
#define WAITED_MS "(1000 * extract(epoch FROM clock_timestamp() - statement_timestamp()))::bigint"
#define LATE_MS                                                                                    \
    "(SELECT CASE WHEN w >= 1000 THEN w ELSE 0 END FROM (SELECT $10::bigint + " WAITED_MS          \
    " AS w) z)"
#define RESERVE_SQL(queue_cond, order)                                                             \
    "WITH picked AS (SELECT id AS pid, row_number() OVER (ORDER BY " order ") AS rn FROM"          \
    " (SELECT id, queue, priority, run_at FROM jobs WHERE state = 1 AND target = $1::int"          \
    " AND " queue_cond " AND ($3::text IS NULL OR tenant_id = $3)"                                 \
    " AND ($4::text[] IS NULL OR task_name = ANY($4::text[]))"                                     \
    " AND NOT EXISTS (SELECT 1 FROM queue_settings s WHERE s.queue = jobs.queue"                   \
    " AND s.paused <> 0) ORDER BY " order " LIMIT $5::int FOR UPDATE SKIP LOCKED) x)"              \
    " UPDATE jobs SET state = 3, attempt = attempt + 1,"                                           \
    " lease_token = substr($6::text, (p.rn::int - 1) * 32 + 1, 32),"                               \
    " lease_expires_at = $7::bigint + 1000 * (CASE WHEN $8::int > 0 THEN $8::int"                  \
    " ELSE timeout_s END) + " LATE_MS ", worker_id = $9, started_at = $7::bigint,"                 \
    " updated_at = $7::bigint"                                                                     \
    " FROM picked p WHERE jobs.id = p.pid RETURNING " PG_JOB_RESERVE ", p.rn"

static const char reserve_queue_sql[] =
    RESERVE_SQL("queue = $2::text", "priority DESC, run_at, id");
static const char reserve_any_sql[] =
    RESERVE_SQL("($2::text IS NULL OR queue = $2)", "queue, priority DESC, run_at, id");

static int reserve_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct reserve_req *q = ctx;
    const struct dlq_reserve *rq = q->rq;
    size_t max = rq->max > RESERVE_MAX ? RESERVE_MAX : rq->max;
    uint8_t rnd[16 * RESERVE_MAX];
    struct pg_params p;
    PGresult *r = NULL;
    /* The body may run twice (a retried transaction): start from nothing. */
    for (size_t i = 0; i < q->n; i++)
        dlq_job_clear(&q->out[i]);
    q->n = 0;
    if (max == 0)
        return DLQ_OK;
    if (dlq_random(rnd, 16 * max) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    for (size_t i = 0; i < max; i++)
        hex(rnd + 16 * i, 16, q->tokens + 32 * i);
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, rq->target);
    dlq_pg_p_text(&p, rq->queue);
    dlq_pg_p_text(&p, rq->tenant);
    dlq_pg_p_text(&p, q->tasks);
    dlq_pg_p_int(&p, (int64_t)max);
    dlq_pg_p_text(&p, q->tokens);
    dlq_pg_p_int(&p, rq->now);
    dlq_pg_p_int(&p, rq->lease_s);
    dlq_pg_p_text(&p, rq->worker_id ? rq->worker_id : "worker");
    dlq_pg_p_int(&p, (dlq_mono_ns() - q->t0_ns) / 1000000);
    int code = dlq_pg_exec(c, rq->queue ? reserve_queue_sql : reserve_any_sql, &p, &r, "lease jobs",
                           err, errlen);
    if (code != DLQ_OK)
        return code;
    int rows = PQntuples(r);
    for (int i = 0; i < rows && code == DLQ_OK; i++) {
        int64_t rn = dlq_pg_i64(r, i, PJ_NCOLS + 1);
        if (rn < 1 || rn > (int64_t)max || q->out[rn - 1].job_id[0] != '\0') {
            code = dlq_errf(err, errlen, DLQ_E_INTERNAL, "lease jobs: bad row number");
            break;
        }
        if (dlq_pg_job_from_row(r, i, 0, &q->out[rn - 1]) != DLQ_OK)
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    PQclear(r);
    /* every slot up to rows is filled (row numbers are 1..rows) */
    q->n = (size_t)rows;
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++)
        if (q->out[i].job_id[0] == '\0')
            code = dlq_errf(err, errlen, DLQ_E_INTERNAL, "lease jobs: missing row");
    return code;
}

int dlq_pg_job_reserve(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                       size_t *n, char *err, size_t errlen)
{
    struct reserve_req *q = calloc(1, sizeof *q);
    *n = 0;
    if (q == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    q->rq = rq;
    q->out = out;
    size_t max = rq->max > RESERVE_MAX ? RESERVE_MAX : rq->max;
    for (size_t i = 0; i < max; i++)
        memset(&out[i], 0, sizeof out[i]);
    if (rq->ntask > 0 && rq->task_names && (q->tasks = tasks_literal(rq)) == NULL) {
        free(q);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    q->t0_ns = dlq_mono_ns();
    int code = dlq_pg_tx(PG(s), reserve_body, q, err, errlen);
    if (code != DLQ_OK) {
        for (size_t i = 0; i < max; i++)
            dlq_job_clear(&out[i]);
    } else {
        *n = q->n;
    }
    free(q->tasks);
    free(q);
    return code;
}

/* ---- ack ---- */

struct ack_req {
    const struct dlq_job_ack *acks;
    size_t n;
    const char *tenant;
    int64_t now;
    struct dlq_job_result *res;
};

/* finish moves the leased job j (row id) to state with its attempt
 * appended (outcome) and result. */
static int finish(struct pg_conn *c, const struct dlq_job *j, int64_t id, int state,
                  const char *outcome, const char *result, int64_t now, char *err, size_t errlen)
{
    struct pg_params p;
    char *attempt = dlq_store_job_attempt(j, now, outcome, NULL);
    if (attempt == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    dlq_pg_p_text(&p, result);
    dlq_pg_p_int(&p, now);
    dlq_pg_p_text(&p, attempt);
    dlq_pg_p_int(&p, state);
    int code = dlq_pg_exec(c,
                           "UPDATE jobs SET state = $5, result = $2, finished_at = $3,"
                           " updated_at = $3, lease_token = NULL, lease_expires_at = NULL,"
                           " " PG_JOB_APPEND("4") " WHERE id = $1",
                           &p, NULL, "finish job", err, errlen);
    free(attempt);
    return code;
}

static int ack_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct ack_req *q = ctx;
    int code = DLQ_OK;
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        const struct dlq_job_ack *a = &q->acks[i];
        struct dlq_job_result *r = &q->res[i];
        struct dlq_job j;
        int64_t id = 0;
        memset(r, 0, sizeof *r);
        code = dlq_pg_job_lease(c, a->job_id, a->lease_token, q->tenant, &j, &id, r, err, errlen);
        if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
            dlq_job_clear(&j);
            snprintf(r->job_id, sizeof r->job_id, "%s", a->job_id);
            code = DLQ_OK;
            continue;
        }
        /* A replay's success resolves its entry; an entry that moved on
         * meanwhile (resolved by hand, say) is left as it is. The entry
         * goes first: every transaction that changes both an entry and a
         * job (bulk replay, dead-lettering a replay) does the entry first,
         * so their counter row locks are taken in one order (no deadlock). */
        if (code == DLQ_OK && j.replay_of) {
            code = dlq_pg_act_replay_outcome(c, j.replay_of, j.job_id, 1, NULL,
                                             j.worker_id ? j.worker_id : "system", q->now, err,
                                             errlen);
            snprintf(r->dlq_id, sizeof r->dlq_id, "%s", j.replay_of);
        }
        if (code == DLQ_OK)
            code =
                finish(c, &j, id, DLQ_JOB_SUCCEEDED, "succeeded", a->result, q->now, err, errlen);
        r->code = code;
        r->state = DLQ_JOB_SUCCEEDED;
        dlq_job_clear(&j);
    }
    return code;
}

int dlq_pg_job_ack(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                   const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                   size_t errlen)
{
    struct ack_req q = {acks, n, tenant, now, res};
    int code = dlq_pg_tx(PG(s), ack_body, &q, err, errlen);
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

static int dispatched_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct dispatched_req *q = ctx;
    struct dlq_job_result r = {0};
    struct dlq_job j;
    int64_t id = 0;
    int code = dlq_pg_job_lease(c, q->job_id, q->token, NULL, &j, &id, &r, err, errlen);
    if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", r.detail);
    }
    if (code == DLQ_OK)
        code = finish(c, &j, id, DLQ_JOB_DISPATCHED, "dispatched", NULL, q->now, err, errlen);
    /* The target's own task id: its later failure report (ingest with
     * original_task_id = task_id) then finds the replayed entry. */
    if (code == DLQ_OK && q->task_id && j.replay_of) {
        struct pg_params p;
        dlq_pg_p_init(&p);
        dlq_pg_p_text(&p, q->task_id);
        dlq_pg_p_text(&p, j.replay_of);
        code = dlq_pg_exec(c, "UPDATE entries SET retry_task_id = $1 WHERE dlq_id = $2", &p, NULL,
                           "link target task", err, errlen);
    }
    dlq_job_clear(&j);
    return code;
}

int dlq_pg_job_dispatched(struct dlq_store *s, const char *job_id, const char *lease_token,
                          const char *task_id, int64_t now, char *err, size_t errlen)
{
    struct dispatched_req q = {job_id, lease_token, task_id, now};
    return dlq_pg_tx(PG(s), dispatched_body, &q, err, errlen);
}

/* ---- cancel and heartbeat ---- */

struct one_req {
    const char *job_id, *token, *tenant;
    int extend_s;
    int64_t now;
    struct dlq_job_result *res;
};

static int cancel_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct one_req *q = ctx;
    struct dlq_job j;
    int64_t id = 0;
    memset(q->res, 0, sizeof *q->res);
    /* The lease check's refusals: only "not found" matters here. */
    int code = dlq_pg_job_lease(c, q->job_id, NULL, q->tenant, &j, &id, q->res, err, errlen);
    if (code == DLQ_E_NOTFOUND) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", q->res->detail);
    }
    if (code != DLQ_OK && code != DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return code;
    }
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
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    dlq_pg_p_int(&p, q->now);
    code = dlq_pg_exec(c,
                       "UPDATE jobs SET state = 6, finished_at = $2, updated_at = $2"
                       " WHERE id = $1",
                       &p, NULL, "cancel job", err, errlen);
    q->res->state = DLQ_JOB_CANCELLED;
    dlq_job_clear(&j);
    return code;
}

int dlq_pg_job_cancel(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                      struct dlq_job_result *res, char *err, size_t errlen)
{
    struct one_req q = {.job_id = job_id, .tenant = tenant, .now = now, .res = res};
    int code = dlq_pg_tx(PG(s), cancel_body, &q, err, errlen);
    res->code = code;
    return code;
}

static int heartbeat_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct one_req *q = ctx;
    struct dlq_job j;
    int64_t id = 0;
    memset(q->res, 0, sizeof *q->res);
    int code = dlq_pg_job_lease(c, q->job_id, q->token, q->tenant, &j, &id, q->res, err, errlen);
    if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", q->res->detail);
    }
    if (code != DLQ_OK) {
        dlq_job_clear(&j);
        return code;
    }
    int64_t until = q->now + 1000 * (int64_t)(q->extend_s > 0 ? q->extend_s : j.timeout_s);
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    dlq_pg_p_int(&p, until);
    dlq_pg_p_int(&p, q->now);
    code = dlq_pg_exec(c, "UPDATE jobs SET lease_expires_at = $2, updated_at = $3 WHERE id = $1",
                       &p, NULL, "extend lease", err, errlen);
    q->res->lease_expires_at = until;
    dlq_job_clear(&j);
    return code;
}

int dlq_pg_job_heartbeat(struct dlq_store *s, const char *job_id, const char *lease_token,
                         const char *tenant, int extend_s, int64_t now, struct dlq_job_result *res,
                         char *err, size_t errlen)
{
    struct one_req q = {job_id, lease_token, tenant, extend_s, now, res};
    int code = dlq_pg_tx(PG(s), heartbeat_body, &q, err, errlen);
    res->code = code;
    return code;
}
