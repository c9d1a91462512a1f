/*
 * test_store_maint.c: retention, cleanup and export through the store
 * interface on a real SQLite store: expiry by expires_at and by age, archive
 * and purge with their cutoffs and batch limits, counters and the full-text
 * index kept exact by every change, cleanup dry runs and real runs by status
 * and tenant, export pages walked by cursor in both orders and with filters,
 * and the fault wrapper forwarding the new methods.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "dlq/state.h"
#include "test_store_fixture.h"

/* put captures n entries "dlq_<prefix><i>" failing at base + i, with
 * updated_at = failed_at (as the service sets it at capture). */
static void put(struct fx *x, const char *prefix, int n, int64_t base, const char *tenant,
                int64_t expires_at)
{
    struct dlq_entry *es = calloc((size_t)n, sizeof *es);
    struct dlq_capture_result *res = calloc((size_t)n, sizeof *res);
    assert_non_null(es);
    assert_non_null(res);
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "dlq_%s%05d", prefix, i);
        mk_entry(&es[i], id, "t.task", base + i);
        fset(&es[i].tenant_id, tenant);
        fset(&es[i].exc_message, "quokka escaped");
        es[i].updated_at = base + i;
        es[i].expires_at = expires_at;
    }
    assert_int_equal(dlq_store_capture(x->s, es, (size_t)n, "test", res, x->err, sizeof x->err),
                     DLQ_OK);
    for (int i = 0; i < n; i++)
        dlq_entry_clear(&es[i]);
    free(es);
    free(res);
}

static int64_t total(struct fx *x, unsigned mask, const char *q)
{
    struct dlq_filter f;
    struct dlq_page p;
    dlq_filter_init(&f);
    f.status_mask = mask;
    f.q = q;
    f.limit = 1;
    assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
    int64_t n = p.total;
    dlq_page_free(&p);
    return n;
}
#define BIT(s) (1u << (s))

static void act(struct fx *x, const char *id, enum dlq_action a, int64_t now)
{
    struct dlq_act in = {.action = a, .now = now, .actor = "test"};
    assert_int_equal(dlq_store_act(x->s, id, &in, NULL, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
}

static int64_t step(struct fx *x, enum dlq_action a, int64_t cutoff, int64_t now, int limit)
{
    int64_t done = -1;
    assert_int_equal(
        dlq_store_maint_step(x->s, a, cutoff, now, limit, &done, x->err, sizeof x->err), DLQ_OK);
    return done;
}

static void test_expire(void **state)
{
    struct fx *x = *state;
    put(x, "a", 3, 1000, NULL, 5000); /* expires at 5000 */
    put(x, "b", 3, 2000, NULL, 0);    /* no expires_at */
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 0, 4999, 100), 0);
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 0, 5000, 100), 3);
    assert_int_equal(total(x, BIT(DLQ_STATUS_EXPIRED), NULL), 3);
    /* By age: only failures before the cutoff. */
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 2001, 6000, 100), 1);
    assert_int_equal(total(x, BIT(DLQ_STATUS_EXPIRED), NULL), 4);
    assert_int_equal(total(x, BIT(DLQ_STATUS_PENDING_REVIEW), NULL), 2);
    struct dlq_entry e;
    struct dlq_event *h = NULL;
    size_t nh = 0;
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_store_get(x->s, "dlq_a00000", NULL, &e, &h, &nh, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(e.status, DLQ_STATUS_EXPIRED);
    assert_int_equal(e.updated_at, 5000);
    assert_true(nh >= 2);
    assert_string_equal(h[nh - 1].event, "expired");
    assert_string_equal(h[nh - 1].actor, "system");
    dlq_entry_clear(&e);
    dlq_events_free(h, nh);
}

/* Expiry by expires_at and by age together, in batches: each entry expires
 * once, and a batch counts every entry it expired (none twice) even when
 * both conditions pick it; the expires_at half walks its own index. */
