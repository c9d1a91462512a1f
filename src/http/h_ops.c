/*
 * h_ops.c: /api/v1/dlq/operations: one bulk operation with its progress,
 * the newest operations, and cancelling a running one. Tenant-bound tokens
 * see their tenant's operations only (others are 404).
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static void put_time(struct dlq_buf *b, const char *key, int64_t ms)
{
    char t[DLQ_TIME_MAX];
    if (ms == 0) {
        dlq_buf_printf(b, ",\"%s\":null", key);
        return;
    }
    dlq_time_format(ms, t);
    dlq_buf_printf(b, ",\"%s\":\"%s\"", key, t);
}

/* put_op appends the JSON object of op. filter and params are JSON text the
 * service wrote; a missing one is {}. */
static void put_op(struct dlq_buf *b, const struct dlq_op *op)
{
    dlq_buf_puts(b, "{\"operation_id\":");
    dlq_buf_json_string(b, op->id, strlen(op->id));
    dlq_buf_puts(b, ",\"kind\":");
    dlq_buf_json_string(b, op->kind, strlen(op->kind));
    dlq_buf_puts(b, ",\"state\":");
    dlq_buf_json_string(b, op->state, strlen(op->state));
    dlq_buf_printf(b,
                   ",\"matched\":%lld,\"processed\":%lld,\"succeeded\":%lld,\"failed\":%lld,"
                   "\"skipped\":%lld,\"early_stop_reason\":",
                   (long long)op->matched, (long long)op->processed, (long long)op->succeeded,
                   (long long)op->failed, (long long)op->skipped);
    if (op->early_stop_reason[0])
        dlq_buf_json_string(b, op->early_stop_reason, strlen(op->early_stop_reason));
    else
        dlq_buf_puts(b, "null");
    put_time(b, "created_at", op->created_at);
    put_time(b, "updated_at", op->updated_at);
    put_time(b, "finished_at", op->finished_at);
    dlq_buf_puts(b, ",\"actor\":");
    dlq_buf_json_string(b, op->actor, strlen(op->actor));
    dlq_buf_puts(b, ",\"tenant_id\":");
    if (op->tenant_id[0])
        dlq_buf_json_string(b, op->tenant_id, strlen(op->tenant_id));
    else
        dlq_buf_puts(b, "null");
    dlq_buf_puts(b, ",\"filter\":");
    dlq_buf_puts(b, op->filter && op->filter[0] == '{' ? op->filter : "{}");
    dlq_buf_puts(b, ",\"params\":");
    dlq_buf_puts(b, op->params && op->params[0] == '{' ? op->params : "{}");
    dlq_buf_putc(b, '}');
}

static int reply_op(struct dlq_req *r, struct dlq_op *op)
{
    struct dlq_buf b = {0};
    put_op(&b, op);
    dlq_op_clear(op);
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_ops_get(struct dlq_req *r)
{
    struct dlq_op op;
    int rc =
        dlq_service_op_get(r->h->svc, &r->who, r->params[0], &op, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    return reply_op(r, &op);
}

int dlq_h_ops_cancel(struct dlq_req *r)
{
    struct dlq_op op;
    int rc =
        dlq_service_op_cancel(r->h->svc, &r->who, r->params[0], &op, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    return reply_op(r, &op);
}

int dlq_h_ops_list(struct dlq_req *r)
{
    struct dlq_op *ops = NULL;
    size_t n = 0;
    int rc = dlq_service_op_list(r->h->svc, &r->who, &ops, &n, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        put_op(&b, &ops[i]);
        dlq_op_clear(&ops[i]);
    }
    dlq_buf_puts(&b, "]}");
    free(ops);
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}
