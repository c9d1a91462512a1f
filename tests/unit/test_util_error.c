/*
 * test_util_error.c: the error table (messages, names, HTTP statuses),
 * dlq_errf's detail buffer and the bounded field-error list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/error.h"

static void test_table(void **state)
{
    (void)state;
    assert_string_equal(dlq_strerror(DLQ_E_NOTFOUND), "not found");
    assert_string_equal(dlq_strerror(DLQ_E_CONFLICT), "state conflict");
    assert_string_equal(dlq_strerror(-999), "unknown error");
    assert_string_equal(dlq_err_name(DLQ_E_TOOBIG), "TOOBIG");
    assert_string_equal(dlq_err_name(DLQ_E_CONNECT), "CONNECT");
    assert_int_equal(dlq_err_http_status(DLQ_E_INVAL), 400);
    assert_int_equal(dlq_err_http_status(DLQ_E_UNAUTHORIZED), 401);
    assert_int_equal(dlq_err_http_status(DLQ_E_TOOBIG), 413);
    assert_int_equal(dlq_err_http_status(DLQ_E_BUSY), 503);
    assert_int_equal(dlq_err_http_status(DLQ_E_CONNECT), 502);
    assert_int_equal(dlq_err_http_status(12345), 500);
}

static void test_errf(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(dlq_errf(buf, sizeof buf, DLQ_E_IO, "open %s: %d", "x.db", 13), DLQ_E_IO);
    assert_string_equal(buf, "open x.db: 13");
    /* Truncated, still terminated. */
    dlq_errf(buf, sizeof buf, DLQ_E_IO, "%s", "0123456789abcdefghij");
    assert_string_equal(buf, "0123456789abcde");
    assert_int_equal(dlq_errf(NULL, 0, DLQ_E_STORE, "ignored"), DLQ_E_STORE);
}

static void test_errors_add_bounded(void **state)
{
    (void)state;
    struct dlq_errors errs = {0};
    assert_int_equal(dlq_errors_add(&errs, "limit", "must be %d..%d", 1, 100), DLQ_E_INVAL);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].field, "limit");
    assert_string_equal(errs.items[0].detail, "must be 1..100");
    for (int i = 1; i < DLQ_MAX_FIELD_ERRORS + 5; i++)
        dlq_errors_add(&errs, "f", "x");
    assert_int_equal(errs.n, DLQ_MAX_FIELD_ERRORS);
    assert_int_equal(errs.dropped, 5);
    assert_int_equal(dlq_errors_add(NULL, "f", "x"), DLQ_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_errf),
        cmocka_unit_test(test_errors_add_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
