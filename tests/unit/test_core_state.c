/*
 * test_core_state.c: the state machine against DESIGN.md section 3's table,
 * every status against every action: what is allowed leads where the table
 * says, everything else is refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/error.h"
#include "dlq/state.h"

#define P  DLQ_STATUS_PENDING_REVIEW
#define RR DLQ_STATUS_REQUIRES_REVIEW
#define RT DLQ_STATUS_RETRIED
#define RS DLQ_STATUS_RESOLVED
#define DI DLQ_STATUS_DISCARDED
#define EX DLQ_STATUS_EXPIRED
#define AR DLQ_STATUS_ARCHIVED
#define NO (-1) /* refused */

/* expected[status][action] with budget left (retry_count 0 of 3). */
static const int expected[8][DLQ_ACTION_COUNT] = {
    /*            RETRY FORCE REPLAY_OK REPLAY_FAIL RESOLVE DISCARD EXPIRE ARCHIVE PURGE */
    [P] = {RT, RT, NO, NO, RS, DI, EX, NO, NO},
    [RR] = {NO, RT, NO, NO, RS, DI, NO, NO, NO},
    [RT] = {NO, NO, RS, P, RS, DI, NO, NO, NO},
    [RS] = {NO, NO, NO, NO, NO, DI, NO, AR, NO},
    [DI] = {NO, NO, NO, NO, NO, NO, NO, AR, NO},
    [EX] = {NO, NO, NO, NO, NO, DI, NO, AR, NO},
    [AR] = {NO, NO, NO, NO, NO, NO, NO, NO, DLQ_STATUS_NONE},
};

static void test_full_table(void **state)
{
    (void)state;
    for (int s = P; s <= AR; s++) {
        for (int a = 0; a < DLQ_ACTION_COUNT; a++) {
            struct dlq_state_input in = {(enum dlq_status)s, 0, 3};
            enum dlq_status to = (enum dlq_status)99;
            const char *why = NULL;
            int rc = dlq_state_next(&in, (enum dlq_action)a, &to, &why);
            if (expected[s][a] == NO) {
                assert_int_equal(rc, DLQ_E_CONFLICT);
                assert_non_null(why);
                assert_true(strlen(why) > 10);
                assert_int_equal(to, DLQ_STATUS_NONE);
            } else {
                assert_int_equal(rc, DLQ_OK);
                assert_null(why);
                assert_int_equal(to, expected[s][a]);
            }
        }
    }
}

static void test_budget(void **state)
{
    (void)state;
    enum dlq_status to;
    const char *why;
    struct dlq_state_input at_cap = {P, 3, 3};
    assert_int_equal(dlq_state_next(&at_cap, DLQ_ACTION_RETRY, &to, &why), DLQ_E_CONFLICT);
    assert_non_null(strstr(why, "force"));
    assert_int_equal(dlq_state_next(&at_cap, DLQ_ACTION_FORCE_RETRY, &to, &why), DLQ_OK);
    assert_int_equal(to, RT);

    struct dlq_state_input below = {RT, 2, 3};
    assert_int_equal(dlq_state_next(&below, DLQ_ACTION_REPLAY_FAILED, &to, &why), DLQ_OK);
    assert_int_equal(to, P);
    struct dlq_state_input last = {RT, 3, 3};
    assert_int_equal(dlq_state_next(&last, DLQ_ACTION_REPLAY_FAILED, &to, &why), DLQ_OK);
    assert_int_equal(to, RR);
    struct dlq_state_input zero = {P, 0, 0};
    assert_int_equal(dlq_state_next(&zero, DLQ_ACTION_RETRY, &to, &why), DLQ_E_CONFLICT);
}

static void test_names_and_bad_input(void **state)
{
    (void)state;
    assert_string_equal(dlq_action_name(DLQ_ACTION_FORCE_RETRY), "force_redrive");
    assert_string_equal(dlq_action_name(DLQ_ACTION_PURGE), "purge");
    assert_null(dlq_action_name(DLQ_ACTION_COUNT));
    enum dlq_status to;
    const char *why;
    struct dlq_state_input bogus = {(enum dlq_status)42, 0, 3};
    assert_int_equal(dlq_state_next(&bogus, DLQ_ACTION_RESOLVE, &to, &why), DLQ_E_CONFLICT);
    struct dlq_state_input ok = {P, 0, 3};
    assert_int_equal(dlq_state_next(&ok, DLQ_ACTION_COUNT, &to, &why), DLQ_E_CONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_names_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
