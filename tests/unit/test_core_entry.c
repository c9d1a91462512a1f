/*
 * test_core_entry.c: the entry codec. Decoding: accepted bodies and the
 * values and defaults they produce, a table of rejected bodies with the
 * field and detail reported, batches (wrapper, bare array, size limits,
 * errors with item indices, all-or-nothing). Encoding: the exact seed 000
 * shape of a fixture entry, history, and a decode -> encode round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "dlq/core.h"

static int decode(const char *body, struct dlq_entry *e, struct dlq_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    return dlq_entry_from_json(body, strlen(body), e, errs);
}

static void test_decode_minimal_defaults(void **state)
{
    (void)state;
    struct dlq_entry e;
    struct dlq_errors errs;
    assert_int_equal(decode("{\"task_name\":\"t.export\"}", &e, &errs), DLQ_OK);
    assert_int_equal(errs.n, 0);
    assert_string_equal(e.task_name, "t.export");
    assert_string_equal(e.queue, "default");
    assert_string_equal(e.task_args, "[]");
    assert_string_equal(e.task_kwargs, "{}");
    assert_int_equal(e.reason, DLQ_REASON_EXTERNAL);
    assert_int_equal(e.max_replays, 3);
    assert_int_equal(e.failed_at, 0);
    assert_int_equal(e.status, DLQ_STATUS_NONE);
    assert_null(e.dlq_id);
    assert_null(e.exc_type);
    assert_null(e.metadata);
    assert_null(e.fingerprint);
    dlq_entry_clear(&e);
    assert_null(e.task_name);
}

static void test_decode_full(void **state)
{
    (void)state;
    const char *body =
        "{\"task_name\":\"src.workers.tasks.export.generate_export\","
        "\"original_task_id\":\"task_xyz789\","
        "\"task_args\":\"[\\\"workbook_id\\\"]\","
        "\"task_kwargs\":{\"format\": \"xlsx\", \"ratio\": 0.1, \"n\": [1, 2.5e10, true, null]},"
        "\"exception\":{\"type\":\"ConnectionError\",\"message\":\"Database connection timeout\","
        "\"traceback\":\"Traceback...\"},"
        "\"tenant_id\":\"t_abc123\",\"retries_attempted\":3,"
        "\"failed_at\":\"2026-01-25T12:30:00+02:00\",\"queue\":\"exports\",\"priority\":-5,"
        "\"reason\":\"max_retries_exceeded\",\"error_code\":\"E42\",\"max_replays\":0,"
        "\"expires_at\":\"2026-02-25T10:30:00.5Z\",\"metadata\":{\"b\": 1, \"a\": \"x\"},"
        "\"context\":{\"request\":{\"url\":\"/x\"}},\"idempotency_key\":\"k-1\"}";
    struct dlq_entry e;
    struct dlq_errors errs;
    assert_int_equal(decode(body, &e, &errs), DLQ_OK);
    assert_string_equal(e.original_task_id, "task_xyz789");
    assert_string_equal(e.task_args, "[\"workbook_id\"]"); /* a string: kept verbatim */
    /* A value: re-encoded compactly, key order and short reals preserved. */
    assert_string_equal(e.task_kwargs,
                        "{\"format\":\"xlsx\",\"ratio\":0.1,\"n\":[1,2.5e+10,true,null]}");
    assert_string_equal(e.exc_type, "ConnectionError");
    assert_string_equal(e.exc_message, "Database connection timeout");
    assert_string_equal(e.exc_traceback, "Traceback...");
    assert_string_equal(e.tenant_id, "t_abc123");
    assert_int_equal(e.retries_attempted, 3);
    assert_int_equal(e.failed_at, 1769337000000LL);
    assert_string_equal(e.queue, "exports");
    assert_int_equal(e.priority, -5);
    assert_int_equal(e.reason, DLQ_REASON_MAX_RETRIES_EXCEEDED);
    assert_string_equal(e.error_code, "E42");
    assert_int_equal(e.max_replays, 0); /* an explicit 0 is not the default */
    assert_int_equal(e.expires_at, 1769337000000LL + 31LL * 86400000 + 500);
    assert_string_equal(e.metadata, "{\"b\":1,\"a\":\"x\"}");
    assert_string_equal(e.context, "{\"request\":{\"url\":\"/x\"}}");
    assert_string_equal(e.idempotency_key, "k-1");
    dlq_entry_clear(&e);
}

