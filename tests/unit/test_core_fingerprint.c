/*
 * test_core_fingerprint.c: message normalisation (a table of masks) and the
 * group key: messages that differ only in numbers, ids or quoted values
 * share a fingerprint; a different task, exception type or wording does not.
 * The memo gives what dlq_fingerprint gives, repeated inputs or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/core.h"

static void test_normalize_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"Database connection timeout", "Database connection timeout"},
        {"user 42 not found", "user <n> not found"},
        {"took 12.75s, limit 10", "took <n>s, limit <n>"},
        {"order_12345 failed", "order_<n> failed"},
        {"worker-3 died", "worker-<n> died"},
        {"version 1.2.3", "version <n>.<n>"},
        {"job 3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6b gone", "job <uuid> gone"},
        {"JOB 3F2B8C1E-9A4D-4E6F-8B1A-0C2D3E4F5A6B", "JOB <uuid>"},
        {"at 0x7ffd5e8c2a10 in f", "at <hex> in f"},
        {"flags 0XFF", "flags <hex>"},
        {"sha deadbeef01234567", "sha <hex>"},
        {"id=5f3a9c1e2b", "id=<hex>"},
        {"id 12345678", "id <n>"}, /* digits only: a number, not hex */
        {"deadbeefcafe", "<hex>"},
        {"abcdef", "abcdef"}, /* too short for hex, no digits */
        {"Feedback accepted", "Feedback accepted"},
        {"KeyError: 'user_id'", "KeyError: <q>"},
        {"no such file \"/tmp/x 1.csv\"", "no such file <q>"},
        {"can't parse 'a\\'b' here", "can't parse <q> here"},
        {"unclosed 'quote 5", "unclosed 'quote <n>"},
        {"don't stop", "don't stop"},
        {"mixed 'a' and \"b\" and 7", "mixed <q> and <q> and <n>"},
        {"caf\xc3\xa9 99", "caf\xc3\xa9 <n>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = dlq_fingerprint_normalize(cases[i].in);
        assert_non_null(got);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("case %zu: \"%s\" -> \"%s\", want \"%s\"", i, cases[i].in, got, cases[i].out);
        free(got);
    }
    char *n = dlq_fingerprint_normalize(NULL);
    assert_string_equal(n, "");
    free(n);
}

static void test_normalize_stray_quotes(void **state)
{
    (void)state;
    /* 64 KiB of escaped, never-closed quotes: every one is a candidate
     * opener; the message comes back unchanged (and in linear time). */
    size_t n = 65536;
    char *msg = malloc(n + 1);
    assert_non_null(msg);
    for (size_t i = 0; i < n; i += 2) {
        msg[i] = '\\';
        msg[i + 1] = (i / 2) % 2 ? '\'' : '"';
    }
    msg[n] = '\0';
    char *got = dlq_fingerprint_normalize(msg);
    assert_string_equal(got, msg);
    free(got);
    free(msg);
}

static void test_fingerprint_groups(void **state)
{
    (void)state;
    char a[17], b[17];
    dlq_fingerprint("billing.charge", "KeyError", "user 42 not found in shard 3", a);
    assert_int_equal(strlen(a), 16);
    assert_int_equal(strspn(a, "0123456789abcdef"), 16);
    dlq_fingerprint("billing.charge", "KeyError", "user 97135 not found in shard 12", b);
    assert_string_equal(a, b);
    dlq_fingerprint("billing.charge", "KeyError",
                    "request 3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6b: 'alice' at 0x1f", a);
    dlq_fingerprint("billing.charge", "KeyError",
                    "request 00000000-1111-2222-3333-444444444444: 'bob' at 0xdeadbeef", b);
    assert_string_equal(a, b);

    char base[17], other[17];
    dlq_fingerprint("billing.charge", "KeyError", "user 1 not found", base);
    dlq_fingerprint("billing.refund", "KeyError", "user 1 not found", other);
    assert_string_not_equal(base, other);
    dlq_fingerprint("billing.charge", "ValueError", "user 1 not found", other);
    assert_string_not_equal(base, other);
    dlq_fingerprint("billing.charge", "KeyError", "card 1 not found", other);
    assert_string_not_equal(base, other);
    /* The separator keeps fields apart: ("ab","c") is not ("a","bc"). */
    dlq_fingerprint("ab", "c", "m", base);
    dlq_fingerprint("a", "bc", "m", other);
    assert_string_not_equal(base, other);
}

static void test_fingerprint_known_value(void **state)
{
    (void)state;
    /* first 16 hex of SHA-256("t\nE\nuser <n> not found"); NULLs are "" */
    char out[17], hex[65];
    const char *pre = "t\nE\nuser <n> not found";
    dlq_sha256_hex(pre, strlen(pre), hex);
    dlq_fingerprint("t", "E", "user 5 not found", out);
    assert_memory_equal(out, hex, 16);
    dlq_sha256_hex("\n\n", 2, hex);
    dlq_fingerprint(NULL, NULL, NULL, out);
    assert_memory_equal(out, hex, 16);
    assert_string_equal(out, "75a11da44c802486");
}

static void test_memo_matches_plain(void **state)
{
    (void)state;
    const char *in[][3] = {
        {"app.send", "SMTPError", "closed while sending to user 17"},
        {"app.send", "SMTPError", "closed while sending to user 18"}, /* same key */
        {"app.send", "SMTPError", "closed while sending to user 'x'"},
        {"app.send", "KeyError", "closed while sending to user 'x'"},
        {"app.sync", "KeyError", "closed while sending to user 'x'"},
        {"app.sync", NULL, NULL},
        {"app.send", "SMTPError", "closed while sending to user 17"},
    };
    struct dlq_fp_memo memo = {0};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char plain[17], memoised[17];
        dlq_fingerprint(in[i][0], in[i][1], in[i][2], plain);
        dlq_fingerprint_memo(&memo, in[i][0], in[i][1], in[i][2], memoised);
        assert_string_equal(memoised, plain);
    }
    char a[17], b[17];
    dlq_fingerprint_memo(&memo, "t", "E", "one", a);
    dlq_fingerprint_memo(&memo, "t", "E", "two", b);
    assert_string_not_equal(a, b);
    dlq_fp_memo_free(&memo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_table),    cmocka_unit_test(test_normalize_stray_quotes),
        cmocka_unit_test(test_fingerprint_groups), cmocka_unit_test(test_fingerprint_known_value),
        cmocka_unit_test(test_memo_matches_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
