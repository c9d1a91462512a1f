/*
 * h_queues.c: /api/v1/queues: the depth of every queue (from counters),
 * one queue, its settings (replay target, webhook, max_replays, paused;
 * the webhook secret is write-only) and pause/resume. The service audits
 * every change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static int queue_param(struct dlq_req *r, const char **out)
{
    *out = r->params[0];
    if (dlq_job_queue_name_ok(*out))
        return DLQ_OK;
    dlq_errors_add(&r->errs, "queue", "must be 1 to %d characters of [A-Za-z0-9._:-]",
                   DLQ_JOB_QUEUE_MAX);
    return dlq_http_fail_fields(r, DLQ_E_INVAL, "bad path parameter");
}

static int reply_queue(struct dlq_req *r, const struct dlq_queue_info *q)
{
    struct dlq_buf b = {0};
    if (dlq_queue_info_to_json(q, dlq_now_ms(), &b) != DLQ_OK) {
        dlq_buf_free(&b);
        return DLQ_E_NOMEM;
    }
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_queues_list(struct dlq_req *r)
{
    struct dlq_queue_info *qs = NULL;
    size_t n = 0;
    int rc = dlq_service_queue_list(r->h->svc, &r->who, &qs, &n, r->detail, sizeof r->detail);
    if (rc != DLQ_OK)
        return rc;
    int64_t now = dlq_now_ms();
    struct dlq_buf b = {0};
    dlq_buf_reserve(&b, 400 * n + 16);
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        dlq_queue_info_to_json(&qs[i], now, &b);
    }
    dlq_buf_puts(&b, "]}");
    /* Wipe the secrets; qs is NULL when n is 0 (memset(NULL, ...) is UB). */
    if (qs)
        memset(qs, 0, n * sizeof *qs);
    free(qs);
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_queues_get(struct dlq_req *r)
{
    const char *queue;
    int rc = queue_param(r, &queue);
    if (rc != DLQ_OK)
        return rc;
    struct dlq_queue_info q;
    rc = dlq_service_queue_get(r->h->svc, &r->who, queue, &q, r->detail, sizeof r->detail);
    if (rc == DLQ_E_NOTFOUND)
        return dlq_http_fail(r, rc, "no queue named '%s' (it has neither jobs nor settings)",
                             queue);
    if (rc != DLQ_OK)
        return rc;
    rc = reply_queue(r, &q);
    memset(&q, 0, sizeof q);
    return rc;
}

int dlq_h_queues_settings(struct dlq_req *r)
{
    const char *queue;
    int rc = queue_param(r, &queue);
    if (rc != DLQ_OK)
        return rc;
    struct dlq_queue_settings_req rq;
    rc = dlq_queue_settings_req_from_json(r->body.data ? r->body.data : "", r->body.len, &rq,
                                          &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid queue settings");
    struct dlq_queue_info q;
    rc =
        dlq_service_queue_settings(r->h->svc, &r->who, queue, &rq, &q, r->detail, sizeof r->detail);
    memset(&rq, 0, sizeof rq);
    if (rc == DLQ_E_UNPROCESSABLE) {
        dlq_errors_add(&r->errs, "webhook_url", "is required when replay_target is webhook");
        return dlq_http_fail_fields(r, rc, "invalid queue settings");
    }
    if (rc != DLQ_OK)
        return rc;
    rc = reply_queue(r, &q);
    memset(&q, 0, sizeof q);
    return rc;
}

static int pause_resume(struct dlq_req *r, int paused)
{
    const char *queue;
    int rc = queue_param(r, &queue);
    if (rc != DLQ_OK)
        return rc;
    struct dlq_queue_info q;
    rc =
        dlq_service_queue_pause(r->h->svc, &r->who, queue, paused, &q, r->detail, sizeof r->detail);
    if (rc != DLQ_OK)
        return rc;
    rc = reply_queue(r, &q);
    memset(&q, 0, sizeof q);
    return rc;
}

int dlq_h_queues_pause(struct dlq_req *r)
{
    return pause_resume(r, 1);
}

int dlq_h_queues_resume(struct dlq_req *r)
{
    return pause_resume(r, 0);
}
