/*
 * job.c: the pure rules of the job queue: state names and the delay before a
 * retry. Exponential backoff with full jitter (the AWS architecture blog's
 * "full jitter"): the delay is drawn uniformly below an exponentially
 * growing cap, so retries of many jobs that failed together spread out
 * instead of returning in waves.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/job.h"

static const char *const state_names[DLQ_JOB_STATE_COUNT] = {
#define DLQ_JOB_STATE_STR(name, val, str) [val] = str,
    DLQ_JOB_STATE_MAP(DLQ_JOB_STATE_STR)
#undef DLQ_JOB_STATE_STR
};

const char *dlq_job_state_name(enum dlq_job_state s)
{
    if ((int)s <= 0 || (int)s >= DLQ_JOB_STATE_COUNT)
        return NULL;
    return state_names[s];
}

enum dlq_job_state dlq_job_state_parse(const char *s)
{
    if (!s)
        return DLQ_JOB_NONE;
    for (int i = 1; i < DLQ_JOB_STATE_COUNT; i++) {
        if (state_names[i] && strcmp(state_names[i], s) == 0)
            return (enum dlq_job_state)i;
    }
    return DLQ_JOB_NONE;
}

int64_t dlq_backoff_cap_ms(int64_t base_ms, double factor, int64_t max_ms, int attempt)
{
    if (base_ms < 0)
        base_ms = 0;
    if (max_ms < 0)
        max_ms = 0;
    if (!(factor >= 1.0)) /* also catches NaN */
        factor = 1.0;
    if (attempt < 1)
        attempt = 1;
    /* Computed in double so a large exponent saturates instead of overflowing. */
    double cap = (double)base_ms * pow(factor, (double)(attempt - 1));
    if (!(cap < (double)max_ms))
        return max_ms;
    return (int64_t)cap;
}

int64_t dlq_backoff_ms(int64_t base_ms, double factor, int64_t max_ms, int attempt, uint64_t rnd)
{
    int64_t cap = dlq_backoff_cap_ms(base_ms, factor, max_ms, attempt);
    return (int64_t)(rnd % ((uint64_t)cap + 1));
}

void dlq_job_clear(struct dlq_job *j)
{
    if (!j)
        return;
    free(j->queue);
    free(j->task_name);
    free(j->args);
    free(j->kwargs);
    free(j->worker_id);
    free(j->replay_of);
    free(j->idempotency_key);
    free(j->tenant_id);
    free(j->metadata);
    free(j->last_error);
    free(j->attempts);
    free(j->result);
    free(j->dlq_id);
    memset(j, 0, sizeof *j);
}
