/*
 * test_store_cluster.c: the store calls that let several servers share one
 * store (issue 7): named locks and the watch. Two stores are opened on one
 * location, as two servers would. On PostgreSQL a lock is held by one of
 * them at a time and freed when its holder closes, and jobs made ready
 * through one are heard by the other's watcher. On SQLite (one process
 * owns a file) every lock is granted and the watcher is never called.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "test_store_fixture.h"

struct heard {
    pthread_mutex_t mu;
    char queues[16][64];
    int nq, ticks;
};

static void on_watch(void *ctx, const char *queue)
{
    struct heard *h = ctx;
    pthread_mutex_lock(&h->mu);
    if (queue == NULL)
        h->ticks++;
    else if (h->nq < 16)
        snprintf(h->queues[h->nq++], 64, "%s", queue);
    pthread_mutex_unlock(&h->mu);
}

/* heard_queue waits up to ms for the watcher to hear queue; 1 if it did. */
static int heard_queue(struct heard *h, const char *queue, int ms)
{
    for (int waited = 0; waited <= ms; waited += 20) {
        pthread_mutex_lock(&h->mu);
        int found = 0;
        for (int i = 0; i < h->nq; i++)
            found |= strcmp(h->queues[i], queue) == 0;
        pthread_mutex_unlock(&h->mu);
        if (found)
            return 1;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* second opens another store on x's location into *out. */
static void second(struct fx *x, struct dlq_store **out)
{
    struct dlq_store_config cfg = {
        .path = x->path, .durability = DLQ_DURABILITY_NORMAL, .busy_timeout_ms = 5000};
    assert_int_equal(
        dlq_store_open(dlq_store_backend_of(x->path), &cfg, out, x->err, sizeof x->err), DLQ_OK);
}

static void test_locks(void **state)
{
    struct fx *x = *state;
    struct dlq_store *b = NULL;
    int held = -1;
    assert_int_equal(dlq_store_lock_try(x->s, "maintenance", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 1);
    /* asking again for a lock one holds keeps it */
    assert_int_equal(dlq_store_lock_try(x->s, "maintenance", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 1);
    if (!fx_on_pg()) {
        assert_int_equal(dlq_store_lock_try(x->s, "op:x", &held, x->err, sizeof x->err), DLQ_OK);
        assert_int_equal(held, 1);
        dlq_store_lock_release(x->s, "op:x");
        return;
    }
    second(x, &b);
    assert_int_equal(dlq_store_lock_try(b, "maintenance", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 0); /* the first store has it */
    assert_int_equal(dlq_store_lock_try(b, "alerts", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 1); /* another name is another lock */
    dlq_store_lock_release(x->s, "maintenance");
    assert_int_equal(dlq_store_lock_try(b, "maintenance", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 1); /* released: the second takes it */
    assert_int_equal(dlq_store_lock_try(x->s, "alerts", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 0);
    dlq_store_close(b); /* its holder gone, the database frees its locks (its session
                           ends a moment after the close: try for up to 2 s) */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(dlq_store_lock_try(x->s, "alerts", &held, x->err, sizeof x->err), DLQ_OK);
        if (held)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(held, 1);
    assert_int_equal(dlq_store_lock_try(x->s, "maintenance", &held, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(held, 1);
}

static void test_watch(void **state)
{
    struct fx *x = *state;
    struct heard h = {.nq = 0, .ticks = 0};
    pthread_mutex_init(&h.mu, NULL);
    struct dlq_store *b = NULL;
    second(x, &b);
    assert_int_equal(dlq_store_watch(x->s, on_watch, &h, x->err, sizeof x->err), DLQ_OK);
    /* a ready job enqueued through the other store */
    struct dlq_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.job_id, sizeof j.job_id, "job_watch1");
    j.queue = (char *)"q.watched";
    j.task_name = (char *)"t.w";
    j.args = (char *)"[]";
    j.state = DLQ_JOB_QUEUED;
    j.run_at = j.created_at = j.updated_at = 1700000000000LL;
    j.max_retries = 1;
    j.timeout_s = 30;
    j.backoff_base_ms = 1000;
    j.backoff_factor = 2.0;
    j.backoff_max_ms = 60000;
    j.tenant_id = (char *)"";
    struct dlq_job_result r;
    assert_int_equal(dlq_store_job_enqueue(b, &j, 1, &r, x->err, sizeof x->err), DLQ_OK);
    if (fx_on_pg()) {
        assert_true(heard_queue(&h, "q.watched", 5000));
        struct timespec ts = {1, 300 * 1000000L}; /* the timer tick comes about every second */
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&h.mu);
        assert_true(h.ticks >= 1);
        pthread_mutex_unlock(&h.mu);
    } else {
        assert_false(heard_queue(&h, "q.watched", 300));
    }
    /* watch(NULL) stops it; nothing is heard after */
    assert_int_equal(dlq_store_watch(x->s, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
    pthread_mutex_lock(&h.mu);
    int before = h.ticks + h.nq;
    pthread_mutex_unlock(&h.mu);
    snprintf(j.job_id, sizeof j.job_id, "job_watch2");
    assert_int_equal(dlq_store_job_enqueue(b, &j, 1, &r, x->err, sizeof x->err), DLQ_OK);
    struct timespec ts = {1, 200 * 1000000L};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&h.mu);
    assert_int_equal(h.ticks + h.nq, before);
    pthread_mutex_unlock(&h.mu);
    dlq_store_close(b);
    pthread_mutex_destroy(&h.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_locks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
