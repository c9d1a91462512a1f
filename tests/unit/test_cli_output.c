/*
 * test_cli_output.c: the CLI's pure output helpers, byte for byte: relative
 * times at every unit boundary, table layout (alignment, caps, "…", fitting
 * a terminal width, unsafe text), problem+json lines and shell quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_int.h"
#include "dlq/error.h"

static const char *rel(int64_t then, int64_t now)
{
    static char out[32];
    dlq_cli_reltime(then, now, out, sizeof(out));
    return out;
}

static void test_reltime_units(void **state)
{
    (void)state;
    int64_t now = 1769337000000; /* 2026-01-25T10:30:00Z */
    assert_string_equal(rel(now, now), "0s ago");
    assert_string_equal(rel(now - 999, now), "0s ago");
    assert_string_equal(rel(now - 12000, now), "12s ago");
    assert_string_equal(rel(now - 59999, now), "59s ago");
    assert_string_equal(rel(now - 60000, now), "1m ago");
    assert_string_equal(rel(now - 5 * 60000 - 30000, now), "5m ago");
    assert_string_equal(rel(now - 3599999, now), "59m ago");
    assert_string_equal(rel(now - 3600000, now), "1h ago");
    assert_string_equal(rel(now - 3 * 3600000, now), "3h ago");
    assert_string_equal(rel(now - 86399999, now), "23h ago");
    assert_string_equal(rel(now - 86400000, now), "1d ago");
    assert_string_equal(rel(now - 2 * 86400000 - 5, now), "2d ago");
    assert_string_equal(rel(now - 400LL * 86400000, now), "400d ago");
}

static void test_reltime_future_and_extremes(void **state)
{
    (void)state;
    int64_t now = 1769337000000;
    assert_string_equal(rel(now + 500, now), "0s ago"); /* skew under a second */
    assert_string_equal(rel(now + 5 * 60000, now), "in 5m");
    assert_string_equal(rel(now + 2 * 86400000, now), "in 2d");
    /* Nonsense inputs must not overflow. */
    assert_non_null(strstr(rel(INT64_MIN, INT64_MAX), "d ago"));
    assert_non_null(strstr(rel(INT64_MAX, INT64_MIN), "in "));
}

static char *render(struct dlq_cli_table *t, size_t max, struct dlq_buf *out)
{
    dlq_buf_reset(out);
    assert_int_equal(dlq_cli_table_render(t, max, out), DLQ_OK);
    return out->data;
}

static void test_table_aligns(void **state)
{
    (void)state;
    static const char *const h[] = {"ID", "TASK", "STATUS"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_table_init(&t, 3, h), DLQ_OK);
    const char *r1[] = {"dlq_1", "send_email", "pending_review"};
    const char *r2[] = {"dlq_22", NULL, "retried"};
    assert_int_equal(dlq_cli_table_add(&t, r1), DLQ_OK);
    assert_int_equal(dlq_cli_table_add(&t, r2), DLQ_OK);
    assert_string_equal(render(&t, 0, &out), "ID      TASK        STATUS\n"
                                             "dlq_1   send_email  pending_review\n"
                                             "dlq_22  -           retried\n");
    dlq_cli_table_free(&t);
    dlq_buf_free(&out);
}

static void test_table_truncates(void **state)
{
    (void)state;
    static const char *const h[] = {"ID", "TASK", "Q"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_table_init(&t, 3, h), DLQ_OK);
    dlq_cli_table_set_col(&t, 1, 0, 8, 0);
    const char *r1[] = {"a", "abcdefghijkl", "q"};
    const char *r2[] = {"b", "abcdefgh", "q"};
    const char *r3[] = {"c", "h\xc3\xa9llo w\xc3\xb6rld", "q"}; /* 11 columns, 13 bytes */
    assert_int_equal(dlq_cli_table_add(&t, r1), DLQ_OK);
    assert_int_equal(dlq_cli_table_add(&t, r2), DLQ_OK);
    assert_int_equal(dlq_cli_table_add(&t, r3), DLQ_OK);
    assert_string_equal(render(&t, 0, &out), "ID  TASK      Q\n"
                                             "a   abcdefg\xe2\x80\xa6  q\n"
                                             "b   abcdefgh  q\n"
                                             "c   h\xc3\xa9llo w\xe2\x80\xa6  q\n");
    dlq_cli_table_free(&t);
    dlq_buf_free(&out);
}

