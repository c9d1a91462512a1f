/*
 * spool_drain.c: the ingest path with the spool behind it, and the thread
 * that drains the spool into the store.
 *
 * Ingest tries the store first. Only when the store fails with an
 * unavailable, I/O or storage error (nothing was written) do the already
 * stamped entries go to the spool, and while the store is known to be down
 * (the last write to it failed and no drain has succeeded since) new ingests
 * go straight to the spool without waiting on the store again. Overload
 * (DLQ_E_BUSY: the writer queue is full) is not spooled: it is answered 503
 * with Retry-After, like a full spool, so nothing grows without bound.
 *
 * Never lost, never duplicated: a spool record carries the entry's dlq_id
 * and idempotency key. The drain asks the store for each dlq_id first and
 * skips those already stored, so a drain that died after its commit but
 * before the file was truncated is harmless when repeated; only this thread
 * ever stores a spooled dlq_id, so the check cannot race. A repeated
 * idempotency key that is still spooled gets the spooled dlq_id back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spool_int.h"

/* spoolable says whether a failed capture may be spooled: the store could
 * not take the write, and wrote nothing. */
static int spoolable(int rc)
{
    return rc == DLQ_E_UNAVAILABLE || rc == DLQ_E_IO || rc == DLQ_E_STORE;
}

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

/* stamp does what dlq_service_capture does before it calls the store (see
 * capture.c), for ingests that go straight to the spool. */
static int stamp(const struct dlq_principal *p, struct dlq_entry *e, size_t n)
{
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof(rnd)) != DLQ_OK)
        return DLQ_E_INTERNAL;
    rnd[0] &= 0x7f;
    int64_t now = dlq_now_ms();
    const char *tenant = dlq_service_tenant(p);
    for (size_t i = 0; i < n; i++) {
        char id[DLQ_ID_MAX], fp[17];
        dlq_id_make("dlq", now, rnd, id, sizeof(id));
        dlq_fingerprint(e[i].task_name, e[i].exc_type, e[i].exc_message, fp);
        if (set_str(&e[i].dlq_id, id) != DLQ_OK || set_str(&e[i].fingerprint, fp) != DLQ_OK ||
            (tenant && set_str(&e[i].tenant_id, tenant) != DLQ_OK))
            return DLQ_E_NOMEM;
        e[i].status = DLQ_STATUS_PENDING_REVIEW;
        e[i].processed_at = now;
        e[i].updated_at = now;
        if (e[i].failed_at == 0)
            e[i].failed_at = now;
        next_random(rnd);
    }
    return DLQ_OK;
}

static void set_result(struct dlq_capture_result *r, const char *id, int created)
{
    memset(r, 0, sizeof(*r));
    r->code = DLQ_OK;
    r->created = created;
    snprintf(r->dlq_id, sizeof(r->dlq_id), "%s", id);
}

/* to_spool appends the stamped entries; repeats of a key already spooled
 * (or earlier in this batch) answer that entry's dlq_id. */
static int to_spool(struct dlq_spool *sp, const char *actor, struct dlq_entry *e, size_t n,
                    struct dlq_capture_result *res, char *err, size_t errlen)
{
    unsigned char *skip = calloc(n, 1);
    if (!skip)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < n; i++) {
        const char *id = dlq_spool_find_locked(sp, e[i].tenant_id, e[i].idempotency_key);
        for (size_t j = 0; !id && e[i].idempotency_key && j < i; j++)
            if (!skip[j] && e[j].idempotency_key &&
                strcmp(e[j].idempotency_key, e[i].idempotency_key) == 0 &&
                strcmp(e[j].tenant_id ? e[j].tenant_id : "",
                       e[i].tenant_id ? e[i].tenant_id : "") == 0)
                id = e[j].dlq_id;
        if (id) {
            skip[i] = 1;
            set_result(&res[i], id, 0);
        } else {
            set_result(&res[i], e[i].dlq_id, 1);
        }
    }
    int rc = dlq_spool_append_locked(sp, actor, e, n, skip, err, errlen);
    if (rc == DLQ_OK) {
        sp->store_down = 1;
        pthread_cond_signal(&sp->cv);
    }
    pthread_mutex_unlock(&sp->mu);
    free(skip);
    return rc;
}

