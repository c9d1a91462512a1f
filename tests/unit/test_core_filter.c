/*
 * test_core_filter.c: list query parameters: defaults, a table of valid and
 * invalid inputs with the field reported, status lists, repeated and
 * unknown keys, and the keyset cursor (round trip, sort binding, tampering).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/core.h"

#define BIT(s) (1u << DLQ_STATUS_##s)

static int parse1(const char *key, const char *value, struct dlq_filter *f, struct dlq_errors *errs)
{
    struct dlq_kv kv = {key, value};
    memset(errs, 0, sizeof *errs);
    return dlq_filter_parse(f, &kv, 1, errs);
}

static void test_defaults(void **state)
{
    (void)state;
    struct dlq_filter f;
    struct dlq_errors errs = {0};
    memset(&f, 0x7f, sizeof f);
    assert_int_equal(dlq_filter_parse(&f, NULL, 0, &errs), DLQ_OK);
    assert_int_equal(f.limit, 50);
    assert_int_equal(f.offset, 0);
    assert_int_equal(f.sort, DLQ_SORT_FAILED_DESC);
    assert_int_equal(f.status_mask, 0);
    assert_null(f.task_name);
    assert_null(f.q);
    assert_int_equal(f.reason, DLQ_REASON_NONE);
    assert_int_equal(f.has_cursor, 0);
    assert_int_equal(f.failed_after, 0);
}

static void test_valid_values(void **state)
{
    (void)state;
    struct dlq_filter f;
    struct dlq_errors errs;
    assert_int_equal(parse1("limit", "1", &f, &errs), DLQ_OK);
    assert_int_equal(f.limit, 1);
    assert_int_equal(parse1("limit", "100", &f, &errs), DLQ_OK);
    assert_int_equal(f.limit, 100);
    assert_int_equal(parse1("offset", "0", &f, &errs), DLQ_OK);
    assert_int_equal(parse1("offset", "1000000000000", &f, &errs), DLQ_OK);
    assert_int_equal(f.offset, 1000000000000LL);
    assert_int_equal(parse1("status", "pending_review", &f, &errs), DLQ_OK);
    assert_int_equal(f.status_mask, BIT(PENDING_REVIEW));
    assert_int_equal(parse1("status", "retried,resolved,archived", &f, &errs), DLQ_OK);
    assert_int_equal(f.status_mask, BIT(RETRIED) | BIT(RESOLVED) | BIT(ARCHIVED));
    assert_int_equal(parse1("reason", "timeout", &f, &errs), DLQ_OK);
    assert_int_equal(f.reason, DLQ_REASON_TIMEOUT);
    assert_int_equal(parse1("sort", "failed_at", &f, &errs), DLQ_OK);
    assert_int_equal(f.sort, DLQ_SORT_FAILED_ASC);
    assert_int_equal(parse1("sort", "-failed_at", &f, &errs), DLQ_OK);
    assert_int_equal(f.sort, DLQ_SORT_FAILED_DESC);
    assert_int_equal(parse1("failed_after", "2026-01-25T12:30:00+02:00", &f, &errs), DLQ_OK);
    assert_int_equal(f.failed_after, 1769337000000LL);

    /* strings are borrowed, not copied */
    const char *name = "billing.charge";
    struct dlq_kv kv[] = {
        {"task_name", name},
        {"tenant_id", "acme"},
        {"queue", "q1"},
        {"exception_type", "KeyError"},
        {"fingerprint", "0123456789abcdef"},
        {"q", "timeout OR refused"},
        {"failed_before", "2026-01-26"},
        {"failed_after", "2026-01-25"},
    };
    memset(&errs, 0, sizeof errs);
    assert_int_equal(dlq_filter_parse(&f, kv, sizeof kv / sizeof kv[0], &errs), DLQ_OK);
    assert_ptr_equal(f.task_name, name);
    assert_string_equal(f.tenant_id, "acme");
    assert_string_equal(f.queue, "q1");
    assert_string_equal(f.exception_type, "KeyError");
    assert_string_equal(f.fingerprint, "0123456789abcdef");
    assert_string_equal(f.q, "timeout OR refused");
    assert_int_equal(f.failed_before - f.failed_after, 86400000LL);
}

