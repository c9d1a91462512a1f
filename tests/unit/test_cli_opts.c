/*
 * test_cli_opts.c: what the CLI checks on the command line before it asks
 * a server: whole numbers in range, durations, the forms --after/--before
 * take (RFC 3339, a date, an age before a given "now"), and the escaping of
 * query values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_int.h"
#include "dlq/error.h"

static void test_parse_numbers(void **state)
{
    (void)state;
    long v = -7;
    assert_int_equal(dlq_cli_parse_long("50", 1, 100, &v), 0);
    assert_int_equal(v, 50);
    assert_int_equal(dlq_cli_parse_long("0", 1, 100, &v), -1);
    assert_int_equal(dlq_cli_parse_long("101", 1, 100, &v), -1);
    assert_int_equal(dlq_cli_parse_long("5x", 1, 100, &v), -1);
    assert_int_equal(dlq_cli_parse_long("", 1, 100, &v), -1);
    assert_int_equal(dlq_cli_parse_long(" 5", 1, 100, &v), -1);
    assert_int_equal(dlq_cli_parse_long("99999999999999999999", 1, 100, &v), -1);
    assert_int_equal(v, 50);

    int64_t ms = 0;
    assert_int_equal(dlq_cli_parse_duration("45s", &ms), 0);
    assert_int_equal(ms, 45000);
    assert_int_equal(dlq_cli_parse_duration("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(dlq_cli_parse_duration("7d", &ms), 0);
    assert_int_equal(ms, 7 * 86400000LL);
    assert_int_equal(dlq_cli_parse_duration("1w", &ms), 0);
    assert_int_equal(ms, 604800000LL);
    assert_int_equal(dlq_cli_parse_duration("h", &ms), -1);
    assert_int_equal(dlq_cli_parse_duration("2x", &ms), -1);
    assert_int_equal(dlq_cli_parse_duration("-2h", &ms), -1);
    assert_int_equal(dlq_cli_parse_duration("2026-01-25", &ms), -1);
    assert_int_equal(dlq_cli_parse_duration("99999999999d", &ms), -1);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t now = 1769337000123; /* 2026-01-25T10:30:00.123Z */
    char out[40];
    assert_int_equal(dlq_cli_parse_time("2026-01-25T10:30:00Z", now, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-25T10:30:00Z");
    assert_int_equal(dlq_cli_parse_time("2026-01-25T12:30:00+02:00", now, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-25T10:30:00Z");
    assert_int_equal(dlq_cli_parse_time("2026-01-24", now, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-24T00:00:00Z");
    /* An age: that long before now, in whole seconds. */
    assert_int_equal(dlq_cli_parse_time("2h", now, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-25T08:30:00Z");
    assert_int_equal(dlq_cli_parse_time("7d", now, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-18T10:30:00Z");
    assert_int_equal(dlq_cli_parse_time("yesterday", now, out, sizeof(out)), -1);
    assert_int_equal(dlq_cli_parse_time("2026-13-45", now, out, sizeof(out)), -1);
    assert_int_equal(dlq_cli_parse_time("", now, out, sizeof(out)), -1);
    assert_int_equal(dlq_cli_parse_time("2026-01-25T10:30:00Z", now, out, 8), -1);
}

static void test_query(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "/api/v1/dlq/entries");
    assert_int_equal(dlq_cli_query_add(&b, "limit", "20"), DLQ_OK);
    assert_int_equal(dlq_cli_query_add(&b, "task_name", NULL), DLQ_OK);
    assert_int_equal(dlq_cli_query_add(&b, "q", "a&b=c d/\xc3\xa9?#%"), DLQ_OK);
    assert_string_equal(b.data, "/api/v1/dlq/entries?limit=20&q=a%26b%3Dc%20d%2F%C3%A9%3F%23%25");
    dlq_buf_free(&b);
}

static void test_conn_defaults(void **state)
{
    (void)state;
    struct dlq_cli_conn c;
    unsetenv("DLQ_URL");
    setenv("DLQ_TOKEN", "", 1);
    dlq_cli_conn_init(&c);
    assert_string_equal(c.url, DLQ_CLI_DEFAULT_URL);
    assert_null(c.token); /* an empty variable counts as unset */
    assert_int_equal(c.timeout_s, 30);

    setenv("DLQ_URL", "dlq.internal:9000/base/", 1);
    setenv("DLQ_TOKEN", "dlq_abc", 1);
    dlq_cli_conn_init(&c);
    assert_string_equal(c.url, "http://dlq.internal:9000/base");
    assert_string_equal(c.token, "dlq_abc");
    assert_int_equal(dlq_cli_conn_check(&c, "test"), 0);

    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_URL, "https://x/"), 1);
    assert_string_equal(c.url, "https://x");
    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_TIMEOUT, "5"), 1);
    assert_int_equal(c.timeout_s, 5);
    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_TIMEOUT, "0"), -1);
    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_JSON, NULL), 0);
    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_URL, "ftp://x"), 1);
    assert_int_equal(dlq_cli_conn_check(&c, "test"), -1);
    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_URL, "http://x"), 1);
    assert_int_equal(dlq_cli_conn_option(&c, "test", DLQ_CLI_OPT_TOKEN, "a\r\nX-Evil: 1"), 1);
    assert_int_equal(dlq_cli_conn_check(&c, "test"), -1);
    unsetenv("DLQ_URL");
    unsetenv("DLQ_TOKEN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_conn_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
