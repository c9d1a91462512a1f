/*
 * fault.c: a store that wraps another and fails chosen calls, the way
 * SQLite's test VFS fails the Nth I/O call. Every method but close counts as
 * one call; calls fail_from .. fail_from+fail_count-1 (counting from 1) fail
 * with DLQ_E_UNAVAILABLE and "injected fault", all others are forwarded to the
 * inner store untouched. Tests use it to check what the layers above do when
 * storage goes away at an exact point.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/store.h"

struct fault_store {
    struct dlq_store base; /* first, so a struct dlq_store * is a struct fault_store * */
    struct dlq_store *inner;
    long fail_from;
    long fail_count;
    atomic_long calls;
};

/* fault_hit counts one call and returns 1 when it is to fail. Thread-safe:
 * concurrent callers each get a distinct call number. */
static int fault_hit(struct dlq_store *s)
{
    struct fault_store *fs = (struct fault_store *)s;
    long n = atomic_fetch_add(&fs->calls, 1) + 1;
    if (fs->fail_from <= 0 || n < fs->fail_from)
        return 0;
    return fs->fail_count < 0 || n - fs->fail_from < fs->fail_count;
}

static struct dlq_store *inner_of(struct dlq_store *s)
{
    return ((struct fault_store *)s)->inner;
}

static int injected(char *err, size_t errlen)
{
    return dlq_errf(err, errlen, DLQ_E_UNAVAILABLE, "injected fault");
}

static void f_close(struct dlq_store *s)
{
    dlq_store_close(inner_of(s));
    free(s);
}

static int f_migrate(struct dlq_store *s, int *from, int *to, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_migrate(inner_of(s), from, to, err, errlen);
}

static int f_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                     const char *actor, struct dlq_capture_result *res, char *err, size_t errlen)
{
    if (fault_hit(s)) {
        for (size_t i = 0; i < n; i++) {
            res[i].code = DLQ_E_UNAVAILABLE;
            res[i].created = 0;
            res[i].dlq_id[0] = '\0';
        }
        return injected(err, errlen);
    }
    return dlq_store_capture(inner_of(s), entries, n, actor, res, err, errlen);
}

static int f_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
                 struct dlq_event **hist, size_t *nhist, char *err, size_t errlen)
{
    if (fault_hit(s)) {
        if (hist) {
            *hist = NULL;
            *nhist = 0;
        }
        return injected(err, errlen);
    }
    return dlq_store_get(inner_of(s), id, tenant, out, hist, nhist, err, errlen);
}

static int f_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                  size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_list(inner_of(s), f, out, err, errlen);
}

static int f_token_create(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_token_create(inner_of(s), t, err, errlen);
}

static int f_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                           char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_token_by_hash(inner_of(s), hash_hex, out, err, errlen);
}

static int f_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                        size_t errlen)
{
    if (fault_hit(s)) {
        *out = NULL;
        *n = 0;
        return injected(err, errlen);
    }
    return dlq_store_token_list(inner_of(s), out, n, err, errlen);
}

static int f_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err,
                          size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_token_revoke(inner_of(s), id, now, err, errlen);
}

static int f_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_token_touch(inner_of(s), id, now, err, errlen);
}

static int f_ping(struct dlq_store *s, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_ping(inner_of(s), err, errlen);
}

/* ---- slice B forwarding ---- */
static int f_bulk_select(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                         const char *skip_op, size_t max, char (*ids)[40], size_t *n,
                         char next[128], char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_bulk_select(inner_of(s), f, after, skip_op, max, ids, n, next, err, errlen);
}

static int f_bulk_preview(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                          struct dlq_bulk_preview *out, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_bulk_preview(inner_of(s), f, max, out, err, errlen);
}

static int f_op_save(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_op_save(inner_of(s), op, err, errlen);
}

static int f_op_finish(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                       const char *reason, int64_t now, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_op_finish(inner_of(s), id, tenant, state, reason, now, err, errlen);
}

