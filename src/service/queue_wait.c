/*
 * queue_wait.c: what makes the job queue move without polling: the
 * registry of long-poll reserve waiters and the timer thread.
 *
 * Waiters are hashed by queue name into buckets; each bucket has a lock, a
 * list and an epoch bumped by every wake of its queues. A reserve reads the
 * epoch, tries the store, and registers only if the epoch has not moved, so
 * a job committed between the try and the registration is never missed.
 * Wakes fire the callbacks outside the locks (the HTTP layer resumes its
 * suspended connection there).
 *
 * The timer thread calls job_tick (due retries become ready, expired leases
 * become failed attempts), fires waiters whose deadline passed, and sleeps
 * on a condition variable until the earliest of the store's next due time
 * and the earliest waiter deadline, or until nudged by an enqueue with a
 * delay, a fail with a backoff, a reserve with a lease or a new waiter.
 * With nothing due it sleeps until nudged: it never polls the table.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue_int.h"

#define TICK_LIMIT     500
#define TICK_ROUNDS    20                 /* batches per pass before sleeping */
#define RETRY_AFTER_NS (1000 * 1000000LL) /* after a store error */

static unsigned bucket_of(const char *queue)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)queue; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % DLQ_JOB_BUCKETS;
}

uint64_t dlq_service_job_epoch(struct dlq_service *svc, const char *queue)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j)
        return 0;
    struct dlq_job_bucket *b = &j->b[bucket_of(queue)];
    pthread_mutex_lock(&b->mu);
    uint64_t e = b->epoch;
    pthread_mutex_unlock(&b->mu);
    return e;
}

static void unlink_w(struct dlq_job_bucket *b, struct dlq_job_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        b->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->linked = 0;
}

int dlq_service_job_wait(struct dlq_service *svc, struct dlq_job_waiter *w, uint64_t epoch)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j || !j->timer_started)
        return DLQ_E_UNAVAILABLE;
    w->bucket = (int)bucket_of(w->queue);
    struct dlq_job_bucket *b = &j->b[w->bucket];
    pthread_mutex_lock(&b->mu);
    if (atomic_load(&j->closing) || b->epoch != epoch) {
        pthread_mutex_unlock(&b->mu);
        return 1;
    }
    w->prev = NULL;
    w->next = b->head;
    if (b->head)
        b->head->prev = w;
    b->head = w;
    w->linked = 1;
    pthread_mutex_unlock(&b->mu);
    dlq_jobs_nudge(svc, w->deadline_ns);
    return 0;
}

void dlq_service_job_unwait(struct dlq_service *svc, struct dlq_job_waiter *w)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j || w->bucket < 0 || w->bucket >= DLQ_JOB_BUCKETS)
        return;
    struct dlq_job_bucket *b = &j->b[w->bucket];
    pthread_mutex_lock(&b->mu);
    if (w->linked)
        unlink_w(b, w);
    pthread_mutex_unlock(&b->mu);
}

/* fire_bucket unlinks the waiters of bucket i that match (queue NULL: all;
 * else that queue; before_ns > 0: only those due by then) and calls them
 * after the lock is released. Returns the earliest deadline left (0: none). */
static int64_t fire_bucket(struct dlq_jobs *j, unsigned i, const char *queue, int64_t before_ns,
                           int bump)
{
    struct dlq_job_bucket *b = &j->b[i];
    struct dlq_job_waiter *fire = NULL;
    int64_t earliest = 0;
    pthread_mutex_lock(&b->mu);
    if (bump)
        b->epoch++;
    for (struct dlq_job_waiter *w = b->head, *next; w; w = next) {
        next = w->next;
        int hit = (queue == NULL || strcmp(queue, w->queue) == 0) &&
                  (before_ns <= 0 || w->deadline_ns <= before_ns);
        if (!hit) {
            if (earliest == 0 || w->deadline_ns < earliest)
                earliest = w->deadline_ns;
            continue;
        }
        unlink_w(b, w);
        w->next = fire;
        fire = w;
    }
    pthread_mutex_unlock(&b->mu);
    while (fire) {
        struct dlq_job_waiter *w = fire;
        fire = w->next;
        w->next = NULL;
        dlq_job_wake_fn fn = w->fn;
        void *arg = w->arg;
        fn(arg); /* w may be gone once fn returns */
    }
    return earliest;
}

void dlq_service_job_wake(struct dlq_service *svc, const char *queue)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j)
        return;
    if (queue) {
        fire_bucket(j, bucket_of(queue), queue, 0, 1);
        return;
    }
    for (unsigned i = 0; i < DLQ_JOB_BUCKETS; i++)
        fire_bucket(j, i, NULL, 0, 1);
    dlq_jobs_kick_dispatcher(svc);
}

void dlq_service_job_close(struct dlq_service *svc)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j)
        return;
    atomic_store(&j->closing, 1);
    for (unsigned i = 0; i < DLQ_JOB_BUCKETS; i++)
        fire_bucket(j, i, NULL, 0, 1);
}

