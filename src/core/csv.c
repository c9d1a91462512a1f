/*
 * csv.c: the CSV row writer of the export (RFC 4180). A field is quoted only
 * when it must be (it holds a comma, a double quote, CR or LF), so plain ids
 * and names stay readable; quotes inside are doubled. Null values are empty
 * fields, and the column order is the header's, fixed here once.
 */
#include <string.h>

#include "dlq/core.h"
#include "dlq/csv.h"
#include "dlq/error.h"

static const char *const columns[] = {
    "dlq_id",
    "original_task_id",
    "task_name",
    "task_args",
    "task_kwargs",
    "exception_type",
    "exception_message",
    "exception_traceback",
    "tenant_id",
    "retries_attempted",
    "failed_at",
    "processed_at",
    "status",
    "retry_count",
    "last_retry_at",
    "retry_task_id",
    "resolved_at",
    "resolution_notes",
    "queue",
    "priority",
    "reason",
    "error_code",
    "fingerprint",
    "resolution_type",
    "resolved_by",
    "max_replays",
    "expires_at",
    "metadata",
    "context",
    "idempotency_key",
};

int dlq_csv_field(struct dlq_buf *out, const char *s, size_t len, int first)
{
    if (!first)
        dlq_buf_putc(out, ',');
    if (s == NULL || len == 0)
        return out->oom ? DLQ_E_NOMEM : DLQ_OK;
    int quote = 0;
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        dlq_buf_append(out, s, len);
        return out->oom ? DLQ_E_NOMEM : DLQ_OK;
    }
    dlq_buf_putc(out, '"');
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL) {
            dlq_buf_append(out, p, (size_t)(end - p));
            break;
        }
        dlq_buf_append(out, p, (size_t)(q - p) + 1); /* up to and with the quote */
        dlq_buf_putc(out, '"');                      /* doubled */
        p = q + 1;
    }
    dlq_buf_putc(out, '"');
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}

int dlq_csv_header(struct dlq_buf *out)
{
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        dlq_csv_field(out, columns[i], strlen(columns[i]), i == 0);
    dlq_buf_puts(out, "\r\n");
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}

static void str(struct dlq_buf *out, const char *s)
{
    dlq_csv_field(out, s, s ? strlen(s) : 0, 0);
}

static void num(struct dlq_buf *out, long long v)
{
    dlq_buf_printf(out, ",%lld", v);
}

static void tm(struct dlq_buf *out, int64_t ms)
{
    char t[DLQ_TIME_MAX];
    if (ms == 0) {
        dlq_buf_putc(out, ',');
        return;
    }
    dlq_time_format(ms, t);
    str(out, t);
}

int dlq_entry_to_csv(const struct dlq_entry *e, struct dlq_buf *out)
{
    dlq_csv_field(out, e->dlq_id, e->dlq_id ? strlen(e->dlq_id) : 0, 1);
    str(out, e->original_task_id);
    str(out, e->task_name);
    str(out, e->task_args);
    str(out, e->task_kwargs);
    str(out, e->exc_type);
    str(out, e->exc_message);
    str(out, e->exc_traceback);
    str(out, e->tenant_id);
    num(out, e->retries_attempted);
    tm(out, e->failed_at);
    tm(out, e->processed_at);
    str(out, dlq_status_name(e->status));
    num(out, e->retry_count);
    tm(out, e->last_retry_at);
    str(out, e->retry_task_id);
    tm(out, e->resolved_at);
    str(out, e->resolution_notes);
    str(out, e->queue);
    num(out, e->priority);
    str(out, dlq_reason_name(e->reason));
    str(out, e->error_code);
    str(out, e->fingerprint);
    str(out, e->resolution_type);
    str(out, e->resolved_by);
    num(out, e->max_replays);
    tm(out, e->expires_at);
    str(out, e->metadata);
    str(out, e->context);
    str(out, e->idempotency_key);
    dlq_buf_puts(out, "\r\n");
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}