static int f_op_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                    char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_op_get(inner_of(s), id, tenant, out, err, errlen);
}

static int f_op_list(struct dlq_store *s, const char *tenant, const char *state, int limit,
                     struct dlq_op **out, size_t *n, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_op_list(inner_of(s), tenant, state, limit, out, n, err, errlen);
}
/* ---- end of slice B forwarding ---- */

/* ---- slice C2 forwarding ---- */
static int f_maint_step(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                        int limit, int64_t *done, char *err, size_t errlen)
{
    *done = 0;
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_maint_step(inner_of(s), action, cutoff, now, limit, done, err, errlen);
}

static int f_cleanup(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                     int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                     char *err, size_t errlen)
{
    *n = 0;
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_cleanup(inner_of(s), status_mask, before, tenant, dry_run, limit, by_status, n,
                             err, errlen);
}

static int f_export_page(struct dlq_store *s, const struct dlq_filter *f, int limit,
                         struct dlq_page *out, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_export_page(inner_of(s), f, limit, out, err, errlen);
}

static int f_count_entries(struct dlq_store *s, int64_t *n, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_count_entries(inner_of(s), n, err, errlen);
}
/* ---- end of slice C2 forwarding ---- */

/* ---- slice C1 forwarding ---- */
static int f_stats(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                   struct dlq_stats *out, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_stats(inner_of(s), tenant, now, hours, out, err, errlen);
}

static int f_groups(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                    size_t *n, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_groups(inner_of(s), f, out, n, err, errlen);
}

static int f_replay_window(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                           size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_replay_window(inner_of(s), window, finished, failed, err, errlen);
}

static int f_alert_load(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                        char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_alert_load(inner_of(s), rows, max, n, err, errlen);
}

static int f_alert_save(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                        size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_alert_save(inner_of(s), row, err, errlen);
}

static int f_metrics(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_metrics(inner_of(s), out, err, errlen);
}

static void f_commit_histogram(struct dlq_store *s, struct dlq_hist *out)
{
    dlq_store_commit_histogram(inner_of(s), out);
}
/* ---- end of slice C1 forwarding ---- */

/* slice A */
static int f_act(struct dlq_store *s, const char *id, const struct dlq_act *a,
                 const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
                 char *err, size_t errlen)
{
    if (fault_hit(s)) {
        if (after)
            memset(after, 0, sizeof(*after));
        return injected(err, errlen);
    }
    return dlq_store_act(inner_of(s), id, a, retry_task_id, audit, after, err, errlen);
}

static int f_act_many(struct dlq_store *s, const char *const *ids, size_t n,
                      const struct dlq_act *a, const char *const *retry_task_ids,
                      const struct dlq_audit *audit, struct dlq_act_result *res, char *err,
                      size_t errlen)
{
    if (fault_hit(s)) {
        for (size_t i = 0; i < n; i++) {
            memset(&res[i], 0, sizeof(res[i]));
            res[i].code = DLQ_E_UNAVAILABLE;
        }
        return injected(err, errlen);
    }
    return dlq_store_act_many(inner_of(s), ids, n, a, retry_task_ids, audit, res, err, errlen);
}

static int f_audit_append(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                          size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_audit_append(inner_of(s), audit, err, errlen);
}

static int f_audit_list(struct dlq_store *s, const struct dlq_audit_filter *f,
                        struct dlq_audit **out, size_t *n, char next_cursor[128], char *err,
                        size_t errlen)
{
    if (fault_hit(s)) {
        *out = NULL;
        *n = 0;
        next_cursor[0] = '\0';
        return injected(err, errlen);
    }
    return dlq_store_audit_list(inner_of(s), f, out, n, next_cursor, err, errlen);
}

