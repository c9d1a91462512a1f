/*
 * h_jobs.c: the worker protocol (ISSUE4_API.md): enqueue one job or a
 * batch, reserve with a long poll, ack (one or a batch), fail, heartbeat,
 * read and cancel a job. Bodies are decoded by core (every field problem
 * at once, 422); the service does the rest.
 *
 * The long poll never holds a pool thread: a reserve that finds nothing
 * suspends its connection (libmicrohttpd suspend/resume) and registers a
 * waiter with the service; a wake-up (a job may be ready, the deadline, the
 * server draining) resumes it, MHD runs the access handler again, and the
 * reserve is retried with the state kept in r->lp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static const char *body_text(struct dlq_req *r)
{
    return r->body.data ? r->body.data : "";
}

/* queue_param checks the {queue} path segment. */
static int queue_param(struct dlq_req *r, const char **out)
{
    *out = r->params[0];
    if (dlq_job_queue_name_ok(*out))
        return DLQ_OK;
    dlq_errors_add(&r->errs, "queue", "must be 1 to %d characters of [A-Za-z0-9._:-]",
                   DLQ_JOB_QUEUE_MAX);
    return dlq_http_fail_fields(r, DLQ_E_INVAL, "bad path parameter");
}

static void put_time(struct dlq_buf *b, const char *key, int64_t ms)
{
    dlq_buf_printf(b, ",\"%s\":", key);
    if (ms == 0) {
        dlq_buf_puts(b, "null");
        return;
    }
    char t[DLQ_TIME_MAX];
    dlq_time_format(ms, t);
    dlq_buf_printf(b, "\"%s\"", t);
}

/* job_failed words a refused job call: 404, or 409 with the store's
 * detail (from the result, or from the call's err, already in r->detail). */
static int job_failed(struct dlq_req *r, int rc, const char *id, const char *detail)
{
    char why[sizeof r->detail];
    snprintf(why, sizeof why, "%s", detail && detail[0] ? detail : r->detail);
    if (rc == DLQ_E_NOTFOUND)
        return dlq_http_fail(r, rc, "no job with id '%s'", id);
    if (rc == DLQ_E_CONFLICT)
        return dlq_http_fail(r, rc, "job '%s': %s", id,
                             why[0] ? why : "the lease token does not hold the job's lease");
    if (why[0])
        return dlq_http_fail(r, rc, "%s", why);
    return rc;
}

