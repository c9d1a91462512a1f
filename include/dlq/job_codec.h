/*
 * job_codec.h: the job queue's request bodies and answers as JSON
 * (ISSUE4_API.md). The decoders validate every field with its bounds and
 * report every problem at once with its path ("jobs[3].task_name",
 * "backoff.factor"); nothing is returned on failure. They are pure (core/):
 * times and ids are left for the service. The encoders write a job as the
 * API shows it.
 */
#ifndef DLQ_JOB_CODEC_H
#define DLQ_JOB_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/error.h"
#include "dlq/job.h"
#include "dlq/types.h"
#include "dlq/util.h"

#define DLQ_JOB_QUEUE_MAX     128
#define DLQ_JOB_TASK_MAX      200
#define DLQ_JOB_KEY_MAX       200
#define DLQ_JOB_BATCH_MAX     1000
#define DLQ_JOB_RESERVE_MAX   100
#define DLQ_JOB_WAIT_MS_MAX   30000
#define DLQ_JOB_WORKER_MAX    128
#define DLQ_JOB_TASKNAMES_MAX 100
#define DLQ_JOB_DELAY_MS_MAX  2592000000LL

/* dlq_job_queue_name_ok returns 1 when q is 1..128 chars of [A-Za-z0-9._:-]. */
int dlq_job_queue_name_ok(const char *q);

/* A decoded enqueue: the job with every default filled (queue, job_id,
 * state, times and tenant left for the service: queue/tenant_id NULL unless
 * given), and when it runs: delay_ms (-1: not given) or run_at (0: not
 * given). Strings owned; dlq_job_spec_clear frees. */
struct dlq_job_spec {
    struct dlq_job job;
    int64_t delay_ms;
    int64_t run_at;
};
void dlq_job_spec_clear(struct dlq_job_spec *s);

/* dlq_job_spec_from_json decodes one enqueue body. DLQ_OK; DLQ_E_INVAL for
 * malformed JSON (errs on "body"); DLQ_E_UNPROCESSABLE with every field
 * problem in errs. out is cleared on failure. */
int dlq_job_spec_from_json(const char *text, size_t len, struct dlq_job_spec *out,
                           struct dlq_errors *errs);
/* dlq_job_specs_from_json_batch decodes {"jobs":[...]} of 1..max jobs. On
 * DLQ_OK *out is a calloc'd array of *n specs (caller clears each and frees
 * it); errors as above with paths "jobs[i].field". */
int dlq_job_specs_from_json_batch(const char *text, size_t len, size_t max,
                                  struct dlq_job_spec **out, size_t *n, struct dlq_errors *errs);

/* POST .../reserve (an empty body is every default). */
struct dlq_job_reserve_req {
    int count;   /* 1..100, default 1 */
    int wait_ms; /* 0..30000, default 0 */
    int lease_s; /* 1..86400, 0: each job's timeout_s */
    char **task_names;
    size_t ntask;
    char worker_id[DLQ_JOB_WORKER_MAX + 1]; /* default "worker" */
};
void dlq_job_reserve_req_clear(struct dlq_job_reserve_req *q);
int dlq_job_reserve_req_from_json(const char *text, size_t len, struct dlq_job_reserve_req *out,
                                  struct dlq_errors *errs);

/* POST /jobs/{id}/ack, /fail, /heartbeat and /jobs/ack. Strings owned;
 * dlq_job_call_clear frees. */
struct dlq_job_call {
    char lease_token[40];
    char *result;           /* ack: JSON text or NULL */
    int retryable;          /* fail: default 1 */
    enum dlq_reason reason; /* fail: NONE, or a reason (then retryable 0) */
    char *error_json;       /* fail: {"type","message","traceback"} text or NULL */
    int extend_s;           /* heartbeat: 0 = the job's timeout_s */
};
void dlq_job_call_clear(struct dlq_job_call *c);
enum dlq_job_call_kind { DLQ_JOB_CALL_ACK, DLQ_JOB_CALL_FAIL, DLQ_JOB_CALL_HEARTBEAT };
int dlq_job_call_from_json(const char *text, size_t len, enum dlq_job_call_kind kind,
                           struct dlq_job_call *out, struct dlq_errors *errs);

/* {acks:[{job_id, lease_token, result}]} of 1..max. *ids, *tokens, *results
 * are calloc'd arrays of *n (results[i] may be NULL); free with
 * dlq_job_acks_free. */
struct dlq_job_acks {
    char (*job_id)[40];
    char (*lease_token)[40];
    char **result;
    size_t n;
};
void dlq_job_acks_free(struct dlq_job_acks *a);
int dlq_job_acks_from_json(const char *text, size_t len, size_t max, struct dlq_job_acks *out,
                           struct dlq_errors *errs);

/* PUT /queues/{queue}/settings, partial: has_* says what was given. */
struct dlq_queue_settings_req {
    int has_target, has_url, has_secret, has_max_replays, has_paused;
    enum dlq_target target;
    char webhook_url[512];
    char webhook_secret[256];
    int max_replays;
    int paused;
};
int dlq_queue_settings_req_from_json(const char *text, size_t len,
                                     struct dlq_queue_settings_req *out, struct dlq_errors *errs);

/* dlq_job_to_json appends the GET /jobs/{id} object of j to out.
 * dlq_job_reserved_to_json appends the reserve answer's item (with the
 * lease_token). DLQ_OK or DLQ_E_NOMEM. */
int dlq_job_to_json(const struct dlq_job *j, struct dlq_buf *out);
int dlq_job_reserved_to_json(const struct dlq_job *j, struct dlq_buf *out);
/* dlq_queue_info_to_json appends a queue item (settings without the secret;
 * oldest_ready_age_s from now). */
int dlq_queue_info_to_json(const struct dlq_queue_info *q, int64_t now, struct dlq_buf *out);
/* dlq_target_name returns "native" or "webhook". */
const char *dlq_target_name(enum dlq_target t);

#endif