static void test_table_fits_width(void **state)
{
    (void)state;
    static const char *const h[] = {"ID", "TASK", "EXCEPTION", "AGE"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_table_init(&t, 4, h), DLQ_OK);
    dlq_cli_table_set_col(&t, 1, 0, 40, 0);
    dlq_cli_table_set_col(&t, 2, 0, 40, 0);
    const char *r[] = {"dlq_0123456789", "app.tasks.very_long_task_name", "ConnectionError",
                       "3h ago"};
    assert_int_equal(dlq_cli_table_add(&t, r), DLQ_OK);
    /* Natural width: 14 + 2 + 29 + 2 + 15 + 2 + 6 = 70. */
    char *s = render(&t, 0, &out);
    assert_non_null(strstr(s, "app.tasks.very_long_task_name  ConnectionError  3h ago\n"));
    /* 60 columns: the widest capped column (TASK) gives up 10; ID never shrinks. */
    s = render(&t, 60, &out);
    assert_string_equal(
        s, "ID              TASK                 EXCEPTION        AGE\n"
           "dlq_0123456789  app.tasks.very_lon\xe2\x80\xa6  ConnectionError  3h ago\n");
    /* 45 columns: both capped columns shrink, never below their header. */
    s = render(&t, 45, &out);
    assert_string_equal(s, "ID              TASK       EXCEPTION   AGE\n"
                           "dlq_0123456789  app.task\xe2\x80\xa6  Connectio\xe2\x80\xa6  3h ago\n");
    /* Impossible widths leave the floors in place. */
    s = render(&t, 10, &out);
    assert_string_equal(s, "ID              TASK  EXCEPTION  AGE\n"
                           "dlq_0123456789  app\xe2\x80\xa6  Connecti\xe2\x80\xa6  3h ago\n");
    dlq_cli_table_free(&t);
    dlq_buf_free(&out);
}

static void test_table_min_and_cut_start(void **state)
{
    (void)state;
    static const char *const h[] = {"ID", "TASK", "Q"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_table_init(&t, 3, h), DLQ_OK);
    dlq_cli_table_set_col(&t, 1, 12, 40, 1);
    dlq_cli_table_set_col(&t, 2, 8, 40, 0);
    const char *r1[] = {"dlq_1", "app.tasks.send_welcome_email", "default"};
    const char *r2[] = {"dlq_2", "short", "q"};
    assert_int_equal(dlq_cli_table_add(&t, r1), DLQ_OK);
    assert_int_equal(dlq_cli_table_add(&t, r2), DLQ_OK);
    /* Q is 7 wide: under its min, it has nothing to give; TASK stops at 12. */
    assert_string_equal(render(&t, 20, &out), "ID     TASK          Q\n"
                                              "dlq_1  \xe2\x80\xa6"
                                              "lcome_email  default\n"
                                              "dlq_2  short         q\n");
    dlq_cli_table_free(&t);
    dlq_buf_free(&out);
}