/* ---- issue 4 forwarding: the job queue ---- */
static int f_job_enqueue(struct dlq_store *s, const struct dlq_job *jobs, size_t n,
                         struct dlq_job_result *res, char *err, size_t errlen)
{
    if (fault_hit(s)) {
        for (size_t i = 0; i < n; i++) {
            memset(&res[i], 0, sizeof(res[i]));
            res[i].code = DLQ_E_UNAVAILABLE;
        }
        return injected(err, errlen);
    }
    return dlq_store_job_enqueue(inner_of(s), jobs, n, res, err, errlen);
}

static int f_job_reserve(struct dlq_store *s, const struct dlq_reserve *rq, struct dlq_job *out,
                         size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_job_reserve(inner_of(s), rq, out, n, err, errlen);
}

static int f_job_ack(struct dlq_store *s, const struct dlq_job_ack *acks, size_t n,
                     const char *tenant, int64_t now, struct dlq_job_result *res, char *err,
                     size_t errlen)
{
    if (fault_hit(s)) {
        for (size_t i = 0; i < n; i++) {
            memset(&res[i], 0, sizeof(res[i]));
            res[i].code = DLQ_E_UNAVAILABLE;
        }
        return injected(err, errlen);
    }
    return dlq_store_job_ack(inner_of(s), acks, n, tenant, now, res, err, errlen);
}

static int f_job_fail(struct dlq_store *s, const struct dlq_job_fail *f, struct dlq_job_result *res,
                      char *err, size_t errlen)
{
    if (fault_hit(s)) {
        memset(res, 0, sizeof(*res));
        res->code = DLQ_E_UNAVAILABLE;
        return injected(err, errlen);
    }
    return dlq_store_job_fail(inner_of(s), f, res, err, errlen);
}

static int f_job_heartbeat(struct dlq_store *s, const char *job_id, const char *lease_token,
                           const char *tenant, int extend_s, int64_t now,
                           struct dlq_job_result *res, char *err, size_t errlen)
{
    if (fault_hit(s)) {
        memset(res, 0, sizeof(*res));
        res->code = DLQ_E_UNAVAILABLE;
        return injected(err, errlen);
    }
    return dlq_store_job_heartbeat(inner_of(s), job_id, lease_token, tenant, extend_s, now, res,
                                   err, errlen);
}

static int f_job_cancel(struct dlq_store *s, const char *job_id, const char *tenant, int64_t now,
                        struct dlq_job_result *res, char *err, size_t errlen)
{
    if (fault_hit(s)) {
        memset(res, 0, sizeof(*res));
        res->code = DLQ_E_UNAVAILABLE;
        return injected(err, errlen);
    }
    return dlq_store_job_cancel(inner_of(s), job_id, tenant, now, res, err, errlen);
}

static int f_job_get(struct dlq_store *s, const char *job_id, const char *tenant,
                     struct dlq_job *out, char *err, size_t errlen)
{
    if (fault_hit(s)) {
        memset(out, 0, sizeof(*out));
        return injected(err, errlen);
    }
    return dlq_store_job_get(inner_of(s), job_id, tenant, out, err, errlen);
}

static int f_job_dispatched(struct dlq_store *s, const char *job_id, const char *lease_token,
                            const char *task_id, int64_t now, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_job_dispatched(inner_of(s), job_id, lease_token, task_id, now, err, errlen);
}

static int f_job_tick(struct dlq_store *s, int64_t now, int limit, int64_t *ready, int64_t *expired,
                      int64_t *next_due, char *err, size_t errlen)
{
    *ready = *expired = *next_due = 0;
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_job_tick(inner_of(s), now, limit, ready, expired, next_due, err, errlen);
}

static int f_job_purge(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                       size_t errlen)
{
    *n = 0;
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_job_purge(inner_of(s), cutoff, limit, n, err, errlen);
}

static int f_queue_list(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                        size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_queue_list(inner_of(s), tenant, out, n, err, errlen);
}

static int f_queue_settings_get(struct dlq_store *s, const char *queue,
                                struct dlq_queue_settings *out, char *err, size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_queue_settings_get(inner_of(s), queue, out, err, errlen);
}

