/*
 * test_store_jobs.c: the job queue's store calls (store.h, issue 4) on a
 * real store (a SQLite file, or a PostgreSQL schema with DLQ_TEST_STORE,
 * test_store_fixture.h): enqueue and idempotency,
 * reserve order and filters, lease checks, retries with backoff into the
 * DLQ with the attempts in history, non-retryable reasons, the timers
 * (promotion, lease expiry), replay jobs and their outcomes on the entry,
 * webhook dispatch, depth counters against a recount, purge, settings, and
 * the upgrade of a version 4 database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "dlq/state.h"
#include "store/sqlite/sq_int.h"
#include "test_store_fixture.h"

#define T0 1700000000000LL

/* mk fills a job as the service would, strings borrowed. */
static struct dlq_job mk(const char *id, const char *queue, const char *task, int prio,
                         int64_t run_at)
{
    struct dlq_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.job_id, sizeof j.job_id, "%s", id);
    j.queue = (char *)queue;
    j.task_name = (char *)task;
    j.args = (char *)"[1,2]";
    j.kwargs = (char *)"{\"k\":1}";
    j.priority = prio;
    j.state = run_at > T0 ? DLQ_JOB_SCHEDULED : DLQ_JOB_QUEUED;
    j.run_at = run_at;
    j.max_retries = 3;
    j.timeout_s = 30;
    j.backoff_base_ms = 1000;
    j.backoff_factor = 2.0;
    j.backoff_max_ms = 60000;
    j.tenant_id = (char *)"";
    j.created_at = j.updated_at = T0;
    return j;
}

