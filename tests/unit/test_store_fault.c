/*
 * test_store_fault.c: the fault-injecting wrapper store. It must fail
 * exactly the calls asked for (counting every method but close, from 1),
 * with DLQ_E_UNAVAILABLE and "injected fault", forward every other call with
 * the inner store's results intact, count correctly under concurrent callers,
 * and close the inner store when closed (the sanitizer build checks leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <cmocka.h>

#include "test_store_fixture.h"

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    if (x == NULL || fx_mkdir(x) != 0 || fx_open(x, DLQ_DURABILITY_NORMAL, 1) != DLQ_OK)
        return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    fx_rm(x); /* x->s is the wrapper: closing it closes the inner store */
    free(x);
    return 0;
}

static void test_fails_exactly_the_asked_calls(void **state)
{
    struct fx *x = *state;
    x->s = dlq_store_fault_new(x->s, 3, 2);
    assert_non_null(x->s);
    struct dlq_entry e, got;
    struct dlq_capture_result r;
    mk_entry(&e, "dlq_F1", "t.fault", 1234);
    fset(&e.exc_traceback, "tb");

    /* 1: forwarded, and the inner store really stored it. */
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "a", &r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r.created, 1);
    /* 2: forwarded, the entry comes back intact. */
    assert_int_equal(dlq_store_get(x->s, "dlq_F1", NULL, &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(got.task_name, "t.fault");
    assert_string_equal(got.exc_traceback, "tb");
    assert_int_equal(got.failed_at, 1234);
    dlq_entry_clear(&got);
    /* 3 and 4 fail. */
    x->err[0] = '\0';
    assert_int_equal(dlq_store_ping(x->s, x->err, sizeof x->err), DLQ_E_UNAVAILABLE);
    assert_string_equal(x->err, "injected fault");
    fset(&e.dlq_id, "dlq_F2");
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "a", &r, x->err, sizeof x->err),
                     DLQ_E_UNAVAILABLE);
    assert_int_equal(r.code, DLQ_E_UNAVAILABLE);
    assert_int_equal(r.created, 0);
    /* 5 on: forwarded again; the failed capture never reached the store. */
    assert_int_equal(dlq_store_get(x->s, "dlq_F2", NULL, &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    struct dlq_filter f;
    struct dlq_page p;
    dlq_filter_init(&f);
    assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(p.total, 1);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.items[0].dlq_id, "dlq_F1");
    dlq_page_free(&p);
    assert_int_equal(dlq_store_ping(x->s, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_fault_calls(x->s), 7);
    dlq_entry_clear(&e);
}

static void test_forever_and_never(void **state)
{
    struct fx *x = *state;
    struct dlq_token t, *all;
    size_t n = 9;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "tok_1");
    snprintf(t.name, sizeof t.name, "n");
    snprintf(t.secret_hash, sizeof t.secret_hash, "h1");
    t.role = DLQ_ROLE_ADMIN;
    t.created_at = 1;

    /* fail_from 0: never fails. */
    struct dlq_store *never = dlq_store_fault_new(x->s, 0, -1);
    assert_int_equal(dlq_store_token_create(never, &t, x->err, sizeof x->err), DLQ_OK);
    /* Wrapping a wrapper: the outer fails from its 2nd call, forever. */
    x->s = dlq_store_fault_new(never, 2, -1);
    assert_int_equal(dlq_store_token_by_hash(x->s, "h1", &t, x->err, sizeof x->err), DLQ_OK);
    assert_string_equal(t.id, "tok_1");
    for (int i = 0; i < 20; i++) {
        assert_int_equal(dlq_store_token_list(x->s, &all, &n, x->err, sizeof x->err),
                         DLQ_E_UNAVAILABLE);
        assert_null(all);
        assert_int_equal(n, 0);
    }
    int from, to;
    assert_int_equal(dlq_store_migrate(x->s, &from, &to, x->err, sizeof x->err), DLQ_E_UNAVAILABLE);
    assert_int_equal(dlq_store_token_touch(x->s, "tok_1", 5, x->err, sizeof x->err),
                     DLQ_E_UNAVAILABLE);
    assert_int_equal(dlq_store_token_revoke(x->s, "tok_1", 5, x->err, sizeof x->err),
                     DLQ_E_UNAVAILABLE);
    /* The inner wrapper only saw the calls the outer one let through. */
    assert_int_equal(dlq_store_fault_calls(x->s), 24);
    assert_int_equal(dlq_store_fault_calls(never), 2);
    /* Nothing was revoked behind the fault. */
    assert_int_equal(dlq_store_token_by_hash(never, "h1", &t, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(t.revoked_at, 0);
}

struct pinger {
    struct dlq_store *s;
    int failed;
};

static void *ping_many(void *arg)
{
    struct pinger *p = arg;
    char err[128];
    for (int i = 0; i < 25; i++) {
        if (dlq_store_ping(p->s, err, sizeof err) == DLQ_E_UNAVAILABLE)
            p->failed++;
    }
    return NULL;
}

static void test_concurrent_counting(void **state)
{
    struct fx *x = *state;
    x->s = dlq_store_fault_new(x->s, 11, 10);
    pthread_t th[4];
    struct pinger p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (struct pinger){x->s, 0};
        assert_int_equal(pthread_create(&th[i], NULL, ping_many, &p[i]), 0);
    }
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        failed += p[i].failed;
    }
    assert_int_equal(failed, 10);
    assert_int_equal(dlq_store_fault_calls(x->s), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fails_exactly_the_asked_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forever_and_never, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_counting, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
