/*
 * test_store_cube.c: the writer's counter accumulator (sq_cube.c) keeps
 * every derived table exact when requests share a group commit and some of
 * them fail: concurrent batch captures, a third of which fail on a
 * duplicate dlq_id after counting their first entries, plus actions that
 * move entries in and out of pending. Afterwards entry_counts, stats_rollup,
 * groups and hourly must equal a recount from the entries themselves.
 * On PostgreSQL (DLQ_TEST_STORE) the same load checks the counters its
 * statement-level triggers keep (no stats_rollup there).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "test_store_fixture.h"

#define H       3600000LL
#define T0      (1760000000000LL / H * H)
#define THREADS 4
#define BATCHES 24
#define PER     4

struct worker {
    struct fx *x;
    int no;
    int ok, failed;
};

static void *work(void *arg)
{
    struct worker *wk = arg;
    static const char *const tasks[] = {"t0", "t1", "t2"};
    static const char *const fps[] = {"fa", "fb", "fc"};
    for (int b = 0; b < BATCHES; b++) {
        struct dlq_entry e[PER];
        struct dlq_capture_result res[PER];
        char err[256];
        for (int i = 0; i < PER; i++) {
            char id[64];
            int k = wk->no * 1000 + b * 10 + i;
            /* every third batch repeats its first id last: the request fails */
            snprintf(id, sizeof id, "dlq_%d", (b % 3 == 2 && i == PER - 1) ? k - i : k);
            mk_entry(&e[i], id, tasks[(k / 3) % 3], T0 + (k % 5) * H + k);
            fset(&e[i].tenant_id, k % 2 ? "ta" : NULL);
            fset(&e[i].fingerprint, fps[k % 3]);
            char msg[32];
            snprintf(msg, sizeof msg, "message %d", k);
            fset(&e[i].exc_message, msg);
            e[i].status = k % 4 == 0 ? DLQ_STATUS_REQUIRES_REVIEW : DLQ_STATUS_PENDING_REVIEW;
        }
        if (dlq_store_capture(wk->x->s, e, PER, "test", res, err, sizeof err) == DLQ_OK)
            wk->ok++;
        else
            wk->failed++;
        for (int i = 0; i < PER; i++)
            dlq_entry_clear(&e[i]);
        if (b % 4 == 1) {
            char id[64];
            snprintf(id, sizeof id, "dlq_%d", wk->no * 1000 + b * 10);
            struct dlq_act v = {.action = b % 8 == 1 ? DLQ_ACTION_RESOLVE : DLQ_ACTION_DISCARD,
                                .now = T0 + 10 * H,
                                .actor = "t"};
            dlq_store_act(wk->x->s, id, &v, NULL, NULL, NULL, err, sizeof err);
        }
    }
    return NULL;
}

/* The rollup recomputed from entry_counts (the projections of schema step 3). */
#define ROLLUP_FROM_COUNTS                                                                         \
    "SELECT tenant_id t, 0 d, CAST(status AS TEXT) k, n FROM entry_counts"                         \
    " UNION ALL SELECT '', 10, CAST(status AS TEXT), n FROM entry_counts"                          \
    " UNION ALL SELECT tenant_id, 1, task_name, n FROM entry_counts WHERE status IN (1, 2)"        \
    " UNION ALL SELECT '', 11, task_name, n FROM entry_counts WHERE status IN (1, 2)"              \
    " UNION ALL SELECT tenant_id, 2, queue, n FROM entry_counts WHERE status IN (1, 2)"            \
    " UNION ALL SELECT '', 12, queue, n FROM entry_counts WHERE status IN (1, 2)"                  \
    " UNION ALL SELECT tenant_id, 3, CAST(reason AS TEXT), n FROM entry_counts"                    \
    " WHERE status IN (1, 2)"                                                                      \
    " UNION ALL SELECT '', 13, CAST(reason AS TEXT), n FROM entry_counts WHERE status IN (1, 2)"   \
    " UNION ALL SELECT tenant_id, 4, exc_type, n FROM entry_counts WHERE status IN (1, 2)"         \
    " UNION ALL SELECT '', 14, exc_type, n FROM entry_counts WHERE status IN (1, 2)"               \
    " UNION ALL SELECT '', 15, queue || char(31) || task_name, n FROM entry_counts"                \
    " WHERE status IN (1, 2)"