int dlq_service_ingest(struct dlq_service *svc, const struct dlq_principal *p,
                       struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                       int *spooled, char *err, size_t errlen)
{
    struct dlq_spool *sp = svc->spool;
    *spooled = 0;
    if (!sp || n == 0 || n > DLQ_MAX_BATCH)
        return dlq_service_capture(svc, p, entries, n, res, err, errlen);
    const char *bound = dlq_service_tenant(p);
    /* Repeats of keys still in the spool are answered from it; the rest
     * (most often all) go on. idx maps the rest back to entries. */
    size_t *idx = malloc(n * sizeof(*idx));
    struct dlq_entry *rest = malloc(n * sizeof(*rest));
    struct dlq_capture_result *rres = malloc(n * sizeof(*rres));
    if (!idx || !rest || !rres) {
        free(idx), free(rest), free(rres);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    size_t m = 0;
    int down;
    pthread_mutex_lock(&sp->mu);
    for (size_t i = 0; i < n; i++) {
        const char *tenant = bound ? bound : entries[i].tenant_id;
        const char *id = dlq_spool_find_locked(sp, tenant, entries[i].idempotency_key);
        if (id) {
            set_result(&res[i], id, 0);
            *spooled = 1;
        } else {
            idx[m] = i;
            rest[m++] = entries[i]; /* shallow: copied back below */
        }
    }
    down = sp->store_down;
    pthread_mutex_unlock(&sp->mu);

    int rc = DLQ_OK;
    if (m > 0) {
        if (!down) {
            rc = dlq_service_capture(svc, p, rest, m, rres, err, errlen);
        } else {
            rc = stamp(p, rest, m);
            rc = rc == DLQ_OK ? DLQ_E_UNAVAILABLE
                              : dlq_errf(err, errlen, rc, "cannot stamp the entries");
        }
        if (spoolable(rc)) {
            rc = to_spool(sp, p->name, rest, m, rres, err, errlen);
            if (rc == DLQ_OK)
                *spooled = 1;
        }
        for (size_t k = 0; k < m; k++) {
            entries[idx[k]] = rest[k];
            if (rc == DLQ_OK)
                res[idx[k]] = rres[k];
        }
    }
    free(idx), free(rest), free(rres);
    return rc;
}

/* dlq_service_ingest_submit: see service.h. */
int dlq_service_ingest_submit(struct dlq_service *svc, const struct dlq_principal *p,
                              struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                              char *err, size_t errlen, void (*done)(void *arg, int rc), void *arg)
{
    struct dlq_spool *sp = svc->spool;
    if (!sp || n == 0 || n > DLQ_MAX_BATCH || !dlq_store_can_submit(svc->store))
        return 0;
    /* Only the plain case: a key still in the spool, or a store known to be
     * down, takes dlq_service_ingest's way. */
    const char *bound = dlq_service_tenant(p);
    pthread_mutex_lock(&sp->mu);
    int plain = !sp->store_down;
    for (size_t i = 0; i < n && plain; i++)
        plain = dlq_spool_find_locked(sp, bound ? bound : entries[i].tenant_id,
                                      entries[i].idempotency_key) == NULL;
    pthread_mutex_unlock(&sp->mu);
    if (!plain || stamp(p, entries, n) != DLQ_OK)
        return 0;
    return dlq_store_capture_submit(svc->store, entries, n, p->name, res, err, errlen, done, arg) ==
           DLQ_OK;
}

/* dlq_service_ingest_finish: see service.h. */
int dlq_service_ingest_finish(struct dlq_service *svc, const struct dlq_principal *p,
                              struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                              int rc, int *spooled, char *err, size_t errlen)
{
    *spooled = 0;
    if (!spoolable(rc))
        return rc;
    rc = to_spool(svc->spool, p->name, entries, n, res, err, errlen);
    if (rc == DLQ_OK)
        *spooled = 1;
    return rc;
}

/* drain_batch moves recs (consecutive, one actor) into the store. DLQ_OK
 * when all are now stored (or rejected for good), else the store's code. */
static int drain_batch(struct dlq_spool *sp, struct spool_rec **recs, size_t k, int64_t *skipped,
                       int64_t *rejected, char *err, size_t errlen)
{
    struct dlq_entry *todo = malloc(k * sizeof(*todo));
    struct spool_rec **which = malloc(k * sizeof(*which));
    struct dlq_capture_result *res = calloc(k, sizeof(*res));
    int rc = todo && which && res ? DLQ_OK : dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < k && rc == DLQ_OK; i++) {
        struct dlq_entry got;
        memset(&got, 0, sizeof(got));
        rc = dlq_store_get(sp->store, recs[i]->e.dlq_id, NULL, &got, NULL, NULL, err, errlen);
        if (rc == DLQ_OK) {
            dlq_entry_clear(&got);
            (*skipped)++; /* stored by a drain that died before truncating */
        } else if (rc == DLQ_E_NOTFOUND) {
            rc = DLQ_OK;
            which[m] = recs[i];
            todo[m++] = recs[i]->e; /* shallow, const to the store */
        }
    }
    if (rc == DLQ_OK && m > 0)
        rc = dlq_store_capture(sp->store, todo, m, recs[0]->actor, res, err, errlen);
    if (rc == DLQ_OK) {
        for (size_t i = 0; i < m; i++) {
            if (res[i].code != DLQ_OK) {
                dlq_spool_reject(sp, which[i], dlq_strerror(res[i].code));
                (*rejected)++;
            } else if (!res[i].created && !res[i].updated &&
                       strcmp(res[i].dlq_id, which[i]->e.dlq_id) != 0) {
                dlq_log(DLQ_LOG_INFO, "spool: spooled entry %s repeats idempotency key of %s",
                        which[i]->e.dlq_id, res[i].dlq_id);
            }
        }
    }
    free(todo), free(which), free(res);
    return rc;
}

