/*
 * test_store_stats.c: slice C1's store methods on SQLite: stats from the
 * counters (totals, breakdowns, per-hour buckets and the sliding last
 * hour, tenant scoping), failure groups and their pending counts under
 * actions, the replay-outcome window, alert state and the /metrics numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "dlq/state.h"
#include "test_store_fixture.h"

#define H  3600000LL
#define T0 (1760000000000LL / H * H) /* an hour boundary */

static void put(struct fx *x, const char *id, const char *task, const char *tenant, const char *exc,
                const char *fp, int64_t at)
{
    struct dlq_entry e;
    struct dlq_capture_result res;
    mk_entry(&e, id, task, at);
    fset(&e.tenant_id, tenant);
    fset(&e.exc_type, exc);
    fset(&e.fingerprint, fp);
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "test", &res, x->err, sizeof x->err), DLQ_OK);
    dlq_entry_clear(&e);
}

static int64_t key_n(const struct dlq_counts *c, const char *k)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].key, k) == 0)
            return c->items[i].n;
    return -1;
}

static void act(struct fx *x, const char *id, enum dlq_action a)
{
    struct dlq_act v = {.action = a, .now = T0 + 10, .actor = "t"};
    assert_int_equal(dlq_store_act(x->s, id, &v, a == DLQ_ACTION_RETRY ? "job_1" : NULL, NULL, NULL,
                                   x->err, sizeof x->err),
                     DLQ_OK);
}

