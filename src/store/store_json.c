/*
 * store_json.c: the JSON texts both backends store alike (store_json.h):
 * what a history event says, what the derived "captured" event says, and
 * one job attempt. Written once, so the backends cannot drift apart.
 */
#include <string.h>

#include "dlq/core.h"
#include "dlq/util.h"
#include "store_json.h"

static void json_str(struct dlq_buf *b, const char *s)
{
    if (s)
        dlq_buf_json_string(b, s, strlen(s));
    else
        dlq_buf_puts(b, "null");
}

char *dlq_store_event_details(const struct dlq_entry *after, const struct dlq_act *a, int *oom)
{
    struct dlq_buf b = {0};
    switch (a->action) {
    case DLQ_ACTION_RETRY:
    case DLQ_ACTION_FORCE_RETRY:
        dlq_buf_puts(&b, "{\"retry_task_id\":");
        json_str(&b, after->retry_task_id);
        dlq_buf_puts(&b, ",\"reason\":");
        json_str(&b, a->reason);
        dlq_buf_puts(&b, ",\"ticket_url\":");
        json_str(&b, a->ticket_url);
        dlq_buf_puts(&b, ",\"max_retries\":");
        if (a->edit && a->edit->max_retries >= 0)
            dlq_buf_printf(&b, "%d", a->edit->max_retries);
        else
            dlq_buf_puts(&b, "null");
        if (a->op_id) {
            dlq_buf_puts(&b, ",\"operation_id\":");
            json_str(&b, a->op_id);
        }
        dlq_buf_putc(&b, '}');
        break;
    case DLQ_ACTION_REPLAY_FAILED:
        dlq_buf_puts(&b, a->error_json ? a->error_json : "{}");
        break;
    case DLQ_ACTION_REPLAY_SUCCEEDED:
        dlq_buf_puts(&b, "{\"retry_task_id\":");
        json_str(&b, after->retry_task_id);
        dlq_buf_putc(&b, '}');
        break;
    case DLQ_ACTION_RESOLVE:
        dlq_buf_puts(&b, "{\"resolution_type\":");
        json_str(&b, after->resolution_type);
        dlq_buf_puts(&b, ",\"resolution_notes\":");
        json_str(&b, after->resolution_notes);
        dlq_buf_putc(&b, '}');
        break;
    default:
        if (!a->reason)
            return NULL;
        dlq_buf_puts(&b, "{\"reason\":");
        json_str(&b, a->reason);
        dlq_buf_putc(&b, '}');
        break;
    }
    if (b.oom) {
        dlq_buf_free(&b);
        *oom = 1;
        return NULL;
    }
    return dlq_buf_steal(&b);
}

char *dlq_store_captured_details(const struct dlq_entry *e, int *oom)
{
    const char *reason = dlq_reason_name(e->reason);
    struct dlq_buf b = {0};
    if (reason == NULL && e->queue == NULL)
        return NULL;
    dlq_buf_puts(&b, "{\"reason\":");
    dlq_buf_json_string(&b, reason, reason ? strlen(reason) : 0);
    dlq_buf_puts(&b, ",\"queue\":");
    dlq_buf_json_string(&b, e->queue, e->queue ? strlen(e->queue) : 0);
    dlq_buf_putc(&b, '}');
    if (b.oom) {
        dlq_buf_free(&b);
        *oom = 1;
        return NULL;
    }
    return dlq_buf_steal(&b);
}

char *dlq_store_job_attempt(const struct dlq_job *j, int64_t now, const char *outcome,
                            const char *error_json)
{
    char started[DLQ_TIME_MAX], finished[DLQ_TIME_MAX];
    struct dlq_buf b = {0};
    dlq_time_format(j->started_at ? j->started_at : now, started);
    dlq_time_format(now, finished);
    dlq_buf_printf(&b, "{\"attempt\":%d,\"worker_id\":", j->attempt);
    if (j->worker_id)
        dlq_buf_json_string(&b, j->worker_id, strlen(j->worker_id));
    else
        dlq_buf_puts(&b, "null");
    dlq_buf_printf(&b,
                   ",\"started_at\":\"%s\",\"finished_at\":\"%s\",\"duration_ms\":%lld,"
                   "\"outcome\":\"%s\",\"error\":%s}",
                   started, finished,
                   (long long)(j->started_at && now > j->started_at ? now - j->started_at : 0),
                   outcome, error_json ? error_json : "null");
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}
