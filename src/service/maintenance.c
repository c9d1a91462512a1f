/*
 * maintenance.c: retention and cleanup. A maintenance thread wakes every
 * interval and runs, in order: expiry (pending_review entries past their
 * expires_at, or older than --expiry-hours when set), archiving of
 * resolved/discarded/expired entries untouched for --retention-days, and
 * purging of archived entries untouched for --purge-days. Each step goes in
 * store batches of 500 rows (one short write request each), so ingest and
 * operators' actions interleave with it, and stops after a per-run cap so a
 * huge backlog is worked off over several runs. Nothing pending is ever
 * removed here: the only change a pending entry can get is expiry, and only
 * when the operator configured it or the producer set expires_at. When more
 * entries are stored than --max-entries, the thread raises the
 * retention_cap alert (slice C1's alert state, which notifies the webhook)
 * instead of dropping anything.
 *
 * The thread sleeps on a condition variable with a deadline, so stopping
 * the server wakes it at once; a run in progress stops between batches.
 *
 * Cleanup (POST /api/v1/dlq/cleanup) is the explicit, admin-only removal:
 * any listed status, pending ones included when listed, by failure age.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service_int.h"

#define BATCH       500
#define RUN_BATCHES 200 /* per step and run: 100,000 rows */
#define DAY_MS      (24LL * 3600 * 1000)
#define HOUR_MS     (3600LL * 1000)

struct dlq_maint {
    struct dlq_service *svc;
    struct dlq_maint_config cfg;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    atomic_int stopping; /* read between batches without the lock */
    int cap_warned;
};

/* step runs one action in batches until a short batch, the cap, or stop. */
static int step(struct dlq_service *svc, enum dlq_action action, int64_t cutoff, int64_t now,
                const atomic_int *stopping, int64_t *total, char *err, size_t errlen)
{
    *total = 0;
    for (int i = 0; i < RUN_BATCHES; i++) {
        if (stopping && atomic_load(stopping))
            break;
        int64_t done = 0;
        int code = dlq_store_maint_step(svc->store, action, cutoff, now, BATCH, &done, err, errlen);
        if (code != DLQ_OK)
            return code;
        *total += done;
        if (done < BATCH)
            break;
    }
    return DLQ_OK;
}

/* purge_jobs deletes finished jobs older than cutoff (issue 4: they live as
 * long as resolved entries), in batches like step(). */
static int purge_jobs(struct dlq_service *svc, int64_t cutoff, const atomic_int *stopping,
                      char *err, size_t errlen)
{
    int64_t total = 0;
    for (int i = 0; i < RUN_BATCHES; i++) {
        if (stopping && atomic_load(stopping))
            break;
        int64_t done = 0;
        int code = dlq_store_job_purge(svc->store, cutoff, BATCH, &done, err, errlen);
        if (code != DLQ_OK)
            return code;
        total += done;
        if (done < BATCH)
            break;
    }
    if (total > 0)
        dlq_log(DLQ_LOG_INFO, "maintenance: purged %lld finished jobs", (long long)total);
    return DLQ_OK;
}

static int run_once(struct dlq_service *svc, const struct dlq_maint_config *cfg, int64_t now,
                    const atomic_int *stopping, struct dlq_maint_counts *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* expires_at is honoured whatever the flags: the producer asked for it. */
    int64_t exp_cut = cfg->expiry_hours > 0 ? now - cfg->expiry_hours * HOUR_MS : 0;
    int code = step(svc, DLQ_ACTION_EXPIRE, exp_cut, now, stopping, &out->expired, err, errlen);
    if (code == DLQ_OK)
        code = step(svc, DLQ_ACTION_ARCHIVE, now - (int64_t)cfg->retention_days * DAY_MS, now,
                    stopping, &out->archived, err, errlen);
    if (code == DLQ_OK)
        code = step(svc, DLQ_ACTION_PURGE, now - (int64_t)cfg->purge_days * DAY_MS, now, stopping,
                    &out->purged, err, errlen);
    if (code == DLQ_OK) /* issue 4 */
        code = purge_jobs(svc, now - (int64_t)cfg->retention_days * DAY_MS, stopping, err, errlen);
    if (code == DLQ_OK && cfg->max_entries > 0) {
        code = dlq_store_count_entries(svc->store, &out->stored, err, errlen);
        out->over_cap = code == DLQ_OK && out->stored > cfg->max_entries;
    }
    return code;
}

/* dlq_maint_run_once: see service.h. */
int dlq_maint_run_once(struct dlq_service *svc, const struct dlq_maint_config *cfg, int64_t now,
                       struct dlq_maint_counts *out, char *err, size_t errlen)
{
    return run_once(svc, cfg, now, NULL, out, err, errlen);
}

/* report_cap raises or clears the retention_cap alert (slice C1's alert
 * state, which notifies the webhook) when the condition changes, with a log
 * line either way. */
static void report_cap(struct dlq_maint *m, const struct dlq_maint_counts *c)
{
    char reason[200];
    if (m->cfg.max_entries <= 0 || c->over_cap == m->cap_warned)
        return;
    snprintf(reason, sizeof reason, "%lld entries stored, %s --max-entries %lld",
             (long long)c->stored, c->over_cap ? "over" : "back under",
             (long long)m->cfg.max_entries);
    if (c->over_cap)
        dlq_log(DLQ_LOG_WARN, "retention_cap: %s; nothing is dropped: clean up or raise the cap",
                reason);
    else
        dlq_log(DLQ_LOG_INFO, "retention_cap: %s", reason);
    dlq_service_alert_set(m->svc, "retention_cap", c->over_cap, reason);
    m->cap_warned = c->over_cap;
}