static void test_stats(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_1", "a", NULL, "E1", "fa", T0 - H + H / 2); /* previous hour, second half */
    put(x, "dlq_2", "a", "t1", "E1", "fa", T0 + 100);
    put(x, "dlq_3", "b", "t1", "E2", "fb", T0 + 200);
    put(x, "dlq_4", "b", "t2", "E2", "fb", T0 - 5 * H);
    act(x, "dlq_4", DLQ_ACTION_RESOLVE);

    struct dlq_stats s;
    int64_t now = T0 + H / 2; /* half of the previous hour still counts */
    assert_int_equal(dlq_store_stats(x->s, NULL, now, 3, &s, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(s.total, 4);
    assert_int_equal(s.pending, 3);
    assert_int_equal(s.by_status[DLQ_STATUS_PENDING_REVIEW], 3);
    assert_int_equal(s.by_status[DLQ_STATUS_RESOLVED], 1);
    assert_int_equal(key_n(&s.by_task, "a"), 2);
    assert_int_equal(key_n(&s.by_task, "b"), 1);
    assert_string_equal(s.by_task.items[0].key, "a"); /* largest first */
    assert_int_equal(key_n(&s.by_exc, "E2"), 1);
    assert_int_equal(key_n(&s.by_queue, "default"), 3);
    assert_int_equal(key_n(&s.by_reason, "external"), 3);
    assert_int_equal(s.oldest_pending_at, T0 - H + H / 2);
    assert_int_equal(s.hours, 3);
    assert_int_equal(s.hour0, T0 - 2 * H);
    assert_int_equal(s.by_hour[0], 0);
    assert_int_equal(s.by_hour[1], 1);
    assert_int_equal(s.by_hour[2], 2);
    assert_int_equal(s.failures_in_window, 3);
    assert_int_equal(s.failures_last_hour, 3); /* 2 this hour + round(1 * 0.5) */
    dlq_stats_clear(&s);

    assert_int_equal(dlq_store_stats(x->s, "t1", now, 24, &s, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(s.total, 2);
    assert_int_equal(s.pending, 2);
    assert_int_equal(s.failures_last_hour, 2);
    assert_int_equal(s.oldest_pending_at, T0 + 100);
    dlq_stats_clear(&s);

    assert_int_equal(dlq_store_stats(x->s, "none", now, 24, &s, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(s.total, 0);
    assert_int_equal(s.oldest_pending_at, 0);
    assert_int_equal(s.by_task.n, 0);
    dlq_stats_clear(&s);

    assert_int_equal(dlq_store_stats(x->s, NULL, now, 0, &s, x->err, sizeof x->err), DLQ_E_INVAL);
    assert_int_equal(dlq_store_stats(x->s, NULL, now, 721, &s, x->err, sizeof x->err), DLQ_E_INVAL);
}

static void test_groups(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_1", "a", NULL, "E1", "fa", T0 + 1);
    put(x, "dlq_2", "a", NULL, "E1", "fa", T0 + 2);
    put(x, "dlq_3", "b", NULL, "E2", "fb", T0 + 3);
    put(x, "dlq_4", "b", "t1", "E2", "fb", T0 + 4);
    act(x, "dlq_3", DLQ_ACTION_RESOLVE);
    act(x, "dlq_4", DLQ_ACTION_RETRY);

    struct dlq_group_filter f = {.limit = 10};
    struct dlq_group *g;
    size_t n;
    assert_int_equal(dlq_store_groups(x->s, &f, &g, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(g[0].fingerprint, "fa");
    assert_int_equal(g[0].count, 2);
    assert_int_equal(g[0].pending, 2);
    assert_string_equal(g[0].sample_dlq_id, "dlq_1");
    assert_int_equal(g[0].first_seen, T0 + 1);
    assert_int_equal(g[0].last_seen, T0 + 2);
    assert_string_equal(g[1].fingerprint, "fb");
    assert_int_equal(g[1].count, 2);
    assert_int_equal(g[1].pending, 0);
    dlq_groups_free(g, n);

    f.tenant = "t1";
    assert_int_equal(dlq_store_groups(x->s, &f, &g, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].count, 1);
    dlq_groups_free(g, n);

    f.tenant = NULL;
    f.status = DLQ_STATUS_RETRIED;
    assert_int_equal(dlq_store_groups(x->s, &f, &g, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(g[0].fingerprint, "fb");
    dlq_groups_free(g, n);

    /* A failed replay brings the entry back into pending. */
    act(x, "dlq_4", DLQ_ACTION_REPLAY_FAILED);
    f.status = DLQ_STATUS_NONE;
    f.exception_type = "E2";
    assert_int_equal(dlq_store_groups(x->s, &f, &g, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].pending, 1);
    dlq_groups_free(g, n);

    int finished, failed;
    assert_int_equal(dlq_store_replay_window(x->s, 20, &finished, &failed, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(finished, 1);
    assert_int_equal(failed, 1);
}

static void test_alert_state_and_metrics(void **state)
{
    struct fx *x = *state;
    struct dlq_alert_row r = {.rule = "pending_age", .firing = 1, .since = 5, .reason = "why"};
    assert_int_equal(dlq_store_alert_save(x->s, &r, x->err, sizeof x->err), DLQ_OK);
    r.firing = 0;
    r.last_notified_at = 9;
    assert_int_equal(dlq_store_alert_save(x->s, &r, x->err, sizeof x->err), DLQ_OK);
    struct dlq_alert_row rows[4];
    size_t n;
    assert_int_equal(dlq_store_alert_load(x->s, rows, 4, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].rule, "pending_age");
    assert_int_equal(rows[0].firing, 0);
    assert_int_equal(rows[0].since, 5);
    assert_int_equal(rows[0].last_notified_at, 9);
    assert_string_equal(rows[0].reason, "why");

    put(x, "dlq_1", "a", NULL, "E1", "fa", T0 + 1);
    put(x, "dlq_2", "b", "t", "E1", "fa", T0 + 1);
    act(x, "dlq_2", DLQ_ACTION_RETRY);
    act(x, "dlq_2", DLQ_ACTION_REPLAY_SUCCEEDED);
    struct dlq_store_metrics m;
    assert_int_equal(dlq_store_metrics(x->s, &m, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(m.by_status[DLQ_STATUS_PENDING_REVIEW], 1);
    assert_int_equal(m.by_status[DLQ_STATUS_RESOLVED], 1);
    assert_int_equal(m.npending, 1);
    assert_string_equal(m.pending[0].queue, "default");
    assert_string_equal(m.pending[0].task, "a");
    assert_int_equal(m.ingested, 2);
    assert_int_equal(m.replay_succeeded, 1);
    assert_int_equal(m.replay_failed, 0);
    dlq_store_metrics_clear(&m);

    struct dlq_hist h;
    dlq_store_commit_histogram(x->s, &h);
    assert_true(h.count >= 4);
    uint64_t sum = 0;
    for (int i = 0; i < DLQ_HIST_NB; i++)
        sum += h.counts[i];
    assert_int_equal(sum, h.count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stats, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_groups, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_alert_state_and_metrics, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
