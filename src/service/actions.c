/*
 * actions.c: the single-entry operator actions (retry, force redrive,
 * resolve, discard) and replay outcomes. What is decided here: who may do
 * what beyond the route's role (force needs admin and a reason), the tenant
 * an action is confined to, the ids and times (retry_task_id "job_<ULID>",
 * the audit id), and the audit record. The store applies the action, its
 * history and the audit record atomically and answers 409 for a refused
 * transition.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

/* make_id writes "<prefix>_<ULID>" for now into out (DLQ_ID_MAX bytes). */
static int make_id(const char *prefix, int64_t now, char *out, char *err, size_t errlen)
{
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof rnd) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    dlq_id_make(prefix, now, rnd, out, DLQ_ID_MAX);
    return DLQ_OK;
}

static void json_str(struct dlq_buf *b, const char *s)
{
    if (s)
        dlq_buf_json_string(b, s, strlen(s));
    else
        dlq_buf_puts(b, "null");
}

/* init_audit fills the common part of an audit record by p (borrowed strings). */
static int init_audit(const struct dlq_principal *p, int64_t now, const char *action,
                      struct dlq_audit *au, char *err, size_t errlen)
{
    memset(au, 0, sizeof *au);
    au->at = now;
    au->actor = (char *)p->name;
    au->tenant_id = (char *)dlq_service_tenant(p);
    au->action = (char *)action;
    return make_id("aud", now, au->id, err, errlen);
}

/* retry_details is the audit details of a retry: the dispatch id and what
 * was edited (malloc'd, NULL when out of memory). */
static char *retry_details(const char *rtid, const struct dlq_retry_req *rq)
{
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"retry_task_id\":");
    json_str(&b, rtid);
    dlq_buf_puts(&b, ",\"edit\":{");
    int n = 0;
    if (rq->task_args)
        dlq_buf_printf(&b, "%s\"task_args\":%s", n++ ? "," : "", rq->task_args);
    if (rq->task_kwargs)
        dlq_buf_printf(&b, "%s\"task_kwargs\":%s", n++ ? "," : "", rq->task_kwargs);
    if (rq->queue) {
        dlq_buf_printf(&b, "%s\"queue\":", n++ ? "," : "");
        json_str(&b, rq->queue);
    }
    if (rq->max_retries >= 0)
        dlq_buf_printf(&b, "%s\"max_retries\":%d", n++ ? "," : "", rq->max_retries);
    dlq_buf_puts(&b, "}}");
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}

/* dlq_service_retry: see service.h. The audit action is force_redrive, edit
 * (a plain retry that changes the job) or retry. */
int dlq_service_retry(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                      const struct dlq_retry_req *rq, struct dlq_entry *after, char *err,
                      size_t errlen)
{
    assert(svc && p && id && rq && after);
    memset(after, 0, sizeof *after);
    if (rq->force && p->role != DLQ_ROLE_ADMIN)
        return dlq_errf(err, errlen, DLQ_E_FORBIDDEN, "force=true needs the admin role");
    if (rq->force && (!rq->reason || !rq->reason[0]))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "reason is required with force=true");
    int64_t now = dlq_now_ms();
    char rtid[DLQ_ID_MAX];
    int code = make_id("job", now, rtid, err, errlen);
    if (code != DLQ_OK)
        return code;
    struct dlq_edit edit = {rq->task_args, rq->task_kwargs, rq->queue, rq->max_retries};
    int edited = rq->task_args || rq->task_kwargs || rq->queue || rq->max_retries >= 0;
    struct dlq_act a = {
        .action = rq->force ? DLQ_ACTION_FORCE_RETRY : DLQ_ACTION_RETRY,
        .now = now,
        .actor = p->name,
        .tenant = dlq_service_tenant(p),
        .reason = rq->reason,
        .ticket_url = rq->ticket_url,
        .edit = edited ? &edit : NULL,
        .keep_attempts = rq->keep_attempts, /* issue 4 */
    };
    struct dlq_audit au;
    code = init_audit(p, now,
                      rq->force ? "force_redrive"
                      : edited  ? "edit"
                                : "retry",
                      &au, err, errlen);
    if (code != DLQ_OK)
        return code;
    au.reason = (char *)rq->reason;
    au.ticket_url = (char *)rq->ticket_url;
    au.details = retry_details(rtid, rq);
    if (au.details == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    code = dlq_store_act(svc->store, id, &a, rtid, &au, after, err, errlen);
    free(au.details);
    if (code == DLQ_OK)
        dlq_service_job_wake(svc, NULL); /* issue 4: the replay made a job */
    return code;
}

/* act_simple runs one action without edits, with an audit record whose
 * details are given (may be NULL). */
static int act_simple(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                      struct dlq_act *a, const char *audit_action, const char *reason,
                      const char *details, struct dlq_entry *after, char *err, size_t errlen)
{
    struct dlq_audit au;
    int code = init_audit(p, a->now, audit_action, &au, err, errlen);
    if (code != DLQ_OK)
        return code;
    au.reason = (char *)reason;
    au.details = (char *)details;
    return dlq_store_act(svc->store, id, a, NULL, &au, after, err, errlen);
}

int dlq_service_resolve(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                        const char *notes, struct dlq_entry *after, char *err, size_t errlen)
{
    assert(svc && p && id && after);
    memset(after, 0, sizeof *after);
    struct dlq_act a = {.action = DLQ_ACTION_RESOLVE,
                        .now = dlq_now_ms(),
                        .actor = p->name,
                        .tenant = dlq_service_tenant(p),
                        .notes = notes,
                        .resolution_type = "manual"};
    return act_simple(svc, p, id, &a, "resolve", notes, NULL, after, err, errlen);
}

int dlq_service_discard(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                        const char *reason, struct dlq_entry *after, char *err, size_t errlen)
{
    assert(svc && p && id && after);
    memset(after, 0, sizeof *after);
    struct dlq_act a = {.action = DLQ_ACTION_DISCARD,
                        .now = dlq_now_ms(),
                        .actor = p->name,
                        .tenant = dlq_service_tenant(p),
                        .reason = reason};
    return act_simple(svc, p, id, &a, "discard", reason, NULL, after, err, errlen);
}

int dlq_service_outcome(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                        int succeeded, const char *error_json, struct dlq_entry *after, char *err,
                        size_t errlen)
{
    assert(svc && p && id && after);
    memset(after, 0, sizeof *after);
    struct dlq_act a = {.action =
                            succeeded ? DLQ_ACTION_REPLAY_SUCCEEDED : DLQ_ACTION_REPLAY_FAILED,
                        .now = dlq_now_ms(),
                        .actor = p->name,
                        .tenant = dlq_service_tenant(p),
                        .error_json = succeeded ? NULL : error_json};
    struct dlq_buf b = {0};
    dlq_buf_printf(&b, "{\"succeeded\":%s", succeeded ? "true" : "false");
    if (!succeeded && error_json)
        dlq_buf_printf(&b, ",\"error\":%s", error_json);
    dlq_buf_putc(&b, '}');
    if (b.oom) {
        dlq_buf_free(&b);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    int code = act_simple(svc, p, id, &a, "outcome", NULL, b.data, after, err, errlen);
    dlq_buf_free(&b);
    return code;
}