static int f_queue_settings_put(struct dlq_store *s, const struct dlq_queue_settings *in, char *err,
                                size_t errlen)
{
    if (fault_hit(s))
        return injected(err, errlen);
    return dlq_store_queue_settings_put(inner_of(s), in, err, errlen);
}
/* ---- end of issue 4 forwarding ---- */

/* issue 7: coordination between servers is forwarded without counting, so
 * the calls a test's fault positions count are storage calls only. */
static int f_lock_try(struct dlq_store *s, const char *name, int *held, char *err, size_t errlen)
{
    return dlq_store_lock_try(inner_of(s), name, held, err, errlen);
}

static void f_lock_release(struct dlq_store *s, const char *name)
{
    dlq_store_lock_release(inner_of(s), name);
}

static int f_watch(struct dlq_store *s, void (*fn)(void *ctx, const char *queue), void *ctx,
                   char *err, size_t errlen)
{
    return dlq_store_watch(inner_of(s), fn, ctx, err, errlen);
}

static const struct dlq_store_methods fault_methods = {
    .version = 1,
    .name = "fault",
    .close = f_close,
    .migrate = f_migrate,
    .capture = f_capture,
    .get = f_get,
    .list = f_list,
    .token_create = f_token_create,
    .token_by_hash = f_token_by_hash,
    .token_list = f_token_list,
    .token_revoke = f_token_revoke,
    .token_touch = f_token_touch,
    .ping = f_ping,
    /* slice A */
    .act = f_act,
    .act_many = f_act_many,
    .audit_append = f_audit_append,
    .audit_list = f_audit_list,
    .maint_step = f_maint_step,
    .cleanup = f_cleanup,
    .export_page = f_export_page,
    .bulk_select = f_bulk_select,
    .bulk_preview = f_bulk_preview,
    .op_save = f_op_save,
    .op_finish = f_op_finish,
    .op_get = f_op_get,
    .op_list = f_op_list,
    .count_entries = f_count_entries,
    .stats = f_stats,
    .groups = f_groups,
    .replay_window = f_replay_window,
    .alert_load = f_alert_load,
    .alert_save = f_alert_save,
    .metrics = f_metrics,
    .commit_histogram = f_commit_histogram,
    /* issue 4 */
    .job_enqueue = f_job_enqueue,
    .job_reserve = f_job_reserve,
    .job_ack = f_job_ack,
    .job_fail = f_job_fail,
    .job_heartbeat = f_job_heartbeat,
    .job_cancel = f_job_cancel,
    .job_get = f_job_get,
    .job_dispatched = f_job_dispatched,
    .job_tick = f_job_tick,
    .job_purge = f_job_purge,
    .queue_list = f_queue_list,
    .queue_settings_get = f_queue_settings_get,
    .queue_settings_put = f_queue_settings_put,
    .lock_try = f_lock_try,
    .lock_release = f_lock_release,
    .watch = f_watch,
};

/* dlq_store_fault_new wraps inner (taking ownership). fail_from <= 0 never
 * fails. Returns NULL only when out of memory, and then inner is closed. */
struct dlq_store *dlq_store_fault_new(struct dlq_store *inner, long fail_from, long fail_count)
{
    assert(inner);
    struct fault_store *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        dlq_store_close(inner);
        return NULL;
    }
    fs->base.m = &fault_methods;
    fs->inner = inner;
    fs->fail_from = fail_from;
    fs->fail_count = fail_count;
    atomic_init(&fs->calls, 0);
    return &fs->base;
}

/* dlq_store_fault_calls returns the calls counted so far; s must be a fault store. */
long dlq_store_fault_calls(const struct dlq_store *s)
{
    assert(s && s->m == &fault_methods);
    const struct fault_store *fs = (const struct fault_store *)s;
    return atomic_load(&fs->calls);
}
