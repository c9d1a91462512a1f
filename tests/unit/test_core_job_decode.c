/*
 * test_core_job_decode.c: the job queue's body decoders (job_codec.h):
 * enqueue defaults and bounds, batch paths ("jobs[3].task_name"), nested
 * paths ("backoff.factor"), delay_ms vs run_at, reserve, ack/fail/heartbeat,
 * the batch ack, queue settings, and the job / queue encoders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/core.h"
#include "dlq/job_codec.h"

static int has_field(const struct dlq_errors *e, const char *field)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->items[i].field, field) == 0)
            return 1;
    return 0;
}

static int spec(const char *body, struct dlq_job_spec *s, struct dlq_errors *e)
{
    memset(e, 0, sizeof *e);
    return dlq_job_spec_from_json(body, strlen(body), s, e);
}

static void test_enqueue_defaults(void **state)
{
    (void)state;
    struct dlq_job_spec s;
    struct dlq_errors e;
    assert_int_equal(spec("{\"task_name\":\"a.b\"}", &s, &e), DLQ_OK);
    assert_string_equal(s.job.task_name, "a.b");
    assert_string_equal(s.job.args, "[]");
    assert_string_equal(s.job.kwargs, "{}");
    assert_int_equal(s.job.max_retries, 3);
    assert_int_equal(s.job.timeout_s, 30);
    assert_int_equal(s.job.priority, 0);
    assert_int_equal(s.job.backoff_base_ms, 1000);
    assert_true(s.job.backoff_factor == 2.0);
    assert_int_equal(s.job.backoff_max_ms, 3600000);
    assert_int_equal(s.delay_ms, -1);
    assert_int_equal(s.run_at, 0);
    assert_null(s.job.queue);
    assert_null(s.job.idempotency_key);
    dlq_job_spec_clear(&s);

    assert_int_equal(spec("{\"task_name\":\"t\",\"args\":[1,\"x\"],\"kwargs\":{\"k\":null},"
                          "\"priority\":-1000,\"max_retries\":0,\"timeout_s\":86400,"
                          "\"delay_ms\":5,\"backoff\":{\"base_ms\":0,\"factor\":1.5,"
                          "\"max_ms\":7},\"idempotency_key\":\"k\",\"tenant_id\":\"acme\","
                          "\"metadata\":{\"m\":[1]}}",
                          &s, &e),
                     DLQ_OK);
    assert_string_equal(s.job.args, "[1,\"x\"]");
    assert_string_equal(s.job.kwargs, "{\"k\":null}");
    assert_int_equal(s.job.priority, -1000);
    assert_int_equal(s.job.max_retries, 0);
    assert_int_equal(s.delay_ms, 5);
    assert_int_equal(s.job.backoff_base_ms, 0);
    assert_true(s.job.backoff_factor == 1.5);
    assert_int_equal(s.job.backoff_max_ms, 7);
    assert_string_equal(s.job.idempotency_key, "k");
    assert_string_equal(s.job.tenant_id, "acme");
    assert_string_equal(s.job.metadata, "{\"m\":[1]}");
    dlq_job_spec_clear(&s);

    assert_int_equal(spec("{\"task_name\":\"t\",\"run_at\":\"2030-01-02T03:04:05Z\"}", &s, &e),
                     DLQ_OK);
    int64_t want;
    assert_int_equal(dlq_time_parse("2030-01-02T03:04:05Z", &want), DLQ_OK);
    assert_int_equal(s.run_at, want);
    dlq_job_spec_clear(&s);
}

static void test_enqueue_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *field;
    } cases[] = {
        {"{}", "task_name"},
        {"{\"task_name\":\"\"}", "task_name"},
        {"{\"task_name\":7}", "task_name"},
        {"{\"task_name\":\"t\",\"args\":{}}", "args"},
        {"{\"task_name\":\"t\",\"kwargs\":[]}", "kwargs"},
        {"{\"task_name\":\"t\",\"priority\":1001}", "priority"},
        {"{\"task_name\":\"t\",\"priority\":1.5}", "priority"},
        {"{\"task_name\":\"t\",\"max_retries\":-1}", "max_retries"},
        {"{\"task_name\":\"t\",\"timeout_s\":86401}", "timeout_s"},
        {"{\"task_name\":\"t\",\"delay_ms\":2592000001}", "delay_ms"},
        {"{\"task_name\":\"t\",\"delay_ms\":1,\"run_at\":\"2030-01-01T00:00:00Z\"}", "run_at"},
        {"{\"task_name\":\"t\",\"run_at\":\"soon\"}", "run_at"},
        {"{\"task_name\":\"t\",\"backoff\":{\"factor\":0.5}}", "backoff.factor"},
        {"{\"task_name\":\"t\",\"backoff\":{\"factor\":\"2\"}}", "backoff.factor"},
        {"{\"task_name\":\"t\",\"backoff\":{\"max_ms\":-1}}", "backoff.max_ms"},
        {"{\"task_name\":\"t\",\"backoff\":{\"x\":1}}", "backoff.x"},
        {"{\"task_name\":\"t\",\"backoff\":3}", "backoff"},
        {"{\"task_name\":\"t\",\"metadata\":[]}", "metadata"},
        {"{\"task_name\":\"t\",\"idempotency_key\":\"\"}", "idempotency_key"},
        {"{\"task_name\":\"t\",\"job_id\":\"x\"}", "job_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_job_spec s;
        struct dlq_errors e;
        int rc = spec(cases[i].body, &s, &e);
        if (rc != DLQ_E_UNPROCESSABLE || !has_field(&e, cases[i].field))
            fail_msg("%s: rc %d, first field '%s'", cases[i].body, rc, e.n ? e.items[0].field : "");
        assert_null(s.job.task_name);
    }
    struct dlq_job_spec s;
    struct dlq_errors e;
    assert_int_equal(spec("{\"task_name\":", &s, &e), DLQ_E_INVAL);
    assert_true(has_field(&e, "body"));
    assert_int_equal(spec("[1]", &s, &e), DLQ_E_INVAL);
    /* every problem of a body at once */
    assert_int_equal(spec("{\"priority\":\"x\",\"timeout_s\":0}", &s, &e), DLQ_E_UNPROCESSABLE);
    assert_int_equal(e.n, 3);
}

