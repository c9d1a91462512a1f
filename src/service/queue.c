/*
 * queue.c: the job queue's use cases (ISSUE4_API.md): enqueue, reserve,
 * ack, fail, heartbeat, cancel and read a job; list, read, configure,
 * pause and resume a queue. What is decided here: ids (job_<ULID>), times
 * (run_at from a delay, queued vs scheduled), the tenant of a tenant-bound
 * token (forced, as for entries), the audit records of queue changes, and
 * who must be woken after a change: reserve waiters of the queue, the timer
 * (an earlier due time), the webhook dispatcher.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

int dlq_job_make_id(const char *prefix, int64_t now, char out[40])
{
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof rnd) != DLQ_OK)
        return DLQ_E_INTERNAL;
    dlq_id_make(prefix, now, rnd, out, 40);
    return DLQ_OK;
}

/* next_random increments an 80-bit big-endian number so that the ids of one
 * batch, made in the same millisecond, sort in the batch's order. */
static void next_random(uint8_t rnd[10])
{
    for (int i = 9; i >= 0; i--)
        if (++rnd[i] != 0)
            break;
}

static int set_str(char **slot, const char *s)
{
    char *c = dlq_strdup(s);
    if (!c)
        return DLQ_E_NOMEM;
    free(*slot);
    *slot = c;
    return DLQ_OK;
}

int dlq_service_job_enqueue(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *queue, struct dlq_job_spec *specs, size_t n,
                            struct dlq_job_result *res, char *err, size_t errlen)
{
    if (!dlq_job_queue_name_ok(queue))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "bad queue name");
    if (n == 0 || n > DLQ_JOB_BATCH_MAX)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "a batch holds 1 to %d jobs", DLQ_JOB_BATCH_MAX);
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof rnd) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    rnd[0] &= 0x7f;
    int64_t now = dlq_now_ms();
    const char *tenant = dlq_service_tenant(p);
    struct dlq_job *jobs = calloc(n, sizeof *jobs);
    if (!jobs)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int64_t earliest = 0;
    for (size_t i = 0; i < n; i++) {
        struct dlq_job *j = &specs[i].job;
        dlq_id_make("job", now, rnd, j->job_id, sizeof j->job_id);
        next_random(rnd);
        if (set_str(&j->queue, queue) != DLQ_OK ||
            (tenant && set_str(&j->tenant_id, tenant) != DLQ_OK) ||
            (!j->tenant_id && set_str(&j->tenant_id, "") != DLQ_OK) ||
            (!j->metadata && set_str(&j->metadata, "{}") != DLQ_OK)) {
            free(jobs);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        j->run_at = specs[i].delay_ms > 0 ? now + specs[i].delay_ms
                    : specs[i].run_at > 0 ? specs[i].run_at
                                          : now;
        j->state = j->run_at <= now ? DLQ_JOB_QUEUED : DLQ_JOB_SCHEDULED;
        j->created_at = j->updated_at = now;
        j->target = DLQ_TARGET_NATIVE;
        if (j->state == DLQ_JOB_SCHEDULED && (earliest == 0 || j->run_at < earliest))
            earliest = j->run_at;
        jobs[i] = *j; /* a shallow view: the strings stay the specs' */
    }
    memset(res, 0, n * sizeof *res);
    int code = dlq_store_job_enqueue(svc->store, jobs, n, res, err, errlen);
    free(jobs);
    if (code != DLQ_OK)
        return code;
    if (earliest > 0)
        dlq_jobs_nudge_wall(svc, earliest);
    dlq_service_job_wake(svc, queue);
    return DLQ_OK;
}

int dlq_service_job_reserve(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *queue, const struct dlq_job_reserve_req *rq,
                            struct dlq_job *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (!dlq_job_queue_name_ok(queue))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "bad queue name");
    struct dlq_reserve r = {
        .queue = queue,
        .tenant = dlq_service_tenant(p),
        .task_names = (const char *const *)rq->task_names,
        .ntask = rq->ntask,
        .max = (size_t)(rq->count > 0 ? rq->count : 1),
        .lease_s = rq->lease_s,
        .worker_id = rq->worker_id[0] ? rq->worker_id : "worker",
        .target = DLQ_TARGET_NATIVE,
        .now = dlq_now_ms(),
    };
    int code = dlq_store_job_reserve(svc->store, &r, out, n, err, errlen);
    if (code != DLQ_OK || *n == 0)
        return code;
    int64_t earliest = out[0].lease_expires_at;
    for (size_t i = 1; i < *n; i++)
        if (out[i].lease_expires_at < earliest)
            earliest = out[i].lease_expires_at;
    dlq_jobs_nudge_wall(svc, earliest);
    return DLQ_OK;
}

