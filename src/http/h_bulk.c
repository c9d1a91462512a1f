/*
 * h_bulk.c: the bulk endpoints: POST /api/v1/dlq/replay-bulk (a dry run's
 * preview, or 202 with the operation started), and POST resolve-bulk and
 * discard-bulk (synchronous). The service decodes the bodies; this file
 * writes the answers of ISSUE3_API.md "Bulk".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static const char *body_text(struct dlq_req *r)
{
    return r->body.data ? r->body.data : "";
}

/* service_fail turns a service error into the answer: field problems when
 * the body was refused, else the detail. */
static int service_fail(struct dlq_req *r, int rc)
{
    if (rc == DLQ_E_INVAL && (r->errs.n > 0 || r->errs.dropped > 0))
        return dlq_http_fail_fields(r, rc, "invalid bulk request");
    return rc;
}

static void put_counts(struct dlq_buf *b, const char *key, const struct dlq_name_count *v, size_t n)
{
    dlq_buf_printf(b, ",\"%s\":{", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            dlq_buf_putc(b, ',');
        dlq_buf_json_string(b, v[i].name, strlen(v[i].name));
        dlq_buf_printf(b, ":%lld", (long long)v[i].n);
    }
    dlq_buf_putc(b, '}');
}

int dlq_h_replay_bulk(struct dlq_req *r)
{
    struct dlq_bulk_answer a;
    int rc = dlq_service_replay_bulk(r->h->svc, &r->who, body_text(r), r->body.len, &a, &r->errs,
                                     r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return service_fail(r, rc);
    struct dlq_buf b = {0};
    if (a.dry_run) {
        const struct dlq_bulk_preview *p = &a.preview;
        dlq_buf_printf(&b, "{\"dry_run\":true,\"matched\":%lld", (long long)p->matched);
        put_counts(&b, "by_task", p->by_task, p->ntask);
        put_counts(&b, "by_exception_type", p->by_exc, p->nexc);
        dlq_buf_puts(&b, ",\"sample_ids\":[");
        for (size_t i = 0; i < p->nsample; i++)
            dlq_buf_printf(&b, "%s\"%s\"", i ? "," : "", p->sample_ids[i]);
        dlq_buf_puts(&b, "]}");
        dlq_bulk_answer_clear(&a);
        return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
    }
    char loc[96];
    snprintf(loc, sizeof(loc), "/api/v1/dlq/operations/%s", a.op_id);
    dlq_buf_printf(&b, "{\"operation_id\":\"%s\",\"state\":\"%s\",\"matched\":%lld}", a.op_id,
                   a.state, (long long)a.matched);
    dlq_bulk_answer_clear(&a);
    struct dlq_http_header hdrs[] = {{"Location", loc}, {NULL, NULL}};
    return dlq_http_reply_buf(r, MHD_HTTP_ACCEPTED, &b, hdrs);
}

static int act_bulk(struct dlq_req *r, enum dlq_action action)
{
    struct dlq_bulk_result *res = malloc(sizeof(*res));
    if (!res)
        return DLQ_E_NOMEM;
    int rc = dlq_service_act_bulk(r->h->svc, &r->who, action, body_text(r), r->body.len, res,
                                  &r->errs, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK) {
        free(res);
        return service_fail(r, rc);
    }
    struct dlq_buf b = {0};
    dlq_buf_printf(&b, "{\"matched\":%lld,\"succeeded\":%lld,\"skipped\":%lld,\"skipped_ids\":[",
                   (long long)res->matched, (long long)res->succeeded, (long long)res->skipped);
    for (size_t i = 0; i < res->nskipped_ids; i++) {
        dlq_buf_printf(&b, "%s{\"dlq_id\":", i ? "," : "");
        dlq_buf_json_string(&b, res->skipped_ids[i].dlq_id, strlen(res->skipped_ids[i].dlq_id));
        dlq_buf_puts(&b, ",\"detail\":");
        dlq_buf_json_string(&b, res->skipped_ids[i].detail, strlen(res->skipped_ids[i].detail));
        dlq_buf_putc(&b, '}');
    }
    dlq_buf_printf(&b, "],\"dry_run\":%s}", res->dry_run ? "true" : "false");
    free(res);
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_resolve_bulk(struct dlq_req *r)
{
    return act_bulk(r, DLQ_ACTION_RESOLVE);
}

int dlq_h_discard_bulk(struct dlq_req *r)
{
    return act_bulk(r, DLQ_ACTION_DISCARD);
}
