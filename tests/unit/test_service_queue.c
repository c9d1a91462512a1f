/*
 * test_service_queue.c: the job queue's service layer over a real SQLite
 * store: enqueue stamps (ids, queued vs scheduled, tenant forcing), the
 * reserve waiters (woken by an enqueue, by the timer promoting a delayed
 * job, at their deadline, at close; a stale epoch is refused) and the timer
 * expiring a lease.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dlq/service.h"

struct fx {
    char dir[64], path[96];
    struct dlq_store *store;
    struct dlq_service *svc;
    struct dlq_principal admin;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/dlq-svcq-test-XXXXXX");
    if (!mkdtemp(x->dir))
        return -1;
    snprintf(x->path, sizeof x->path, "%s/t.db", x->dir);
    struct dlq_store_config cfg = {.path = x->path,
                                   .durability = DLQ_DURABILITY_NORMAL,
                                   .busy_timeout_ms = 5000,
                                   .migrate = 1};
    char err[256];
    if (dlq_store_open("sqlite", &cfg, &x->store, err, sizeof err) != DLQ_OK)
        return -1;
    if (dlq_service_new(x->store, NULL, &x->svc) != DLQ_OK)
        return -1;
    if (dlq_service_jobs_start(x->svc, err, sizeof err) != DLQ_OK)
        return -1;
    snprintf(x->admin.name, sizeof x->admin.name, "admin");
    x->admin.role = DLQ_ROLE_ADMIN;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    dlq_service_jobs_stop(x->svc);
    dlq_service_free(x->svc);
    dlq_store_close(x->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
    if (system(cmd) != 0)
        return -1;
    free(x);
    return 0;
}

/* A waiter whose callback records when it ran. */
struct probe {
    struct dlq_job_waiter w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fired;
    int64_t at_ns;
};

static void probe_fn(void *arg)
{
    struct probe *p = arg;
    pthread_mutex_lock(&p->mu);
    p->fired++;
    p->at_ns = dlq_mono_ns();
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void probe_init(struct probe *p, const char *queue, int64_t wait_ms)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    snprintf(p->w.queue, sizeof p->w.queue, "%s", queue);
    p->w.deadline_ns = dlq_mono_ns() + wait_ms * 1000000LL;
    p->w.fn = probe_fn;
    p->w.arg = p;
}

