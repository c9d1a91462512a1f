/*
 * job.h: the native job queue's domain types (DESIGN.md sections 3 and 5):
 * a job, its states, per-queue settings and depths, and the pure rules every
 * layer agrees on: state names and the backoff of a retry. core/ implements
 * the functions; store/ and service/ share the structs.
 */
#ifndef DLQ_JOB_H
#define DLQ_JOB_H

#include <stddef.h>
#include <stdint.h>

/* Job states. The values are stable: they are stored. */
#define DLQ_JOB_STATE_MAP(X)                                                                       \
    X(QUEUED, 1, "queued")         /* ready to be reserved */                                      \
    X(SCHEDULED, 2, "scheduled")   /* waits for run_at (delay or a retry's backoff) */             \
    X(RUNNING, 3, "running")       /* leased to a worker until lease_expires_at */                 \
    X(SUCCEEDED, 4, "succeeded")   /* acked: final */                                              \
    X(DEAD, 5, "dead")             /* in the DLQ (dlq_id): final */                                \
    X(CANCELLED, 6, "cancelled")   /* cancelled before it ran: final */                            \
    X(DISPATCHED, 7, "dispatched") /* handed to a webhook target (2xx): final */

enum dlq_job_state {
    DLQ_JOB_NONE = 0,
#define DLQ_JOB_STATE_ENUM(name, val, str) DLQ_JOB_##name = (val),
    DLQ_JOB_STATE_MAP(DLQ_JOB_STATE_ENUM)
#undef DLQ_JOB_STATE_ENUM
};
#define DLQ_JOB_STATE_COUNT 8 /* one past the highest value */

#define DLQ_JOB_MAX_RETRIES_DEFAULT 3 /* up to 4 attempts */
#define DLQ_JOB_TIMEOUT_S_DEFAULT   30
#define DLQ_JOB_BACKOFF_BASE_MS     1000
#define DLQ_JOB_BACKOFF_FACTOR      2.0
#define DLQ_JOB_BACKOFF_MAX_MS      3600000

/* Replay targets of a queue. */
enum dlq_target {
    DLQ_TARGET_NATIVE = 0,  /* replay enqueues a job that workers reserve */
    DLQ_TARGET_WEBHOOK = 1, /* replay POSTs the job, signed, to a URL */
};

/* A job. Strings are owned (malloc'd) when read back from a store
 * (dlq_job_clear frees them) and borrowed when handed to one. args is JSON
 * array text, kwargs/metadata JSON object text, last_error JSON object
 * {"type","message","traceback"} text, attempts the JSON array text of every
 * finished attempt [{attempt, worker_id, started_at, finished_at,
 * duration_ms, outcome, error}] (times RFC 3339), result any JSON text.
 * Times are ms since the epoch; 0 means null. */
struct dlq_job {
    char job_id[40]; /* job_<ULID> */
    char *queue;
    char *task_name;
    char *args;
    char *kwargs;
    int priority; /* higher runs first */
    enum dlq_job_state state;
    int attempt; /* attempts started so far */
    int max_retries;
    int timeout_s; /* default lease */
    int64_t run_at;
    int64_t lease_expires_at;
    char lease_token[40]; /* "" when not running */
    char *worker_id;
    int64_t backoff_base_ms;
    double backoff_factor;
    int64_t backoff_max_ms;
    char *replay_of; /* the dlq_id this job replays, or NULL */
    char *idempotency_key;
    char *tenant_id; /* "" for none */
    char *metadata;
    enum dlq_target target;
    int64_t created_at, updated_at, started_at, finished_at;
    char *last_error;
    char *attempts;
    char *result;
    char *dlq_id; /* the entry it dead-lettered into (or replays into), or NULL */
};
void dlq_job_clear(struct dlq_job *j);

/* Settings of a queue (PUT /api/v1/queues/{queue}/settings). */
struct dlq_queue_settings {
    char queue[129]; /* up to 128 bytes of name */
    enum dlq_target target;
    char webhook_url[512];    /* target webhook */
    char webhook_secret[256]; /* HMAC key; never shown back */
    int max_replays;          /* for entries dead-lettered from this queue; -1: default (3) */
    int paused;               /* reserve hands out nothing while paused */
};

/* Depths of a queue, from counters (no scans). */
struct dlq_queue_info {
    char queue[129];                /* up to 128 bytes of name */
    int64_t n[DLQ_JOB_STATE_COUNT]; /* by state */
    int64_t oldest_ready_at;        /* run_at of the oldest queued job, 0: none */
    struct dlq_queue_settings settings;
};

/* dlq_job_state_name returns "queued", ...; NULL when unknown.
 * dlq_job_state_parse returns the state, or DLQ_JOB_NONE. */
const char *dlq_job_state_name(enum dlq_job_state s);
enum dlq_job_state dlq_job_state_parse(const char *s);

/* dlq_backoff_ms returns the delay before retry number `attempt` (1 for the
 * retry after the first failed attempt) with full jitter: a uniform value in
 * [0, min(max_ms, base_ms * factor^(attempt-1))], chosen by rnd (any 64
 * random bits). Never negative, never above max_ms. */
int64_t dlq_backoff_ms(int64_t base_ms, double factor, int64_t max_ms, int attempt, uint64_t rnd);
/* dlq_backoff_cap_ms returns the upper bound dlq_backoff_ms draws under. */
int64_t dlq_backoff_cap_ms(int64_t base_ms, double factor, int64_t max_ms, int attempt);

#endif
