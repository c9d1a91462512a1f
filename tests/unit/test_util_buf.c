/*
 * test_util_buf.c: the growable buffer (growth, NUL termination, reset,
 * steal) and its JSON string writer: escaping of quotes, backslashes and
 * control characters, and the repair of invalid UTF-8 with U+FFFD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/error.h"
#include "dlq/util.h"

static void test_append_grows_and_terminates(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    assert_int_equal(dlq_buf_puts(&b, "ab"), DLQ_OK);
    assert_int_equal(dlq_buf_putc(&b, 'c'), DLQ_OK);
    assert_int_equal(dlq_buf_append(&b, "d\0e", 3), DLQ_OK);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "abcd\0e", 7); /* the terminating NUL too */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dlq_buf_putc(&b, 'x'), DLQ_OK);
    assert_int_equal(b.len, 1006);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(b.oom, 0);
    dlq_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_printf_long_output(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    char big[300];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(dlq_buf_printf(&b, "n=%d ", 42), DLQ_OK);
    /* Longer than the first reservation: exercises the second pass. */
    assert_int_equal(dlq_buf_printf(&b, "%s|%s", big, "end"), DLQ_OK);
    assert_int_equal(b.len, 5 + 299 + 4);
    assert_memory_equal(b.data, "n=42 zzz", 8);
    assert_string_equal(b.data + b.len - 4, "|end");
    dlq_buf_free(&b);
}

static void test_reset_and_steal(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "hello");
    char *mem = b.data;
    dlq_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, mem);
    assert_string_equal(b.data, "");
    dlq_buf_puts(&b, "bye");
    char *s = dlq_buf_steal(&b);
    assert_string_equal(s, "bye");
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    free(s);
    s = dlq_buf_steal(&b); /* never appended: an empty string, not NULL */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(dlq_buf_reserve(&b, 100), DLQ_OK); /* reserved only: still "" */
    assert_string_equal(b.data, "");
    s = dlq_buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

/* json returns s (len bytes) as written by dlq_buf_json_string. */
static char *json(const char *s, size_t len)
{
    struct dlq_buf b = {0};
    assert_int_equal(dlq_buf_json_string(&b, s, len), DLQ_OK);
    return dlq_buf_steal(&b);
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain text", 10, "\"plain text\""},
        {"a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\""},
        {"\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = json(cases[i].in, cases[i].len);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void test_json_string_invalid_utf8(void **state)
{
    (void)state;
#define R "\xef\xbf\xbd"
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"\xff", "\"" R "\""},                   /* never valid */
        {"a\x80z", "\"a" R "z\""},               /* lone continuation byte */
        {"\xc0\xaf", "\"" R R "\""},             /* overlong "/" */
        {"\xe0\x80\xaf", "\"" R R R "\""},       /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\"" R R R "\""},       /* UTF-16 surrogate D800 */
        {"\xf4\x90\x80\x80", "\"" R R R R "\""}, /* above U+10FFFF */
        {"ok\xe2\x82", "\"ok" R R "\""},         /* truncated at the end */
        {"\xe2\x82x", "\"" R R "x\""},           /* truncated in the middle */
        {"\xc3\xa9\xff\xc3\xa9", "\"\xc3\xa9" R "\xc3\xa9\""},
    };
#undef R
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = json(cases[i].in, strlen(cases[i].in));
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void test_json_string_null(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "[");
    dlq_buf_json_string(&b, NULL, 0);
    dlq_buf_puts(&b, "]");
    assert_string_equal(b.data, "[null]");
    dlq_buf_free(&b);
}

static void test_strdup_null(void **state)
{
    (void)state;
    assert_null(dlq_strdup(NULL));
    assert_null(dlq_strndup(NULL, 3));
    char *s = dlq_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows_and_terminates),
        cmocka_unit_test(test_printf_long_output),
        cmocka_unit_test(test_reset_and_steal),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_string_invalid_utf8),
        cmocka_unit_test(test_json_string_null),
        cmocka_unit_test(test_strdup_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