static void test_table_sanitizes(void **state)
{
    (void)state;
    static const char *const h[] = {"A", "B"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    assert_int_equal(dlq_cli_table_init(&t, 2, h), DLQ_OK);
    const char *r[] = {"x\ny\tz", "\x1b[31mred\x7f\xff"};
    assert_int_equal(dlq_cli_table_add(&t, r), DLQ_OK);
    assert_string_equal(render(&t, 0, &out), "A      B\n"
                                             "x y z  ?[31mred??\n");
    dlq_cli_table_free(&t);
    dlq_buf_free(&out);
}

static void test_sanitize(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    /* C1 control (U+009B CSI), a bidi override, an overlong '/', a surrogate. */
    dlq_cli_sanitize(&b,
                     "a\xc2\x9b"
                     "b\xe2\x80\xae"
                     "c\xc0\xaf"
                     "d\xed\xa0\x80"
                     "e",
                     0);
    assert_string_equal(b.data, "a?b?c??d???e");
    dlq_buf_reset(&b);
    dlq_cli_sanitize(&b, "line 1\r\n\tline 2\n", 1);
    assert_string_equal(b.data, "line 1\n\tline 2\n");
    dlq_buf_reset(&b);
    dlq_cli_sanitize(&b, "\xf0\x9f\x98\x80 ok \xe2\x80\xa6", 0); /* valid 4- and 3-byte */
    assert_string_equal(b.data, "\xf0\x9f\x98\x80 ok \xe2\x80\xa6");
    assert_int_equal(dlq_cli_width(b.data), 6);
    dlq_buf_free(&b);
}

static void test_truncate(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_cli_truncate(&b,
                     "abc\xc3\xa9"
                     "f",
                     4, 1);
    assert_string_equal(b.data, "\xe2\x80\xa6"
                                "c\xc3\xa9"
                                "f");
    dlq_buf_reset(&b);
    dlq_cli_truncate(&b, "\xc3\xa9\xc3\xa9\xc3\xa9", 2, 1);
    assert_string_equal(b.data, "\xe2\x80\xa6\xc3\xa9");
    dlq_buf_reset(&b);
    dlq_cli_truncate(&b, "abc", 3, 1);
    assert_string_equal(b.data, "abc");
    dlq_buf_reset(&b);
    dlq_cli_truncate(&b, "abcdef", 6, 0);
    assert_string_equal(b.data, "abcdef");
    dlq_buf_reset(&b);
    dlq_cli_truncate(&b, "abcdef", 5, 0);
    assert_string_equal(b.data, "abcd\xe2\x80\xa6");
    dlq_buf_reset(&b);
    dlq_cli_truncate(&b, "abcdef", 1, 0);
    assert_string_equal(b.data, "\xe2\x80\xa6");
    dlq_buf_free(&b);
}

static char *problem(long status, const char *body, int no_token, struct dlq_buf *out)
{
    dlq_buf_reset(out);
    assert_int_equal(dlq_cli_format_problem(out, status, body, body ? strlen(body) : 0, no_token),
                     DLQ_OK);
    return out->data;
}

static void test_problem_lines(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    assert_string_equal(problem(404,
                                "{\"type\":\"about:blank\",\"title\":\"not found\","
                                "\"status\":404,\"detail\":\"no entry dlq_x\"}",
                                0, &b),
                        "dlq: 404 not found: no entry dlq_x\n");
    assert_string_equal(
        problem(400,
                "{\"title\":\"invalid request\",\"status\":400,\"detail\":\"bad query\","
                "\"errors\":[{\"field\":\"limit\",\"detail\":\"must be an integer from 1 to "
                "100\"},{\"field\":\"status\",\"detail\":\"unknown status 'x'\"}]}",
                0, &b),
        "dlq: 400 bad request: bad query\n"
        "  limit: must be an integer from 1 to 100\n"
        "  status: unknown status 'x'\n");
    /* The server's detail repeats the first field error: printed once. */
    assert_string_equal(
        problem(400,
                "{\"title\":\"invalid request\",\"status\":400,\"detail\":\"invalid query: "
                "limit: must be an integer from 1 to 100 (and 1 more)\",\"errors\":[{\"field\":"
                "\"limit\",\"detail\":\"must be an integer from 1 to 100\"},{\"field\":\"q\","
                "\"detail\":\"too long\"}]}",
                0, &b),
        "dlq: 400 bad request: invalid query\n"
        "  limit: must be an integer from 1 to 100\n"
        "  q: too long\n");
    assert_string_equal(problem(401, "{\"title\":\"unauthorized\",\"detail\":\"no token\"}", 1, &b),
                        "dlq: 401 unauthorized: no token (set DLQ_TOKEN or pass --token)\n");
    assert_string_equal(problem(401, "{\"detail\":\"unknown token\"}", 0, &b),
                        "dlq: 401 unauthorized: unknown token\n");
    /* Not JSON (a proxy's HTML page): only the status line. */
    assert_string_equal(problem(502, "<html>bad gateway</html>", 0, &b), "dlq: 502 bad gateway\n");
    assert_string_equal(problem(599, NULL, 0, &b), "dlq: 599\n");
    /* An errors object, and a detail with a newline and an escape in it. */
    assert_string_equal(problem(422,
                                "{\"detail\":\"two\\nlines\\u001b\",\"errors\":"
                                "{\"limit\":\"too big\",\"q\":[\"a\",\"b\"]}}",
                                0, &b),
                        "dlq: 422 unprocessable content: two lines?\n"
                        "  limit: too big\n"
                        "  q: a\n"
                        "  q: b\n");
    dlq_buf_free(&b);
}

static void test_shell_word(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_cli_shell_word(&b, "app.tasks.send_email");
    dlq_buf_putc(&b, ' ');
    dlq_cli_shell_word(&b, "it's a test");
    dlq_buf_putc(&b, ' ');
    dlq_cli_shell_word(&b, "");
    assert_string_equal(b.data, "app.tasks.send_email 'it'\\''s a test' ''");
    dlq_buf_free(&b);
}

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(dlq_cli_status_text(404), "not found");
    assert_string_equal(dlq_cli_status_text(409), "conflict");
    assert_null(dlq_cli_status_text(299));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reltime_units),    cmocka_unit_test(test_reltime_future_and_extremes),
        cmocka_unit_test(test_table_aligns),     cmocka_unit_test(test_table_truncates),
        cmocka_unit_test(test_table_fits_width), cmocka_unit_test(test_table_min_and_cut_start),
        cmocka_unit_test(test_table_sanitizes),  cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_truncate),         cmocka_unit_test(test_problem_lines),
        cmocka_unit_test(test_shell_word),       cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
