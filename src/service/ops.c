/*
 * ops.c: the bulk operation runner and the operation use cases (get, list,
 * cancel). One runner thread executes queued replay operations one after
 * another, so however many are started the work stays bounded.
 *
 * A run takes the next replayable ids in keyset order from the op's stored
 * position, replays them and saves its progress in one commit (entries
 * linked to the op), and paces itself to rate_per_second. Every batch_size entries it
 * waits (up to outcome_timeout_s) for the outcomes of its replays, which the
 * action code counts on the op row, then applies the brake: too high a
 * failure rate over enough finished replays stops the op. Ids already
 * linked to the op are never selected again, so a resumed run replays
 * nothing twice.
 *
 * Waits sleep on a condition variable: cancel and shutdown wake them at
 * once. Shutdown leaves the op "running" with its position saved, and the
 * next start resumes it.
 *
 * With several servers on one store (issue 7), a run holds the store lock
 * "op:<id>": a server that finds an op running but cannot take its lock
 * leaves it to the server running it, and when that server dies the lock
 * is freed and the next server to look (every few seconds, told by the
 * store's watch) adopts it from its saved position.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulk_int.h"

#define OPS_QUEUE_MAX 256
#define OPS_POLL_NS   (100 * 1000000LL) /* how often an outcome wait reads the op */
#define OPS_LIST_MAX  100
#define OPS_ADOPT_NS  (2 * 1000000000LL) /* least time between two adoption scans */

struct dlq_ops_runner {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    pthread_t th;
    int stop;
    char queue[OPS_QUEUE_MAX][40];
    size_t head, n;
    char current[40];
    int cancel; /* the current op was cancelled */
    int adopt;  /* look for running ops nobody runs */
    int64_t adopted_ns;
};

/* aborted says whether the runner must leave the current op now. */
static int aborted(struct dlq_ops_runner *r)
{
    pthread_mutex_lock(&r->mu);
    int v = r->stop || r->cancel;
    pthread_mutex_unlock(&r->mu);
    return v;
}

/* nap sleeps until the monotonic time until_ns or a wake-up for stop or
 * cancel; returns 1 when the runner must leave the op. */
static int nap(struct dlq_ops_runner *r, int64_t until_ns)
{
    struct timespec ts = {(time_t)(until_ns / 1000000000LL), (long)(until_ns % 1000000000LL)};
    pthread_mutex_lock(&r->mu);
    while (!r->stop && !r->cancel && dlq_mono_ns() < until_ns)
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    int v = r->stop || r->cancel;
    pthread_mutex_unlock(&r->mu);
    return v;
}

/* The select of the next chunk, run on a thread of its own while the
 * current chunk is written: the writer then finds the next chunk ready. It
 * reads from the position after the current chunk, so the two never share
 * an id; a select that turns out not to fit (another position or size) is
 * dropped, as is one left over when the op ends. */
struct prefetch {
    pthread_t th;
    int running;
    struct run *u; /* the run's fields it reads do not change during it */
    char pos[128], next[128];
    size_t want, n;
    char (*ids)[40];
    int code;
    char err[256];
};

/* A run in progress: the op as the runner knows it, and its buffers. */
struct run {
    struct dlq_service *svc;
    struct dlq_ops_runner *r;
    struct dlq_op op;
    struct dlq_bulk_spec sp;
    const char *tenant;
    char (*ids)[40];
    char (*rids)[40];
    const char **idp, **ridp;
    struct dlq_act_result *res;
    struct prefetch pf;
};

static void *prefetch_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-ops-select");
    struct prefetch *p = arg;
    p->code = dlq_store_bulk_select(p->u->svc->store, &p->u->sp.f, p->pos, p->u->op.id, p->want,
                                    p->ids, &p->n, p->next, p->err, sizeof p->err);
    return NULL;
}

/* prefetch_join waits for a running prefetch; 1 when it selected want ids
 * from pos, else 0. */