int dlq_service_job_ack(struct dlq_service *svc, const struct dlq_principal *p,
                        const struct dlq_job_ack *acks, size_t n, struct dlq_job_result *res,
                        char *err, size_t errlen)
{
    if (n == 0 || n > DLQ_JOB_BATCH_MAX)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "1 to %d acks", DLQ_JOB_BATCH_MAX);
    memset(res, 0, n * sizeof *res);
    return dlq_store_job_ack(svc->store, acks, n, dlq_service_tenant(p), dlq_now_ms(), res, err,
                             errlen);
}

int dlq_service_job_fail(struct dlq_service *svc, const struct dlq_principal *p, const char *job_id,
                         const struct dlq_job_call *c, struct dlq_job_result *res, char *err,
                         size_t errlen)
{
    struct dlq_job_fail f = {
        .job_id = job_id,
        .lease_token = c->lease_token,
        .tenant = dlq_service_tenant(p),
        .retryable = c->retryable,
        .reason = c->reason,
        .error_json = c->error_json,
        .now = dlq_now_ms(),
    };
    memset(res, 0, sizeof *res);
    int code = dlq_store_job_fail(svc->store, &f, res, err, errlen);
    if (code == DLQ_OK && res->code == DLQ_OK && res->state == DLQ_JOB_SCHEDULED)
        dlq_jobs_nudge_wall(svc, res->next_run_at);
    return code;
}

int dlq_service_job_heartbeat(struct dlq_service *svc, const struct dlq_principal *p,
                              const char *job_id, const char *lease_token, int extend_s,
                              struct dlq_job_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    return dlq_store_job_heartbeat(svc->store, job_id, lease_token, dlq_service_tenant(p), extend_s,
                                   dlq_now_ms(), res, err, errlen);
}

int dlq_service_job_cancel(struct dlq_service *svc, const struct dlq_principal *p,
                           const char *job_id, struct dlq_job_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    return dlq_store_job_cancel(svc->store, job_id, dlq_service_tenant(p), dlq_now_ms(), res, err,
                                errlen);
}

int dlq_service_job_get(struct dlq_service *svc, const struct dlq_principal *p, const char *job_id,
                        struct dlq_job *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return dlq_store_job_get(svc->store, job_id, dlq_service_tenant(p), out, err, errlen);
}

int dlq_service_queue_list(struct dlq_service *svc, const struct dlq_principal *p,
                           struct dlq_queue_info **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    return dlq_store_queue_list(svc->store, dlq_service_tenant(p), out, n, err, errlen);
}

int dlq_service_queue_get(struct dlq_service *svc, const struct dlq_principal *p, const char *queue,
                          struct dlq_queue_info *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!dlq_job_queue_name_ok(queue))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "bad queue name");
    struct dlq_queue_info *all = NULL;
    size_t n = 0;
    int code = dlq_service_queue_list(svc, p, &all, &n, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no queue named '%s'", queue);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].queue, queue) == 0) {
            *out = all[i];
            code = DLQ_OK;
            break;
        }
    free(all);
    return code;
}

/* after_change fills *out with queue as it now is; a queue that has only
 * settings is shown with zero depths. */
static int after_change(struct dlq_service *svc, const struct dlq_principal *p, const char *queue,
                        const struct dlq_queue_settings *st, struct dlq_queue_info *out, char *err,
                        size_t errlen)
{
    int code = dlq_service_queue_get(svc, p, queue, out, err, errlen);
    if (code == DLQ_E_NOTFOUND) {
        memset(out, 0, sizeof *out);
        snprintf(out->queue, sizeof out->queue, "%s", queue);
        out->settings = *st;
        code = DLQ_OK;
    }
    return code;
}

/* audit writes a queue audit record (best effort: logged when it fails). */
static void audit(struct dlq_service *svc, const struct dlq_principal *p, const char *action,
                  const char *queue, const char *details)
{
    char err[256] = "";
    if (dlq_service_audit_note(svc, p, action, NULL, NULL, details, err, sizeof err) != DLQ_OK)
        dlq_log(DLQ_LOG_WARN, "queue %s: %s not audited: %s", queue, action, err);
}

