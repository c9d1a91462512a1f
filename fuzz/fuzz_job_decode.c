/*
 * fuzz_job_decode.c: the job queue's request decoders (include/dlq/
 * job_codec.h, src/core/job_*.c): enqueue (one and batch), reserve,
 * ack/fail/heartbeat, batch acks and queue settings. The first byte picks
 * the decoder, the rest is the body. A decoder either fails with a field
 * error (DLQ_E_INVAL or DLQ_E_UNPROCESSABLE) or yields values inside their
 * documented bounds, with JSON fields that are JSON text; an accepted job
 * also encodes to a JSON object jansson accepts.
 */
#include <jansson.h>

#include "dlq/job_codec.h"
#include "fuzz_util.h"

static void check_json(const char *s)
{
    if (s == NULL)
        return;
    json_error_t je;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
    FUZZ_CHECK(v != NULL);
    json_decref(v);
}

static void check_str(const char *s, size_t max)
{
    if (s == NULL)
        return;
    FUZZ_CHECK(strlen(s) <= max && fuzz_utf8_ok(s, strlen(s)));
}

static void check_spec(struct dlq_job_spec *sp)
{
    struct dlq_job *j = &sp->job;
    FUZZ_CHECK(j->task_name != NULL && j->task_name[0] != '\0');
    check_str(j->task_name, DLQ_JOB_TASK_MAX);
    check_str(j->idempotency_key, DLQ_JOB_KEY_MAX);
    if (j->queue != NULL)
        FUZZ_CHECK(dlq_job_queue_name_ok(j->queue));
    check_json(j->args);
    check_json(j->kwargs);
    check_json(j->metadata);
    FUZZ_CHECK(sp->delay_ms == -1 || (sp->delay_ms >= 0 && sp->delay_ms <= DLQ_JOB_DELAY_MS_MAX));
    FUZZ_CHECK(j->max_retries >= 0 && j->timeout_s >= 1);
    FUZZ_CHECK(j->backoff_factor >= 1.0 && j->backoff_base_ms >= 0);
    strcpy(j->job_id, "job_01JH0000000000000000000000");
    struct dlq_buf b = {0};
    FUZZ_CHECK(dlq_job_to_json(j, &b) == DLQ_OK);
    json_error_t je;
    json_t *v = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    if (v == NULL)
        fprintf(stderr, "bad job JSON: %s: %.*s\n", je.text, (int)b.len, b.data);
    FUZZ_CHECK(v != NULL && json_is_object(v));
    json_decref(v);
    dlq_buf_free(&b);
}

static void check_fail(int rc, const struct dlq_errors *errs)
{
    FUZZ_CHECK(rc == DLQ_E_INVAL || rc == DLQ_E_UNPROCESSABLE);
    FUZZ_CHECK(errs->n + errs->dropped > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct dlq_errors errs = {0};
    int rc;
    switch (data[0] % 8) {
    case 0: {
        struct dlq_job_spec sp;
        rc = dlq_job_spec_from_json(body, len, &sp, &errs);
        if (rc == DLQ_OK)
            check_spec(&sp);
        else
            check_fail(rc, &errs);
        dlq_job_spec_clear(&sp);
        break;
    }
    case 1: {
        struct dlq_job_spec *v = NULL;
        size_t n = 0, max = (data[0] >> 3) % 4 == 0 ? DLQ_JOB_BATCH_MAX : (data[0] >> 3) % 4;
        rc = dlq_job_specs_from_json_batch(body, len, max, &v, &n, &errs);
        if (rc == DLQ_OK) {
            FUZZ_CHECK(v != NULL && n >= 1 && n <= max);
            for (size_t i = 0; i < n; i++) {
                check_spec(&v[i]);
                dlq_job_spec_clear(&v[i]);
            }
            free(v);
        } else {
            check_fail(rc, &errs);
        }
        break;
    }
    case 2: {
        struct dlq_job_reserve_req q;
        rc = dlq_job_reserve_req_from_json(body, len, &q, &errs);
        if (rc == DLQ_OK) {
            FUZZ_CHECK(q.count >= 1 && q.count <= DLQ_JOB_RESERVE_MAX);
            FUZZ_CHECK(q.wait_ms >= 0 && q.wait_ms <= DLQ_JOB_WAIT_MS_MAX);
            FUZZ_CHECK(q.lease_s >= 0 && q.lease_s <= 86400);
            FUZZ_CHECK(memchr(q.worker_id, '\0', sizeof q.worker_id) != NULL);
            FUZZ_CHECK(q.ntask <= DLQ_JOB_TASKNAMES_MAX);
            for (size_t i = 0; i < q.ntask; i++)
                FUZZ_CHECK(q.task_names[i] != NULL);
            dlq_job_reserve_req_clear(&q);
        } else {
            check_fail(rc, &errs);
        }
        break;
    }
    case 3:
    case 4:
    case 5: {
        struct dlq_job_call c;
        enum dlq_job_call_kind kind = (enum dlq_job_call_kind)(data[0] % 8 - 3);
        rc = dlq_job_call_from_json(body, len, kind, &c, &errs);
        if (rc == DLQ_OK) {
            FUZZ_CHECK(memchr(c.lease_token, '\0', sizeof c.lease_token) != NULL);
            check_json(c.result);
            check_json(c.error_json);
            FUZZ_CHECK(c.extend_s >= 0);
            dlq_job_call_clear(&c);
        } else {
            check_fail(rc, &errs);
        }
        break;
    }
    case 6: {
        struct dlq_job_acks a;
        memset(&a, 0, sizeof a);
        size_t max = (data[0] >> 3) % 4 == 0 ? DLQ_JOB_BATCH_MAX : (data[0] >> 3) % 4;
        rc = dlq_job_acks_from_json(body, len, max, &a, &errs);
        if (rc == DLQ_OK) {
            FUZZ_CHECK(a.n >= 1 && a.n <= max);
            for (size_t i = 0; i < a.n; i++) {
                FUZZ_CHECK(memchr(a.job_id[i], '\0', 40) != NULL);
                FUZZ_CHECK(memchr(a.lease_token[i], '\0', 40) != NULL);
                check_json(a.result[i]);
            }
            dlq_job_acks_free(&a);
        } else {
            check_fail(rc, &errs);
        }
        break;
    }
    default: {
        struct dlq_queue_settings_req q;
        rc = dlq_queue_settings_req_from_json(body, len, &q, &errs);
        if (rc == DLQ_OK) {
            FUZZ_CHECK(memchr(q.webhook_url, '\0', sizeof q.webhook_url) != NULL);
            FUZZ_CHECK(memchr(q.webhook_secret, '\0', sizeof q.webhook_secret) != NULL);
            FUZZ_CHECK(q.target == DLQ_TARGET_NATIVE || q.target == DLQ_TARGET_WEBHOOK);
        } else {
            check_fail(rc, &errs);
        }
        break;
    }
    }
    return 0;
}
