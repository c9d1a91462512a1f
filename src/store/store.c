/*
 * store.c: the backend registry and the thin wrappers every caller above
 * src/store/ goes through. The wrappers state the interface's preconditions
 * as asserts and dispatch through the backend's methods table, so a wrapper
 * store (fault.c) can stand in for any backend.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/store.h"
#include "store_int.h"

static const struct dlq_store_backend backends[] = {
    {"sqlite", dlq_sqlite_open},
    {"postgres", dlq_postgres_open},
    {NULL, NULL},
};

/* dlq_store_backends returns the static registry, ending with {NULL, NULL}. */
const struct dlq_store_backend *dlq_store_backends(void)
{
    return backends;
}

/* dlq_store_open finds backend by name and opens it. On error *out is NULL:
 * DLQ_E_INVAL for an unknown backend, else whatever the backend reports. */
int dlq_store_open(const char *backend, const struct dlq_store_config *cfg, struct dlq_store **out,
                   char *err, size_t errlen)
{
    assert(backend && cfg && out);
    *out = NULL;
    for (const struct dlq_store_backend *b = backends; b->name; b++) {
        if (strcmp(b->name, backend) != 0)
            continue;
        int rc = b->open(cfg, out, err, errlen);
        assert(rc == DLQ_OK ? *out != NULL : *out == NULL);
        return rc;
    }
    return dlq_errf(err, errlen, DLQ_E_INVAL, "unknown store backend \"%s\"", backend);
}

/* dlq_store_backend_of names the backend a store location is for: a
 * postgres:// or postgresql:// URL is PostgreSQL, anything else a SQLite
 * file path. */
const char *dlq_store_backend_of(const char *location)
{
    if (location &&
        (strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0))
        return "postgres";
    return "sqlite";
}

/* dlq_store_location_shown copies location into buf with a URL's
 * password replaced by "***", for messages and logs. Returns buf. */
const char *dlq_store_location_shown(const char *location, char *buf, size_t len)
{
    snprintf(buf, len, "%s", location ? location : "");
    char *scheme = strstr(buf, "://");
    if (scheme == NULL)
        return buf;
    char *auth = scheme + 3, *at = strchr(auth, '@'), *colon = strchr(auth, ':');
    if (at && colon && colon < at && (size_t)(at - buf) < len) {
        char rest[512];
        snprintf(rest, sizeof rest, "%s", at);
        snprintf(colon + 1, len - (size_t)(colon + 1 - buf), "***%s", rest);
    }
    return buf;
}

void dlq_store_close(struct dlq_store *s)
{
    if (s == NULL)
        return;
    assert(s->m && s->m->close);
    s->m->close(s);
}

int dlq_store_migrate(struct dlq_store *s, int *from, int *to, char *err, size_t errlen)
{
    assert(s && s->m && from && to);
    return s->m->migrate(s, from, to, err, errlen);
}

int dlq_store_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                      const char *actor, struct dlq_capture_result *res, char *err, size_t errlen)
{
    assert(s && s->m && res);
    assert(n > 0 && entries);
    for (size_t i = 0; i < n; i++)
        assert(entries[i].dlq_id && entries[i].task_name && entries[i].status != DLQ_STATUS_NONE);
    return s->m->capture(s, entries, n, actor, res, err, errlen);
}

int dlq_store_can_submit(const struct dlq_store *s)
{
    return s && s->m && s->m->capture_submit != NULL;
}

int dlq_store_capture_submit(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                             const char *actor, struct dlq_capture_result *res, char *err,
                             size_t errlen, void (*done)(void *arg, int rc), void *arg)
{
    assert(dlq_store_can_submit(s) && res && done);
    assert(n > 0 && entries);
    for (size_t i = 0; i < n; i++)
        assert(entries[i].dlq_id && entries[i].task_name && entries[i].status != DLQ_STATUS_NONE);
    return s->m->capture_submit(s, entries, n, actor, res, err, errlen, done, arg);
}

int dlq_store_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
                  struct dlq_event **hist, size_t *nhist, char *err, size_t errlen)
{
    assert(s && s->m && id && out);
    assert((hist == NULL) == (nhist == NULL));
    return s->m->get(s, id, tenant, out, hist, nhist, err, errlen);
}