static void test_decode_nulls_and_values(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *args, *kwargs;
    } cases[] = {
        /* null for an optional field means absent */
        {"{\"task_name\":\"t\",\"queue\":null,\"exception\":null,\"task_args\":null,"
         "\"metadata\":null,\"max_replays\":null,\"reason\":null}",
         "[]", "{}"},
        {"{\"task_name\":\"t\",\"task_args\":[1,\"a\"],\"task_kwargs\":\"{\\\"x\\\": 1}\"}",
         "[1,\"a\"]", "{\"x\": 1}"},
        {"{\"task_name\":\"t\",\"task_args\":\"5\",\"task_kwargs\":{}}", "5", "{}"},
        {"{\"task_name\":\"t\",\"task_args\":{\"k\":\"\\u00e9\\n\"}}", "{\"k\":\"\xc3\xa9\\n\"}",
         "{}"},
        {"{\"task_name\":\"t\",\"exception\":{\"type\":null,\"message\":\"m\"}}", "[]", "{}"},
        {"{\"task_name\":\"t\",\"original_task_id\":\"\",\"tenant_id\":\"\"}", "[]", "{}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_entry e;
        struct dlq_errors errs;
        if (decode(cases[i].body, &e, &errs) != DLQ_OK)
            fail_msg("case %zu rejected: %s: %s", i, errs.items[0].field, errs.items[0].detail);
        assert_string_equal(e.task_args, cases[i].args);
        assert_string_equal(e.task_kwargs, cases[i].kwargs);
        assert_string_equal(e.queue, "default");
        assert_int_equal(e.max_replays, 3);
        assert_int_equal(e.reason, DLQ_REASON_EXTERNAL);
        assert_null(e.metadata);
        dlq_entry_clear(&e);
    }
}

struct reject_case {
    const char *body;
    int nerr;
    const char *field;  /* of the first error */
    const char *detail; /* a prefix of its detail */
};