/* drain_once drains up to one batch. Returns DLQ_OK (also when empty) or
 * the store's code. *left is what still waits. */
static int drain_once(struct dlq_spool *sp, int *single, int64_t *left, char *err, size_t errlen)
{
    struct spool_rec *recs[SPOOL_DRAIN_BATCH];
    size_t k = 0, max = *single ? 1 : SPOOL_DRAIN_BATCH;
    int64_t skipped = 0, rejected = 0;
    pthread_mutex_lock(&sp->mu);
    /* Only this thread pops, so the records stay put while unlocked. */
    for (struct spool_rec *r = sp->head; r && k < max; r = r->next) {
        if (k > 0 && strcmp(r->actor, recs[0]->actor) != 0)
            break;
        recs[k++] = r;
    }
    pthread_mutex_unlock(&sp->mu);
    int rc = k ? drain_batch(sp, recs, k, &skipped, &rejected, err, errlen) : DLQ_OK;
    int transient = spoolable(rc) || rc == DLQ_E_BUSY || rc == DLQ_E_NOMEM;
    if (rc != DLQ_OK && !transient && k == 1) {
        /* A record the store refuses as a whole, for good: set it aside
         * rather than block every record behind it. */
        dlq_spool_reject(sp, recs[0], err);
        rejected++;
        rc = DLQ_OK;
    }
    /* A batch refused for good is retried one record at a time. */
    *single = rc != DLQ_OK && !transient;
    pthread_mutex_lock(&sp->mu);
    sp->skipped += skipped;
    sp->rejected += rejected;
    if (rc == DLQ_OK) {
        dlq_spool_pop_locked(sp, k);
        sp->drained += (int64_t)k;
        sp->store_down = 0;
    } else if (transient) {
        sp->store_down = 1;
    }
    *left = sp->pending;
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

static void *drain_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-spool");
    struct dlq_spool *sp = arg;
    long backoff = 0;
    int single = 0;
    char err[256];
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        if (backoff > 0 && !sp->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += backoff / 1000;
            ts.tv_nsec += (backoff % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&sp->cv, &sp->mu, &ts);
        }
        while (!sp->stop && sp->pending == 0)
            pthread_cond_wait(&sp->cv, &sp->mu);
        int stop = sp->stop;
        pthread_mutex_unlock(&sp->mu);
        if (stop)
            break;
        int64_t left;
        int rc = drain_once(sp, &single, &left, err, sizeof(err));
        if (rc == DLQ_OK) {
            if (backoff > 0)
                dlq_log(DLQ_LOG_INFO, "spool: the store takes writes again; %lld entries left",
                        (long long)left);
            backoff = 0;
        } else {
            if (backoff == 0)
                dlq_log(DLQ_LOG_WARN, "spool: cannot drain into the store (%s); retrying", err);
            backoff = backoff ? backoff * 2 : SPOOL_BACKOFF_MIN_MS;
            if (backoff > SPOOL_BACKOFF_MAX_MS)
                backoff = SPOOL_BACKOFF_MAX_MS;
        }
    }
    return NULL;
}