static int prefetch_join(struct prefetch *p, const char *pos, size_t want)
{
    if (!p->running)
        return 0;
    pthread_join(p->th, NULL);
    p->running = 0;
    return p->code == DLQ_OK && p->want == want && strcmp(p->pos, pos) == 0;
}

/* prefetch_start selects want ids from pos in the background; without a
 * thread the next chunk is selected in line, as before. */
static void prefetch_start(struct prefetch *p, const char *pos, size_t want)
{
    if (p->ids == NULL || want == 0)
        return;
    snprintf(p->pos, sizeof p->pos, "%s", pos);
    p->want = want;
    p->n = 0;
    p->running = pthread_create(&p->th, NULL, prefetch_main, p) == 0;
}

/* finish ends the op in state (done, stopped, interrupted) unless it has
 * already ended (a cancel won). */
static void finish(struct run *u, const char *state, const char *reason)
{
    char err[256] = "";
    int code = dlq_store_op_finish(u->svc->store, u->op.id, NULL, state, reason, dlq_now_ms(), err,
                                   sizeof err);
    if (code != DLQ_OK && code != DLQ_E_CONFLICT)
        dlq_log(DLQ_LOG_WARN, "operation %s: cannot mark it %s: %s", u->op.id, state, err);
    else if (code == DLQ_OK)
        dlq_log(DLQ_LOG_INFO, "operation %s %s%s%s", u->op.id, state, reason ? ": " : "",
                reason ? reason : "");
}

/* replay_chunk selects (or takes the prefetched) and replays up to want
 * entries, selecting the next want_next meanwhile; *got receives how many
 * ids were taken (0: none left). */
static int replay_chunk(struct run *u, size_t want, size_t want_next, size_t *got, char *err,
                        size_t errlen)
{
    char next[128];
    size_t n = 0;
    int code = DLQ_OK;
    if (prefetch_join(&u->pf, u->op.cursor, want)) {
        char(*t)[40] = u->ids;
        u->ids = u->pf.ids;
        u->pf.ids = t;
        n = u->pf.n;
        memcpy(next, u->pf.next, sizeof next);
    } else {
        code = dlq_store_bulk_select(u->svc->store, &u->sp.f, u->op.cursor, u->op.id, want, u->ids,
                                     &n, next, err, errlen);
    }
    *got = n;
    if (code != DLQ_OK || n == 0)
        return code;
    if (n == want)
        prefetch_start(&u->pf, next, want_next);
    for (size_t i = 0; i < n; i++) {
        dlq_bulk_make_id("job", u->rids[i]);
        u->idp[i] = u->ids[i];
        u->ridp[i] = u->rids[i];
    }
    /* The progress is saved in the replays' own commit. */
    struct dlq_op progress = u->op; /* shallow: u->op keeps what it points to */
    snprintf(progress.cursor, sizeof progress.cursor, "%s", next);
    progress.updated_at = dlq_now_ms();
    struct dlq_act a = {.action = DLQ_ACTION_RETRY,
                        .now = progress.updated_at,
                        .actor = u->op.actor,
                        .tenant = u->tenant,
                        .op_id = u->op.id,
                        .progress = &progress};
    code = dlq_store_act_many(u->svc->store, u->idp, n, &a, u->ridp, NULL, u->res, err, errlen);
    if (code != DLQ_OK)
        return code;
    dlq_service_job_wake(u->svc, NULL); /* issue 4: the replays made jobs */
    for (size_t i = 0; i < n; i++)
        if (u->res[i].code != DLQ_OK)
            u->op.skipped++;
    u->op.processed += (int64_t)n;
    memcpy(u->op.cursor, progress.cursor, sizeof u->op.cursor);
    u->op.updated_at = progress.updated_at;
    return DLQ_OK;
}

/* check waits for the outcomes of the replays so far, then applies the
 * brake. Returns 1 when the op has ended (or the runner must leave it). */