static void test_decode_rejected(void **state)
{
    (void)state;
    static char longname[600], long_body[700];
    memset(longname, 'n', 513);
    snprintf(long_body, sizeof long_body, "{\"task_name\":\"%s\"}", longname);
    const struct reject_case cases[] = {
        {"", 1, "body", "malformed JSON: "},
        {"{\"task_name\":", 1, "body", "malformed JSON: "},
        {"{\"task_name\":\"a\",}", 1, "body", "malformed JSON: "},
        {"[{\"task_name\":\"a\"}]", 1, "body", "must be a JSON object"},
        {"{\"task_name\":\"a\",\"task_name\":\"b\"}", 1, "body", "malformed JSON: duplicate"},
        {"{\"task_name\":\"a\\u0000b\"}", 1, "body", "malformed JSON: "},
        {"{\"task_name\":\"\xff\"}", 1, "body", "malformed JSON: "},
        {"{}", 1, "task_name", "is required"},
        {"{\"task_name\":null}", 1, "task_name", "is required"},
        {"{\"task_name\":\"\"}", 1, "task_name", "must be 1 to 512 bytes"},
        {long_body, 1, "task_name", "must be 1 to 512 bytes"},
        {"{\"task_name\":42}", 1, "task_name", "must be a string"},
        {"{\"task_name\":\"t\",\"retries_attempted\":\"3\"}", 1, "retries_attempted",
         "must be an integer"},
        {"{\"task_name\":\"t\",\"retries_attempted\":3.0}", 1, "retries_attempted",
         "must be an integer"},
        {"{\"task_name\":\"t\",\"retries_attempted\":-1}", 1, "retries_attempted",
         "must be an integer from 0 to 1000000"},
        {"{\"task_name\":\"t\",\"max_replays\":1001}", 1, "max_replays",
         "must be an integer from 0 to 1000"},
        {"{\"task_name\":\"t\",\"priority\":true}", 1, "priority", "must be an integer"},
        {"{\"task_name\":\"t\",\"priority\":99999999999}", 1, "priority",
         "must be an integer from -1000000"},
        {"{\"task_name\":\"t\",\"failed_at\":\"yesterday\"}", 1, "failed_at",
         "must be an RFC 3339 time"},
        {"{\"task_name\":\"t\",\"failed_at\":1769337000000}", 1, "failed_at",
         "must be an RFC 3339 time"},
        {"{\"task_name\":\"t\",\"expires_at\":\"2026-02-30T00:00:00Z\"}", 1, "expires_at",
         "must be an RFC 3339 time"},
        {"{\"task_name\":\"t\",\"queue\":\"\"}", 1, "queue", "must be 1 to 256 bytes"},
        {"{\"task_name\":\"t\",\"reason\":\"bored\"}", 1, "reason", "must be one of external,"},
        {"{\"task_name\":\"t\",\"reason\":1}", 1, "reason", "must be one of"},
        {"{\"task_name\":\"t\",\"metadata\":[]}", 1, "metadata", "must be an object"},
        {"{\"task_name\":\"t\",\"context\":\"{}\"}", 1, "context", "must be an object"},
        {"{\"task_name\":\"t\",\"task_args\":\"[1,\"}", 1, "task_args",
         "must be JSON text or a JSON value"},
        {"{\"task_name\":\"t\",\"task_kwargs\":\"\"}", 1, "task_kwargs", "must be JSON text"},
        {"{\"task_name\":\"t\",\"exception\":\"boom\"}", 1, "exception", "must be an object"},
        {"{\"task_name\":\"t\",\"exception\":{\"type\":1}}", 1, "exception.type",
         "must be a string"},
        {"{\"task_name\":\"t\",\"exception\":{\"foo\":\"x\"}}", 1, "exception.foo",
         "unknown field"},
        {"{\"task_name\":\"t\",\"idempotency_key\":\"\"}", 1, "idempotency_key",
         "must be 1 to 256 bytes"},
        {"{\"task_name\":\"t\",\"dlq_id\":\"dlq_x\"}", 1, "dlq_id", "read-only field"},
        {"{\"task_name\":\"t\",\"status\":\"resolved\"}", 1, "status", "read-only field"},
        {"{\"task_name\":\"t\",\"history\":[]}", 1, "history", "read-only field"},
        {"{\"task_name\":\"t\",\"fingerprint\":null}", 1, "fingerprint", "read-only field"},
        {"{\"task_name\":\"t\",\"taskname\":\"x\"}", 1, "taskname", "unknown field"},
        /* every problem is reported, in body order, with the required one last */
        {"{\"queue\":5,\"priority\":\"x\",\"bogus\":1}", 4, "queue", "must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_entry e;
        struct dlq_errors errs;
        memset(&e, 0x5a, sizeof e); /* cleared by the decoder even on failure */
        if (decode(cases[i].body, &e, &errs) != DLQ_E_INVAL)
            fail_msg("case %zu accepted: %s", i, cases[i].body);
        if (errs.n != cases[i].nerr)
            fail_msg("case %zu: %d errors, first %s: %s", i, errs.n, errs.items[0].field,
                     errs.items[0].detail);
        assert_string_equal(errs.items[0].field, cases[i].field);
        if (strncmp(errs.items[0].detail, cases[i].detail, strlen(cases[i].detail)) != 0)
            fail_msg("case %zu: detail \"%s\"", i, errs.items[0].detail);
        assert_null(e.task_name);
        assert_null(e.queue);
        assert_int_equal(e.max_replays, 0);
    }
}

static void test_decode_error_positions(void **state)
{
    (void)state;
    struct dlq_entry e;
    struct dlq_errors errs;
    assert_int_equal(decode("{\"task_name\":\"a\",\n \"queue\": tru}", &e, &errs), DLQ_E_INVAL);
    assert_string_equal(errs.items[0].field, "body");
    assert_non_null(strstr(errs.items[0].detail, "line 2"));
    assert_non_null(strstr(errs.items[0].detail, "column"));
    /* All problems together: order follows the body, task_name last. */
    assert_int_equal(decode("{\"queue\":5,\"priority\":\"x\",\"bogus\":1}", &e, &errs),
                     DLQ_E_INVAL);
    assert_string_equal(errs.items[1].field, "priority");
    assert_string_equal(errs.items[2].field, "bogus");
    assert_string_equal(errs.items[3].field, "task_name");
}

static int batch(const char *body, size_t max, struct dlq_entry **out, size_t *n,
                 struct dlq_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    return dlq_entries_from_json_batch(body, strlen(body), max, out, n, errs);
}

static void free_items(struct dlq_entry *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dlq_entry_clear(&items[i]);
    free(items);
}

static void test_batch_ok(void **state)
{
    (void)state;
    struct dlq_entry *items;
    size_t n;
    struct dlq_errors errs;
    assert_int_equal(batch("{\"entries\":[{\"task_name\":\"a\"},{\"task_name\":\"b\",\"queue\":"
                           "\"q\"}]}",
                           10, &items, &n, &errs),
                     DLQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].task_name, "a");
    assert_string_equal(items[0].queue, "default");
    assert_string_equal(items[1].queue, "q");
    free_items(items, n);
    assert_int_equal(batch("[{\"task_name\":\"a\"},{\"task_name\":\"b\"},{\"task_name\":\"c\"}]", 3,
                           &items, &n, &errs),
                     DLQ_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[2].task_name, "c");
    free_items(items, n);
}

