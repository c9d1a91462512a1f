/*
 * queue_int.h: what the job queue files of src/service/ share (queue.c, the
 * use cases; queue_wait.c, the reserve waiters and the timer thread;
 * webhook.c, the dispatcher): the registry of long-poll waiters, hashed by
 * queue name into buckets each with its own lock and wake epoch, and the
 * state of the two threads.
 */
#ifndef DLQ_QUEUE_INT_H
#define DLQ_QUEUE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "service_int.h"

#define DLQ_JOB_BUCKETS     64
#define DLQ_WEBHOOK_THREADS 4

struct dlq_job_bucket {
    pthread_mutex_t mu;
    uint64_t epoch; /* bumped by every wake of a queue hashed here */
    struct dlq_job_waiter *head;
};

struct dlq_jobs {
    struct dlq_job_bucket b[DLQ_JOB_BUCKETS];
    atomic_int closing; /* HTTP drains: no new waiters */

    /* The timer thread: sleeps until wake_at_ns (monotonic; 0: until
     * nudged). pending_ns collects nudges that arrive during a pass. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    pthread_t timer;
    int timer_started;
    int stop;
    int waiting;
    int64_t wake_at_ns, pending_ns;

    /* The webhook dispatchers: each runs a round per kick, so one slow
     * target (up to 10 s per POST) does not hold every other delivery. */
    pthread_cond_t dcv;
    pthread_t disp[DLQ_WEBHOOK_THREADS];
    int disp_started; /* how many run */
    uint64_t dkicks;
};

/* dlq_jobs_nudge tells the timer something falls due at the monotonic
 * time due_ns (it wakes earlier than planned if needed). No-op when the
 * threads are not running. */
void dlq_jobs_nudge(struct dlq_service *svc, int64_t due_ns);
/* dlq_jobs_nudge_wall is dlq_jobs_nudge for a wall-clock ms time. */
void dlq_jobs_nudge_wall(struct dlq_service *svc, int64_t due_ms);
/* dlq_jobs_kick_dispatcher starts a dispatcher round (webhook jobs may be
 * ready). */
void dlq_jobs_kick_dispatcher(struct dlq_service *svc);
/* dlq_webhook_main is the dispatcher thread (webhook.c). */
void *dlq_webhook_main(void *arg);
/* dlq_job_make_id writes "<prefix>_<ULID>" for now. */
int dlq_job_make_id(const char *prefix, int64_t now, char out[40]);

#endif