static void test_batch_paths(void **state)
{
    (void)state;
    struct dlq_job_spec *s = NULL;
    size_t n = 0;
    struct dlq_errors e;
    memset(&e, 0, sizeof e);
    const char *ok = "{\"jobs\":[{\"task_name\":\"a\"},{\"task_name\":\"b\",\"priority\":2}]}";
    assert_int_equal(dlq_job_specs_from_json_batch(ok, strlen(ok), 1000, &s, &n, &e), DLQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(s[1].job.task_name, "b");
    assert_int_equal(s[1].job.priority, 2);
    for (size_t i = 0; i < n; i++)
        dlq_job_spec_clear(&s[i]);
    free(s);

    const char *bad = "{\"jobs\":[{\"task_name\":\"a\"},{\"task_name\":\"b\"},{},"
                      "{\"task_name\":\"d\",\"backoff\":{\"factor\":99}}]}";
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_job_specs_from_json_batch(bad, strlen(bad), 1000, &s, &n, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_null(s);
    assert_int_equal(n, 0);
    assert_true(has_field(&e, "jobs[2].task_name"));
    assert_true(has_field(&e, "jobs[3].backoff.factor"));

    const char *notobj = "{\"jobs\":[{\"task_name\":\"a\"},7]}";
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_job_specs_from_json_batch(notobj, strlen(notobj), 1000, &s, &n, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "jobs[1]"));

    const char *empty = "{\"jobs\":[]}";
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_job_specs_from_json_batch(empty, strlen(empty), 1000, &s, &n, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "jobs"));
    const char *three = "{\"jobs\":[{\"task_name\":\"a\"},{\"task_name\":\"a\"},{}]}";
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_job_specs_from_json_batch(three, strlen(three), 2, &s, &n, &e),
                     DLQ_E_UNPROCESSABLE);
}

static void test_reserve(void **state)
{
    (void)state;
    struct dlq_job_reserve_req q;
    struct dlq_errors e;
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_job_reserve_req_from_json("", 0, &q, &e), DLQ_OK);
    assert_int_equal(q.count, 1);
    assert_int_equal(q.wait_ms, 0);
    assert_int_equal(q.lease_s, 0);
    assert_string_equal(q.worker_id, "worker");
    dlq_job_reserve_req_clear(&q);
    const char *b = "{\"count\":100,\"wait_ms\":30000,\"lease_s\":5,\"worker_id\":\"w-1\","
                    "\"task_names\":[\"a\",\"b\"]}";
    assert_int_equal(dlq_job_reserve_req_from_json(b, strlen(b), &q, &e), DLQ_OK);
    assert_int_equal(q.count, 100);
    assert_int_equal(q.wait_ms, 30000);
    assert_int_equal(q.lease_s, 5);
    assert_int_equal(q.ntask, 2);
    assert_string_equal(q.task_names[1], "b");
    assert_string_equal(q.worker_id, "w-1");
    dlq_job_reserve_req_clear(&q);
    const char *bad = "{\"count\":0,\"wait_ms\":30001,\"task_names\":[\"\"],\"x\":1}";
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_job_reserve_req_from_json(bad, strlen(bad), &q, &e), DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "count"));
    assert_true(has_field(&e, "wait_ms"));
    assert_true(has_field(&e, "task_names[0]"));
    assert_true(has_field(&e, "x"));
    assert_null(q.task_names);
}