/* The counters are summed per key before they are compared: SQLite keeps
 * one row per key, PostgreSQL rows of changes that dlq_fold() folds. */
#define COUNT_KEY_COLS "tenant_id, status, queue, task_name, reason, exc_type"
#define COUNTS_SUMMED                                                                              \
    "SELECT " COUNT_KEY_COLS ", sum(n) FROM entry_counts GROUP BY 1, 2, 3, 4, 5, 6"                \
    " HAVING sum(n) != 0"
#define COUNTS_OF_ENTRIES                                                                          \
    "SELECT tenant_id, status, coalesce(queue, ''), task_name, reason, coalesce(exc_type, ''),"    \
    " count(*) FROM entries GROUP BY 1, 2, 3, 4, 5, 6"
/* groups against the entries, with pending summed by the expression given. */
#define GROUPS_EXCEPT(pending)                                                                     \
    "SELECT fingerprint, tenant_id, count(*), " pending ", min(failed_at), max(failed_at)"         \
    " FROM entries GROUP BY 1, 2 EXCEPT SELECT fingerprint, tenant_id, sum(count), sum(pending),"  \
    " min(first_seen), max(last_seen) FROM groups GROUP BY 1, 2"
/* hourly against the entries. */
#define HOURLY_EXCEPT                                                                              \
    "SELECT failed_at / 3600000 * 3600000, tenant_id, count(*) FROM entries GROUP BY 1, 2"         \
    " EXCEPT SELECT hour, tenant_id, sum(n) FROM hourly GROUP BY 1, 2"

/* check_counters compares every counter table with a recount from the
 * entries (ok * PER of them). */
static void check_counters(struct fx *x, int ok)
{
    assert_int_equal(fx_int(x, "SELECT count(*) FROM entries", NULL), ok * PER);
    /* entry_counts is the count of the entries per key, both ways */
    assert_int_equal(
        fx_int(x, "SELECT count(*) FROM (" COUNTS_OF_ENTRIES " EXCEPT " COUNTS_SUMMED ") d", NULL),
        0);
    assert_int_equal(
        fx_int(x, "SELECT count(*) FROM (" COUNTS_SUMMED " EXCEPT " COUNTS_OF_ENTRIES ") d", NULL),
        0);
    /* groups: count, pending, seen range and the first entry as sample */
    assert_int_equal(
        fx_int(x, "SELECT count(*) FROM (" GROUPS_EXCEPT("sum(status IN (1, 2))") ")",
               "SELECT count(*) FROM (" GROUPS_EXCEPT("sum((status IN (1, 2))::int)") ") d"),
        0);
    assert_int_equal(fx_int(x,
                            "SELECT count(*) FROM groups g WHERE sample_dlq_id != (SELECT dlq_id"
                            " FROM entries e WHERE e.fingerprint = g.fingerprint AND"
                            " e.tenant_id = g.tenant_id ORDER BY id LIMIT 1)",
                            "SELECT count(*) FROM (SELECT fingerprint, tenant_id,"
                            " (array_agg(sample_dlq_id ORDER BY sample_entry))[1] AS s"
                            " FROM groups GROUP BY 1, 2) g WHERE s != (SELECT dlq_id"
                            " FROM entries e WHERE e.fingerprint = g.fingerprint AND"
                            " e.tenant_id = g.tenant_id ORDER BY id LIMIT 1)"),
                     0);
    assert_int_equal(
        fx_int(x, "SELECT count(*) FROM (SELECT 1 FROM groups GROUP BY fingerprint, tenant_id) g",
               NULL),
        6);
    /* hourly: one per captured entry in its hour */
    assert_int_equal(fx_int(x, "SELECT count(*) FROM (" HOURLY_EXCEPT ")",
                            "SELECT count(*) FROM (" HOURLY_EXCEPT ") d"),
                     0);
}

