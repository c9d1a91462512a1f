/*
 * test_store_sqlite.c: a backend through the store interface only (SQLite,
 * or PostgreSQL with DLQ_TEST_STORE: test_store_fixture.h):
 * open, migrate and reopen (schema version), capture of one entry and of a
 * batch with every field surviving the round trip, get by dlq_id and by
 * original task id, tenant restriction, history, idempotency (within a
 * batch, across batches, per tenant, across the statements of a long batch), concurrent captures
 * from 8 threads landing through group commit, groups where some requests fail (only those are
 * undone, counters included), durability across reopen, and tokens (a deferred touch reaches the
 * database on its own), and captures submitted without waiting (each done exactly once, failures
 * included). Listing is tested in test_store_list.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "test_store_fixture.h"

static int64_t total_of(struct dlq_store *s, const char *tenant)
{
    struct dlq_filter f;
    struct dlq_page p;
    char err[256];
    dlq_filter_init(&f);
    f.tenant_id = tenant;
    assert_int_equal(dlq_store_list(s, &f, &p, err, sizeof err), DLQ_OK);
    int64_t t = p.total;
    dlq_page_free(&p);
    return t;
}

static void test_open_migrate_reopen(void **state)
{
    (void)state;
    struct fx x;
    int from = -1, to = -1;
    assert_int_equal(fx_mkdir(&x), 0);

    /* A new database without migrate is refused with a clear message. */
    assert_int_not_equal(fx_open(&x, DLQ_DURABILITY_FULL, 0), DLQ_OK);
    assert_null(x.s);
    assert_non_null(strstr(x.err, "schema is at version 0, run dlq migrate"));

    assert_int_equal(fx_open(&x, DLQ_DURABILITY_FULL, 1), DLQ_OK);
    assert_int_equal(dlq_store_migrate(x.s, &from, &to, x.err, sizeof x.err), DLQ_OK);
    assert_int_equal(from, 0);
    assert_true(to >= 1);
    int latest = to;
    assert_int_equal(dlq_store_ping(x.s, x.err, sizeof x.err), DLQ_OK);
    dlq_store_close(x.s);
    x.s = NULL;

    /* Up to date: opens without migrate, and migrate is a no-op. */
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_NORMAL, 0), DLQ_OK);
    assert_int_equal(dlq_store_migrate(x.s, &from, &to, x.err, sizeof x.err), DLQ_OK);
    assert_int_equal(from, latest);
    assert_int_equal(to, latest);
    fx_rm(&x);

    /* Either backend fails cleanly where its store cannot be: a file in a
     * missing directory, a server nobody runs (port 1 refuses at once). */
    struct dlq_store_config cfg = {.path = "/nonexistent-dir/x/dlq.db", .migrate = 1};
    struct dlq_store *s = (struct dlq_store *)&cfg;
    assert_int_not_equal(dlq_store_open("sqlite", &cfg, &s, x.err, sizeof x.err), DLQ_OK);
    assert_null(s);
    cfg.path = "postgres://nobody@127.0.0.1:1/none?schema=x&connect_timeout=2";
    s = (struct dlq_store *)&cfg;
    assert_int_not_equal(dlq_store_open("postgres", &cfg, &s, x.err, sizeof x.err), DLQ_OK);
    assert_null(s);
    s = (struct dlq_store *)&cfg;
    assert_int_equal(dlq_store_open("nope", &cfg, &s, x.err, sizeof x.err), DLQ_E_INVAL);
    assert_null(s);
    assert_non_null(strstr(x.err, "unknown store backend"));
    assert_string_equal(dlq_store_backends()[0].name, "sqlite");
    assert_string_equal(dlq_store_backends()[1].name, "postgres");
    assert_null(dlq_store_backends()[2].name);
    assert_string_equal(dlq_store_backend_of(cfg.path), "postgres");
    assert_string_equal(dlq_store_backend_of("postgresql://h/db"), "postgres");
    assert_string_equal(dlq_store_backend_of("./dlq.db"), "sqlite");
}