static int call(const char *body, enum dlq_job_call_kind k, struct dlq_job_call *c,
                struct dlq_errors *e)
{
    memset(e, 0, sizeof *e);
    return dlq_job_call_from_json(body, strlen(body), k, c, e);
}

static void test_calls(void **state)
{
    (void)state;
    struct dlq_job_call c;
    struct dlq_errors e;
    assert_int_equal(
        call("{\"lease_token\":\"ab\",\"result\":{\"x\":[1]}}", DLQ_JOB_CALL_ACK, &c, &e), DLQ_OK);
    assert_string_equal(c.lease_token, "ab");
    assert_string_equal(c.result, "{\"x\":[1]}");
    dlq_job_call_clear(&c);
    assert_int_equal(call("{}", DLQ_JOB_CALL_ACK, &c, &e), DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "lease_token"));
    assert_int_equal(call("  ", DLQ_JOB_CALL_ACK, &c, &e), DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "lease_token"));

    assert_int_equal(call("{\"lease_token\":\"t\"}", DLQ_JOB_CALL_FAIL, &c, &e), DLQ_OK);
    assert_int_equal(c.retryable, 1);
    assert_int_equal(c.reason, DLQ_REASON_NONE);
    assert_null(c.error_json);
    dlq_job_call_clear(&c);
    assert_int_equal(call("{\"lease_token\":\"t\",\"reason\":\"job_not_found\",\"error\":{"
                          "\"type\":\"K\",\"message\":\"m\"}}",
                          DLQ_JOB_CALL_FAIL, &c, &e),
                     DLQ_OK);
    assert_int_equal(c.retryable, 0);
    assert_int_equal(c.reason, DLQ_REASON_JOB_NOT_FOUND);
    assert_string_equal(c.error_json, "{\"type\":\"K\",\"message\":\"m\"}");
    dlq_job_call_clear(&c);
    assert_int_equal(call("{\"lease_token\":\"t\",\"retryable\":false}", DLQ_JOB_CALL_FAIL, &c, &e),
                     DLQ_OK);
    assert_int_equal(c.retryable, 0);
    dlq_job_call_clear(&c);
    assert_int_equal(call("{\"lease_token\":\"t\",\"retryable\":true,\"reason\":"
                          "\"invalid_arguments\"}",
                          DLQ_JOB_CALL_FAIL, &c, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "reason"));
    assert_int_equal(
        call("{\"lease_token\":\"t\",\"reason\":\"timeout\"}", DLQ_JOB_CALL_FAIL, &c, &e),
        DLQ_E_UNPROCESSABLE);
    assert_int_equal(call("{\"lease_token\":\"t\",\"error\":{\"type\":1,\"stack\":\"\"}}",
                          DLQ_JOB_CALL_FAIL, &c, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "error.type"));
    assert_true(has_field(&e, "error.stack"));

    assert_int_equal(
        call("{\"lease_token\":\"t\",\"extend_s\":60}", DLQ_JOB_CALL_HEARTBEAT, &c, &e), DLQ_OK);
    assert_int_equal(c.extend_s, 60);
    assert_int_equal(call("{\"lease_token\":\"t\",\"extend_s\":0}", DLQ_JOB_CALL_HEARTBEAT, &c, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_int_equal(call("{\"lease_token\":\"t\",\"result\":1}", DLQ_JOB_CALL_HEARTBEAT, &c, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "result"));
}

static void test_acks_and_settings(void **state)
{
    (void)state;
    struct dlq_job_acks a;
    struct dlq_errors e;
    memset(&e, 0, sizeof e);
    const char *b = "{\"acks\":[{\"job_id\":\"j1\",\"lease_token\":\"t1\"},{\"job_id\":\"j2\","
                    "\"lease_token\":\"t2\",\"result\":[2]}]}";
    assert_int_equal(dlq_job_acks_from_json(b, strlen(b), 1000, &a, &e), DLQ_OK);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.job_id[1], "j2");
    assert_null(a.result[0]);
    assert_string_equal(a.result[1], "[2]");
    dlq_job_acks_free(&a);
    const char *bad = "{\"acks\":[{\"job_id\":\"j1\"},{\"lease_token\":\"t\"}]}";
    assert_int_equal(dlq_job_acks_from_json(bad, strlen(bad), 1000, &a, &e), DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "acks[0].lease_token"));
    assert_true(has_field(&e, "acks[1].job_id"));

    struct dlq_queue_settings_req s;
    memset(&e, 0, sizeof e);
    const char *st = "{\"replay_target\":\"webhook\",\"webhook_url\":\"https://h/x\","
                     "\"webhook_secret\":\"s\",\"max_replays\":100,\"paused\":true}";
    assert_int_equal(dlq_queue_settings_req_from_json(st, strlen(st), &s, &e), DLQ_OK);
    assert_true(s.has_target && s.has_url && s.has_secret && s.has_max_replays && s.has_paused);
    assert_int_equal(s.target, DLQ_TARGET_WEBHOOK);
    assert_string_equal(s.webhook_secret, "s");
    assert_int_equal(s.paused, 1);
    const char *part = "{\"paused\":false}";
    assert_int_equal(dlq_queue_settings_req_from_json(part, strlen(part), &s, &e), DLQ_OK);
    assert_true(s.has_paused && !s.has_target && !s.has_secret);
    const char *sbad = "{\"replay_target\":\"x\",\"webhook_url\":\"ftp://a\",\"max_replays\":0}";
    assert_int_equal(dlq_queue_settings_req_from_json(sbad, strlen(sbad), &s, &e),
                     DLQ_E_UNPROCESSABLE);
    assert_true(has_field(&e, "replay_target"));
    assert_true(has_field(&e, "webhook_url"));
    assert_true(has_field(&e, "max_replays"));
}

