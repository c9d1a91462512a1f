/*
 * job_encode.c: a job and a queue as the API shows them (ISSUE4_API.md),
 * written straight into a dlq_buf. JSON members the store keeps as text
 * (args, kwargs, metadata, last_error, attempts, result) are written as they
 * are: they were produced by our own encoder. A job's lease_token appears
 * only in the reserve answer, never in a read.
 */
#include <string.h>

#include "core_int.h"
#include "dlq/job_codec.h"

static void key(struct dlq_buf *b, const char *k)
{
    dlq_buf_putc(b, '"');
    dlq_buf_puts(b, k);
    dlq_buf_puts(b, "\":");
}

static void str(struct dlq_buf *b, const char *k, const char *s)
{
    key(b, k);
    if (s)
        dlq_buf_json_string(b, s, strlen(s));
    else
        dlq_buf_puts(b, "null");
    dlq_buf_putc(b, ',');
}

static void num(struct dlq_buf *b, const char *k, long long v)
{
    key(b, k);
    dlq_buf_printf(b, "%lld,", v);
}

static void tim(struct dlq_buf *b, const char *k, int64_t ms)
{
    key(b, k);
    if (ms == 0) {
        dlq_buf_puts(b, "null,");
        return;
    }
    char t[DLQ_TIME_MAX];
    dlq_time_format(ms, t);
    dlq_buf_printf(b, "\"%s\",", t);
}

static void raw(struct dlq_buf *b, const char *k, const char *json, const char *dflt)
{
    key(b, k);
    dlq_buf_puts(b, json && json[0] ? json : dflt);
    dlq_buf_putc(b, ',');
}

/* close_obj replaces the trailing comma with '}'. */
static int close_obj(struct dlq_buf *b)
{
    if (b->len > 0 && b->data[b->len - 1] == ',')
        b->len--;
    dlq_buf_putc(b, '}');
    return b->oom ? DLQ_E_NOMEM : DLQ_OK;
}

const char *dlq_target_name(enum dlq_target t)
{
    return t == DLQ_TARGET_WEBHOOK ? "webhook" : "native";
}

int dlq_job_to_json(const struct dlq_job *j, struct dlq_buf *b)
{
    dlq_buf_putc(b, '{');
    str(b, "job_id", j->job_id);
    str(b, "queue", j->queue);
    str(b, "task_name", j->task_name);
    raw(b, "args", j->args, "[]");
    raw(b, "kwargs", j->kwargs, "{}");
    num(b, "priority", j->priority);
    str(b, "state", dlq_job_state_name(j->state));
    num(b, "attempt", j->attempt);
    num(b, "max_retries", j->max_retries);
    num(b, "timeout_s", j->timeout_s);
    tim(b, "run_at", j->run_at);
    tim(b, "lease_expires_at", j->state == DLQ_JOB_RUNNING ? j->lease_expires_at : 0);
    str(b, "worker_id", j->worker_id && j->worker_id[0] ? j->worker_id : NULL);
    key(b, "backoff");
    dlq_buf_printf(b, "{\"base_ms\":%lld,\"factor\":", (long long)j->backoff_base_ms);
    dlq_json_encode_real(j->backoff_factor, b);
    dlq_buf_printf(b, ",\"max_ms\":%lld},", (long long)j->backoff_max_ms);
    str(b, "replay_of", j->replay_of && j->replay_of[0] ? j->replay_of : NULL);
    str(b, "idempotency_key",
        j->idempotency_key && j->idempotency_key[0] ? j->idempotency_key : NULL);
    str(b, "tenant_id", j->tenant_id && j->tenant_id[0] ? j->tenant_id : NULL);
    raw(b, "metadata", j->metadata, "{}");
    str(b, "target", dlq_target_name(j->target));
    tim(b, "created_at", j->created_at);
    tim(b, "updated_at", j->updated_at);
    tim(b, "started_at", j->started_at);
    tim(b, "finished_at", j->finished_at);
    raw(b, "last_error", j->last_error, "null");
    raw(b, "attempts", j->attempts, "[]");
    raw(b, "result", j->result, "null");
    str(b, "dlq_id", j->dlq_id && j->dlq_id[0] ? j->dlq_id : NULL);
    return close_obj(b);
}

int dlq_job_reserved_to_json(const struct dlq_job *j, struct dlq_buf *b)
{
    dlq_buf_putc(b, '{');
    str(b, "job_id", j->job_id);
    str(b, "queue", j->queue);
    str(b, "task_name", j->task_name);
    raw(b, "args", j->args, "[]");
    raw(b, "kwargs", j->kwargs, "{}");
    num(b, "priority", j->priority);
    num(b, "attempt", j->attempt);
    num(b, "max_retries", j->max_retries);
    num(b, "timeout_s", j->timeout_s);
    str(b, "lease_token", j->lease_token);
    tim(b, "lease_expires_at", j->lease_expires_at);
    str(b, "replay_of", j->replay_of && j->replay_of[0] ? j->replay_of : NULL);
    str(b, "tenant_id", j->tenant_id && j->tenant_id[0] ? j->tenant_id : NULL);
    raw(b, "metadata", j->metadata, "{}");
    tim(b, "created_at", j->created_at);
    return close_obj(b);
}

int dlq_queue_info_to_json(const struct dlq_queue_info *q, int64_t now, struct dlq_buf *b)
{
    dlq_buf_putc(b, '{');
    str(b, "queue", q->queue);
    num(b, "ready", q->n[DLQ_JOB_QUEUED]);
    num(b, "scheduled", q->n[DLQ_JOB_SCHEDULED]);
    num(b, "running", q->n[DLQ_JOB_RUNNING]);
    num(b, "succeeded", q->n[DLQ_JOB_SUCCEEDED]);
    num(b, "dead", q->n[DLQ_JOB_DEAD]);
    num(b, "cancelled", q->n[DLQ_JOB_CANCELLED]);
    num(b, "dispatched", q->n[DLQ_JOB_DISPATCHED]);
    tim(b, "oldest_ready_at", q->oldest_ready_at);
    key(b, "oldest_ready_age_s");
    if (q->oldest_ready_at > 0) {
        int64_t age = now - q->oldest_ready_at;
        dlq_json_encode_real(age > 0 ? (double)age / 1000.0 : 0.0, b);
        dlq_buf_putc(b, ',');
    } else {
        dlq_buf_puts(b, "null,");
    }
    key(b, "paused");
    dlq_buf_puts(b, q->settings.paused ? "true," : "false,");
    str(b, "replay_target", dlq_target_name(q->settings.target));
    str(b, "webhook_url", q->settings.webhook_url[0] ? q->settings.webhook_url : NULL);
    key(b, "webhook_secret_set");
    dlq_buf_puts(b, q->settings.webhook_secret[0] ? "true," : "false,");
    key(b, "max_replays");
    if (q->settings.max_replays > 0)
        dlq_buf_printf(b, "%d,", q->settings.max_replays);
    else
        dlq_buf_puts(b, "3,");
    return close_obj(b);
}
