/*
 * test_cli_ops.c: the pure helpers behind the operator commands of issue 3:
 * decimal options, the shared filter options (checks, query, bulk body,
 * the shell form of hints), count tables, status summaries, the progress
 * line of a bulk operation, and the entry counter of `dlq export` fed in
 * pieces of every size (a row must be counted once wherever the stream is
 * cut).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_int.h"
#include "dlq/error.h"

static const int64_t NOW = 1769337000123; /* 2026-01-25T10:30:00.123Z */

static void test_parse_number(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(dlq_cli_parse_number("0.5", 0, 1, &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(dlq_cli_parse_number("20", 0, 100000, &v), 0);
    assert_true(v == 20);
    assert_int_equal(dlq_cli_parse_number(".25", 0, 1, &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(dlq_cli_parse_number("1.5", 0, 1, &v), -1);
    assert_int_equal(dlq_cli_parse_number("-1", -5, 5, &v), -1); /* no sign */
    assert_int_equal(dlq_cli_parse_number("nan", 0, 1, &v), -1);
    assert_int_equal(dlq_cli_parse_number("inf", 0, 1e9, &v), -1);
    assert_int_equal(dlq_cli_parse_number("0x10", 0, 100, &v), -1);
    assert_int_equal(dlq_cli_parse_number("1e3", 0, 1e9, &v), -1);
    assert_int_equal(dlq_cli_parse_number("5 ", 0, 10, &v), -1);
    assert_int_equal(dlq_cli_parse_number("", 0, 10, &v), -1);
    assert_true(v == 0.25);
}

static void test_filter_query_and_body(void **state)
{
    (void)state;
    struct dlq_cli_filter f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_TASK, "app.tasks.x", NOW), 0);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_STATUS, "pending_review", NOW), 0);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_STATUS, "retried,resolved", NOW), 0);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_AFTER, "2h", NOW), 0);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_FILTER, "a b&c", NOW), 0);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_REASON, "timeout", NOW), 0);
    assert_int_equal(f.n, 5);
    /* Bad values are refused and leave the filter as it was. */
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_STATUS, "pending", NOW), -1);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_STATUS, "retried,", NOW), -1);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_REASON, "oops", NOW), -1);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_BEFORE, "soon", NOW), -1);
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_QUEUE, "", NOW), -1);
    assert_int_equal(f.n, 5);

    struct dlq_buf q = {0};
    dlq_buf_puts(&q, "/api/v1/dlq/export?format=csv");
    assert_int_equal(dlq_cli_filter_query(&f, &q), DLQ_OK);
    assert_string_equal(q.data, "/api/v1/dlq/export?format=csv&q=a%20b%26c&task_name=app.tasks.x"
                                "&reason=timeout&status=pending_review%2Cretried%2Cresolved"
                                "&failed_after=2026-01-25T08%3A30%3A00Z");
    dlq_buf_free(&q);

    json_t *body = json_object();
    assert_int_equal(dlq_cli_filter_json(&f, body), 0);
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"failed_after\":\"2026-01-25T08:30:00Z\",\"q\":\"a b&c\","
                           "\"reason\":\"timeout\",\"status\":[\"pending_review\",\"retried\","
                           "\"resolved\"],\"task_name\":\"app.tasks.x\"}");
    free(s);
    json_decref(body);

    struct dlq_buf d = {0};
    assert_int_equal(dlq_cli_filter_describe(&f, &d), DLQ_OK);
    assert_string_equal(d.data, " --filter 'a b&c' --task app.tasks.x --reason timeout --status "
                                "pending_review,retried,resolved --after 2026-01-25T08:30:00Z");
    dlq_buf_free(&d);
    dlq_cli_filter_free(&f);
    assert_int_equal(f.n, 0);
    assert_null(f.value[DLQ_CLI_F_TASK]);
}

static void test_filter_json_refuses_bad_utf8(void **state)
{
    (void)state;
    struct dlq_cli_filter f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(dlq_cli_filter_set(&f, "t", DLQ_CLI_F_TASK, "bad\xff", NOW), 0);
    json_t *body = json_object();
    assert_int_equal(dlq_cli_filter_json(&f, body), -1);
    json_decref(body);
    dlq_cli_filter_free(&f);

    assert_int_equal(dlq_cli_check_text("t", "--reason", "fine", 10), 0);
    assert_int_equal(dlq_cli_check_text("t", "--reason", "\xc3\x28", 10), -1);
    assert_int_equal(dlq_cli_check_text("t", "--reason", "0123456789x", 10), -1);
    assert_int_equal(dlq_cli_check_statuses("t", "--status", "resolved,discarded"), 0);
    assert_int_equal(dlq_cli_check_statuses("t", "--status", ""), -1);
    assert_int_equal(dlq_cli_check_statuses("t", "--status", "resolved,,discarded"), -1);
}

static void test_counts_render(void **state)
{
    (void)state;
    json_t *c = json_pack("{s:i,s:i,s:i,s:i,s:s}", "b", 5, "a", 5, "big", 40, "small", 1, "x",
                          "not a count");
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_counts_render(&out, "TASK", c, 0, 0), DLQ_OK);
    assert_string_equal(out.data, "TASK   COUNT\n"
                                  "big    40\n"
                                  "a      5\n"
                                  "b      5\n"
                                  "small  1\n");
    dlq_buf_reset(&out);
    assert_int_equal(dlq_cli_counts_render(&out, "TASK", c, 2, 0), DLQ_OK);
    assert_string_equal(out.data, "TASK      COUNT\n"
                                  "big       40\n"
                                  "a         5\n"
                                  "(2 more)  6\n");
    json_decref(c);
    dlq_buf_reset(&out);
    json_t *empty = json_object();
    assert_int_equal(dlq_cli_counts_render(&out, "TASK", empty, 5, 0), DLQ_OK);
    assert_int_equal(out.len, 0);
    json_decref(empty);
    dlq_buf_free(&out);
}