int dlq_store_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                   size_t errlen)
{
    assert(s && s->m && f && out);
    assert(f->limit >= 1 && f->limit <= DLQ_LIST_LIMIT_MAX);
    assert(f->offset >= 0);
    return s->m->list(s, f, out, err, errlen);
}

int dlq_store_token_create(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen)
{
    assert(s && s->m && t && t->id[0] && t->secret_hash[0]);
    return s->m->token_create(s, t, err, errlen);
}

int dlq_store_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                            char *err, size_t errlen)
{
    assert(s && s->m && hash_hex && out);
    return s->m->token_by_hash(s, hash_hex, out, err, errlen);
}

int dlq_store_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                         size_t errlen)
{
    assert(s && s->m && out && n);
    return s->m->token_list(s, out, n, err, errlen);
}

int dlq_store_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err,
                           size_t errlen)
{
    assert(s && s->m && id);
    return s->m->token_revoke(s, id, now, err, errlen);
}

int dlq_store_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err,
                          size_t errlen)
{
    assert(s && s->m && id);
    return s->m->token_touch(s, id, now, err, errlen);
}

int dlq_store_ping(struct dlq_store *s, char *err, size_t errlen)
{
    assert(s && s->m);
    return s->m->ping(s, err, errlen);
}

/* ---- slice A wrappers ---- */
int dlq_store_act(struct dlq_store *s, const char *id, const struct dlq_act *a,
                  const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
                  char *err, size_t errlen)
{
    assert(s && s->m && s->m->act && id && a);
    return s->m->act(s, id, a, retry_task_id, audit, after, err, errlen);
}

int dlq_store_act_many(struct dlq_store *s, const char *const *ids, size_t n,
                       const struct dlq_act *a, const char *const *retry_task_ids,
                       const struct dlq_audit *audit, struct dlq_act_result *res, char *err,
                       size_t errlen)
{
    assert(s && s->m && s->m->act_many && (ids || n == 0) && a && (res || n == 0));
    return s->m->act_many(s, ids, n, a, retry_task_ids, audit, res, err, errlen);
}

int dlq_store_audit_append(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                           size_t errlen)
{
    assert(s && s->m && audit);
    /* Stand-alone records are best effort for their callers (token changes):
     * a backend without an audit trail (a test fake) says so instead of dying. */
    if (s->m->audit_append == NULL)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "this store keeps no audit trail");
    return s->m->audit_append(s, audit, err, errlen);
}

int dlq_store_audit_list(struct dlq_store *s, const struct dlq_audit_filter *f,
                         struct dlq_audit **out, size_t *n, char next_cursor[128], char *err,
                         size_t errlen)
{
    assert(s && s->m && s->m->audit_list && f && out && n && next_cursor);
    return s->m->audit_list(s, f, out, n, next_cursor, err, errlen);
}
/* ---- end of slice A wrappers ---- */

/* ---- slice B wrappers: bulk operations ---- */
int dlq_store_bulk_select(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                          const char *skip_op, size_t max, char (*ids)[40], size_t *n,
                          char next[128], char *err, size_t errlen)
{
    assert(s && s->m && s->m->bulk_select && f && ids && n && next && max > 0);
    return s->m->bulk_select(s, f, after, skip_op, max, ids, n, next, err, errlen);
}

int dlq_store_bulk_preview(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                           struct dlq_bulk_preview *out, char *err, size_t errlen)
{
    assert(s && s->m && s->m->bulk_preview && f && out && max > 0);
    return s->m->bulk_preview(s, f, max, out, err, errlen);
}

int dlq_store_op_save(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen)
{
    assert(s && s->m && s->m->op_save && op && op->id[0] && op->state[0]);
    return s->m->op_save(s, op, err, errlen);
}

int dlq_store_op_finish(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                        const char *reason, int64_t now, char *err, size_t errlen)
{
    assert(s && s->m && s->m->op_finish && id && state);
    return s->m->op_finish(s, id, tenant, state, reason, now, err, errlen);
}