/* full_entry sets every field to a distinct non-default value. */
static void full_entry(struct dlq_entry *e)
{
    mk_entry(e, "dlq_01FULL", "app.tasks.send_email", 1700000000123);
    fset(&e->original_task_id, "task-1");
    fset(&e->task_args, "[1,\"a\"]");
    fset(&e->task_kwargs, "{\"k\":\"v\"}");
    fset(&e->exc_traceback, "Traceback (most recent call last):\n  File \"x.py\"");
    fset(&e->tenant_id, "t1");
    e->retries_attempted = 3;
    e->processed_at = 1700000000999;
    e->status = DLQ_STATUS_REQUIRES_REVIEW;
    e->retry_count = 2;
    e->last_retry_at = 1700000001000;
    fset(&e->retry_task_id, "task-1-r2");
    e->resolved_at = 1700000002000;
    fset(&e->resolution_notes, "notes \"quoted\"");
    fset(&e->queue, "emails");
    e->priority = 7;
    e->reason = DLQ_REASON_TIMEOUT;
    fset(&e->error_code, "E42");
    fset(&e->fingerprint, "fedcba9876543210");
    fset(&e->resolution_type, "manual");
    fset(&e->resolved_by, "alice");
    e->max_replays = 5;
    e->expires_at = 1800000000000;
    fset(&e->metadata, "{\"m\":1}");
    fset(&e->context, "{\"request\":{}}");
    fset(&e->idempotency_key, "idem-full");
    e->updated_at = 1700000003000;
}

#define SAME_STR(f) assert_string_equal(a->f, b->f)
static void assert_same_entry(const struct dlq_entry *a, const struct dlq_entry *b)
{
    SAME_STR(dlq_id);
    SAME_STR(original_task_id);
    SAME_STR(task_name);
    SAME_STR(task_args);
    SAME_STR(task_kwargs);
    SAME_STR(exc_type);
    SAME_STR(exc_message);
    SAME_STR(exc_traceback);
    SAME_STR(tenant_id);
    SAME_STR(retry_task_id);
    SAME_STR(resolution_notes);
    SAME_STR(queue);
    SAME_STR(error_code);
    SAME_STR(fingerprint);
    SAME_STR(resolution_type);
    SAME_STR(resolved_by);
    SAME_STR(metadata);
    SAME_STR(context);
    SAME_STR(idempotency_key);
    assert_int_equal(a->retries_attempted, b->retries_attempted);
    assert_int_equal(a->failed_at, b->failed_at);
    assert_int_equal(a->processed_at, b->processed_at);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->retry_count, b->retry_count);
    assert_int_equal(a->last_retry_at, b->last_retry_at);
    assert_int_equal(a->resolved_at, b->resolved_at);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->reason, b->reason);
    assert_int_equal(a->max_replays, b->max_replays);
    assert_int_equal(a->expires_at, b->expires_at);
    assert_int_equal(a->updated_at, b->updated_at);
}