static void test_status_summary(void **state)
{
    (void)state;
    json_t *by =
        json_pack("{s:i,s:i,s:i,s:i}", "discarded", 2, "resolved", 10, "expired", 0, "zombie", 3);
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_status_summary(&out, by), DLQ_OK);
    assert_string_equal(out.data, "resolved 10, discarded 2, zombie 3");
    json_decref(by);
    dlq_buf_free(&out);
}

static void test_op_progress(void **state)
{
    (void)state;
    json_t *op =
        json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i}", "operation_id", "op_01JHX", "state", "running",
                  "matched", 1000, "processed", 340, "succeeded", 320, "failed", 12, "skipped", 8);
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_op_progress(&out, op), DLQ_OK);
    assert_string_equal(out.data,
                        "op_01JHX running 340/1000 processed, 320 ok, 12 failed, 8 skipped");
    json_decref(op);
    /* Missing numbers and unsafe text from the server. */
    op = json_pack("{s:s,s:s}", "operation_id", "op_\x1b[2J", "state", "done");
    dlq_buf_reset(&out);
    assert_int_equal(dlq_cli_op_progress(&out, op), DLQ_OK);
    assert_string_equal(out.data, "op_?[2J done ?/? processed, ? ok, ? failed, ? skipped");
    json_decref(op);
    dlq_buf_free(&out);
}

/* count feeds text to a counter in pieces of size step (0: all at once). */
static uint64_t count(enum dlq_cli_format fmt, const char *text, size_t step)
{
    struct dlq_cli_rows r;
    dlq_cli_rows_init(&r, fmt);
    size_t n = strlen(text);
    if (step == 0)
        step = n ? n : 1;
    for (size_t i = 0; i < n; i += step)
        dlq_cli_rows_feed(&r, text + i, i + step > n ? n - i : step);
    return dlq_cli_rows_count(&r);
}

static void test_rows_every_cut(void **state)
{
    (void)state;
    static const char json[] =
        "[{\"dlq_id\":\"a\",\"x\":{\"y\":[1,{\"z\":\"}\"}]},\"m\":\"q\\\"}]\"},\n"
        " {\"dlq_id\":\"b\",\"task_args\":\"[{}]\"},{\"dlq_id\":\"c\"}]\n";
    static const char ndjson[] = "{\"a\":\"x\\ny\"}\n{\"b\":1}\n\n{\"c\":2}";
    static const char csv[] = "dlq_id,message,traceback\r\n"
                              "a,\"one, two\",\"line1\r\nline2 \"\"quoted\"\"\r\n\"\r\n"
                              "b,plain,\r\n"
                              "c,\"\"\"\",x\r\n";
    for (size_t step = 0; step <= 7; step++) {
        assert_int_equal(count(DLQ_CLI_FORMAT_JSON, json, step), 3);
        assert_int_equal(count(DLQ_CLI_FORMAT_NDJSON, ndjson, step), 3);
        assert_int_equal(count(DLQ_CLI_FORMAT_CSV, csv, step), 3);
    }
    assert_int_equal(count(DLQ_CLI_FORMAT_JSON, "[]\n", 0), 0);
    assert_int_equal(count(DLQ_CLI_FORMAT_NDJSON, "", 0), 0);
    assert_int_equal(count(DLQ_CLI_FORMAT_CSV, "dlq_id,task_name\r\n", 0), 0);
    assert_int_equal(count(DLQ_CLI_FORMAT_CSV, "dlq_id\r\na", 0), 1); /* no final newline */
}

static void test_human_bytes_and_fields(void **state)
{
    (void)state;
    char out[32];
    dlq_cli_human_bytes(0, out, sizeof(out));
    assert_string_equal(out, "0 B");
    dlq_cli_human_bytes(1023, out, sizeof(out));
    assert_string_equal(out, "1023 B");
    dlq_cli_human_bytes(1024, out, sizeof(out));
    assert_string_equal(out, "1.0 KiB");
    dlq_cli_human_bytes(12900000, out, sizeof(out));
    assert_string_equal(out, "12.3 MiB");
    dlq_cli_human_bytes(5ULL << 40, out, sizeof(out));
    assert_string_equal(out, "5.0 TiB");
    dlq_cli_human_bytes(UINT64_MAX, out, sizeof(out));
    assert_string_equal(out, "16777216.0 TiB");

    struct dlq_buf b = {0};
    dlq_cli_field(&b, "state", "running");
    dlq_cli_field(&b, "a label longer than the pad", "x\ny");
    dlq_cli_field(&b, "early stop", NULL);
    assert_string_equal(b.data, "state:           running\n"
                                "a label longer than the pad: x y\n"
                                "early stop:      -\n");
    dlq_buf_free(&b);

    char t[96];
    dlq_cli_time_long("2026-01-25T10:25:00Z", NOW, t, sizeof(t));
    assert_string_equal(t, "2026-01-25T10:25:00Z (5m ago)");
    dlq_cli_time_long(NULL, NOW, t, sizeof(t));
    assert_string_equal(t, "-");
    dlq_cli_time_long("not a time", NOW, t, sizeof(t));
    assert_string_equal(t, "not a time");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_number),
        cmocka_unit_test(test_filter_query_and_body),
        cmocka_unit_test(test_filter_json_refuses_bad_utf8),
        cmocka_unit_test(test_counts_render),
        cmocka_unit_test(test_status_summary),
        cmocka_unit_test(test_op_progress),
        cmocka_unit_test(test_rows_every_cut),
        cmocka_unit_test(test_human_bytes_and_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