static void test_batch_errors(void **state)
{
    (void)state;
    static const struct reject_case cases[] = {
        {"{\"entries\":[]}", 1, "entries", "must hold 1 to 3 entries"},
        {"[]", 1, "entries", "must hold 1 to 3 entries"},
        {"[{\"task_name\":\"a\"},{\"task_name\":\"a\"},{\"task_name\":\"a\"},{\"task_name\":"
         "\"a\"}]",
         1, "entries", "must hold 1 to 3 entries"},
        {"{}", 1, "entries", "is required"},
        {"{\"entries\":{}}", 1, "entries", "must be an array"},
        {"{\"entries\":[{\"task_name\":\"a\"}],\"dry_run\":true}", 1, "dry_run", "unknown field"},
        {"\"x\"", 1, "body", "malformed JSON: "},
        {"[{\"task_name\":\"a\"},5]", 1, "entries[1]", "must be an object"},
        {"[{\"task_name\":\"a\"},{\"task_name\":\"b\"},{\"queue\":\"q\"}]", 1,
         "entries[2].task_name", "is required"},
        {"{\"entries\":[{\"task_name\":\"a\",\"exception\":{\"type\":7}},{\"status\":1}]}", 3,
         "entries[0].exception.type", "must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_entry *items = (struct dlq_entry *)&items; /* must become NULL */
        size_t n = 99;
        struct dlq_errors errs;
        if (batch(cases[i].body, 3, &items, &n, &errs) != DLQ_E_INVAL)
            fail_msg("case %zu accepted", i);
        assert_null(items);
        assert_int_equal(n, 0);
        if (errs.n != cases[i].nerr)
            fail_msg("case %zu: %d errors, first %s: %s", i, errs.n, errs.items[0].field,
                     errs.items[0].detail);
        assert_string_equal(errs.items[0].field, cases[i].field);
        assert_memory_equal(errs.items[0].detail, cases[i].detail, strlen(cases[i].detail));
    }
    /* The last case names every problem with its index. */
    struct dlq_entry *items;
    size_t n;
    struct dlq_errors errs;
    batch(cases[9].body, 3, &items, &n, &errs);
    assert_string_equal(errs.items[1].field, "entries[1].status");
    assert_string_equal(errs.items[1].detail, "read-only field");
    assert_string_equal(errs.items[2].field, "entries[1].task_name");
}

/* fixture fills e with every field set, as the store would return it. */
static void fixture(struct dlq_entry *e)
{
    memset(e, 0, sizeof *e);
    e->dlq_id = strdup("dlq_01KFTB3E00ABCDEFGHJKMNPQRS");
    e->original_task_id = strdup("task_xyz789");
    e->task_name = strdup("src.workers.tasks.export.generate_export");
    e->task_args = strdup("[\"workbook_id\"]");
    e->task_kwargs = strdup("{\"format\": \"xlsx\"}");
    e->exc_type = strdup("ConnectionError");
    e->exc_message = strdup("Database connection timeout");
    e->exc_traceback = strdup("Traceback:\n  line 1\t\"x\"");
    e->tenant_id = strdup("t_abc123");
    e->retries_attempted = 3;
    e->failed_at = 1769337000000LL;
    e->processed_at = 1769337000250LL;
    e->status = DLQ_STATUS_PENDING_REVIEW;
    e->queue = strdup("default");
    e->reason = DLQ_REASON_MAX_RETRIES_EXCEEDED;
    e->fingerprint = strdup("0123456789abcdef");
    e->max_replays = 3;
    e->metadata = strdup("{\"k\":\"v\"}");
    e->priority = -2;
}

static const char fixture_json[] =
    "{\"dlq_id\":\"dlq_01KFTB3E00ABCDEFGHJKMNPQRS\",\"original_task_id\":\"task_xyz789\","
    "\"task_name\":\"src.workers.tasks.export.generate_export\","
    "\"task_args\":\"[\\\"workbook_id\\\"]\",\"task_kwargs\":\"{\\\"format\\\": \\\"xlsx\\\"}\","
    "\"exception\":{\"type\":\"ConnectionError\",\"message\":\"Database connection timeout\","
    "\"traceback\":\"Traceback:\\n  line 1\\t\\\"x\\\"\"},"
    "\"tenant_id\":\"t_abc123\",\"retries_attempted\":3,\"failed_at\":\"2026-01-25T10:30:00Z\","
    "\"processed_at\":\"2026-01-25T10:30:00.250Z\",\"status\":\"pending_review\","
    "\"retry_count\":0,\"last_retry_at\":null,\"retry_task_id\":null,\"resolved_at\":null,"
    "\"resolution_notes\":null,\"queue\":\"default\",\"priority\":-2,"
    "\"reason\":\"max_retries_exceeded\",\"error_code\":null,\"fingerprint\":\"0123456789abcdef\","
    "\"resolution_type\":null,\"resolved_by\":null,\"max_replays\":3,\"expires_at\":null,"
    "\"metadata\":{\"k\":\"v\"},\"context\":null,\"idempotency_key\":null}";

static void test_encode_fixture(void **state)
{
    (void)state;
    struct dlq_entry e;
    struct dlq_buf b = {0};
    fixture(&e);
    assert_int_equal(dlq_entry_to_json(&e, NULL, 0, 0, &b), DLQ_OK);
    assert_string_equal(b.data, fixture_json);
    /* jansson agrees it is one valid object */
    json_error_t jerr;
    json_t *v = json_loads(b.data, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(v);
    assert_int_equal(json_object_size(v), 28);
    json_decref(v);
    dlq_buf_free(&b);
    dlq_entry_clear(&e);
}

static void test_encode_history(void **state)
{
    (void)state;
    struct dlq_entry e;
    struct dlq_buf b = {0};
    char captured[] = "captured", replayed[] = "replayed", bot[] = "ops-bot";
    char details[] = "{\"retry_task_id\":\"job_1\"}";
    struct dlq_event ev[2] = {
        {1769337000000LL, captured, NULL, NULL},
        {1769337060001LL, replayed, bot, details},
    };
    fixture(&e);
    assert_int_equal(dlq_entry_to_json(&e, ev, 2, 1, &b), DLQ_OK);
    const char *tail = ",\"idempotency_key\":null,\"history\":["
                       "{\"at\":\"2026-01-25T10:30:00Z\",\"event\":\"captured\",\"actor\":null,"
                       "\"details\":null},"
                       "{\"at\":\"2026-01-25T10:31:00.001Z\",\"event\":\"replayed\",\"actor\":"
                       "\"ops-bot\",\"details\":{\"retry_task_id\":\"job_1\"}}]}";
    assert_true(b.len > strlen(tail));
    assert_string_equal(b.data + b.len - strlen(tail), tail);
    dlq_buf_reset(&b);
    /* with_history and no events: an empty array, not a missing key */
    dlq_entry_to_json(&e, NULL, 0, 1, &b);
    assert_string_equal(b.data + b.len - 13, "\"history\":[]}");
    dlq_buf_free(&b);
    dlq_entry_clear(&e);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *body = "{\"task_name\":\"billing.charge\",\"task_args\":[42,\"\xc3\xa9\"],"
                       "\"exception\":{\"type\":\"KeyError\",\"message\":\"'card'\"},"
                       "\"failed_at\":\"2026-01-25T10:30:00.125Z\",\"metadata\":{\"n\":1},"
                       "\"context\":{\"a\":[]},\"tenant_id\":\"acme\"}";
    struct dlq_entry e;
    struct dlq_errors errs;
    assert_int_equal(decode(body, &e, &errs), DLQ_OK);
    e.dlq_id = strdup("dlq_X");
    e.status = DLQ_STATUS_RETRIED;
    struct dlq_buf b = {0};
    assert_int_equal(dlq_entry_to_json(&e, NULL, 0, 0, &b), DLQ_OK);
    json_t *v = json_loads(b.data, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "task_args")), "[42,\"\xc3\xa9\"]");
    assert_string_equal(json_string_value(json_object_get(v, "task_kwargs")), "{}");
    assert_string_equal(json_string_value(json_object_get(v, "failed_at")),
                        "2026-01-25T10:30:00.125Z");
    assert_string_equal(json_string_value(json_object_get(v, "status")), "retried");
    assert_string_equal(json_string_value(json_object_get(v, "reason")), "external");
    assert_string_equal(json_string_value(json_object_get(v, "queue")), "default");
    assert_int_equal(json_integer_value(json_object_get(v, "max_replays")), 3);
    assert_true(json_is_null(json_object_get(v, "processed_at")));
    json_t *exc = json_object_get(v, "exception");
    assert_string_equal(json_string_value(json_object_get(exc, "message")), "'card'");
    assert_true(json_is_null(json_object_get(exc, "traceback")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "metadata"), "n")), 1);
    assert_true(json_is_array(json_object_get(json_object_get(v, "context"), "a")));
    json_decref(v);
    dlq_buf_free(&b);
    dlq_entry_clear(&e);
}

static void test_events_and_page_free(void **state)
{
    (void)state;
    dlq_events_free(NULL, 3);
    struct dlq_event *ev = calloc(2, sizeof *ev);
    ev[0].event = strdup("captured");
    ev[1].actor = strdup("system");
    ev[1].details = strdup("{}");
    dlq_events_free(ev, 2); /* leaks show up under the sanitizer build */
    struct dlq_page p = {0};
    p.items = calloc(2, sizeof *p.items);
    p.n = 2;
    p.total = 7;
    p.items[1].task_name = strdup("t");
    strcpy(p.next_cursor, "abc");
    dlq_page_free(&p);
    assert_null(p.items);
    assert_int_equal(p.n, 0);
    assert_string_equal(p.next_cursor, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_minimal_defaults),
        cmocka_unit_test(test_decode_full),
        cmocka_unit_test(test_decode_nulls_and_values),
        cmocka_unit_test(test_decode_rejected),
        cmocka_unit_test(test_decode_error_positions),
        cmocka_unit_test(test_batch_ok),
        cmocka_unit_test(test_batch_errors),
        cmocka_unit_test(test_encode_fixture),
        cmocka_unit_test(test_encode_history),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_events_and_page_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
