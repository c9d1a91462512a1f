/*
 * test_store_act.c: actions on entries and the audit trail through the store
 * interface (store.h), on a real SQLite store in a temporary directory: act
 * and its refusals, history and counters, act_many with mixed results and one
 * audit record, replay outcomes, capture of a failed replay, audit listing
 * with filters and cursors, and concurrent actions on one entry.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "dlq/state.h"
#include "test_store_fixture.h"

/* put captures one entry with dlq_id id (and original task id orig, tenant). */
static void put(struct fx *x, const char *id, const char *orig, const char *tenant, int max)
{
    struct dlq_entry e;
    struct dlq_capture_result res;
    mk_entry(&e, id, "t.task", 1000);
    fset(&e.original_task_id, orig);
    fset(&e.tenant_id, tenant);
    e.max_replays = max;
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "test", &res, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(res.created, 1);
    dlq_entry_clear(&e);
}

static int64_t count(struct fx *x, enum dlq_status st)
{
    struct dlq_filter f;
    struct dlq_page p;
    dlq_filter_init(&f);
    f.status_mask = 1u << st;
    f.limit = 1;
    assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
    int64_t n = p.total;
    dlq_page_free(&p);
    return n;
}

static struct dlq_act act_of(enum dlq_action a)
{
    struct dlq_act v = {.action = a, .now = 5000, .actor = "alice"};
    return v;
}