static int check(struct run *u, int last)
{
    char err[256] = "";
    int64_t expect = u->op.processed - u->op.skipped;
    int64_t deadline = dlq_mono_ns() + (int64_t)u->sp.outcome_timeout_s * 1000000000LL;
    struct dlq_op now;
    for (;;) {
        if (dlq_store_op_get(u->svc->store, u->op.id, NULL, &now, err, sizeof err) != DLQ_OK) {
            finish(u, "interrupted", err);
            return 1;
        }
        u->op.succeeded = now.succeeded;
        u->op.failed = now.failed;
        int running = strcmp(now.state, "running") == 0;
        dlq_op_clear(&now);
        if (!running)
            return 1;
        if (u->op.succeeded + u->op.failed >= expect || dlq_mono_ns() >= deadline)
            break;
        int64_t until = dlq_mono_ns() + OPS_POLL_NS;
        if (nap(u->r, until < deadline ? until : deadline))
            return 1;
    }
    int64_t fin = u->op.succeeded + u->op.failed;
    if (fin >= u->sp.min_samples && fin > 0 &&
        (double)u->op.failed / (double)fin > u->sp.stop_failure_rate) {
        char why[200];
        snprintf(why, sizeof why, "failure rate %.2f over %lld finished replays exceeds %.2f",
                 (double)u->op.failed / (double)fin, (long long)fin, u->sp.stop_failure_rate);
        finish(u, "stopped", why);
        return 1;
    }
    if (last) {
        finish(u, "done", NULL);
        return 1;
    }
    return 0;
}

/* chunk_size is how many entries the next chunk takes after processed
 * entries, since_check of them since the last check: the rest of the batch,
 * at most what is left, and a tenth of a second's worth under a rate. */
static int64_t chunk_size(const struct run *u, int64_t processed, int64_t since_check)
{
    int64_t left = u->sp.max_tasks - processed;
    int64_t want = u->sp.batch_size - since_check;
    if (want > left)
        want = left;
    if (u->sp.rate_per_second > 0 && want > u->sp.rate_per_second / 10)
        want = u->sp.rate_per_second / 10 > 0 ? u->sp.rate_per_second / 10 : 1;
    return want > 0 ? want : 0;
}

/* run_loop replays the op batch by batch until it ends or must be left. */
static void run_loop(struct run *u)
{
    char err[256] = "";
    int64_t t0 = dlq_mono_ns(), sent = 0, since_check = 0;
    for (;;) {
        if (aborted(u->r))
            return;
        int64_t left = u->sp.max_tasks - u->op.processed;
        int last = left <= 0;
        if (!last) {
            int64_t want = chunk_size(u, u->op.processed, since_check);
            /* If this chunk is full, the next one starts after it. */
            int64_t after = since_check + want >= u->sp.batch_size ? 0 : since_check + want;
            int64_t want_next = chunk_size(u, u->op.processed + want, after);
            size_t got = 0;
            if (replay_chunk(u, (size_t)want, (size_t)want_next, &got, err, sizeof err) != DLQ_OK) {
                if (aborted(u->r))
                    return;
                finish(u, "interrupted", err);
                return;
            }
            sent += (int64_t)got;
            since_check += (int64_t)got;
            last = got < (size_t)want;
            if (u->sp.rate_per_second > 0 && got > 0 &&
                nap(u->r, t0 + sent * 1000000000LL / u->sp.rate_per_second))
                return;
        }
        if (last || since_check >= u->sp.batch_size) {
            since_check = 0;
            if (check(u, last))
                return;
        }
    }
}

