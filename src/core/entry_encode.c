/*
 * entry_encode.c: struct dlq_entry -> the seed 000 JSON object, written
 * straight into a dlq_buf without building a jansson tree, because list
 * pages and exports encode many entries per request. The key order is part
 * of the contract (clients and the black-box tests compare exact bodies).
 */
#include <string.h>

#include "dlq/core.h"

static void put_key(struct dlq_buf *b, const char *key)
{
    dlq_buf_putc(b, '"');
    dlq_buf_puts(b, key); /* keys are constants: nothing to escape */
    dlq_buf_puts(b, "\":");
}

static void put_str(struct dlq_buf *b, const char *key, const char *s)
{
    put_key(b, key);
    dlq_buf_json_string(b, s, s != NULL ? strlen(s) : 0);
    dlq_buf_putc(b, ',');
}

static void put_int(struct dlq_buf *b, const char *key, long long v)
{
    put_key(b, key);
    dlq_buf_printf(b, "%lld,", v);
}

static void put_time(struct dlq_buf *b, const char *key, int64_t ms)
{
    put_key(b, key);
    if (ms == 0) {
        dlq_buf_puts(b, "null,");
        return;
    }
    char t[DLQ_TIME_MAX];
    dlq_time_format(ms, t);
    dlq_buf_putc(b, '"');
    dlq_buf_puts(b, t);
    dlq_buf_puts(b, "\",");
}

/* put_raw writes JSON text that core itself produced (metadata, context,
 * event details) as it is; NULL is null. */
static void put_raw(struct dlq_buf *b, const char *key, const char *json)
{
    put_key(b, key);
    dlq_buf_puts(b, json != NULL && json[0] != '\0' ? json : "null");
    dlq_buf_putc(b, ',');
}

int dlq_entry_to_json(const struct dlq_entry *e, const struct dlq_event *hist, size_t n,
                      int with_history, struct dlq_buf *out)
{
    dlq_buf_putc(out, '{');
    put_str(out, "dlq_id", e->dlq_id);
    put_str(out, "original_task_id", e->original_task_id);
    put_str(out, "task_name", e->task_name);
    put_str(out, "task_args", e->task_args);
    put_str(out, "task_kwargs", e->task_kwargs);
    put_key(out, "exception");
    dlq_buf_putc(out, '{');
    put_str(out, "type", e->exc_type);
    put_str(out, "message", e->exc_message);
    put_key(out, "traceback");
    dlq_buf_json_string(out, e->exc_traceback,
                        e->exc_traceback != NULL ? strlen(e->exc_traceback) : 0);
    dlq_buf_puts(out, "},");
    put_str(out, "tenant_id", e->tenant_id);
    put_int(out, "retries_attempted", e->retries_attempted);
    put_time(out, "failed_at", e->failed_at);
    put_time(out, "processed_at", e->processed_at);
    put_str(out, "status", dlq_status_name(e->status));
    put_int(out, "retry_count", e->retry_count);
    put_time(out, "last_retry_at", e->last_retry_at);
    put_str(out, "retry_task_id", e->retry_task_id);
    put_time(out, "resolved_at", e->resolved_at);
    put_str(out, "resolution_notes", e->resolution_notes);
    put_str(out, "queue", e->queue);
    put_int(out, "priority", e->priority);
    put_str(out, "reason", dlq_reason_name(e->reason));
    put_str(out, "error_code", e->error_code);
    put_str(out, "fingerprint", e->fingerprint);
    put_str(out, "resolution_type", e->resolution_type);
    put_str(out, "resolved_by", e->resolved_by);
    put_int(out, "max_replays", e->max_replays);
    put_time(out, "expires_at", e->expires_at);
    put_raw(out, "metadata", e->metadata);
    put_raw(out, "context", e->context);
    put_key(out, "idempotency_key");
    dlq_buf_json_string(out, e->idempotency_key,
                        e->idempotency_key != NULL ? strlen(e->idempotency_key) : 0);
    if (with_history) {
        dlq_buf_puts(out, ",\"history\":[");
        for (size_t i = 0; i < n; i++) {
            const struct dlq_event *ev = &hist[i];
            if (i > 0)
                dlq_buf_putc(out, ',');
            dlq_buf_putc(out, '{');
            put_time(out, "at", ev->at);
            put_str(out, "event", ev->event);
            put_str(out, "actor", ev->actor);
            put_key(out, "details");
            dlq_buf_puts(out, ev->details != NULL && ev->details[0] != '\0' ? ev->details : "null");
            dlq_buf_putc(out, '}');
        }
        dlq_buf_putc(out, ']');
    }
    dlq_buf_putc(out, '}');
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}