void dlq_jobs_nudge(struct dlq_service *svc, int64_t due_ns)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j || !j->timer_started)
        return;
    pthread_mutex_lock(&j->mu);
    if (j->pending_ns == 0 || due_ns < j->pending_ns)
        j->pending_ns = due_ns;
    if (j->waiting && (j->wake_at_ns == 0 || due_ns < j->wake_at_ns))
        pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void dlq_jobs_nudge_wall(struct dlq_service *svc, int64_t due_ms)
{
    int64_t delta = due_ms - dlq_now_ms();
    if (delta < 0)
        delta = 0;
    dlq_jobs_nudge(svc, dlq_mono_ns() + delta * 1000000LL);
}

void dlq_jobs_kick_dispatcher(struct dlq_service *svc)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    if (j->disp_started) {
        j->dkicks++;
        pthread_cond_broadcast(&j->dcv);
    }
    pthread_mutex_unlock(&j->mu);
}

/* pass runs the store's timers and the waiters' deadlines once; returns the
 * monotonic time of the next thing due (0: nothing known). */
static int64_t pass(struct dlq_service *svc)
{
    struct dlq_jobs *j = svc->jobs;
    int64_t next_due = 0, ready_all = 0, wake_ns = 0;
    char err[256] = "";
    for (int round = 0; round < TICK_ROUNDS; round++) {
        int64_t ready = 0, expired = 0, nd = 0, now = dlq_now_ms();
        if (dlq_store_job_tick(svc->store, now, TICK_LIMIT, &ready, &expired, &nd, err,
                               sizeof err) != DLQ_OK) {
            dlq_log(DLQ_LOG_WARN, "job timer: %s", err);
            wake_ns = dlq_mono_ns() + RETRY_AFTER_NS;
            break;
        }
        ready_all += ready + expired;
        next_due = nd;
        if (ready < TICK_LIMIT && expired < TICK_LIMIT) {
            if (nd > 0) {
                int64_t delta = nd - dlq_now_ms();
                wake_ns = dlq_mono_ns() + (delta > 0 ? delta : 0) * 1000000LL;
            }
            break;
        }
        wake_ns = dlq_mono_ns(); /* more to do: go round again soon */
    }
    (void)next_due;
    if (ready_all > 0)
        dlq_service_job_wake(svc, NULL);
    int64_t now_ns = dlq_mono_ns();
    for (unsigned i = 0; i < DLQ_JOB_BUCKETS; i++) {
        int64_t e = fire_bucket(j, i, NULL, now_ns, 0);
        if (e > 0 && (wake_ns == 0 || e < wake_ns))
            wake_ns = e;
    }
    return wake_ns;
}

static void *timer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-jobs-timer");
    struct dlq_service *svc = arg;
    struct dlq_jobs *j = svc->jobs;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        j->pending_ns = 0;
        pthread_mutex_unlock(&j->mu);
        int64_t wake = pass(svc);
        pthread_mutex_lock(&j->mu);
        if (j->pending_ns > 0 && (wake == 0 || j->pending_ns < wake))
            wake = j->pending_ns;
        if (j->stop)
            break;
        if (wake > 0 && wake <= dlq_mono_ns())
            continue;
        j->wake_at_ns = wake;
        j->waiting = 1;
        if (wake == 0) {
            pthread_cond_wait(&j->cv, &j->mu);
        } else {
            struct timespec ts = {(time_t)(wake / 1000000000LL), (long)(wake % 1000000000LL)};
            pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        }
        j->waiting = 0;
        j->wake_at_ns = 0;
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static void jobs_free(struct dlq_jobs *j)
{
    for (unsigned i = 0; i < DLQ_JOB_BUCKETS; i++)
        pthread_mutex_destroy(&j->b[i].mu);
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->dcv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int dlq_service_jobs_start(struct dlq_service *svc, char *err, size_t errlen)
{
    if (svc->jobs)
        return DLQ_OK;
    pthread_once(&curl_once, curl_init); /* before any thread of ours uses libcurl */
    struct dlq_jobs *j = calloc(1, sizeof *j);
    if (!j)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    for (unsigned i = 0; i < DLQ_JOB_BUCKETS; i++)
        pthread_mutex_init(&j->b[i].mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, &ca);
    pthread_cond_init(&j->dcv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&j->closing, 0);
    svc->jobs = j;
    j->timer_started = 1;
    if (pthread_create(&j->timer, NULL, timer_main, svc) != 0) {
        svc->jobs = NULL;
        jobs_free(j);
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the job timer");
    }
    j->dkicks = 1; /* a first round picks up what a previous process left */
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < DLQ_WEBHOOK_THREADS; i++) {
        if (pthread_create(&j->disp[j->disp_started], NULL, dlq_webhook_main, svc) == 0)
            j->disp_started++;
    }
    pthread_mutex_unlock(&j->mu);
    if (j->disp_started == 0)
        dlq_log(DLQ_LOG_WARN, "cannot start the webhook dispatcher: webhook replays wait");
    return DLQ_OK;
}

void dlq_service_jobs_stop(struct dlq_service *svc)
{
    struct dlq_jobs *j = svc->jobs;
    if (!j)
        return;
    dlq_service_job_close(svc);
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_cond_broadcast(&j->dcv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->timer, NULL);
    for (int i = 0; i < j->disp_started; i++)
        pthread_join(j->disp[i], NULL);
    dlq_service_job_close(svc); /* any waiter that slipped in */
    svc->jobs = NULL;
    jobs_free(j);
}