int dlq_h_jobs_enqueue(struct dlq_req *r)
{
    const char *queue;
    int rc = queue_param(r, &queue);
    if (rc != DLQ_OK)
        return rc;
    struct dlq_job_spec sp;
    rc = dlq_job_spec_from_json(body_text(r), r->body.len, &sp, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid job");
    const char *hdr = dlq_http_header_get(r, "Idempotency-Key");
    if (hdr) {
        if (!hdr[0] || strlen(hdr) > DLQ_JOB_KEY_MAX) {
            dlq_errors_add(&r->errs, "Idempotency-Key", "must be 1 to %d bytes", DLQ_JOB_KEY_MAX);
            rc = dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid header");
        } else if (sp.job.idempotency_key && strcmp(sp.job.idempotency_key, hdr) != 0) {
            dlq_errors_add(&r->errs, "idempotency_key", "differs from the Idempotency-Key header");
            rc = dlq_http_fail_fields(r, DLQ_E_UNPROCESSABLE, "invalid job");
        } else if (!sp.job.idempotency_key && !(sp.job.idempotency_key = dlq_strdup(hdr))) {
            rc = DLQ_E_NOMEM;
        }
    }
    struct dlq_job_result res;
    if (rc == DLQ_OK)
        rc = dlq_service_job_enqueue(r->h->svc, &r->who, queue, &sp, 1, &res, r->detail,
                                     sizeof r->detail);
    int64_t run_at = sp.job.run_at;
    dlq_job_spec_clear(&sp);
    if (rc != DLQ_OK)
        return rc;
    if (res.code != DLQ_OK)
        return job_failed(r, res.code, res.job_id, res.detail);
    if (!res.created) { /* a repeat: show the job as it is now */
        struct dlq_job j;
        if (dlq_service_job_get(r->h->svc, &r->who, res.job_id, &j, NULL, 0) == DLQ_OK) {
            res.state = j.state;
            run_at = j.run_at;
            dlq_job_clear(&j);
        }
    }
    struct dlq_buf b = {0};
    dlq_buf_printf(&b, "{\"job_id\":\"%s\",\"queue\":\"%s\",\"state\":\"%s\"", res.job_id, queue,
                   dlq_job_state_name(res.state) ? dlq_job_state_name(res.state) : "queued");
    put_time(&b, "run_at", run_at);
    dlq_buf_printf(&b, ",\"created\":%s}", res.created ? "true" : "false");
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/jobs/%s", res.job_id);
    struct dlq_http_header hdrs[] = {{"Location", loc}, {NULL, NULL}};
    return dlq_http_reply_buf(r, res.created ? MHD_HTTP_CREATED : MHD_HTTP_OK, &b, hdrs);
}

int dlq_h_jobs_batch(struct dlq_req *r)
{
    const char *queue;
    int rc = queue_param(r, &queue);
    if (rc != DLQ_OK)
        return rc;
    if (dlq_http_header_get(r, "Idempotency-Key")) {
        dlq_errors_add(&r->errs, "Idempotency-Key",
                       "not accepted on a batch: set idempotency_key on each job");
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid header");
    }
    struct dlq_job_spec *sp = NULL;
    size_t n = 0;
    rc = dlq_job_specs_from_json_batch(body_text(r), r->body.len, DLQ_JOB_BATCH_MAX, &sp, &n,
                                       &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid batch");
    struct dlq_job_result *res = calloc(n, sizeof *res);
    if (res)
        rc = dlq_service_job_enqueue(r->h->svc, &r->who, queue, sp, n, res, r->detail,
                                     sizeof r->detail);
    else
        rc = DLQ_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        dlq_job_spec_clear(&sp[i]);
    free(sp);
    if (rc != DLQ_OK) {
        free(res);
        return rc;
    }
    struct dlq_buf b = {0};
    dlq_buf_reserve(&b, 90 * n + 32);
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        const char *st = dlq_job_state_name(res[i].state);
        if (res[i].code != DLQ_OK)
            dlq_buf_printf(&b, "%s{\"index\":%zu,\"status\":%d,\"detail\":", i ? "," : "", i,
                           dlq_err_http_status(res[i].code));
        if (res[i].code != DLQ_OK) {
            dlq_buf_json_string(&b, res[i].detail, strlen(res[i].detail));
            dlq_buf_putc(&b, '}');
            continue;
        }
        dlq_buf_printf(&b, "%s{\"job_id\":\"%s\",\"state\":\"%s\",\"created\":%s}", i ? "," : "",
                       res[i].job_id, st ? st : "queued", res[i].created ? "true" : "false");
    }
    dlq_buf_puts(&b, "]}");
    free(res);
    return dlq_http_reply_buf(r, MHD_HTTP_CREATED, &b, NULL);
}

/* The long poll's state, kept across the calls of one request. */
struct lp {
    struct dlq_job_reserve_req rq;
    int64_t deadline_ns;
};

static void lp_free(void *p)
{
    struct lp *lp = p;
    if (!lp)
        return;
    dlq_job_reserve_req_clear(&lp->rq);
    free(lp);
}

/* lp_wake runs on a service thread: the connection may go on. */
static void lp_wake(void *arg)
{
    struct dlq_req *r = arg;
    MHD_resume_connection(r->conn);
}

/* reply_jobs answers the leased jobs and clears them. */
static int reply_jobs(struct dlq_req *r, struct dlq_job *jobs, size_t n)
{
    struct dlq_buf b = {0};
    dlq_buf_reserve(&b, 512 * n + 16);
    dlq_buf_puts(&b, "{\"jobs\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        dlq_job_reserved_to_json(&jobs[i], &b);
        dlq_job_clear(&jobs[i]);
    }
    dlq_buf_puts(&b, "]}");
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_jobs_reserve(struct dlq_req *r)
{
    const char *queue;
    int rc = queue_param(r, &queue);
    if (rc != DLQ_OK)
        return rc;
    r->suspended = 0; /* running again: resumed, or the first call */
    struct lp *lp = r->lp;
    if (!lp) {
        lp = calloc(1, sizeof *lp);
        if (!lp)
            return DLQ_E_NOMEM;
        rc = dlq_job_reserve_req_from_json(body_text(r), r->body.len, &lp->rq, &r->errs);
        if (rc != DLQ_OK) {
            free(lp);
            return dlq_http_fail_fields(r, rc, "invalid reserve request");
        }
        lp->deadline_ns = dlq_mono_ns() + (int64_t)lp->rq.wait_ms * 1000000LL;
        r->lp = lp;
        r->lp_free = lp_free;
    }
    struct dlq_job *jobs = calloc((size_t)lp->rq.count, sizeof *jobs);
    if (!jobs)
        return DLQ_E_NOMEM;
    uint64_t epoch = dlq_service_job_epoch(r->h->svc, queue);
    size_t n = 0;
    rc = dlq_service_job_reserve(r->h->svc, &r->who, queue, &lp->rq, jobs, &n, r->detail,
                                 sizeof r->detail);
    if (rc == DLQ_OK && n > 0)
        rc = reply_jobs(r, jobs, n);
    free(jobs);
    if (rc != DLQ_OK || r->queued)
        return rc;
    if (lp->rq.wait_ms == 0 || dlq_mono_ns() >= lp->deadline_ns || atomic_load(&r->h->draining))
        return dlq_http_reply(r, MHD_HTTP_NO_CONTENT, NULL, 0, "application/json", NULL);
    /* Suspend first, then register: a wake-up that comes at once finds
     * the connection suspended and resumes it. */
    snprintf(r->waiter.queue, sizeof r->waiter.queue, "%s", queue);
    r->waiter.deadline_ns = lp->deadline_ns;
    r->waiter.fn = lp_wake;
    r->waiter.arg = r;
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
    int w = dlq_service_job_wait(r->h->svc, &r->waiter, epoch);
    if (w == 0)
        return DLQ_OK;
    MHD_resume_connection(r->conn);
    if (w == 1)
        return DLQ_OK; /* the queue moved (or we drain): the handler runs again now */
    /* No timer thread to end the wait: answer now. */
    r->suspended = 0;
    return dlq_http_reply(r, MHD_HTTP_NO_CONTENT, NULL, 0, "application/json", NULL);
}

int dlq_h_jobs_ack(struct dlq_req *r)
{
    const char *id = r->params[0];
    struct dlq_job_call c;
    int rc = dlq_job_call_from_json(body_text(r), r->body.len, DLQ_JOB_CALL_ACK, &c, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid ack");
    struct dlq_job_ack a = {id, c.lease_token, c.result};
    struct dlq_job_result res;
    rc = dlq_service_job_ack(r->h->svc, &r->who, &a, 1, &res, r->detail, sizeof r->detail);
    dlq_job_call_clear(&c);
    if (rc == DLQ_OK)
        rc = res.code;
    if (rc != DLQ_OK)
        return job_failed(r, rc, id, res.detail);
    return dlq_http_reply_json(r, MHD_HTTP_OK,
                               json_pack("{s:s, s:s}", "job_id", id, "state", "succeeded"), NULL);
}

int dlq_h_jobs_ack_batch(struct dlq_req *r)
{
    struct dlq_job_acks a;
    int rc = dlq_job_acks_from_json(body_text(r), r->body.len, DLQ_JOB_BATCH_MAX, &a, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid acks");
    struct dlq_job_ack *acks = calloc(a.n, sizeof *acks);
    struct dlq_job_result *res = calloc(a.n, sizeof *res);
    if (!acks || !res) {
        rc = DLQ_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < a.n; i++)
        acks[i] = (struct dlq_job_ack){a.job_id[i], a.lease_token[i], a.result[i]};
    rc = dlq_service_job_ack(r->h->svc, &r->who, acks, a.n, res, r->detail, sizeof r->detail);
    if (rc != DLQ_OK)
        goto out;
    struct dlq_buf b = {0};
    dlq_buf_reserve(&b, 80 * a.n + 16);
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < a.n; i++) {
        dlq_buf_printf(&b, "%s{\"job_id\":", i ? "," : "");
        dlq_buf_json_string(&b, a.job_id[i], strlen(a.job_id[i]));
        if (res[i].code == DLQ_OK) {
            dlq_buf_puts(&b, ",\"state\":\"succeeded\"}");
            continue;
        }
        dlq_buf_printf(&b, ",\"status\":%d,\"detail\":", dlq_err_http_status(res[i].code));
        const char *d = res[i].detail[0] ? res[i].detail : dlq_strerror(res[i].code);
        dlq_buf_json_string(&b, d, strlen(d));
        dlq_buf_putc(&b, '}');
    }
    dlq_buf_puts(&b, "]}");
    rc = dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
out:
    free(acks);
    free(res);
    dlq_job_acks_free(&a);
    return rc;
}

int dlq_h_jobs_fail(struct dlq_req *r)
{
    const char *id = r->params[0];
    struct dlq_job_call c;
    int rc = dlq_job_call_from_json(body_text(r), r->body.len, DLQ_JOB_CALL_FAIL, &c, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid fail request");
    struct dlq_job_result res;
    rc = dlq_service_job_fail(r->h->svc, &r->who, id, &c, &res, r->detail, sizeof r->detail);
    dlq_job_call_clear(&c);
    if (rc == DLQ_OK)
        rc = res.code;
    if (rc != DLQ_OK)
        return job_failed(r, rc, id, res.detail);
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"job_id\":");
    dlq_buf_json_string(&b, id, strlen(id));
    const char *st = dlq_job_state_name(res.state);
    dlq_buf_printf(&b, ",\"state\":\"%s\",\"attempt\":%d", st ? st : "", res.attempt);
    if (res.state == DLQ_JOB_SCHEDULED)
        put_time(&b, "next_run_at", res.next_run_at);
    if (res.state == DLQ_JOB_DEAD) {
        dlq_buf_puts(&b, ",\"dlq_id\":");
        dlq_buf_json_string(&b, res.dlq_id, strlen(res.dlq_id));
    }
    dlq_buf_putc(&b, '}');
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_jobs_heartbeat(struct dlq_req *r)
{
    const char *id = r->params[0];
    struct dlq_job_call c;
    int rc =
        dlq_job_call_from_json(body_text(r), r->body.len, DLQ_JOB_CALL_HEARTBEAT, &c, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid heartbeat");
    struct dlq_job_result res;
    rc = dlq_service_job_heartbeat(r->h->svc, &r->who, id, c.lease_token, c.extend_s, &res,
                                   r->detail, sizeof r->detail);
    dlq_job_call_clear(&c);
    if (rc == DLQ_OK)
        rc = res.code;
    if (rc != DLQ_OK)
        return job_failed(r, rc, id, res.detail);
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"job_id\":");
    dlq_buf_json_string(&b, id, strlen(id));
    put_time(&b, "lease_expires_at", res.lease_expires_at);
    dlq_buf_putc(&b, '}');
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_jobs_get(struct dlq_req *r)
{
    const char *id = r->params[0];
    struct dlq_job j;
    int rc = dlq_service_job_get(r->h->svc, &r->who, id, &j, r->detail, sizeof r->detail);
    if (rc != DLQ_OK)
        return job_failed(r, rc, id, NULL);
    struct dlq_buf b = {0};
    rc = dlq_job_to_json(&j, &b);
    dlq_job_clear(&j);
    if (rc != DLQ_OK) {
        dlq_buf_free(&b);
        return rc;
    }
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_jobs_cancel(struct dlq_req *r)
{
    const char *id = r->params[0];
    struct dlq_job_result res;
    int rc = dlq_service_job_cancel(r->h->svc, &r->who, id, &res, r->detail, sizeof r->detail);
    if (rc == DLQ_OK)
        rc = res.code;
    if (rc != DLQ_OK)
        return job_failed(r, rc, id, res.detail);
    return dlq_http_reply_json(r, MHD_HTTP_OK,
                               json_pack("{s:s, s:s}", "job_id", id, "state", "cancelled"), NULL);
}