/* probe_wait waits up to ms for the callback; returns how often it ran. */
static int probe_wait(struct probe *p, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->fired && pthread_cond_timedwait(&p->cv, &p->mu, &ts) == 0)
        ;
    int n = p->fired;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void probe_destroy(struct probe *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

static int enqueue(struct fx *x, const struct dlq_principal *p, const char *queue, int64_t delay_ms,
                   struct dlq_job_result *res)
{
    struct dlq_job_spec sp;
    struct dlq_errors e;
    memset(&e, 0, sizeof e);
    char body[128];
    snprintf(body, sizeof body, "{\"task_name\":\"t\",\"delay_ms\":%lld}", (long long)delay_ms);
    assert_int_equal(dlq_job_spec_from_json(body, strlen(body), &sp, &e), DLQ_OK);
    char err[256] = "";
    int rc = dlq_service_job_enqueue(x->svc, p, queue, &sp, 1, res, err, sizeof err);
    dlq_job_spec_clear(&sp);
    return rc;
}

static size_t reserve(struct fx *x, const char *queue, int lease_s, struct dlq_job *out)
{
    struct dlq_job_reserve_req rq;
    memset(&rq, 0, sizeof rq);
    rq.count = 1;
    rq.lease_s = lease_s;
    snprintf(rq.worker_id, sizeof rq.worker_id, "w");
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(
        dlq_service_job_reserve(x->svc, &x->admin, queue, &rq, out, &n, err, sizeof err), DLQ_OK);
    return n;
}

static void test_enqueue_stamps_and_tenant(void **state)
{
    struct fx *x = *state;
    struct dlq_job_result res;
    assert_int_equal(enqueue(x, &x->admin, "qa", 0, &res), DLQ_OK);
    assert_int_equal(res.code, DLQ_OK);
    assert_int_equal(res.created, 1);
    assert_int_equal(strncmp(res.job_id, "job_", 4), 0);
    assert_int_equal(strlen(res.job_id), 30);
    assert_int_equal(res.state, DLQ_JOB_QUEUED);
    assert_int_equal(enqueue(x, &x->admin, "qa", 60000, &res), DLQ_OK);
    assert_int_equal(res.state, DLQ_JOB_SCHEDULED);

    struct dlq_principal bound = x->admin;
    snprintf(bound.tenant_id, sizeof bound.tenant_id, "acme");
    assert_int_equal(enqueue(x, &bound, "qa", 0, &res), DLQ_OK);
    struct dlq_job j;
    char err[256];
    assert_int_equal(dlq_service_job_get(x->svc, &x->admin, res.job_id, &j, err, sizeof err),
                     DLQ_OK);
    assert_string_equal(j.tenant_id, "acme");
    assert_string_equal(j.queue, "qa");
    dlq_job_clear(&j);
    struct dlq_principal other = x->admin;
    snprintf(other.tenant_id, sizeof other.tenant_id, "globex");
    assert_int_equal(dlq_service_job_get(x->svc, &other, res.job_id, &j, err, sizeof err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(enqueue(x, &x->admin, "bad name", 0, &res), DLQ_E_INVAL);
}

static void test_waiter_woken_by_enqueue(void **state)
{
    struct fx *x = *state;
    struct probe p;
    probe_init(&p, "qb", 10000);
    uint64_t e = dlq_service_job_epoch(x->svc, "qb");
    assert_int_equal(dlq_service_job_wait(x->svc, &p.w, e), 0);
    struct dlq_job_result res;
    int64_t t0 = dlq_mono_ns();
    assert_int_equal(enqueue(x, &x->admin, "qb", 0, &res), DLQ_OK);
    assert_int_equal(probe_wait(&p, 5000), 1);
    assert_true(p.at_ns - t0 < 2000000000LL);
    /* a stale epoch is refused: the caller must try again */
    assert_int_equal(dlq_service_job_wait(x->svc, &p.w, e), 1);
    probe_destroy(&p);
}

static void test_waiter_deadline_and_unwait(void **state)
{
    struct fx *x = *state;
    struct probe p;
    probe_init(&p, "qc", 150);
    int64_t t0 = dlq_mono_ns();
    assert_int_equal(dlq_service_job_wait(x->svc, &p.w, dlq_service_job_epoch(x->svc, "qc")), 0);
    assert_int_equal(probe_wait(&p, 5000), 1);
    assert_true(p.at_ns - t0 >= 140000000LL);
    probe_destroy(&p);

    probe_init(&p, "qc", 100);
    assert_int_equal(dlq_service_job_wait(x->svc, &p.w, dlq_service_job_epoch(x->svc, "qc")), 0);
    dlq_service_job_unwait(x->svc, &p.w);
    usleep(300000);
    assert_int_equal(probe_wait(&p, 1), 0);
    probe_destroy(&p);
}

static void test_timer_promotes_and_expires(void **state)
{
    struct fx *x = *state;
    struct probe p;
    probe_init(&p, "qd", 10000);
    struct dlq_job_result res;
    int64_t t0 = dlq_mono_ns();
    assert_int_equal(enqueue(x, &x->admin, "qd", 200, &res), DLQ_OK);
    assert_int_equal(dlq_service_job_wait(x->svc, &p.w, dlq_service_job_epoch(x->svc, "qd")), 0);
    assert_int_equal(probe_wait(&p, 5000), 1);
    assert_true(p.at_ns - t0 >= 150000000LL);
    struct dlq_job j[1];
    memset(j, 0, sizeof j);
    assert_int_equal(reserve(x, "qd", 1, j), 1);
    assert_string_equal(j[0].job_id, res.job_id);
    dlq_job_clear(&j[0]);
    probe_destroy(&p);
    /* the 1 s lease expires: the timer makes it a failed attempt and the
     * retry (1 s base backoff at most) comes back */
    probe_init(&p, "qd", 10000);
    assert_int_equal(dlq_service_job_wait(x->svc, &p.w, dlq_service_job_epoch(x->svc, "qd")), 0);
    assert_int_equal(probe_wait(&p, 5000), 1);
    probe_destroy(&p);
    struct dlq_job got;
    char err[256];
    for (int i = 0; i < 50; i++) {
        assert_int_equal(dlq_service_job_get(x->svc, &x->admin, res.job_id, &got, err, sizeof err),
                         DLQ_OK);
        int moved = got.state != DLQ_JOB_RUNNING;
        enum dlq_job_state st = got.state;
        dlq_job_clear(&got);
        if (moved) {
            assert_true(st == DLQ_JOB_SCHEDULED || st == DLQ_JOB_QUEUED);
            return;
        }
        usleep(100000);
    }
    fail_msg("the expired lease was not taken back");
}

static void test_close_fires_everything(void **state)
{
    struct fx *x = *state;
    struct probe p[3];
    for (int i = 0; i < 3; i++) {
        probe_init(&p[i], i ? "qe" : "qf", 30000);
        assert_int_equal(
            dlq_service_job_wait(x->svc, &p[i].w, dlq_service_job_epoch(x->svc, p[i].w.queue)), 0);
    }
    dlq_service_job_close(x->svc);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(probe_wait(&p[i], 1000), 1);
        assert_int_equal(
            dlq_service_job_wait(x->svc, &p[i].w, dlq_service_job_epoch(x->svc, p[i].w.queue)), 1);
        probe_destroy(&p[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_stamps_and_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiter_woken_by_enqueue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiter_deadline_and_unwait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_promotes_and_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_fires_everything, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
