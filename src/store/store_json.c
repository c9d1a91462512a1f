/*
 * store_json.c: the JSON texts both backends store alike (store_json.h):
 * what a history event says, what the derived "captured" event says, and
 * one job attempt. Written once, so the backends cannot drift apart.
 */
#include <stdlib.h>
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

/* replace sets *field to a copy of v (NULL clears it); DLQ_E_NOMEM on failure. */
static int replace(char **field, const char *v)
{
    char *p = NULL;
    if (v && (p = strdup(v)) == NULL)
        return DLQ_E_NOMEM;
    free(*field);
    *field = p;
    return DLQ_OK;
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* add_change appends "field":{"before":..,"after":..} to b; raw says the
 * values are JSON text already (task_args, task_kwargs). */
static void add_change(struct dlq_buf *b, int *n, const char *field, const char *before,
                       const char *after, int raw)
{
    dlq_buf_printf(b, "%s\"%s\":{\"before\":", (*n)++ ? "," : "", field);
    if (raw)
        dlq_buf_puts(b, before ? before : "null");
    else
        json_str(b, before);
    dlq_buf_puts(b, ",\"after\":");
    if (raw)
        dlq_buf_puts(b, after ? after : "null");
    else
        json_str(b, after);
    dlq_buf_putc(b, '}');
}

int dlq_store_edit_apply(struct dlq_entry *e, const struct dlq_edit *ed, char **details)
{
    struct dlq_buf b = {0};
    int n = 0, code = DLQ_OK;
    *details = NULL;
    dlq_buf_puts(&b, "{\"changes\":{");
    if (ed->task_args && !same(ed->task_args, e->task_args)) {
        add_change(&b, &n, "task_args", e->task_args, ed->task_args, 1);
        code = replace(&e->task_args, ed->task_args);
    }
    if (code == DLQ_OK && ed->task_kwargs && !same(ed->task_kwargs, e->task_kwargs)) {
        add_change(&b, &n, "task_kwargs", e->task_kwargs, ed->task_kwargs, 1);
        code = replace(&e->task_kwargs, ed->task_kwargs);
    }
    if (code == DLQ_OK && ed->queue && !same(ed->queue, e->queue)) {
        add_change(&b, &n, "queue", e->queue, ed->queue, 0);
        code = replace(&e->queue, ed->queue);
    }
    dlq_buf_puts(&b, "}}");
    if (code == DLQ_OK && b.oom)
        code = DLQ_E_NOMEM;
    if (code == DLQ_OK && n > 0)
        *details = dlq_buf_steal(&b);
    else
        dlq_buf_free(&b);
    return code;
}

char *dlq_store_error_json(const struct dlq_entry *e)
{
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"type\":");
    json_str(&b, e->exc_type);
    dlq_buf_puts(&b, ",\"message\":");
    json_str(&b, e->exc_message);
    dlq_buf_puts(&b, ",\"traceback\":");
    json_str(&b, e->exc_traceback);
    dlq_buf_putc(&b, '}');
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}