/* run_op runs one queued op, if it is still running. */
static void run_op(struct dlq_service *svc, struct dlq_ops_runner *r, const char *id)
{
    char err[256] = "";
    struct run u;
    memset(&u, 0, sizeof u);
    u.svc = svc;
    u.r = r;
    if (dlq_store_op_get(svc->store, id, NULL, &u.op, err, sizeof err) != DLQ_OK) {
        dlq_log(DLQ_LOG_WARN, "operation %s: cannot read it: %s", id, err);
        return;
    }
    if (strcmp(u.op.state, "running") != 0)
        goto out;
    char lock[48];
    snprintf(lock, sizeof lock, "op:%s", id);
    int held = 0;
    if (dlq_store_lock_try(svc->store, lock, &held, err, sizeof err) != DLQ_OK || !held) {
        if (err[0])
            dlq_log(DLQ_LOG_WARN, "operation %s: cannot take its lock: %s", id, err);
        goto out; /* another server runs it */
    }
    if (dlq_bulk_spec_from_op(&u.op, &u.sp, err, sizeof err) != DLQ_OK) {
        finish(&u, "interrupted", err);
        goto unlock;
    }
    u.tenant = u.op.tenant_id[0] ? u.op.tenant_id : NULL;
    size_t b = (size_t)u.sp.batch_size;
    u.ids = calloc(b, sizeof *u.ids);
    u.rids = calloc(b, sizeof *u.rids);
    u.idp = calloc(b, sizeof *u.idp);
    u.ridp = calloc(b, sizeof *u.ridp);
    u.res = calloc(b, sizeof *u.res);
    u.pf.u = &u;
    u.pf.ids = calloc(b, sizeof *u.ids); /* none: no prefetch */
    if (!u.ids || !u.rids || !u.idp || !u.ridp || !u.res) {
        finish(&u, "interrupted", "out of memory");
        goto unlock;
    }
    dlq_log(DLQ_LOG_INFO, "operation %s: running from position '%s' (%lld processed)", id,
            u.op.cursor, (long long)u.op.processed);
    run_loop(&u);
    prefetch_join(&u.pf, "", 0);
unlock:
    dlq_store_lock_release(svc->store, lock);
out:
    free(u.ids);
    free(u.rids);
    free(u.idp);
    free(u.ridp);
    free(u.res);
    free(u.pf.ids);
    dlq_bulk_spec_clear(&u.sp);
    dlq_op_clear(&u.op);
}

/* known says whether id is queued or running here. Caller holds r->mu. */
static int known(const struct dlq_ops_runner *r, const char *id)
{
    if (strcmp(r->current, id) == 0)
        return 1;
    for (size_t k = 0; k < r->n; k++)
        if (strcmp(r->queue[(r->head + k) % OPS_QUEUE_MAX], id) == 0)
            return 1;
    return 0;
}

/* adopt_running queues every op the store has running that is not queued
 * or running here: at start, what a previous process left; later, what a
 * dead server left (run_op leaves those another server runs). */
static int adopt_running(struct dlq_service *svc, int at_start, char *err, size_t errlen)
{
    struct dlq_ops_runner *r = svc->ops;
    struct dlq_op *ops = NULL;
    size_t n = 0;
    int code = dlq_store_op_list(svc->store, NULL, "running", OPS_QUEUE_MAX, &ops, &n, err, errlen);
    for (size_t i = 0; code == DLQ_OK && i < n; i++) {
        pthread_mutex_lock(&r->mu);
        int skip = known(r, ops[i].id);
        pthread_mutex_unlock(&r->mu);
        if (skip)
            continue;
        if (at_start)
            dlq_log(DLQ_LOG_INFO, "operation %s was running: resuming it", ops[i].id);
        if (dlq_ops_enqueue(svc, ops[i].id, NULL, 0) != DLQ_OK)
            dlq_log(DLQ_LOG_WARN, "operation %s: queue full, left running for later", ops[i].id);
    }
    for (size_t i = 0; i < n; i++)
        dlq_op_clear(&ops[i]);
    free(ops);
    return code;
}