static void test_invalid_values(void **state)
{
    (void)state;
    static char longval[600];
    memset(longval, 'a', 513);
    static const struct {
        const char *key, *value, *detail;
    } cases[] = {
        {"limit", "abc", "must be an integer from 1 to 100"},
        {"limit", "0", "must be an integer from 1 to 100"},
        {"limit", "101", "must be an integer from 1 to 100"},
        {"limit", "1e3", "must be an integer from 1 to 100"},
        {"limit", "-1", "must be an integer from 1 to 100"},
        {"limit", "", "must be an integer from 1 to 100"},
        {"limit", " 5", "must be an integer from 1 to 100"},
        {"limit", "99999999999999999999999", "must be an integer from 1 to 100"},
        {"offset", "-1", "must be an integer from 0 to 1000000000000"},
        {"offset", "1000000000001", "must be an integer from 0 to 1000000000000"},
        {"offset", "1.5", "must be an integer from 0 to 1000000000000"},
        {"status", "pending", "must be a comma-separated list of"},
        {"status", "retried,", "must be a comma-separated list of"},
        {"status", ",retried", "must be a comma-separated list of"},
        {"status", "retried,,resolved", "must be a comma-separated list of"},
        {"status", "RETRIED", "must be a comma-separated list of"},
        {"status", "", "must not be empty"},
        {"reason", "nope", "must be one of external,"},
        {"failed_after", "2026-13-01", "must be an RFC 3339 time"},
        {"failed_before", "1769337000000", "must be an RFC 3339 time"},
        {"sort", "failed", "must be -failed_at or failed_at"},
        {"sort", "-failed_at;drop", "must be -failed_at or failed_at"},
        {"task_name", "", "must not be empty"},
        {"tenant_id", "", "must not be empty"},
        {"q", "", "must not be empty"},
        {"cursor", "", "must not be empty"},
        {"cursor", "!!!", "is malformed"},
        {"task_name", longval, "must be at most 512 bytes"},
        {"page", "2", "unknown parameter"},
        {"Limit", "5", "unknown parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_filter f;
        struct dlq_errors errs;
        if (parse1(cases[i].key, cases[i].value, &f, &errs) != DLQ_E_INVAL)
            fail_msg("case %zu (%s=%s) accepted", i, cases[i].key, cases[i].value);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.items[0].field, cases[i].key);
        if (strncmp(errs.items[0].detail, cases[i].detail, strlen(cases[i].detail)) != 0)
            fail_msg("case %zu: detail \"%s\"", i, errs.items[0].detail);
    }
}

static void test_collects_all_errors(void **state)
{
    (void)state;
    struct dlq_kv kv[] = {
        {"limit", "0"},
        {"status", "x"},
        {"limit", "5"},
        {"limit", "6"}, /* repeated: reported once */
        {"failed_after", "2026-02-01"},
        {"failed_before", "2026-01-01"},
        {"bogus", "1"},
    };
    struct dlq_filter f;
    struct dlq_errors errs = {0};
    assert_int_equal(dlq_filter_parse(&f, kv, sizeof kv / sizeof kv[0], &errs), DLQ_E_INVAL);
    /* A repeated key's values are not interpreted: one error for limit. */
    assert_int_equal(errs.n, 4);
    assert_string_equal(errs.items[0].field, "limit");
    assert_string_equal(errs.items[0].detail, "given more than once");
    assert_string_equal(errs.items[1].field, "bogus");
    assert_string_equal(errs.items[1].detail, "unknown parameter");
    assert_string_equal(errs.items[2].field, "status");
    assert_string_equal(errs.items[3].field, "failed_after");
    assert_string_equal(errs.items[3].detail, "must not be later than failed_before");
}

static void test_cursor_round_trip(void **state)
{
    (void)state;
    char c[128];
    struct dlq_filter f;
    dlq_cursor_encode(DLQ_SORT_FAILED_DESC, 1769337000123LL, "12345", c, sizeof c);
    assert_true(strlen(c) > 0);
    assert_null(strpbrk(c, "+/=")); /* url-safe, unpadded */
    dlq_filter_init(&f);
    assert_int_equal(dlq_cursor_decode(c, &f), DLQ_OK);
    assert_int_equal(f.has_cursor, 1);
    assert_int_equal(f.cursor_failed_at, 1769337000123LL);
    assert_string_equal(f.cursor_id, "12345");

    /* Through the parser: the cursor is checked after sort is known. */
    char longid[64];
    memset(longid, 'Z', 63);
    longid[63] = '\0';
    dlq_cursor_encode(DLQ_SORT_FAILED_ASC, 0, longid, c, sizeof c);
    struct dlq_kv kv[] = {{"cursor", c}, {"sort", "failed_at"}};
    struct dlq_errors errs = {0};
    assert_int_equal(dlq_filter_parse(&f, kv, 2, &errs), DLQ_OK);
    assert_int_equal(f.has_cursor, 1);
    assert_int_equal(f.cursor_failed_at, 0);
    assert_string_equal(f.cursor_id, longid);
    /* the same cursor under the default (descending) sort is refused */
    memset(&errs, 0, sizeof errs);
    assert_int_equal(dlq_filter_parse(&f, kv, 1, &errs), DLQ_E_INVAL);
    assert_string_equal(errs.items[0].field, "cursor");
    assert_int_equal(f.has_cursor, 0);
}