static void test_queue_names_and_encoders(void **state)
{
    (void)state;
    assert_true(dlq_job_queue_name_ok("default"));
    assert_true(dlq_job_queue_name_ok("a.b_c:d-9"));
    assert_false(dlq_job_queue_name_ok(""));
    assert_false(dlq_job_queue_name_ok("a b"));
    assert_false(dlq_job_queue_name_ok("a/b"));
    char big[130];
    memset(big, 'q', 128);
    big[128] = '\0';
    assert_true(dlq_job_queue_name_ok(big));
    big[128] = 'q';
    big[129] = '\0';
    assert_false(dlq_job_queue_name_ok(big));

    struct dlq_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.job_id, sizeof j.job_id, "job_X");
    j.queue = (char *)"q";
    j.task_name = (char *)"t";
    j.state = DLQ_JOB_RUNNING;
    j.backoff_factor = 2.0;
    j.lease_expires_at = 1000;
    snprintf(j.lease_token, sizeof j.lease_token, "secret-token");
    struct dlq_buf b = {0};
    assert_int_equal(dlq_job_to_json(&j, &b), DLQ_OK);
    assert_null(strstr(b.data, "secret-token"));
    assert_non_null(strstr(b.data, "\"state\":\"running\""));
    assert_non_null(strstr(b.data, "\"lease_expires_at\":\"1970-01-01T00:00:01Z\""));
    assert_non_null(strstr(b.data, "\"args\":[]"));
    dlq_buf_reset(&b);
    assert_int_equal(dlq_job_reserved_to_json(&j, &b), DLQ_OK);
    assert_non_null(strstr(b.data, "\"lease_token\":\"secret-token\""));
    dlq_buf_reset(&b);
    struct dlq_queue_info qi;
    memset(&qi, 0, sizeof qi);
    snprintf(qi.queue, sizeof qi.queue, "q");
    qi.n[DLQ_JOB_QUEUED] = 4;
    qi.oldest_ready_at = 1000;
    snprintf(qi.settings.webhook_secret, sizeof qi.settings.webhook_secret, "hidden");
    qi.settings.max_replays = -1;
    assert_int_equal(dlq_queue_info_to_json(&qi, 3500, &b), DLQ_OK);
    assert_null(strstr(b.data, "hidden"));
    assert_non_null(strstr(b.data, "\"ready\":4"));
    assert_non_null(strstr(b.data, "\"oldest_ready_age_s\":2.5"));
    assert_non_null(strstr(b.data, "\"webhook_secret_set\":true"));
    assert_non_null(strstr(b.data, "\"max_replays\":3"));
    dlq_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enqueue_defaults),
        cmocka_unit_test(test_enqueue_errors),
        cmocka_unit_test(test_batch_paths),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_acks_and_settings),
        cmocka_unit_test(test_queue_names_and_encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