static void test_capture_one_get(void **state)
{
    struct fx *x = *state;
    struct dlq_entry e, got;
    struct dlq_capture_result r;
    struct dlq_event *hist;
    size_t nh;
    full_entry(&e);
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "producer-a", &r, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(r.code, DLQ_OK);
    assert_int_equal(r.created, 1);
    assert_string_equal(r.dlq_id, "dlq_01FULL");

    assert_int_equal(
        dlq_store_get(x->s, "dlq_01FULL", NULL, &got, &hist, &nh, x->err, sizeof x->err), DLQ_OK);
    assert_same_entry(&e, &got);
    assert_int_equal(nh, 1);
    assert_string_equal(hist[0].event, "captured");
    assert_string_equal(hist[0].actor, "producer-a");
    assert_int_equal(hist[0].at, e.processed_at);
    assert_non_null(strstr(hist[0].details, "\"reason\":\"timeout\""));
    assert_non_null(strstr(hist[0].details, "\"queue\":\"emails\""));
    dlq_events_free(hist, nh);
    dlq_entry_clear(&got);

    /* By original task id, without history. */
    assert_int_equal(dlq_store_get(x->s, "task-1", NULL, &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(got.dlq_id, "dlq_01FULL");
    dlq_entry_clear(&got);

    assert_int_equal(dlq_store_get(x->s, "nope", NULL, &got, &hist, &nh, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_null(hist);
    assert_int_equal(nh, 0);
    dlq_entry_clear(&e);
}

static void test_get_newest_by_task_id_and_tenant(void **state)
{
    struct fx *x = *state;
    struct dlq_entry e[4], got;
    struct dlq_capture_result r[4];
    mk_entry(&e[0], "dlq_A", "t.a", 1000);
    mk_entry(&e[1], "dlq_B", "t.a", 3000); /* newest for task-x in t1 */
    mk_entry(&e[2], "dlq_C", "t.a", 2000);
    mk_entry(&e[3], "dlq_D", "t.a", 9000); /* newest overall, but tenant t2 */
    for (int i = 0; i < 4; i++)
        fset(&e[i].original_task_id, "task-x");
    fset(&e[0].tenant_id, "t1");
    fset(&e[1].tenant_id, "t1");
    fset(&e[3].tenant_id, "t2");
    assert_int_equal(dlq_store_capture(x->s, e, 4, NULL, r, x->err, sizeof x->err), DLQ_OK);

    assert_int_equal(dlq_store_get(x->s, "task-x", NULL, &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(got.dlq_id, "dlq_D");
    dlq_entry_clear(&got);
    assert_int_equal(dlq_store_get(x->s, "task-x", "t1", &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_string_equal(got.dlq_id, "dlq_B");
    assert_string_equal(got.tenant_id, "t1");
    dlq_entry_clear(&got);

    /* Another tenant's entry, by either id, is not found. */
    assert_int_equal(dlq_store_get(x->s, "dlq_D", "t1", &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(dlq_store_get(x->s, "task-x", "t3", &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    /* An entry without tenant has tenant_id NULL and is not any tenant's. */
    assert_int_equal(dlq_store_get(x->s, "dlq_C", "t1", &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(dlq_store_get(x->s, "dlq_C", NULL, &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_OK);
    assert_null(got.tenant_id);
    dlq_entry_clear(&got);
    for (int i = 0; i < 4; i++)
        dlq_entry_clear(&e[i]);
    assert_int_equal(total_of(x->s, NULL), 4);
    assert_int_equal(total_of(x->s, "t1"), 2);
    assert_int_equal(total_of(x->s, ""), 1);
}

static void test_capture_batch(void **state)
{
    struct fx *x = *state;
    enum { N = 250 };
    struct dlq_entry *e = calloc(N, sizeof *e);
    struct dlq_capture_result *r = calloc(N, sizeof *r);
    char id[40];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "dlq_B%04d", i);
        mk_entry(&e[i], id, "t.batch", 1000 + i);
    }
    assert_int_equal(dlq_store_capture(x->s, e, N, "batcher", r, x->err, sizeof x->err), DLQ_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].code, DLQ_OK);
        assert_int_equal(r[i].created, 1);
        assert_string_equal(r[i].dlq_id, e[i].dlq_id);
    }
    assert_int_equal(total_of(x->s, NULL), N);

    /* A duplicate dlq_id fails the whole batch: nothing of it is stored. */
    struct dlq_entry d[2];
    mk_entry(&d[0], "dlq_NEW", "t.batch", 5);
    mk_entry(&d[1], "dlq_B0007", "t.batch", 5);
    assert_int_equal(dlq_store_capture(x->s, d, 2, NULL, r, x->err, sizeof x->err), DLQ_E_CONFLICT);
    assert_int_equal(r[0].code, DLQ_E_CONFLICT);
    assert_int_equal(r[1].code, DLQ_E_CONFLICT);
    assert_int_equal(total_of(x->s, NULL), N);
    struct dlq_entry got;
    assert_int_equal(dlq_store_get(x->s, "dlq_NEW", NULL, &got, NULL, NULL, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    /* And the store keeps working. */
    assert_int_equal(dlq_store_capture(x->s, d, 1, NULL, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(total_of(x->s, NULL), N + 1);
    dlq_entry_clear(&d[0]);
    dlq_entry_clear(&d[1]);
    for (int i = 0; i < N; i++)
        dlq_entry_clear(&e[i]);
    free(e);
    free(r);
}

static void test_idempotency(void **state)
{
    struct fx *x = *state;
    struct dlq_entry e[3];
    struct dlq_capture_result r[3];
    mk_entry(&e[0], "dlq_I1", "t.idem", 1000);
    mk_entry(&e[1], "dlq_I2", "t.idem", 1001);
    mk_entry(&e[2], "dlq_I3", "t.idem", 1002);
    fset(&e[0].idempotency_key, "k1");
    fset(&e[1].idempotency_key, "k1"); /* repeats the first, same batch */
    fset(&e[2].idempotency_key, "k2");
    assert_int_equal(dlq_store_capture(x->s, e, 3, NULL, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 1);
    assert_string_equal(r[0].dlq_id, "dlq_I1");
    assert_int_equal(r[1].created, 0);
    assert_string_equal(r[1].dlq_id, "dlq_I1");
    assert_int_equal(r[1].code, DLQ_OK);
    assert_int_equal(r[2].created, 1);

    /* Across batches. */
    struct dlq_entry a;
    mk_entry(&a, "dlq_I4", "t.idem", 2000);
    fset(&a.idempotency_key, "k2");
    assert_int_equal(dlq_store_capture(x->s, &a, 1, NULL, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 0);
    assert_string_equal(r[0].dlq_id, "dlq_I3");

    /* Another tenant may use the same key. */
    fset(&a.tenant_id, "t9");
    assert_int_equal(dlq_store_capture(x->s, &a, 1, NULL, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 1);
    assert_string_equal(r[0].dlq_id, "dlq_I4");
    fset(&a.dlq_id, "dlq_I5");
    assert_int_equal(dlq_store_capture(x->s, &a, 1, NULL, r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[0].created, 0);
    assert_string_equal(r[0].dlq_id, "dlq_I4");

    /* Duplicates are not counted. */
    assert_int_equal(total_of(x->s, NULL), 3);
    assert_int_equal(total_of(x->s, "t9"), 1);
    for (int i = 0; i < 3; i++)
        dlq_entry_clear(&e[i]);
    dlq_entry_clear(&a);
}

/* A batch longer than one insert statement (sq_capture.c writes rows in
 * statements of 64, 16, 4 and 1): a key repeated from a row already written
 * and from a row still waiting both find their first occurrence, and every
 * row, on either side of a statement boundary, keeps its own fields. */
static void test_idempotency_across_a_long_batch(void **state)
{
    struct fx *x = *state;
    enum { N = 150 };
    struct dlq_entry *e = calloc(N, sizeof *e);
    struct dlq_capture_result *r = calloc(N, sizeof *r);
    char id[40], key[40];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "dlq_L%03d", i);
        mk_entry(&e[i], id, "t.long", 1000 + i);
        snprintf(key, sizeof key, "k%03d", i);
        fset(&e[i].idempotency_key, key);
        snprintf(key, sizeof key, "[%d]", i);
        fset(&e[i].task_args, key);
    }
    fset(&e[140].idempotency_key, "k003"); /* row 3 was written with the first 64 */
    fset(&e[141].idempotency_key, "k130"); /* row 130 still waits */
    assert_int_equal(dlq_store_capture(x->s, e, N, "batcher", r, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(r[140].created, 0);
    assert_string_equal(r[140].dlq_id, "dlq_L003");
    assert_int_equal(r[141].created, 0);
    assert_string_equal(r[141].dlq_id, "dlq_L130");
    assert_int_equal(total_of(x->s, NULL), N - 2);
    const int probe[] = {0, 63, 64, 127, 128, 139, 142, 149};
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        int i = probe[k];
        struct dlq_entry got;
        assert_int_equal(r[i].created, 1);
        assert_int_equal(
            dlq_store_get(x->s, e[i].dlq_id, NULL, &got, NULL, NULL, x->err, sizeof x->err),
            DLQ_OK);
        assert_string_equal(got.task_args, e[i].task_args);
        assert_string_equal(got.idempotency_key, e[i].idempotency_key);
        assert_int_equal(got.failed_at, e[i].failed_at);
        dlq_entry_clear(&got);
    }
    struct dlq_entry gone;
    assert_int_equal(
        dlq_store_get(x->s, "dlq_L140", NULL, &gone, NULL, NULL, x->err, sizeof x->err),
        DLQ_E_NOTFOUND);
    for (int i = 0; i < N; i++)
        dlq_entry_clear(&e[i]);
    free(e);
    free(r);
}

struct worker {
    struct dlq_store *s;
    int t;
    int ok;
};

enum { THREADS = 8, PER_THREAD = 60 };

static void *capture_worker(void *arg)
{
    struct worker *w = arg;
    char id[40], err[256];
    for (int i = 0; i < PER_THREAD; i++) {
        struct dlq_entry e;
        struct dlq_capture_result r;
        snprintf(id, sizeof id, "dlq_T%d_%03d", w->t, i);
        mk_entry(&e, id, "t.concurrent", 5000 + i);
        if (dlq_store_capture(w->s, &e, 1, "w", &r, err, sizeof err) == DLQ_OK && r.created)
            w->ok++;
        dlq_entry_clear(&e);
    }
    return NULL;
}

static void test_concurrent_captures(void **state)
{
    struct fx *x = *state;
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){x->s, t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, capture_worker, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(w[t].ok, PER_THREAD);
    }
    assert_int_equal(total_of(x->s, NULL), THREADS * PER_THREAD);
    struct dlq_entry got;
    assert_int_equal(
        dlq_store_get(x->s, "dlq_T7_059", NULL, &got, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
    dlq_entry_clear(&got);
}

struct mixed {
    struct dlq_store *s;
    int t;
    int ok, conflict, other;
};

/* mixed_worker captures single entries; every 4th reuses an id that exists,
 * so groups mix failing and succeeding requests. */
static void *mixed_worker(void *arg)
{
    struct mixed *m = arg;
    char id[40], err[256];
    for (int i = 0; i < PER_THREAD; i++) {
        struct dlq_entry e;
        struct dlq_capture_result r;
        if (i % 4 == 3)
            snprintf(id, sizeof id, "dlq_M%d_%03d", m->t, i - 1);
        else
            snprintf(id, sizeof id, "dlq_M%d_%03d", m->t, i);
        mk_entry(&e, id, i % 2 ? "t.mixed.a" : "t.mixed.b", 9000 + i);
        fset(&e.tenant_id, m->t % 2 ? "ta" : NULL);
        int rc = dlq_store_capture(m->s, &e, 1, "w", &r, err, sizeof err);
        if (rc == DLQ_OK && r.created)
            m->ok++;
        else if (rc == DLQ_E_CONFLICT && r.code == DLQ_E_CONFLICT)
            m->conflict++;
        else
            m->other++;
        dlq_entry_clear(&e);
    }
    return NULL;
}

static void test_group_with_failing_requests(void **state)
{
    struct fx *x = *state;
    pthread_t th[THREADS];
    struct mixed m[THREADS];
    for (int t = 0; t < THREADS; t++) {
        m[t] = (struct mixed){x->s, t, 0, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, mixed_worker, &m[t]), 0);
    }
    int ok = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(m[t].conflict, PER_THREAD / 4);
        assert_int_equal(m[t].other, 0);
        ok += m[t].ok;
    }
    assert_int_equal(ok, THREADS * PER_THREAD * 3 / 4);

    /* The counters (cube totals) agree with a count of the rows. */
    struct dlq_filter f;
    struct dlq_page p;
    const char *tenants[] = {NULL, "ta", ""};
    const char *tasks[] = {NULL, "t.mixed.a", "t.mixed.b"};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 3; k++) {
            dlq_filter_init(&f);
            f.tenant_id = tenants[i];
            f.task_name = tasks[k];
            f.limit = 1;
            assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
            int64_t cube = p.total;
            dlq_page_free(&p);
            f.failed_after = 1; /* not a cube column: a real count */
            assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
            assert_int_equal(p.total, cube);
            dlq_page_free(&p);
        }
    }
    assert_int_equal(total_of(x->s, NULL), ok);
}

static void test_touch_written_without_other_writes(void **state)
{
    struct fx *x = *state;
    struct dlq_token t, got;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "tok_T");
    snprintf(t.name, sizeof t.name, "timer");
    snprintf(t.secret_hash, sizeof t.secret_hash, "tttt");
    t.role = DLQ_ROLE_VIEWER;
    t.created_at = 1;
    assert_int_equal(dlq_store_token_create(x->s, &t, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_token_touch(x->s, "tok_T", 777, x->err, sizeof x->err), DLQ_OK);

    /* A second store on the same file sees only what reached the database. */
    struct fx y = *x;
    assert_int_equal(fx_open(&y, DLQ_DURABILITY_NORMAL, 0), DLQ_OK);
    int64_t seen = 0;
    for (int i = 0; i < 40 && seen != 777; i++) {
        usleep(100 * 1000);
        assert_int_equal(dlq_store_token_by_hash(y.s, "tttt", &got, y.err, sizeof y.err), DLQ_OK);
        seen = got.last_used_at;
    }
    assert_int_equal(seen, 777);
    dlq_store_close(y.s);
}

static void test_durable_across_reopen(void **state)
{
    (void)state;
    struct fx x;
    struct dlq_entry e, got;
    struct dlq_capture_result r;
    assert_int_equal(fx_mkdir(&x), 0);
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_FULL, 1), DLQ_OK);
    mk_entry(&e, "dlq_DUR", "t.durable", 42);
    assert_int_equal(dlq_store_capture(x.s, &e, 1, NULL, &r, x.err, sizeof x.err), DLQ_OK);
    dlq_store_close(x.s);
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_FULL, 0), DLQ_OK);
    assert_int_equal(dlq_store_get(x.s, "dlq_DUR", NULL, &got, NULL, NULL, x.err, sizeof x.err),
                     DLQ_OK);
    assert_int_equal(got.failed_at, 42);
    dlq_entry_clear(&got);
    dlq_entry_clear(&e);
    fx_rm(&x);
}

static void mk_token(struct dlq_token *t, const char *id, const char *name, const char *hash,
                     int64_t created)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->secret_hash, sizeof t->secret_hash, "%s", hash);
    t->role = DLQ_ROLE_OPERATOR;
    t->created_at = created;
}

static void test_tokens(void **state)
{
    struct fx *x = *state;
    struct dlq_token a, b, got, *all;
    size_t n;
    assert_int_equal(dlq_store_token_list(x->s, &all, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 0);
    free(all);

    mk_token(&a, "tok_A", "ci", "aaaa", 1000);
    mk_token(&b, "tok_B", "bot", "bbbb", 2000);
    b.role = DLQ_ROLE_PRODUCER;
    snprintf(b.tenant_id, sizeof b.tenant_id, "t1");
    assert_int_equal(dlq_store_token_create(x->s, &a, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_token_create(x->s, &b, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_token_create(x->s, &a, x->err, sizeof x->err), DLQ_E_CONFLICT);

    assert_int_equal(dlq_store_token_by_hash(x->s, "bbbb", &got, x->err, sizeof x->err), DLQ_OK);
    assert_string_equal(got.id, "tok_B");
    assert_string_equal(got.name, "bot");
    assert_string_equal(got.tenant_id, "t1");
    assert_int_equal(got.role, DLQ_ROLE_PRODUCER);
    assert_int_equal(got.created_at, 2000);
    assert_int_equal(got.last_used_at, 0);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(dlq_store_token_by_hash(x->s, "cccc", &got, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);

    assert_int_equal(dlq_store_token_list(x->s, &all, &n, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].id, "tok_B"); /* newest first */
    assert_string_equal(all[1].id, "tok_A");
    assert_string_equal(all[1].tenant_id, "");
    free(all);

    /* A touch shows at once and is written by close at the latest. */
    assert_int_equal(dlq_store_token_touch(x->s, "tok_A", 5000, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_token_touch(x->s, "tok_A", 4000, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_token_by_hash(x->s, "aaaa", &got, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(got.last_used_at, 5000);

    assert_int_equal(dlq_store_token_revoke(x->s, "tok_A", 6000, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_token_revoke(x->s, "tok_A", 7000, x->err, sizeof x->err),
                     DLQ_E_CONFLICT);
    assert_int_equal(dlq_store_token_revoke(x->s, "tok_Z", 7000, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(dlq_store_token_by_hash(x->s, "aaaa", &got, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(got.revoked_at, 6000);

    dlq_store_close(x->s);
    assert_int_equal(fx_open(x, DLQ_DURABILITY_NORMAL, 0), DLQ_OK);
    assert_int_equal(dlq_store_token_by_hash(x->s, "aaaa", &got, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(got.last_used_at, 5000);
    assert_int_equal(got.revoked_at, 6000);
}

/* One capture submitted without waiting, and what its done saw. */
struct submitted {
    struct dlq_entry e;
    struct dlq_capture_result res;
    char err[256];
    int rc, fired;
};
static pthread_mutex_t sub_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sub_cv = PTHREAD_COND_INITIALIZER;
static int sub_done;

static void on_submitted(void *arg, int rc)
{
    struct submitted *sb = arg;
    pthread_mutex_lock(&sub_mu);
    sb->rc = rc;
    sb->fired++;
    sub_done++;
    pthread_cond_signal(&sub_cv);
    pthread_mutex_unlock(&sub_mu);
}

/* wait_submitted waits (at most 10 s) until n done calls have come. */
static void wait_submitted(int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&sub_mu);
    while (sub_done < n && pthread_cond_timedwait(&sub_cv, &sub_mu, &until) == 0)
        ;
    int got = sub_done;
    pthread_mutex_unlock(&sub_mu);
    assert_int_equal(got, n);
}

static void test_capture_submitted_without_waiting(void **state)
{
    struct fx *x = *state;
    if (fx_on_pg()) {
        /* No capture_submit there: callers take capture's way. */
        assert_false(dlq_store_can_submit(x->s));
        return;
    }
    assert_true(dlq_store_can_submit(x->s));
    enum { N = 40 };
    static struct submitted sb[N + 1];
    sub_done = 0;
    for (int i = 0; i < N; i++) {
        char id[40];
        snprintf(id, sizeof id, "dlq_01HSUBMIT%018d", i);
        mk_entry(&sb[i].e, id, "app.tasks.submit", 1000 + i);
        assert_int_equal(dlq_store_capture_submit(x->s, &sb[i].e, 1, "test", &sb[i].res, sb[i].err,
                                                  sizeof sb[i].err, on_submitted, &sb[i]),
                         DLQ_OK);
    }
    wait_submitted(N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(sb[i].fired, 1);
        assert_int_equal(sb[i].rc, DLQ_OK);
        assert_int_equal(sb[i].res.code, DLQ_OK);
        assert_int_equal(sb[i].res.created, 1);
        assert_string_equal(sb[i].res.dlq_id, sb[i].e.dlq_id);
    }
    assert_int_equal(total_of(x->s, NULL), N);
    /* A capture that fails (its dlq_id is taken) reports it through done. */
    mk_entry(&sb[N].e, sb[0].e.dlq_id, "app.tasks.submit", 5000);
    assert_int_equal(dlq_store_capture_submit(x->s, &sb[N].e, 1, "test", &sb[N].res, sb[N].err,
                                              sizeof sb[N].err, on_submitted, &sb[N]),
                     DLQ_OK);
    wait_submitted(N + 1);
    assert_int_equal(sb[N].fired, 1);
    assert_int_not_equal(sb[N].rc, DLQ_OK);
    assert_int_equal(sb[N].res.code, sb[N].rc);
    assert_true(sb[N].err[0] != '\0');
    assert_int_equal(total_of(x->s, NULL), N);
    for (int i = 0; i <= N; i++)
        dlq_entry_clear(&sb[i].e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_migrate_reopen),
        cmocka_unit_test_setup_teardown(test_capture_one_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_newest_by_task_id_and_tenant, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_capture_batch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_across_a_long_batch, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_captures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_with_failing_requests, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_touch_written_without_other_writes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_durable_across_reopen),
        cmocka_unit_test_setup_teardown(test_tokens, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_capture_submitted_without_waiting, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