static void test_retry_history_counters(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_a", "orig-a", NULL, 3);
    struct dlq_act a = act_of(DLQ_ACTION_RETRY);
    struct dlq_edit ed = {"[1]", NULL, "other", 4};
    a.edit = &ed;
    a.reason = "why";
    struct dlq_entry e;
    assert_int_equal(dlq_store_act(x->s, "orig-a", &a, "job_1", NULL, &e, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(e.dlq_id, "dlq_a");
    assert_int_equal(e.status, DLQ_STATUS_RETRIED);
    assert_int_equal(e.retry_count, 1);
    assert_string_equal(e.retry_task_id, "job_1");
    assert_string_equal(e.queue, "other");
    assert_string_equal(e.task_args, "[1]");
    assert_int_equal(e.last_retry_at, 5000);
    dlq_entry_clear(&e);

    struct dlq_event *h;
    size_t n;
    assert_int_equal(dlq_store_get(x->s, "dlq_a", NULL, &e, &h, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 3);
    assert_string_equal(h[1].event, "edited");
    assert_non_null(strstr(h[1].details, "\"queue\":{\"before\":\"default\",\"after\":\"other\"}"));
    assert_string_equal(h[2].event, "replayed");
    assert_string_equal(h[2].actor, "alice");
    assert_non_null(strstr(h[2].details, "\"max_retries\":4"));
    dlq_events_free(h, n);
    dlq_entry_clear(&e);
    assert_int_equal(count(x, DLQ_STATUS_PENDING_REVIEW), 0);
    assert_int_equal(count(x, DLQ_STATUS_RETRIED), 1);
}

static void test_refusals(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_b", NULL, "ten1", 0);
    struct dlq_act a = act_of(DLQ_ACTION_RETRY);
    assert_int_equal(dlq_store_act(x->s, "dlq_b", &a, "job_2", NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_CONFLICT);
    assert_non_null(strstr(x->err, "entry dlq_b is pending_review: "));
    a = act_of(DLQ_ACTION_RESOLVE);
    a.tenant = "ten2";
    assert_int_equal(dlq_store_act(x->s, "dlq_b", &a, NULL, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(dlq_store_act(x->s, "nope", &a, NULL, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    a.tenant = "ten1";
    assert_int_equal(dlq_store_act(x->s, "dlq_b", &a, NULL, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(dlq_store_act(x->s, "dlq_b", &a, NULL, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_CONFLICT);
    assert_non_null(strstr(x->err, "entry dlq_b is resolved: "));
    assert_int_equal(count(x, DLQ_STATUS_RESOLVED), 1);
}

static void test_outcomes(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_c", NULL, NULL, 1);
    struct dlq_act a = act_of(DLQ_ACTION_RETRY);
    assert_int_equal(dlq_store_act(x->s, "dlq_c", &a, "job_c", NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    a = act_of(DLQ_ACTION_REPLAY_FAILED);
    a.error_json = "{\"type\":\"KeyError\",\"message\":\"gone\"}";
    struct dlq_entry e;
    assert_int_equal(dlq_store_act(x->s, "dlq_c", &a, NULL, NULL, &e, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(e.status, DLQ_STATUS_REQUIRES_REVIEW);
    assert_string_equal(e.exc_type, "KeyError");
    assert_string_equal(e.exc_message, "gone");
    assert_null(e.exc_traceback);
    dlq_entry_clear(&e);
    /* The full-text index follows the new error. */
    struct dlq_filter f;
    struct dlq_page p;
    dlq_filter_init(&f);
    f.q = "gone";
    assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(p.n, 1);
    dlq_page_free(&p);
    a = act_of(DLQ_ACTION_FORCE_RETRY);
    assert_int_equal(dlq_store_act(x->s, "dlq_c", &a, "job_d", NULL, &e, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(e.retry_count, 1);
    dlq_entry_clear(&e);
    a = act_of(DLQ_ACTION_REPLAY_SUCCEEDED);
    assert_int_equal(dlq_store_act(x->s, "dlq_c", &a, NULL, NULL, &e, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(e.status, DLQ_STATUS_RESOLVED);
    assert_string_equal(e.resolution_type, "replay_succeeded");
    dlq_entry_clear(&e);
}

static void test_act_many_and_audit(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_d1", NULL, NULL, 3);
    put(x, "dlq_d2", NULL, NULL, 3);
    put(x, "dlq_d3", NULL, NULL, 3);
    struct dlq_act a = act_of(DLQ_ACTION_DISCARD);
    assert_int_equal(dlq_store_act(x->s, "dlq_d2", &a, NULL, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    const char *ids[] = {"dlq_d1", "dlq_d2", "dlq_missing", "dlq_d3"};
    const char *rt[] = {"job_1", "job_2", "job_3", "job_4"};
    struct dlq_act_result res[4];
    struct dlq_audit au = {
        .actor = (char *)"bob", .action = (char *)"replay_bulk", .reason = (char *)"bulk"};
    a = act_of(DLQ_ACTION_RETRY);
    a.op_id = "op_x";
    assert_int_equal(dlq_store_act_many(x->s, ids, 4, &a, rt, &au, res, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(res[0].code, DLQ_OK);
    assert_int_equal(res[0].status, DLQ_STATUS_RETRIED);
    assert_int_equal(res[1].code, DLQ_E_CONFLICT);
    assert_non_null(strstr(res[1].detail, "is discarded"));
    assert_int_equal(res[2].code, DLQ_E_NOTFOUND);
    assert_int_equal(res[3].code, DLQ_OK);
    assert_int_equal(count(x, DLQ_STATUS_RETRIED), 2);

    struct dlq_audit *v;
    size_t n;
    char next[128];
    struct dlq_audit_filter f = {.target = "dlq_d3", .limit = 10};
    assert_int_equal(dlq_store_audit_list(x->s, &f, &v, &n, next, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].action, "replay_bulk");
    assert_string_equal(v[0].actor, "bob");
    assert_string_equal(v[0].target_ids, "[\"dlq_d1\",\"dlq_d3\"]");
    assert_int_equal(strncmp(v[0].id, "aud_", 4), 0);
    assert_string_equal(next, "");
    dlq_audit_clear(&v[0]);
    free(v);
    f.target = "dlq_d2"; /* refused: not a target */
    assert_int_equal(dlq_store_audit_list(x->s, &f, &v, &n, next, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 0);
    free(v);
}

static void test_audit_paging(void **state)
{
    struct fx *x = *state;
    for (int i = 0; i < 5; i++) {
        struct dlq_audit au = {
            .at = 100 + i, .actor = (char *)(i % 2 ? "odd" : "even"), .action = (char *)"cleanup"};
        assert_int_equal(dlq_store_audit_append(x->s, &au, x->err, sizeof x->err), DLQ_OK);
    }
    struct dlq_audit *v;
    size_t n, total = 0;
    char next[128] = "";
    int64_t last = 1000;
    do {
        char cur[128];
        snprintf(cur, sizeof cur, "%s", next);
        struct dlq_audit_filter f = {.action = "cleanup", .limit = 2, .cursor = cur};
        assert_int_equal(dlq_store_audit_list(x->s, &f, &v, &n, next, x->err, sizeof x->err),
                         DLQ_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(v[i].at < last);
            last = v[i].at;
            dlq_audit_clear(&v[i]);
        }
        free(v);
        total += n;
    } while (next[0]);
    assert_int_equal(total, 5);
    struct dlq_audit_filter f = {.actor = "odd", .since = 102, .limit = 10};
    assert_int_equal(dlq_store_audit_list(x->s, &f, &v, &n, next, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].at, 103);
    dlq_audit_clear(&v[0]);
    free(v);
    f.cursor = "bogus";
    assert_int_equal(dlq_store_audit_list(x->s, &f, &v, &n, next, x->err, sizeof x->err),
                     DLQ_E_INVAL);
}

static void test_capture_replay(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_e", NULL, NULL, 3);
    struct dlq_act a = act_of(DLQ_ACTION_RETRY);
    assert_int_equal(dlq_store_act(x->s, "dlq_e", &a, "job_e", NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    struct dlq_entry e;
    struct dlq_capture_result res;
    mk_entry(&e, "dlq_new", "t.task", 2000);
    fset(&e.original_task_id, "job_e");
    fset(&e.exc_type, "Again");
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "w", &res, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(res.created, 0);
    assert_int_equal(res.updated, 1);
    assert_string_equal(res.dlq_id, "dlq_e");
    /* Not awaiting an outcome now: the same failure is a new entry. */
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "w", &res, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(res.created, 1);
    dlq_entry_clear(&e);
    struct dlq_entry g;
    assert_int_equal(dlq_store_get(x->s, "dlq_e", NULL, &g, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(g.status, DLQ_STATUS_PENDING_REVIEW);
    assert_string_equal(g.exc_type, "Again");
    dlq_entry_clear(&g);
}

struct race {
    struct fx *x;
    int ok, conflict;
    pthread_mutex_t mu;
};

static void *resolver(void *arg)
{
    struct race *r = arg;
    struct dlq_act a = act_of(DLQ_ACTION_RESOLVE);
    char err[256];
    int code = dlq_store_act(r->x->s, "dlq_f", &a, NULL, NULL, NULL, err, sizeof err);
    pthread_mutex_lock(&r->mu);
    r->ok += code == DLQ_OK;
    r->conflict += code == DLQ_E_CONFLICT;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void test_concurrent_one_wins(void **state)
{
    struct fx *x = *state;
    put(x, "dlq_f", NULL, NULL, 3);
    struct race r = {.x = x};
    pthread_mutex_init(&r.mu, NULL);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, resolver, &r);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&r.mu);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.conflict, 7);
    assert_int_equal(count(x, DLQ_STATUS_RESOLVED), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_history_counters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_outcomes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_act_many_and_audit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_audit_paging, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_capture_replay, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_one_wins, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