static void test_cursor_encode_refuses_bad_ids(void **state)
{
    (void)state;
    char c[128] = "x";
    char longid[70];
    memset(longid, 'a', 64);
    longid[64] = '\0';
    dlq_cursor_encode(DLQ_SORT_FAILED_DESC, 5, longid, c, sizeof c);
    assert_string_equal(c, "");
    strcpy(c, "x");
    dlq_cursor_encode(DLQ_SORT_FAILED_DESC, 5, "a|b", c, sizeof c);
    assert_string_equal(c, "");
    strcpy(c, "x");
    dlq_cursor_encode(DLQ_SORT_FAILED_DESC, 5, "", c, sizeof c);
    assert_string_equal(c, "");
}

/* b64 encodes raw text as an unpadded base64url cursor, for forged input. */
static void b64(const char *raw, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(raw), o = 0;
    const unsigned char *s = (const unsigned char *)raw;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = a[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

static void test_cursor_tampering(void **state)
{
    (void)state;
    char good[128], bad[256];
    struct dlq_filter f;
    dlq_cursor_encode(DLQ_SORT_FAILED_DESC, 1769337000123LL, "42", good, sizeof good);
    b64("v1|0|1769337000123|42", bad);
    assert_string_equal(bad, good); /* the forger's encoder matches ours */

    static const char *const forged[] = {
        "v2|0|1|42",
        "v1|2|1|42",
        "v1|0||42",
        "v1|0|-1|42",
        "v1|0|01|42",
        "v1|0|1|",
        "v1|0|1|4 2",
        "v1|0|1|a/b",
        "v1|0|1x|42",
        "v1|0|1",
        "v1|0|99999999999999999999|42",
        "v1|0|1|42|extra",
        "v1|1|1|42", /* sort mismatch under the default */
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        b64(forged[i], bad);
        dlq_filter_init(&f);
        if (dlq_cursor_decode(bad, &f) != DLQ_E_INVAL)
            fail_msg("forged cursor %zu (%s) accepted", i, forged[i]);
        assert_int_equal(f.has_cursor, 0);
    }
    /* Changes to the encoding itself. */
    static const char *const mangled[] = {"", "A", "djE", "djEx=", "dj+x", "dj/x"};
    for (size_t i = 0; i < sizeof mangled / sizeof mangled[0]; i++) {
        dlq_filter_init(&f);
        assert_int_equal(dlq_cursor_decode(mangled[i], &f), DLQ_E_INVAL);
    }
    /* A flipped character or a trailing one breaks it. */
    snprintf(bad, sizeof bad, "%s", good);
    bad[0] = bad[0] == 'd' ? 'e' : 'd';
    dlq_filter_init(&f);
    assert_int_equal(dlq_cursor_decode(bad, &f), DLQ_E_INVAL);
    snprintf(bad, sizeof bad, "%sA", good);
    dlq_filter_init(&f);
    assert_int_equal(dlq_cursor_decode(bad, &f), DLQ_E_INVAL);
    /* Non-canonical trailing bits: 22 bytes end in a character whose low 4
     * bits must be zero; setting one names the same bytes a second way. */
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    dlq_cursor_encode(DLQ_SORT_FAILED_DESC, 1769337000123LL, "421", good, sizeof good);
    size_t n = strlen(good);
    assert_int_equal(n % 4, 2);
    dlq_filter_init(&f);
    assert_int_equal(dlq_cursor_decode(good, &f), DLQ_OK);
    snprintf(bad, sizeof bad, "%s", good);
    bad[n - 1] = a[(strchr(a, bad[n - 1]) - a) | 1];
    dlq_filter_init(&f);
    assert_int_equal(dlq_cursor_decode(bad, &f), DLQ_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid_values),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_collects_all_errors),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_cursor_encode_refuses_bad_ids),
        cmocka_unit_test(test_cursor_tampering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