static void test_expire_both_ways_in_batches(void **state)
{
    struct fx *x = *state;
    put(x, "c", 5, 100, NULL, 200); /* by age before 400 and by expires_at */
    put(x, "d", 5, 300, NULL, 0);   /* by age only */
    put(x, "e", 5, 500, NULL, 0);   /* neither */
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 103, 300, 10), 5); /* c0-c2 both ways */
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 400, 300, 4), 4);
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 400, 300, 4), 1);
    assert_int_equal(step(x, DLQ_ACTION_EXPIRE, 400, 300, 4), 0);
    assert_int_equal(total(x, BIT(DLQ_STATUS_EXPIRED), NULL), 10);
    assert_int_equal(total(x, BIT(DLQ_STATUS_PENDING_REVIEW), NULL), 5);
    assert_int_equal(fx_int(x,
                            "SELECT count(*) FROM sqlite_schema WHERE name = 'ix_entries_expires'",
                            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_entries_expires'"
                            " AND schemaname = current_schema()"),
                     1);
}

static void test_archive_and_purge_in_batches(void **state)
{
    struct fx *x = *state;
    put(x, "r", 25, 1000, "ten", 0);
    put(x, "p", 5, 1000, NULL, 0);
    for (int i = 0; i < 25; i++) {
        char id[32];
        snprintf(id, sizeof id, "dlq_r%05d", i);
        act(x, id, i % 2 ? DLQ_ACTION_RESOLVE : DLQ_ACTION_DISCARD, 10000 + i);
    }
    /* Nothing updated before the cutoff yet. */
    assert_int_equal(step(x, DLQ_ACTION_ARCHIVE, 10000, 20000, 10), 0);
    assert_int_equal(step(x, DLQ_ACTION_ARCHIVE, 30000, 40000, 10), 10);
    assert_int_equal(step(x, DLQ_ACTION_ARCHIVE, 30000, 40000, 10), 10);
    assert_int_equal(step(x, DLQ_ACTION_ARCHIVE, 30000, 40000, 10), 5);
    assert_int_equal(total(x, BIT(DLQ_STATUS_ARCHIVED), NULL), 25);
    assert_int_equal(total(x, BIT(DLQ_STATUS_RESOLVED) | BIT(DLQ_STATUS_DISCARDED), NULL), 0);
    /* Purge honours its own cutoff (archived at 40000). */
    assert_int_equal(step(x, DLQ_ACTION_PURGE, 40000, 50000, 100), 0);
    assert_int_equal(step(x, DLQ_ACTION_PURGE, 40001, 50000, 20), 20);
    assert_int_equal(step(x, DLQ_ACTION_PURGE, 40001, 50000, 20), 5);
    assert_int_equal(total(x, 0, NULL), 5);
    assert_int_equal(total(x, BIT(DLQ_STATUS_PENDING_REVIEW), NULL), 5);
    assert_int_equal(total(x, 0, "quokka"), 5); /* the text index lost the purged rows */
    struct dlq_entry e;
    memset(&e, 0, sizeof e);
    assert_int_equal(dlq_store_get(x->s, "dlq_r00003", NULL, &e, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    int64_t n = -1;
    assert_int_equal(dlq_store_count_entries(x->s, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 5);
}

static void test_cleanup(void **state)
{
    struct fx *x = *state;
    int64_t by[DLQ_STATUS_COUNT] = {0}, n = -1;
    put(x, "o", 12, 1000, "t1", 0);
    put(x, "q", 4, 1000, "t2", 0);
    put(x, "n", 3, 900000, "t1", 0);
    act(x, "dlq_o00000", DLQ_ACTION_RESOLVE, 5000);
    act(x, "dlq_o00001", DLQ_ACTION_DISCARD, 5000);
    unsigned closed = BIT(DLQ_STATUS_RESOLVED) | BIT(DLQ_STATUS_DISCARDED);
    assert_int_equal(
        dlq_store_cleanup(x->s, closed, 500000, NULL, 1, 500, by, &n, x->err, sizeof x->err),
        DLQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(by[DLQ_STATUS_RESOLVED], 1);
    assert_int_equal(total(x, 0, NULL), 19);
    /* Pending, tenant t1 only, in batches of 4. */
    memset(by, 0, sizeof by);
    unsigned pend = BIT(DLQ_STATUS_PENDING_REVIEW);
    int64_t sum = 0;
    do {
        assert_int_equal(
            dlq_store_cleanup(x->s, pend, 500000, "t1", 0, 4, by, &n, x->err, sizeof x->err),
            DLQ_OK);
        sum += n;
    } while (n == 4);
    assert_int_equal(sum, 10);
    assert_int_equal(by[DLQ_STATUS_PENDING_REVIEW], 10);
    assert_int_equal(total(x, pend, NULL), 7); /* t2's 4 and the 3 recent */
    assert_int_equal(total(x, 0, "quokka"), 9);
    assert_int_equal(dlq_store_cleanup(x->s, 0, 500000, NULL, 0, 4, by, &n, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(n, 0);
}

/* walk exports everything for f by pages of lim; returns the count and
 * checks the order. */
static int64_t walk(struct fx *x, struct dlq_filter *f, int lim)
{
    int64_t n = 0, prev = -1;
    for (;;) {
        struct dlq_page p;
        assert_int_equal(dlq_store_export_page(x->s, f, lim, &p, x->err, sizeof x->err), DLQ_OK);
        assert_int_equal(p.total, -1);
        for (size_t i = 0; i < p.n; i++) {
            int64_t at = p.items[i].failed_at;
            if (prev >= 0)
                assert_true(f->sort == DLQ_SORT_FAILED_ASC ? at >= prev : at <= prev);
            prev = at;
        }
        n += (int64_t)p.n;
        int more = p.next_cursor[0] != '\0';
        if (more)
            assert_int_equal(dlq_cursor_decode(p.next_cursor, f), DLQ_OK);
        dlq_page_free(&p);
        if (!more)
            return n;
    }
}

static void test_export_pages(void **state)
{
    struct fx *x = *state;
    struct dlq_filter f;
    put(x, "e", 1203, 1000, "t1", 0);
    put(x, "f", 50, 1000, "t2", 0); /* same failed_at values: ties broken by id */
    act(x, "dlq_e00007", DLQ_ACTION_RESOLVE, 5000);
    dlq_filter_init(&f);
    assert_int_equal(walk(x, &f, 500), 1253);
    dlq_filter_init(&f);
    f.sort = DLQ_SORT_FAILED_ASC;
    assert_int_equal(walk(x, &f, 100), 1253);
    dlq_filter_init(&f);
    f.tenant_id = "t2";
    assert_int_equal(walk(x, &f, 7), 50);
    dlq_filter_init(&f);
    f.status_mask = BIT(DLQ_STATUS_RESOLVED) | BIT(DLQ_STATUS_DISCARDED);
    assert_int_equal(walk(x, &f, 500), 1);
    dlq_filter_init(&f);
    f.q = "quokka";
    f.failed_before = 1010;
    assert_int_equal(walk(x, &f, 3), 20);
    dlq_filter_init(&f);
    f.q = "***";
    assert_int_equal(walk(x, &f, 3), 0);
    dlq_filter_init(&f);
    f.status_mask = 1u << 12; /* no valid status: nothing */
    assert_int_equal(walk(x, &f, 3), 0);
}

static void test_fault_forwarding(void **state)
{
    struct fx *x = *state;
    struct dlq_store *fs = dlq_store_fault_new(x->s, 1, 4);
    int64_t done = 7, by[DLQ_STATUS_COUNT] = {0}, n = 7;
    struct dlq_filter f;
    struct dlq_page p;
    x->s = fs;
    dlq_filter_init(&f);
    assert_int_equal(
        dlq_store_maint_step(fs, DLQ_ACTION_PURGE, 0, 0, 5, &done, x->err, sizeof x->err),
        DLQ_E_UNAVAILABLE);
    assert_int_equal(done, 0);
    assert_int_equal(dlq_store_cleanup(fs, 2, 0, NULL, 1, 5, by, &n, x->err, sizeof x->err),
                     DLQ_E_UNAVAILABLE);
    memset(&p, 0, sizeof p);
    assert_int_equal(dlq_store_export_page(fs, &f, 5, &p, x->err, sizeof x->err),
                     DLQ_E_UNAVAILABLE);
    assert_int_equal(dlq_store_count_entries(fs, &n, x->err, sizeof x->err), DLQ_E_UNAVAILABLE);
    assert_int_equal(dlq_store_count_entries(fs, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(dlq_store_fault_calls(fs), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expire, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_expire_both_ways_in_batches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_archive_and_purge_in_batches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cleanup, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_export_pages, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fault_forwarding, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