int dlq_store_op_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                     char *err, size_t errlen)
{
    assert(s && s->m && s->m->op_get && id && out);
    return s->m->op_get(s, id, tenant, out, err, errlen);
}

int dlq_store_op_list(struct dlq_store *s, const char *tenant, const char *state, int limit,
                      struct dlq_op **out, size_t *n, char *err, size_t errlen)
{
    assert(s && s->m && s->m->op_list && out && n && limit > 0);
    return s->m->op_list(s, tenant, state, limit, out, n, err, errlen);
}

/* dlq_op_clear frees the owned strings of op and zeroes it. */
void dlq_op_clear(struct dlq_op *op)
{
    if (op == NULL)
        return;
    free(op->filter);
    free(op->params);
    memset(op, 0, sizeof *op);
}

/* dlq_bulk_preview_clear frees the breakdowns of p and zeroes it. */
void dlq_bulk_preview_clear(struct dlq_bulk_preview *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ntask; i++)
        free(p->by_task[i].name);
    for (size_t i = 0; i < p->nexc; i++)
        free(p->by_exc[i].name);
    free(p->by_task);
    free(p->by_exc);
    memset(p, 0, sizeof *p);
}
/* ---- end of slice B wrappers ---- */

/* ---- slice C2 wrappers: maintenance, cleanup, export ---- */
int dlq_store_maint_step(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                         int limit, int64_t *done, char *err, size_t errlen)
{
    assert(s && s->m && s->m->maint_step && done && limit > 0);
    assert(action == DLQ_ACTION_EXPIRE || action == DLQ_ACTION_ARCHIVE ||
           action == DLQ_ACTION_PURGE);
    return s->m->maint_step(s, action, cutoff, now, limit, done, err, errlen);
}

int dlq_store_cleanup(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                      int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                      char *err, size_t errlen)
{
    assert(s && s->m && s->m->cleanup && by_status && n && limit > 0);
    return s->m->cleanup(s, status_mask, before, tenant, dry_run, limit, by_status, n, err, errlen);
}

int dlq_store_export_page(struct dlq_store *s, const struct dlq_filter *f, int limit,
                          struct dlq_page *out, char *err, size_t errlen)
{
    assert(s && s->m && s->m->export_page && f && out && limit > 0);
    return s->m->export_page(s, f, limit, out, err, errlen);
}

int dlq_store_count_entries(struct dlq_store *s, int64_t *n, char *err, size_t errlen)
{
    assert(s && s->m && s->m->count_entries && n);
    return s->m->count_entries(s, n, err, errlen);
}
/* ---- end of slice C2 wrappers ---- */

/* ---- slice C1 wrappers ---- */
int dlq_store_stats(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                    struct dlq_stats *out, char *err, size_t errlen)
{
    assert(s && s->m && s->m->stats && out);
    return s->m->stats(s, tenant, now, hours, out, err, errlen);
}

int dlq_store_groups(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                     size_t *n, char *err, size_t errlen)
{
    assert(s && s->m && s->m->groups && f && out && n);
    return s->m->groups(s, f, out, n, err, errlen);
}

int dlq_store_replay_window(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                            size_t errlen)
{
    assert(s && s->m && s->m->replay_window && finished && failed && window > 0);
    return s->m->replay_window(s, window, finished, failed, err, errlen);
}

int dlq_store_alert_load(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                         char *err, size_t errlen)
{
    assert(s && s->m && s->m->alert_load && rows && n);
    return s->m->alert_load(s, rows, max, n, err, errlen);
}

int dlq_store_alert_save(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                         size_t errlen)
{
    assert(s && s->m && s->m->alert_save && row);
    return s->m->alert_save(s, row, err, errlen);
}

int dlq_store_metrics(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen)
{
    assert(s && s->m && s->m->metrics && out);
    return s->m->metrics(s, out, err, errlen);
}

void dlq_store_commit_histogram(struct dlq_store *s, struct dlq_hist *out)
{
    assert(s && s->m && out);
    if (!s->m->commit_histogram) {
        memset(out, 0, sizeof *out);
        return;
    }
    s->m->commit_histogram(s, out);
}
/* ---- end of slice C1 wrappers ---- */