static void *thread_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-maint");
    struct dlq_maint *m = arg;
    for (;;) {
        char err[256] = "";
        struct dlq_maint_counts c;
        /* With several servers on one store, the holder of the
         * "maintenance" lock runs it; another takes over if it dies. */
        int held = 0;
        memset(&c, 0, sizeof c);
        c.over_cap = m->cap_warned; /* unchanged unless this server runs it */
        int code = dlq_store_lock_try(m->svc->store, "maintenance", &held, err, sizeof err);
        if (code == DLQ_OK && held)
            code = run_once(m->svc, &m->cfg, dlq_now_ms(), &m->stopping, &c, err, sizeof err);
        if (code != DLQ_OK && !atomic_load(&m->stopping))
            dlq_log(DLQ_LOG_WARN, "maintenance: %s (will retry next run)", err);
        if (code == DLQ_OK && (c.expired || c.archived || c.purged))
            dlq_log(DLQ_LOG_INFO, "maintenance: expired %lld, archived %lld, purged %lld",
                    (long long)c.expired, (long long)c.archived, (long long)c.purged);
        if (code == DLQ_OK)
            report_cap(m, &c);

        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->cfg.interval_s;
        pthread_mutex_lock(&m->mu);
        while (!m->stop) {
            if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
                break;
        }
        int stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            return NULL;
    }
}

/* dlq_maint_start: see service.h. DLQ_E_NOMEM or DLQ_E_INTERNAL when the
 * thread cannot be made. */
int dlq_maint_start(struct dlq_service *svc, const struct dlq_maint_config *cfg,
                    struct dlq_maint **out, char *err, size_t errlen)
{
    *out = NULL;
    struct dlq_maint *m = calloc(1, sizeof *m);
    if (m == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    m->svc = svc;
    m->cfg = *cfg;
    if (m->cfg.interval_s <= 0)
        m->cfg.interval_s = 60;
    atomic_init(&m->stopping, 0);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->th, NULL, thread_main, m) != 0) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the maintenance thread");
    }
    *out = m;
    return DLQ_OK;
}

void dlq_maint_stop(struct dlq_maint *m)
{
    if (m == NULL)
        return;
    atomic_store(&m->stopping, 1);
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->th, NULL);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* cleanup_audit writes the one audit record of a real cleanup. */
static int cleanup_audit(struct dlq_service *svc, const struct dlq_principal *p, int days,
                         unsigned mask, const struct dlq_cleanup_result *r, int64_t now, char *err,
                         size_t errlen)
{
    struct dlq_audit a;
    struct dlq_buf filter = {0}, details = {0};
    uint8_t rnd[10];
    memset(&a, 0, sizeof a);
    if (dlq_random(rnd, sizeof rnd) != 0)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes for the audit id");
    dlq_id_make("aud", now, rnd, a.id, sizeof a.id);
    dlq_buf_printf(&filter, "{\"older_than_days\":%d,\"statuses\":[", days);
    dlq_buf_printf(&details, "{\"matched\":%lld,\"deleted\":%lld,\"by_status\":{",
                   (long long)r->matched, (long long)r->deleted);
    int nf = 0, nd = 0;
    for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
        if (mask & (1u << st))
            dlq_buf_printf(&filter, "%s\"%s\"", nf++ ? "," : "",
                           dlq_status_name((enum dlq_status)st));
        if (r->by_status[st])
            dlq_buf_printf(&details, "%s\"%s\":%lld", nd++ ? "," : "",
                           dlq_status_name((enum dlq_status)st), (long long)r->by_status[st]);
    }
    dlq_buf_puts(&filter, "]}");
    dlq_buf_puts(&details, "}}");
    a.at = now;
    a.actor = (char *)p->name;
    a.tenant_id = (char *)dlq_service_tenant(p);
    a.action = (char *)"cleanup";
    a.target_ids = (char *)"[]";
    a.filter = filter.data;
    a.details = details.data;
    int code = filter.oom || details.oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory")
                                         : dlq_store_audit_append(svc->store, &a, err, errlen);
    dlq_buf_free(&filter);
    dlq_buf_free(&details);
    return code;
}

/* dlq_service_cleanup: see service.h. On a store error part of the
 * entries may already be gone; out says how many. */
int dlq_service_cleanup(struct dlq_service *svc, const struct dlq_principal *p, int older_than_days,
                        unsigned status_mask, int dry_run, struct dlq_cleanup_result *out,
                        char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->dry_run = dry_run;
    int64_t now = dlq_now_ms();
    int64_t before = now - (int64_t)older_than_days * DAY_MS;
    const char *tenant = dlq_service_tenant(p);
    int code;
    if (dry_run) {
        code = dlq_store_cleanup(svc->store, status_mask, before, tenant, 1, BATCH, out->by_status,
                                 &out->matched, err, errlen);
        return code;
    }
    for (;;) {
        int64_t n = 0;
        code = dlq_store_cleanup(svc->store, status_mask, before, tenant, 0, BATCH, out->by_status,
                                 &n, err, errlen);
        if (code != DLQ_OK)
            break;
        out->deleted += n;
        if (n < BATCH)
            break;
    }
    out->matched = out->deleted;
    if (out->deleted > 0 || code == DLQ_OK) {
        char aerr[256];
        int acode =
            cleanup_audit(svc, p, older_than_days, status_mask, out, now, aerr, sizeof aerr);
        if (acode != DLQ_OK && code == DLQ_OK)
            code = dlq_errf(err, errlen, acode, "entries deleted, but the audit record failed: %s",
                            aerr);
    }
    return code;
}