int dlq_service_spool_start(struct dlq_service *svc, const struct dlq_spool_config *cfg, char *err,
                            size_t errlen)
{
    if (!cfg || !cfg->path || svc->spool)
        return DLQ_OK;
    struct dlq_spool *sp;
    int rc = dlq_spool_open(svc->store, cfg->path, cfg->max_bytes, &sp, err, errlen);
    if (rc != DLQ_OK)
        return rc;
    /* Drain what a previous process left before serving, while the store
     * answers; if it does not, the thread keeps trying. */
    int64_t left = sp->pending;
    if (left > 0)
        dlq_log(DLQ_LOG_INFO, "spool: %lld entries left by the previous run in %s", (long long)left,
                sp->path);
    char derr[256] = "";
    int single = 0, tries = 0;
    while (left > 0 && tries < 3) {
        if (drain_once(sp, &single, &left, derr, sizeof(derr)) != DLQ_OK)
            tries++;
    }
    if (left > 0)
        dlq_log(DLQ_LOG_WARN, "spool: %lld entries wait for the store: %s", (long long)left, derr);
    if (pthread_create(&sp->thread, NULL, drain_main, sp) != 0) {
        dlq_spool_free(sp);
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the spool drain thread");
    }
    sp->thread_started = 1;
    svc->spool = sp;
    return DLQ_OK;
}

void dlq_service_spool_stop(struct dlq_service *svc)
{
    struct dlq_spool *sp = svc ? svc->spool : NULL;
    if (!sp)
        return;
    pthread_mutex_lock(&sp->mu);
    sp->stop = 1;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    if (sp->thread_started)
        pthread_join(sp->thread, NULL);
    svc->spool = NULL;
    dlq_spool_free(sp);
}

void dlq_service_spool_stats(struct dlq_service *svc, struct dlq_spool_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct dlq_spool *sp = svc->spool;
    if (!sp)
        return;
    pthread_mutex_lock(&sp->mu);
    out->enabled = 1;
    out->store_down = sp->store_down;
    out->pending = sp->pending;
    out->bytes = sp->bytes;
    out->spooled = sp->spooled;
    out->drained = sp->drained;
    out->skipped = sp->skipped;
    out->rejected = sp->rejected;
    out->torn = sp->torn;
    pthread_mutex_unlock(&sp->mu);
}

int dlq_service_spool_metrics_text(struct dlq_service *svc, struct dlq_buf *b)
{
    struct dlq_spool_stats st;
    dlq_service_spool_stats(svc, &st);
    static const char *const fam[][3] = {
        {"dlq_spool_entries", "gauge", "Entries waiting in the spool for the store."},
        {"dlq_spool_bytes", "gauge", "Size of the spool file in bytes."},
        {"dlq_spool_store_down", "gauge", "1 while ingests go to the spool."},
        {"dlq_spool_spooled_total", "counter", "Entries spooled since start."},
        {"dlq_spool_drained_total", "counter", "Spooled entries moved into the store."},
        {"dlq_spool_rejected_total", "counter", "Spooled entries the store refused."},
        {"dlq_spool_torn_total", "counter", "Damaged spool records dropped at load."},
    };
    int64_t v[] = {st.pending, st.bytes,    st.store_down, st.spooled,
                   st.drained, st.rejected, st.torn};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        dlq_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", fam[i][0], fam[i][2], fam[i][0],
                       fam[i][1], fam[i][0], (long long)v[i]);
    return b->oom ? DLQ_E_NOMEM : DLQ_OK;
}
