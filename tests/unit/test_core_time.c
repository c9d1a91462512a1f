/*
 * test_core_time.c: RFC 3339 formatting and parsing: known instants, the
 * millisecond suffix, offsets and separators, round trips over a wide range
 * of dates, and a table of malformed and out-of-range inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dlq/core.h"

static void test_format_known(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *s;
    } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {1769337000000LL, "2026-01-25T10:30:00Z"},
        {1769337000123LL, "2026-01-25T10:30:00.123Z"},
        {1769337000005LL, "2026-01-25T10:30:00.005Z"},
        {951868799999LL, "2000-02-29T23:59:59.999Z"},
        {1709208000000LL, "2024-02-29T12:00:00Z"},
        {253402300799999LL, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[DLQ_TIME_MAX];
        dlq_time_format(cases[i].ms, out);
        assert_string_equal(out, cases[i].s);
        int64_t back = -1;
        assert_int_equal(dlq_time_parse(cases[i].s, &back), DLQ_OK);
        assert_int_equal(back, cases[i].ms);
    }
}

static void test_format_clamps(void **state)
{
    (void)state;
    char out[DLQ_TIME_MAX];
    dlq_time_format(-5, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    dlq_time_format(INT64_MAX, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
}

static void test_parse_variants(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"2026-01-25T10:30:00Z", 1769337000000LL},
        {"2026-01-25t10:30:00z", 1769337000000LL},
        {"2026-01-25 10:30:00Z", 1769337000000LL},
        {"2026-01-25T12:30:00+02:00", 1769337000000LL},
        {"2026-01-25T05:00:00-05:30", 1769337000000LL},
        {"2026-01-25T10:30:00+00:00", 1769337000000LL},
        {"2026-01-25T10:30:00.1Z", 1769337000100LL},
        {"2026-01-25T10:30:00.12Z", 1769337000120LL},
        {"2026-01-25T10:30:00.123456789Z", 1769337000123LL}, /* truncated to ms */
        {"2026-01-25", 1769299200000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"2024-02-29T12:00:00Z", 1709208000000LL},
        {"2000-02-29T00:00:00Z", 951782400000LL},
        {"2026-01-26T00:30:00+14:00", 1769337000000LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(dlq_time_parse(cases[i].s, &ms), DLQ_OK);
        assert_int_equal(ms, cases[i].ms);
    }
}

static void test_parse_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "now",
        "2026",
        "2026-01",
        "2026-1-25",
        "26-01-25",
        "2026/01/25",
        "2026-13-01T00:00:00Z",            /* month 13 */
        "2026-00-10T00:00:00Z",            /* month 0 */
        "2026-01-32T00:00:00Z",            /* day 32 */
        "2026-01-00T00:00:00Z",            /* day 0 */
        "2026-02-29T00:00:00Z",            /* not a leap year */
        "2026-02-30",                      /* Feb 30 */
        "1900-02-29",                      /* century, not a leap year */
        "2026-04-31",                      /* April has 30 days */
        "2026-01-25T24:00:00Z",            /* hour 24 */
        "2026-01-25T10:60:00Z",            /* minute 60 */
        "2026-01-25T10:30:60Z",            /* leap second */
        "2026-01-25T10:30:00",             /* no zone */
        "2026-01-25T10:30Z",               /* no seconds */
        "2026-01-25T10:30:00.Z",           /* empty fraction */
        "2026-01-25T10:30:00.1234567890Z", /* 10 fraction digits */
        "2026-01-25T10:30:00+0200",        /* offset without colon */
        "2026-01-25T10:30:00+24:00",       /* offset hour */
        "2026-01-25T10:30:00+02:60",       /* offset minute */
        "2026-01-25T10:30:00Zjunk",
        "2026-01-25T10:30:00Z ",
        " 2026-01-25T10:30:00Z",
        "2026-01-25X10:30:00Z",
        "2026-01-25T",
        "1969-12-31T23:59:59Z",      /* before 1970 */
        "1970-01-01T00:30:00+01:00", /* before the epoch after the offset */
        "10000-01-01T00:00:00Z",
        "+2026-01-25T10:30:00Z",
        "2026-01-25T1:30:00Z",
        "2026-01-25T10:30:00.12a3Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 12345;
        int rc = dlq_time_parse(bad[i], &ms);
        if (rc != DLQ_E_INVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(ms, 12345); /* untouched on failure */
    }
    int64_t ms;
    assert_int_equal(dlq_time_parse(NULL, &ms), DLQ_E_INVAL);
}

static void test_round_trip_range(void **state)
{
    (void)state;
    /* Every ~9.7 days across 1970-9999 with assorted times of day: covers
     * leap years, century rules and month ends in both directions. */
    int64_t step = 838861007LL;
    int n = 0;
    for (int64_t ms = 0; ms < 253402300799999LL; ms += step, n++) {
        char s[DLQ_TIME_MAX];
        int64_t back = -1;
        dlq_time_format(ms, s);
        assert_int_equal(dlq_time_parse(s, &back), DLQ_OK);
        assert_int_equal(back, ms);
    }
    assert_true(n > 300000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known),     cmocka_unit_test(test_format_clamps),
        cmocka_unit_test(test_parse_variants),   cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_round_trip_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
