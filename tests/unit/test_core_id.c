/*
 * test_core_id.c: "<prefix>_<ULID>" ids: exact encoding of known inputs,
 * the alphabet and length, and that the text order follows the time order
 * (and the random part's order within one millisecond).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/core.h"

static void test_known_values(void **state)
{
    (void)state;
    char id[DLQ_ID_MAX];
    uint8_t zero[10] = {0}, ones[10];
    memset(ones, 0xff, sizeof ones);
    dlq_id_make("dlq", 0, zero, id, sizeof id);
    assert_string_equal(id, "dlq_00000000000000000000000000");
    dlq_id_make("tok", 0xFFFFFFFFFFFFLL, ones, id, sizeof id);
    assert_string_equal(id, "tok_7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    /* The ULID spec's example time 1469918176385 encodes as 01ARYZ6S41. */
    dlq_id_make("job", 1469918176385LL, zero, id, sizeof id);
    assert_string_equal(id, "job_01ARYZ6S410000000000000000");
    /* Random bytes land in the last 16 characters. */
    uint8_t r[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    dlq_id_make("op", 0, r, id, sizeof id);
    assert_string_equal(id, "op_00000000000000000000000001");
}

static void test_format(void **state)
{
    (void)state;
    uint8_t rnd[10] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed};
    char id[DLQ_ID_MAX];
    dlq_id_make("dlq", 1769337000123LL, rnd, id, sizeof id);
    assert_int_equal(strlen(id), 4 + 26);
    assert_memory_equal(id, "dlq_", 4);
    for (size_t i = 4; i < strlen(id); i++) {
        /* Crockford base32: no I, L, O, U. */
        assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", id[i]));
    }
}

static void test_sorts_by_time(void **state)
{
    (void)state;
    uint8_t hi[10], lo[10] = {0};
    memset(hi, 0xff, sizeof hi);
    char prev[DLQ_ID_MAX], cur[DLQ_ID_MAX];
    /* A later millisecond sorts after an earlier one whatever the random
     * part; this walks carries through every character of the time part. */
    dlq_id_make("dlq", 1, hi, prev, sizeof prev);
    for (int64_t ms = 2; ms < 0xFFFFFFFFFFFFLL; ms = ms * 3 + 1) {
        dlq_id_make("dlq", ms, lo, cur, sizeof cur);
        assert_true(strcmp(prev, cur) < 0);
        dlq_id_make("dlq", ms, hi, prev, sizeof prev);
    }
    /* Same millisecond: ordered by the random bytes. */
    uint8_t a[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 5}, b[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    dlq_id_make("dlq", 1769337000000LL, a, prev, sizeof prev);
    dlq_id_make("dlq", 1769337000000LL, b, cur, sizeof cur);
    assert_true(strcmp(prev, cur) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_sorts_by_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