/* shared_queue_refused (harden): a queue's settings (webhook URL and
 * secret, pause) are shared by every tenant, so a tenant-bound token may not
 * change them: pointing a queue at its own URL would hand it other tenants'
 * jobs. Returns DLQ_E_FORBIDDEN. */
static int shared_queue_refused(char *err, size_t errlen)
{
    return dlq_errf(err, errlen, DLQ_E_FORBIDDEN,
                    "queue settings are shared by every tenant: use a token not bound to a "
                    "tenant");
}

int dlq_service_queue_settings(struct dlq_service *svc, const struct dlq_principal *p,
                               const char *queue, const struct dlq_queue_settings_req *rq,
                               struct dlq_queue_info *out, char *err, size_t errlen)
{
    if (!dlq_job_queue_name_ok(queue))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "bad queue name");
    if (dlq_service_tenant(p)) /* harden: see shared_queue_refused */
        return shared_queue_refused(err, errlen);
    struct dlq_queue_settings st;
    memset(&st, 0, sizeof st);
    int code = dlq_store_queue_settings_get(svc->store, queue, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    snprintf(st.queue, sizeof st.queue, "%s", queue);
    if (rq->has_target)
        st.target = rq->target;
    if (rq->has_url)
        snprintf(st.webhook_url, sizeof st.webhook_url, "%s", rq->webhook_url);
    if (rq->has_secret)
        snprintf(st.webhook_secret, sizeof st.webhook_secret, "%s", rq->webhook_secret);
    if (rq->has_max_replays)
        st.max_replays = rq->max_replays;
    if (rq->has_paused)
        st.paused = rq->paused;
    if (st.target == DLQ_TARGET_WEBHOOK && !st.webhook_url[0])
        return dlq_errf(err, errlen, DLQ_E_UNPROCESSABLE,
                        "webhook_url is required when replay_target is webhook");
    code = dlq_store_queue_settings_put(svc->store, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    struct dlq_buf b = {0};
    dlq_buf_printf(&b, "{\"queue\":");
    dlq_buf_json_string(&b, queue, strlen(queue));
    if (rq->has_target)
        dlq_buf_printf(&b, ",\"replay_target\":\"%s\"", dlq_target_name(rq->target));
    if (rq->has_url) {
        dlq_buf_puts(&b, ",\"webhook_url\":");
        dlq_buf_json_string(&b, rq->webhook_url, strlen(rq->webhook_url));
    }
    if (rq->has_secret)
        dlq_buf_puts(&b, ",\"webhook_secret_set\":true");
    if (rq->has_max_replays)
        dlq_buf_printf(&b, ",\"max_replays\":%d", rq->max_replays);
    if (rq->has_paused)
        dlq_buf_printf(&b, ",\"paused\":%s", rq->paused ? "true" : "false");
    dlq_buf_putc(&b, '}');
    audit(svc, p, "queue_settings", queue, b.oom ? NULL : b.data);
    dlq_buf_free(&b);
    if (rq->has_paused && !rq->paused)
        dlq_service_job_wake(svc, queue);
    code = after_change(svc, p, queue, &st, out, err, errlen);
    memset(&st, 0, sizeof st); /* the secret */
    return code;
}

int dlq_service_queue_pause(struct dlq_service *svc, const struct dlq_principal *p,
                            const char *queue, int paused, struct dlq_queue_info *out, char *err,
                            size_t errlen)
{
    if (!dlq_job_queue_name_ok(queue))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "bad queue name");
    if (dlq_service_tenant(p)) /* harden: see shared_queue_refused */
        return shared_queue_refused(err, errlen);
    struct dlq_queue_settings st;
    memset(&st, 0, sizeof st);
    int code = dlq_store_queue_settings_get(svc->store, queue, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    snprintf(st.queue, sizeof st.queue, "%s", queue);
    st.paused = paused;
    code = dlq_store_queue_settings_put(svc->store, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    char details[200];
    snprintf(details, sizeof details, "{\"queue\":\"%s\"}", queue); /* name is [A-Za-z0-9._:-] */
    audit(svc, p, paused ? "queue_pause" : "queue_resume", queue, details);
    if (!paused) {
        dlq_service_job_wake(svc, queue);
        dlq_jobs_kick_dispatcher(svc);
    }
    code = after_change(svc, p, queue, &st, out, err, errlen);
    memset(&st, 0, sizeof st);
    return code;
}