static void enq(struct fx *x, struct dlq_job j)
{
    struct dlq_job_result r;
    assert_int_equal(dlq_store_job_enqueue(x->s, &j, 1, &r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r.created, 1);
}

/* reserve leases up to max jobs of queue (task filter optional); returns n. */
static size_t reserve(struct fx *x, const char *queue, size_t max, const char *const *tasks,
                      size_t ntask, int64_t now, struct dlq_job *out)
{
    struct dlq_reserve rq = {.queue = queue,
                             .task_names = tasks,
                             .ntask = ntask,
                             .max = max,
                             .worker_id = "w1",
                             .target = DLQ_TARGET_NATIVE,
                             .now = now};
    size_t n = 99;
    assert_int_equal(dlq_store_job_reserve(x->s, &rq, out, &n, x->err, sizeof x->err), DLQ_OK);
    return n;
}

static void clear_jobs(struct dlq_job *j, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dlq_job_clear(&j[i]);
}

static int fail_job(struct fx *x, const struct dlq_job *j, int retryable, enum dlq_reason reason,
                    int64_t now, struct dlq_job_result *r)
{
    struct dlq_job_fail f = {.job_id = j->job_id,
                             .lease_token = j->lease_token,
                             .retryable = retryable,
                             .reason = reason,
                             .error_json = "{\"type\":\"ValueError\",\"message\":\"bad 42\"}",
                             .now = now};
    return dlq_store_job_fail(x->s, &f, r, x->err, sizeof x->err);
}

static struct dlq_queue_info queue_info(struct fx *x, const char *queue, const char *tenant)
{
    struct dlq_queue_info *q, out;
    size_t n;
    memset(&out, 0, sizeof out);
    assert_int_equal(dlq_store_queue_list(x->s, tenant, &q, &n, x->err, sizeof x->err), DLQ_OK);
    for (size_t i = 0; i < n; i++)
        if (strcmp(q[i].queue, queue) == 0)
            out = q[i];
    free(q);
    return out;
}

/* recount checks queue_counts, summed per key (PostgreSQL keeps rows of
 * changes, pg_schema.c), against a count of the jobs table. */
static void recount(struct fx *x)
{
#define RECOUNT(is_not)                                                                            \
    "SELECT count(*) FROM (SELECT queue, tenant_id, state, count(*) AS n FROM jobs"                \
    " GROUP BY 1, 2, 3) j FULL JOIN (SELECT queue, tenant_id, state, sum(n) AS n"                  \
    " FROM queue_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0) c"                                    \
    " USING (queue, tenant_id, state) WHERE j.n " is_not " c.n"
    assert_int_equal(fx_int(x, RECOUNT("IS NOT"), RECOUNT("IS DISTINCT FROM")), 0);
#undef RECOUNT
}

static void test_enqueue_idempotency_get(void **state)
{
    struct fx *x = *state;
    struct dlq_job j[2] = {mk("job_a", "q1", "t.a", 0, T0), mk("job_b", "q1", "t.b", 0, T0 + 5000)};
    j[0].idempotency_key = (char *)"k1";
    struct dlq_job_result r[2];
    assert_int_equal(dlq_store_job_enqueue(x->s, j, 2, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 1);
    assert_int_equal(r[1].state, DLQ_JOB_SCHEDULED);
    /* The same key in the same tenant and queue: the existing job. */
    struct dlq_job again = mk("job_c", "q1", "t.a", 0, T0);
    again.idempotency_key = (char *)"k1";
    assert_int_equal(dlq_store_job_enqueue(x->s, &again, 1, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 0);
    assert_string_equal(r[0].job_id, "job_a");
    assert_int_equal(r[0].state, DLQ_JOB_QUEUED);
    /* Another queue: a new job. */
    again.queue = (char *)"q2";
    assert_int_equal(dlq_store_job_enqueue(x->s, &again, 1, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 1);

    struct dlq_job g;
    assert_int_equal(dlq_store_job_get(x->s, "job_a", NULL, &g, x->err, sizeof x->err), DLQ_OK);
    assert_string_equal(g.queue, "q1");
    assert_string_equal(g.args, "[1,2]");
    assert_string_equal(g.kwargs, "{\"k\":1}");
    assert_string_equal(g.idempotency_key, "k1");
    assert_int_equal(g.state, DLQ_JOB_QUEUED);
    assert_true(g.backoff_factor == 2.0);
    dlq_job_clear(&g);
    assert_int_equal(dlq_store_job_get(x->s, "job_a", "other", &g, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(dlq_store_job_get(x->s, "nope", NULL, &g, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    struct dlq_queue_info q = queue_info(x, "q1", NULL);
    assert_int_equal(q.n[DLQ_JOB_QUEUED], 1);
    assert_int_equal(q.n[DLQ_JOB_SCHEDULED], 1);
    assert_int_equal(q.oldest_ready_at, T0);
    recount(x);
}

static void test_reserve_order_filters(void **state)
{
    struct fx *x = *state;
    enq(x, mk("job_1", "q", "t.a", 0, T0 - 30));
    enq(x, mk("job_2", "q", "t.b", 5, T0 - 10));
    enq(x, mk("job_3", "q", "t.a", 5, T0 - 20));
    enq(x, mk("job_4", "q", "t.c", -1, T0 - 40));
    enq(x, mk("job_5", "other", "t.a", 9, T0));
    struct dlq_queue_info qi = queue_info(x, "q", NULL);
    assert_int_equal(qi.oldest_ready_at, T0 - 40);
    struct dlq_job out[10];
    const char *tasks[] = {"t.a", "t.b"};
    size_t n = reserve(x, "q", 10, tasks, 2, T0, out);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].job_id, "job_3"); /* priority 5, older */
    assert_string_equal(out[1].job_id, "job_2");
    assert_string_equal(out[2].job_id, "job_1");
    assert_int_equal(out[0].state, DLQ_JOB_RUNNING);
    assert_int_equal(out[0].attempt, 1);
    assert_int_equal(strlen(out[0].lease_token), 32);
    assert_string_not_equal(out[0].lease_token, out[1].lease_token);
    assert_int_equal(out[0].lease_expires_at, T0 + 30000);
    assert_string_equal(out[0].worker_id, "w1");
    assert_string_equal(out[0].args, "[1,2]");
    clear_jobs(out, n);

    /* Paused: nothing; resumed: the rest. */
    struct dlq_queue_settings qs;
    assert_int_equal(dlq_store_queue_settings_get(x->s, "q", &qs, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(qs.max_replays, -1);
    assert_int_equal(qs.paused, 0);
    qs.paused = 1;
    assert_int_equal(dlq_store_queue_settings_put(x->s, &qs, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(reserve(x, "q", 10, NULL, 0, T0, out), 0);
    qs.paused = 0;
    assert_int_equal(dlq_store_queue_settings_put(x->s, &qs, x->err, sizeof x->err), DLQ_OK);
    n = reserve(x, "q", 10, NULL, 0, T0, out);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].job_id, "job_4");
    clear_jobs(out, n);
    assert_int_equal(reserve(x, "q", 10, NULL, 0, T0, out), 0);
    qi = queue_info(x, "q", NULL);
    assert_int_equal(qi.n[DLQ_JOB_RUNNING], 4);
    assert_int_equal(qi.n[DLQ_JOB_QUEUED], 0);
    assert_int_equal(qi.oldest_ready_at, 0);
    recount(x);
}

static void test_lease_checks(void **state)
{
    struct fx *x = *state;
    struct dlq_job t = mk("job_t", "q", "t.a", 0, T0);
    t.tenant_id = (char *)"acme";
    enq(x, t);
    struct dlq_job out[1];
    assert_int_equal(reserve(x, "q", 1, NULL, 0, T0, out), 1);
    struct dlq_job_result r;
    struct dlq_job_ack a = {"job_t", "00000000000000000000000000000000", NULL};
    assert_int_equal(dlq_store_job_ack(x->s, &a, 1, NULL, T0 + 5, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.code, DLQ_E_CONFLICT);
    assert_non_null(strstr(r.detail, "is running"));
    /* Another tenant does not see it. */
    a.lease_token = out[0].lease_token;
    assert_int_equal(dlq_store_job_ack(x->s, &a, 1, "other", T0 + 5, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.code, DLQ_E_NOTFOUND);
    assert_int_equal(dlq_store_job_heartbeat(x->s, "job_t", out[0].lease_token, "acme", 100,
                                             T0 + 10, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.lease_expires_at, T0 + 10 + 100000);
    a.result = "{\"ok\":true}";
    assert_int_equal(dlq_store_job_ack(x->s, &a, 1, "acme", T0 + 20, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.code, DLQ_OK);
    assert_int_equal(r.state, DLQ_JOB_SUCCEEDED);
    /* A late ack, heartbeat or fail: 409 naming the state. */
    assert_int_equal(dlq_store_job_ack(x->s, &a, 1, NULL, T0 + 30, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.code, DLQ_E_CONFLICT);
    assert_non_null(strstr(r.detail, "is succeeded: the lease is no longer held"));
    assert_int_equal(dlq_store_job_heartbeat(x->s, "job_t", out[0].lease_token, NULL, 0, T0 + 30,
                                             &r, x->err, sizeof x->err),
                     DLQ_E_CONFLICT);
    assert_int_equal(fail_job(x, &out[0], 1, DLQ_REASON_NONE, T0 + 30, &r), DLQ_E_CONFLICT);
    assert_int_equal(
        dlq_store_job_heartbeat(x->s, "nope", "x", NULL, 0, T0, &r, x->err, sizeof x->err),
        DLQ_E_NOTFOUND);
    struct dlq_job g;
    assert_int_equal(dlq_store_job_get(x->s, "job_t", "acme", &g, x->err, sizeof x->err), DLQ_OK);
    assert_string_equal(g.result, "{\"ok\":true}");
    assert_int_equal(g.finished_at, T0 + 20);
    assert_non_null(strstr(g.attempts, "\"outcome\":\"succeeded\""));
    assert_non_null(strstr(g.attempts, "\"duration_ms\":20"));
    dlq_job_clear(&g);
    clear_jobs(out, 1);
    /* cancel: a queued job only. */
    enq(x, mk("job_c", "q", "t.a", 0, T0));
    assert_int_equal(dlq_store_job_cancel(x->s, "job_c", NULL, T0, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.state, DLQ_JOB_CANCELLED);
    assert_int_equal(dlq_store_job_cancel(x->s, "job_c", NULL, T0, &r, x->err, sizeof x->err),
                     DLQ_E_CONFLICT);
    assert_non_null(strstr(x->err, "cancelled"));
    recount(x);
}

/* run_to_dead fails job id on every attempt (retrying through the timer)
 * until it is dead; returns the dlq_id. */
static void run_to_dead(struct fx *x, const char *id, int max_retries, char dlq_id[40])
{
    int64_t now = T0;
    struct dlq_job out[1];
    struct dlq_job_result r;
    for (int attempt = 1; attempt <= max_retries + 1; attempt++) {
        assert_int_equal(reserve(x, "q", 1, NULL, 0, now, out), 1);
        assert_string_equal(out[0].job_id, id);
        assert_int_equal(out[0].attempt, attempt);
        assert_int_equal(fail_job(x, &out[0], 1, DLQ_REASON_NONE, now + 100, &r), DLQ_OK);
        assert_int_equal(r.attempt, attempt);
        clear_jobs(out, 1);
        if (attempt <= max_retries) {
            assert_int_equal(r.state, DLQ_JOB_SCHEDULED);
            int64_t cap = dlq_backoff_cap_ms(1000, 2.0, 60000, attempt);
            assert_true(r.next_run_at >= now + 100 && r.next_run_at <= now + 100 + cap);
            int64_t ready, expired, next, promoted;
            assert_int_equal(dlq_store_job_tick(x->s, now + 100, 100, &ready, &expired, &next,
                                                x->err, sizeof x->err),
                             DLQ_OK);
            promoted = ready;
            if (r.next_run_at > now + 100) {
                assert_int_equal(ready, 0);
                assert_int_equal(next, r.next_run_at);
            }
            now = r.next_run_at;
            assert_int_equal(
                dlq_store_job_tick(x->s, now, 100, &ready, &expired, &next, x->err, sizeof x->err),
                DLQ_OK);
            assert_int_equal(promoted + ready, 1);
        } else {
            assert_int_equal(r.state, DLQ_JOB_DEAD);
            assert_memory_equal(r.dlq_id, "dlq_", 4);
            snprintf(dlq_id, 40, "%s", r.dlq_id);
        }
    }
}

static void test_retries_then_dead(void **state)
{
    struct fx *x = *state;
    enq(x, mk("job_r", "q", "t.fail", 0, T0));
    char dlq_id[40];
    run_to_dead(x, "job_r", 3, dlq_id);
    struct dlq_entry e;
    struct dlq_event *h;
    size_t n;
    assert_int_equal(dlq_store_get(x->s, dlq_id, NULL, &e, &h, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(e.reason, DLQ_REASON_MAX_RETRIES_EXCEEDED);
    assert_int_equal(e.status, DLQ_STATUS_PENDING_REVIEW);
    assert_int_equal(e.retries_attempted, 4);
    assert_string_equal(e.original_task_id, "job_r");
    assert_string_equal(e.task_name, "t.fail");
    assert_string_equal(e.task_args, "[1,2]");
    assert_string_equal(e.exc_type, "ValueError");
    assert_string_equal(e.exc_message, "bad 42");
    assert_string_equal(e.queue, "q");
    assert_int_equal(n, 5); /* captured + one per attempt */
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(h[i].event, "attempt_failed") == 0) {
            failed++;
            assert_string_equal(h[i].actor, "w1");
            assert_non_null(strstr(h[i].details, "\"error\":{\"type\":\"ValueError\""));
            assert_non_null(strstr(h[i].details, "\"duration_ms\":100"));
        }
    }
    assert_int_equal(failed, 4);
    dlq_events_free(h, n);
    dlq_entry_clear(&e);
    struct dlq_job g;
    assert_int_equal(dlq_store_job_get(x->s, "job_r", NULL, &g, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(g.state, DLQ_JOB_DEAD);
    assert_string_equal(g.dlq_id, dlq_id);
    assert_non_null(strstr(g.last_error, "ValueError"));
    dlq_job_clear(&g);
    recount(x);
}

static void test_non_retryable(void **state)
{
    struct fx *x = *state;
    const enum dlq_reason reasons[] = {DLQ_REASON_INVALID_ARGUMENTS, DLQ_REASON_JOB_NOT_FOUND,
                                       DLQ_REASON_NONE};
    const enum dlq_reason want[] = {DLQ_REASON_INVALID_ARGUMENTS, DLQ_REASON_JOB_NOT_FOUND,
                                    DLQ_REASON_PERMANENT_FAILURE};
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "job_n%d", i);
        enq(x, mk(id, "q", "t.a", 0, T0));
        struct dlq_job out[1];
        struct dlq_job_result r;
        assert_int_equal(reserve(x, "q", 1, NULL, 0, T0, out), 1);
        assert_int_equal(fail_job(x, &out[0], 0, reasons[i], T0 + 1, &r), DLQ_OK);
        assert_int_equal(r.state, DLQ_JOB_DEAD);
        assert_int_equal(r.attempt, 1);
        struct dlq_entry e;
        assert_int_equal(dlq_store_get(x->s, r.dlq_id, NULL, &e, NULL, NULL, x->err, sizeof x->err),
                         DLQ_OK);
        assert_int_equal(e.reason, want[i]);
        dlq_entry_clear(&e);
        clear_jobs(out, 1);
    }
    recount(x);
}

static void test_tick_lease_expiry(void **state)
{
    struct fx *x = *state;
    struct dlq_job j = mk("job_l", "q", "t.slow", 0, T0);
    j.max_retries = 1;
    j.backoff_base_ms = 0;
    enq(x, j);
    enq(x, mk("job_later", "q", "t.a", 0, T0 + 60000));
    struct dlq_job out[1];
    int64_t ready, expired, next;
    assert_int_equal(reserve(x, "q", 1, NULL, 0, T0, out), 1);
    clear_jobs(out, 1);
    assert_int_equal(
        dlq_store_job_tick(x->s, T0 + 1000, 100, &ready, &expired, &next, x->err, sizeof x->err),
        DLQ_OK);
    assert_int_equal(expired, 0);
    assert_int_equal(next, T0 + 30000);
    assert_int_equal(
        dlq_store_job_tick(x->s, T0 + 30000, 100, &ready, &expired, &next, x->err, sizeof x->err),
        DLQ_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(next, T0 + 30000); /* backoff 0: due at once */
    assert_int_equal(
        dlq_store_job_tick(x->s, T0 + 30000, 100, &ready, &expired, &next, x->err, sizeof x->err),
        DLQ_OK);
    assert_int_equal(ready, 1);
    assert_int_equal(next, T0 + 60000);
    assert_int_equal(reserve(x, "q", 1, NULL, 0, T0 + 31000, out), 1);
    assert_int_equal(out[0].attempt, 2);
    clear_jobs(out, 1);
    assert_int_equal(
        dlq_store_job_tick(x->s, T0 + 61000, 100, &ready, &expired, &next, x->err, sizeof x->err),
        DLQ_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(ready, 1); /* job_later */
    struct dlq_job g;
    assert_int_equal(dlq_store_job_get(x->s, "job_l", NULL, &g, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(g.state, DLQ_JOB_DEAD);
    assert_non_null(strstr(g.attempts, "\"outcome\":\"timeout\""));
    assert_non_null(strstr(g.last_error, "lease expired after 30 s"));
    struct dlq_entry e;
    assert_int_equal(dlq_store_get(x->s, g.dlq_id, NULL, &e, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(e.reason, DLQ_REASON_TIMEOUT);
    assert_string_equal(e.exc_type, "timeout");
    dlq_entry_clear(&e);
    dlq_job_clear(&g);
    recount(x);
}

static void put_entry(struct fx *x, const char *id, const char *args, int max_replays)
{
    struct dlq_entry e;
    struct dlq_capture_result res;
    mk_entry(&e, id, "t.replay", 1000);
    fset(&e.task_args, args);
    fset(&e.queue, "q");
    e.max_replays = max_replays;
    e.retries_attempted = 4;
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "test", &res, x->err, sizeof x->err), DLQ_OK);
    dlq_entry_clear(&e);
}

static enum dlq_status entry_status(struct fx *x, const char *id, char **rtype)
{
    struct dlq_entry e;
    assert_int_equal(dlq_store_get(x->s, id, NULL, &e, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
    enum dlq_status st = e.status;
    if (rtype)
        *rtype = e.resolution_type ? strdup(e.resolution_type) : NULL;
    dlq_entry_clear(&e);
    return st;
}

static void test_replay_jobs(void **state)
{
    struct fx *x = *state;
    put_entry(x, "dlq_ok", "{\"a\":1}", 3);
    put_entry(x, "dlq_bad", "[7]", 1);
    struct dlq_act a = {.action = DLQ_ACTION_RETRY, .now = T0, .actor = "alice"};
    assert_int_equal(
        dlq_store_act(x->s, "dlq_ok", &a, "job_rp1", NULL, NULL, x->err, sizeof x->err), DLQ_OK);
    struct dlq_edit ed = {NULL, NULL, "q", 0};
    a.edit = &ed;
    a.keep_attempts = 1;
    assert_int_equal(
        dlq_store_act(x->s, "dlq_bad", &a, "job_rp2", NULL, NULL, x->err, sizeof x->err), DLQ_OK);

    struct dlq_job g;
    assert_int_equal(dlq_store_job_get(x->s, "job_rp1", NULL, &g, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(g.state, DLQ_JOB_QUEUED);
    assert_string_equal(g.replay_of, "dlq_ok");
    assert_string_equal(g.args, "[{\"a\":1}]"); /* not an array: wrapped */
    assert_int_equal(g.attempt, 0);
    assert_int_equal(g.max_retries, DLQ_JOB_MAX_RETRIES_DEFAULT);
    assert_string_equal(g.queue, "q");
    dlq_job_clear(&g);
    assert_int_equal(dlq_store_job_get(x->s, "job_rp2", NULL, &g, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(g.attempt, 4);
    assert_int_equal(g.max_retries, 0);
    dlq_job_clear(&g);

    struct dlq_job out[2];
    assert_int_equal(reserve(x, "q", 2, NULL, 0, T0, out), 2);
    struct dlq_job *ok = strcmp(out[0].job_id, "job_rp1") == 0 ? &out[0] : &out[1];
    struct dlq_job *bad = ok == &out[0] ? &out[1] : &out[0];
    struct dlq_job_ack ack = {ok->job_id, ok->lease_token, NULL};
    struct dlq_job_result r;
    assert_int_equal(dlq_store_job_ack(x->s, &ack, 1, NULL, T0 + 5, &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.code, DLQ_OK);
    char *rtype = NULL;
    assert_int_equal(entry_status(x, "dlq_ok", &rtype), DLQ_STATUS_RESOLVED);
    assert_string_equal(rtype, "replay_succeeded");
    free(rtype);
    /* max_retries 0: the first failure is the last: the entry returns, at
     * its cap of one replay it requires review. */
    assert_int_equal(fail_job(x, bad, 1, DLQ_REASON_NONE, T0 + 6, &r), DLQ_OK);
    assert_int_equal(r.state, DLQ_JOB_DEAD);
    assert_string_equal(r.dlq_id, "dlq_bad");
    assert_int_equal(entry_status(x, "dlq_bad", NULL), DLQ_STATUS_REQUIRES_REVIEW);
    clear_jobs(out, 2);
    struct dlq_entry e;
    struct dlq_event *h;
    size_t n;
    assert_int_equal(dlq_store_get(x->s, "dlq_bad", NULL, &e, &h, &n, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(e.exc_message, "bad 42");
    assert_string_equal(h[n - 1].event, "replay_failed");
    dlq_events_free(h, n);
    dlq_entry_clear(&e);

    /* Bulk replay creates a job per entry, in its transaction. */
    put_entry(x, "dlq_m1", "[1]", 3);
    put_entry(x, "dlq_m2", "[2]", 3);
    const char *ids[] = {"dlq_m1", "dlq_m2", "dlq_none"};
    const char *rt[] = {"job_m1", "job_m2", "job_m3"};
    struct dlq_act_result res[3];
    struct dlq_act b = {.action = DLQ_ACTION_RETRY, .now = T0, .actor = "bob"};
    assert_int_equal(dlq_store_act_many(x->s, ids, 3, &b, rt, NULL, res, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(res[2].code, DLQ_E_NOTFOUND);
    assert_int_equal(queue_info(x, "q", NULL).n[DLQ_JOB_QUEUED], 2);
    recount(x);
}

static void test_webhook_dispatch(void **state)
{
    struct fx *x = *state;
    struct dlq_queue_settings qs = {.queue = "hooks",
                                    .target = DLQ_TARGET_WEBHOOK,
                                    .webhook_url = "http://127.0.0.1:1/h",
                                    .max_replays = 5};
    assert_int_equal(dlq_store_queue_settings_put(x->s, &qs, x->err, sizeof x->err), DLQ_OK);
    struct dlq_entry e;
    struct dlq_capture_result cr;
    mk_entry(&e, "dlq_h", "t.h", 1000);
    fset(&e.queue, "hooks");
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "test", &cr, x->err, sizeof x->err), DLQ_OK);
    dlq_entry_clear(&e);
    struct dlq_act a = {.action = DLQ_ACTION_RETRY, .now = T0, .actor = "alice"};
    assert_int_equal(dlq_store_act(x->s, "dlq_h", &a, "job_h", NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    struct dlq_job out[4];
    /* Workers never see it. */
    assert_int_equal(reserve(x, "hooks", 4, NULL, 0, T0, out), 0);
    struct dlq_reserve rq = {
        .max = 4, .worker_id = "dispatcher", .target = DLQ_TARGET_WEBHOOK, .now = T0};
    size_t n;
    assert_int_equal(dlq_store_job_reserve(x->s, &rq, out, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].target, DLQ_TARGET_WEBHOOK);
    assert_int_equal(dlq_store_job_dispatched(x->s, "job_h", out[0].lease_token, "ext-9", T0 + 1,
                                              x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(dlq_store_job_dispatched(x->s, "job_h", out[0].lease_token, NULL, T0 + 1,
                                              x->err, sizeof x->err),
                     DLQ_E_CONFLICT);
    clear_jobs(out, n);
    assert_int_equal(dlq_store_get(x->s, "dlq_h", NULL, &e, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(e.retry_task_id, "ext-9");
    assert_int_equal(e.status, DLQ_STATUS_RETRIED);
    dlq_entry_clear(&e);
    struct dlq_queue_info qi = queue_info(x, "hooks", NULL);
    assert_int_equal(qi.n[DLQ_JOB_DISPATCHED], 1);
    assert_int_equal(qi.settings.target, DLQ_TARGET_WEBHOOK);
    assert_string_equal(qi.settings.webhook_url, "http://127.0.0.1:1/h");
    recount(x);
}

static void test_counts_purge_settings(void **state)
{
    struct fx *x = *state;
    struct dlq_job a = mk("job_p1", "q", "t.a", 0, T0), b = mk("job_p2", "q", "t.a", 0, T0);
    b.tenant_id = (char *)"acme";
    enq(x, a);
    enq(x, b);
    enq(x, mk("job_p3", "q", "t.a", 0, T0));
    struct dlq_job out[3];
    assert_int_equal(reserve(x, "q", 3, NULL, 0, T0, out), 3);
    struct dlq_job_ack acks[3];
    struct dlq_job_result r[3];
    for (int i = 0; i < 3; i++)
        acks[i] = (struct dlq_job_ack){out[i].job_id, out[i].lease_token, NULL};
    acks[2].lease_token = "bad";
    assert_int_equal(dlq_store_job_ack(x->s, acks, 3, NULL, T0 + 10, r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r[0].code, DLQ_OK);
    assert_int_equal(r[2].code, DLQ_E_CONFLICT);
    clear_jobs(out, 3);
    struct dlq_queue_info qi = queue_info(x, "q", "acme");
    assert_int_equal(qi.n[DLQ_JOB_SUCCEEDED] + qi.n[DLQ_JOB_RUNNING], 1);
    qi = queue_info(x, "q", NULL);
    assert_int_equal(qi.n[DLQ_JOB_SUCCEEDED], 2);
    assert_int_equal(qi.n[DLQ_JOB_RUNNING], 1);
    recount(x);

    int64_t n;
    assert_int_equal(dlq_store_job_purge(x->s, T0 + 5, 10, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(dlq_store_job_purge(x->s, T0 + 11, 1, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(dlq_store_job_purge(x->s, T0 + 11, 10, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 1);
    qi = queue_info(x, "q", NULL);
    assert_int_equal(qi.n[DLQ_JOB_SUCCEEDED], 0);
    recount(x);

    /* Settings: a queue with settings only is listed; sorted by name. */
    struct dlq_queue_settings qs = {.queue = "a-first", .max_replays = 7, .paused = 1};
    snprintf(qs.webhook_secret, sizeof qs.webhook_secret, "s3cret");
    assert_int_equal(dlq_store_queue_settings_put(x->s, &qs, x->err, sizeof x->err), DLQ_OK);
    struct dlq_queue_info *list;
    size_t nq;
    assert_int_equal(dlq_store_queue_list(x->s, NULL, &list, &nq, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(nq, 2);
    assert_string_equal(list[0].queue, "a-first");
    assert_int_equal(list[0].settings.max_replays, 7);
    assert_int_equal(list[0].settings.paused, 1);
    assert_string_equal(list[0].settings.webhook_secret, "s3cret");
    assert_string_equal(list[1].queue, "q");
    free(list);
}

/* A version 4 database (issue 3's schema) upgrades to the job queue's. On
 * PostgreSQL the version 4 schema is made by taking step 5 back out. */
static void test_upgrade_from_v4(void **state)
{
    (void)state;
    struct fx x;
    char err[256];
    assert_int_equal(fx_mkdir(&x), 0);
    if (fx_on_pg()) {
        assert_int_equal(fx_open(&x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
        dlq_store_close(x.s);
        x.s = NULL;
        assert_int_equal(
            fx_exec(&x, NULL,
                    "DROP TABLE jobs, queue_counts, queue_settings;"
                    " DROP FUNCTION dlq_qcounts_ins(), dlq_qcounts_upd(),"
                    " dlq_qcounts_del(), dlq_fold(); UPDATE schema_version SET version = 4"),
            0);
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(x.path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        for (int step = 1; step <= 4; step++)
            assert_int_equal(dlq_sq_schema_step(db, step, err, sizeof err), DLQ_OK);
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    assert_int_not_equal(fx_open(&x, DLQ_DURABILITY_NORMAL, 0), DLQ_OK);
    assert_non_null(strstr(x.err, "version 4"));
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
    int from, to;
    assert_int_equal(dlq_store_migrate(x.s, &from, &to, x.err, sizeof x.err), DLQ_OK);
    assert_int_equal(from, 4);
    /* both backends number their schema steps alike */
    assert_int_equal(to, dlq_sq_schema_latest());
    enq(&x, mk("job_u", "q", "t.a", 0, T0));
    assert_int_equal(queue_info(&x, "q", NULL).n[DLQ_JOB_QUEUED], 1);
    fx_rm(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_idempotency_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reserve_order_filters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lease_checks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retries_then_dead, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_non_retryable, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tick_lease_expiry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_replay_jobs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_webhook_dispatch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_counts_purge_settings, fx_setup, fx_teardown),
        cmocka_unit_test(test_upgrade_from_v4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