void dlq_ops_adopt_soon(struct dlq_service *svc)
{
    struct dlq_ops_runner *r = svc->ops;
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->adopt = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void *runner_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-ops");
    struct dlq_service *svc = arg;
    struct dlq_ops_runner *r = svc->ops;
    char id[40];
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->n == 0 && !r->adopt)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        if (r->n == 0) { /* asked to adopt, at most every OPS_ADOPT_NS */
            r->adopt = 0;
            int due = dlq_mono_ns() - r->adopted_ns >= OPS_ADOPT_NS;
            if (due)
                r->adopted_ns = dlq_mono_ns();
            pthread_mutex_unlock(&r->mu);
            char err[256] = "";
            if (due && adopt_running(svc, 0, err, sizeof err) != DLQ_OK)
                dlq_log(DLQ_LOG_WARN, "bulk runner: cannot list running operations: %s", err);
            continue;
        }
        memcpy(id, r->queue[r->head], sizeof id);
        r->head = (r->head + 1) % OPS_QUEUE_MAX;
        r->n--;
        memcpy(r->current, id, sizeof id);
        r->cancel = 0;
        pthread_mutex_unlock(&r->mu);
        run_op(svc, r, id);
        pthread_mutex_lock(&r->mu);
        r->current[0] = '\0';
        r->cancel = 0;
        pthread_mutex_unlock(&r->mu);
    }
}

int dlq_ops_enqueue(struct dlq_service *svc, const char *id, char *err, size_t errlen)
{
    struct dlq_ops_runner *r = svc->ops;
    if (r == NULL)
        return dlq_errf(err, errlen, DLQ_E_UNAVAILABLE, "the bulk operation runner is not running");
    pthread_mutex_lock(&r->mu);
    int code = DLQ_OK;
    if (r->n == OPS_QUEUE_MAX) {
        code = dlq_errf(err, errlen, DLQ_E_BUSY, "too many bulk operations queued");
    } else {
        snprintf(r->queue[(r->head + r->n) % OPS_QUEUE_MAX], 40, "%s", id);
        r->n++;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return code;
}

int dlq_service_ops_start(struct dlq_service *svc, char *err, size_t errlen)
{
    if (svc->ops)
        return DLQ_OK;
    struct dlq_ops_runner *r = calloc(1, sizeof *r);
    if (r == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    svc->ops = r;
    /* Queue what a previous process left running before the thread starts. */
    int code = adopt_running(svc, 1, err, errlen);
    if (code == DLQ_OK && pthread_create(&r->th, NULL, runner_main, svc) != 0)
        code = dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the bulk operation runner");
    if (code != DLQ_OK) {
        svc->ops = NULL;
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
    }
    return code;
}

void dlq_service_ops_stop(struct dlq_service *svc)
{
    struct dlq_ops_runner *r = svc->ops;
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    svc->ops = NULL;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int dlq_service_op_get(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                       struct dlq_op *out, char *err, size_t errlen)
{
    return dlq_store_op_get(svc->store, id, dlq_service_tenant(p), out, err, errlen);
}

int dlq_service_op_list(struct dlq_service *svc, const struct dlq_principal *p, struct dlq_op **out,
                        size_t *n, char *err, size_t errlen)
{
    return dlq_store_op_list(svc->store, dlq_service_tenant(p), NULL, OPS_LIST_MAX, out, n, err,
                             errlen);
}

int dlq_service_op_cancel(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                          struct dlq_op *out, char *err, size_t errlen)
{
    const char *tenant = dlq_service_tenant(p);
    int64_t now = dlq_now_ms();
    memset(out, 0, sizeof *out);
    int code = dlq_store_op_finish(svc->store, id, tenant, "cancelled", NULL, now, err, errlen);
    if (code != DLQ_OK)
        return code;
    struct dlq_ops_runner *r = svc->ops;
    if (r) {
        pthread_mutex_lock(&r->mu);
        if (strcmp(r->current, id) == 0)
            r->cancel = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    char details[96];
    snprintf(details, sizeof details, "{\"operation_id\":\"%s\"}", id);
    struct dlq_audit au;
    memset(&au, 0, sizeof au);
    dlq_bulk_make_id("aud", au.id);
    au.at = now;
    au.actor = (char *)p->name;
    au.tenant_id = (char *)tenant;
    au.action = (char *)"operation_cancel";
    au.details = details;
    if ((code = dlq_store_audit_append(svc->store, &au, err, errlen)) != DLQ_OK)
        dlq_log(DLQ_LOG_WARN, "operation %s: cancel not audited: %s", id, err);
    return dlq_store_op_get(svc->store, id, tenant, out, err, errlen);
}