/* ---- issue 4 wrappers: the job queue ---- */
int dlq_store_job_enqueue(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                          struct dlq_job_result *res, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_enqueue && jobs && res && n > 0);
    return s->m->job_enqueue(s, jobs, n, res, err, errlen);
}

int dlq_store_job_reserve(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                          size_t *n, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_reserve && rq && out && n && rq->max > 0);
    assert(rq->queue || rq->target == DLQ_TARGET_WEBHOOK);
    return s->m->job_reserve(s, rq, out, n, err, errlen);
}

int dlq_store_job_ack(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                      const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                      size_t errlen)
{
    assert(s && s->m && s->m->job_ack && acks && res && n > 0);
    return s->m->job_ack(s, acks, n, tenant, now, res, err, errlen);
}

int dlq_store_job_fail(struct dlq_store *s, const struct dlq_job_fail *f,
                       struct dlq_job_result *res, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_fail && f && f->job_id && res);
    return s->m->job_fail(s, f, res, err, errlen);
}

int dlq_store_job_heartbeat(struct dlq_store *s, const char *job_id, const char *lease_token,
                            const char *tenant, int extend_s, int64_t now,
                            struct dlq_job_result *res, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_heartbeat && job_id && res);
    return s->m->job_heartbeat(s, job_id, lease_token, tenant, extend_s, now, res, err, errlen);
}

int dlq_store_job_cancel(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                         struct dlq_job_result *res, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_cancel && job_id && res);
    return s->m->job_cancel(s, job_id, tenant, now, res, err, errlen);
}

int dlq_store_job_get(struct dlq_store *s, const char *job_id, const char *tenant,
                      struct dlq_job *out, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_get && job_id && out);
    return s->m->job_get(s, job_id, tenant, out, err, errlen);
}

int dlq_store_job_dispatched(struct dlq_store *s, const char *job_id, const char *lease_token,
                             const char *task_id, int64_t now, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_dispatched && job_id);
    return s->m->job_dispatched(s, job_id, lease_token, task_id, now, err, errlen);
}

int dlq_store_job_tick(struct dlq_store *s, int64_t now, int limit, int64_t *ready,
                       int64_t *expired, int64_t *next_due, char *err, size_t errlen)
{
    assert(s && s->m && s->m->job_tick && ready && expired && next_due && limit > 0);
    return s->m->job_tick(s, now, limit, ready, expired, next_due, err, errlen);
}

int dlq_store_job_purge(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                        size_t errlen)
{
    assert(s && s->m && s->m->job_purge && n && limit > 0);
    return s->m->job_purge(s, cutoff, limit, n, err, errlen);
}

int dlq_store_queue_list(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                         size_t *n, char *err, size_t errlen)
{
    assert(s && s->m && s->m->queue_list && out && n);
    return s->m->queue_list(s, tenant, out, n, err, errlen);
}

int dlq_store_queue_settings_get(struct dlq_store *s, const char *queue,
                                 struct dlq_queue_settings *out, char *err, size_t errlen)
{
    assert(s && s->m && s->m->queue_settings_get && queue && out);
    return s->m->queue_settings_get(s, queue, out, err, errlen);
}

int dlq_store_queue_settings_put(struct dlq_store *s, const struct dlq_queue_settings *in,
                                 char *err, size_t errlen)
{
    assert(s && s->m && s->m->queue_settings_put && in && in->queue[0]);
    return s->m->queue_settings_put(s, in, err, errlen);
}
/* ---- end of issue 4 wrappers ---- */

/* ---- issue 7 ---- */
int dlq_store_lock_try(struct dlq_store *s, const char *name, int *held, char *err, size_t errlen)
{
    assert(s && s->m && name && held);
    return s->m->lock_try(s, name, held, err, errlen);
}

void dlq_store_lock_release(struct dlq_store *s, const char *name)
{
    assert(s && s->m && name);
    s->m->lock_release(s, name);
}

int dlq_store_watch(struct dlq_store *s, void (*fn)(void *ctx, const char *queue), void *ctx,
                    char *err, size_t errlen)
{
    assert(s && s->m);
    return s->m->watch(s, fn, ctx, err, errlen);
}