static void test_concurrent_with_failures(void **state)
{
    struct fx *x = *state;
    pthread_t th[THREADS];
    struct worker wk[THREADS];
    for (int i = 0; i < THREADS; i++) {
        wk[i] = (struct worker){.x = x, .no = i + 1};
        assert_int_equal(pthread_create(&th[i], NULL, work, &wk[i]), 0);
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += wk[i].ok;
        failed += wk[i].failed;
    }
    assert_int_equal(ok, THREADS * BATCHES * 2 / 3);
    assert_int_equal(failed, THREADS * BATCHES / 3);

    /* Checked on a connection of the test's own. The SQL differs where the
     * dialects do (booleans, subquery aliases); SQLite's stats_rollup has
     * no PostgreSQL counterpart (stats sum entry_counts there). */
    check_counters(x, ok);
    if (fx_on_pg()) {
        /* folding changes no sum, and leaves one row per key */
        assert_int_equal(fx_exec(x, NULL, "SELECT dlq_fold()"), 0);
        check_counters(x, ok);
        assert_int_equal(fx_int(x, NULL,
                                "SELECT (SELECT count(*) FROM (SELECT 1 FROM entry_counts GROUP BY"
                                " " COUNT_KEY_COLS " HAVING count(*) > 1) a)"
                                " + (SELECT count(*) FROM (SELECT 1 FROM groups GROUP BY"
                                " fingerprint, tenant_id HAVING count(*) > 1) b)"
                                " + (SELECT count(*) FROM (SELECT 1 FROM hourly GROUP BY"
                                " hour, tenant_id HAVING count(*) > 1) c)"
                                " + (SELECT count(*) FROM entry_counts WHERE n = 0)"),
                         0);
    }
    if (!fx_on_pg()) {
        /* stats_rollup is the sum of entry_counts per projection */
        assert_int_equal(
            fx_int(x,
                   "SELECT count(*) FROM (SELECT t, d, k, sum(n) FROM (" ROLLUP_FROM_COUNTS
                   ") GROUP BY 1, 2, 3 EXCEPT SELECT tenant_id,"
                   " dim, key, n FROM stats_rollup)",
                   NULL),
            0);
        assert_int_equal(
            fx_int(
                x,
                "SELECT count(*) FROM (SELECT tenant_id, dim, key, n FROM"
                " stats_rollup WHERE n != 0 EXCEPT SELECT t, d, k, sum(n) FROM (" ROLLUP_FROM_COUNTS
                ") GROUP BY 1, 2, 3)",
                NULL),
            0);
    }
    /* SQLite's writer thread sums the counters itself: no triggers. On
     * PostgreSQL the counters are the 9 statement-level triggers' work
     * (pg_schema.c) and nothing else: no row-level trigger. */
    assert_int_equal(fx_int(x, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'",
                            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                            " WHERE c.relnamespace = current_schema()::regnamespace"
                            " AND NOT t.tgisinternal AND (t.tgtype & 1) = 1"),
                     0);
    if (fx_on_pg())
        assert_int_equal(fx_int(x, NULL,
                                "SELECT count(*) FROM pg_trigger t JOIN pg_class c"
                                " ON c.oid = t.tgrelid WHERE c.relnamespace ="
                                " current_schema()::regnamespace AND NOT t.tgisinternal"),
                         9);
}

static int setup(void **state)
{
    struct fx *x = malloc(sizeof *x);
    if (x == NULL || fx_mkdir(x) != 0 || fx_open(x, DLQ_DURABILITY_NORMAL, 1) != DLQ_OK) {
        free(x);
        return -1;
    }
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    fx_rm(x);
    free(x);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_with_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
