/*
 * test_store_list.c: list through the store interface against a brute-force
 * reference. 1000 entries with deterministic, varied attributes (ties on
 * failed_at included) are captured once; every test then walks whole result
 * sets by keyset cursor and by offset, in both sort orders, and compares the
 * exact sequence and the total on every page with what the reference says:
 * each filter alone, combinations, status masks, time bounds, full-text q
 * (including text that looks like FTS5 syntax), bad cursors, and many
 * threads reading at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <cmocka.h>

#include "test_store_fixture.h"

enum { N = 1000 };

static const char *const tasks[] = {"app.tasks.send_email", "app.tasks.charge", "billing.invoice",
                                    "reports.build"};
static const char *const queues[] = {"default", "emails", "billing", NULL};
static const char *const tenants[] = {NULL, "t1", "t2"};
static const char *const excs[] = {"ValueError", "TimeoutError", "KeyError", NULL};
static const char *const fps[] = {"fp1", "fp2", "fp3"};

/* The reference: the attributes of entry i (captured i-th, so rowid order). */
struct ref {
    int task, queue, tenant, exc, fp, status, reason;
    int64_t failed_at;
    int refused, zebra; /* words in message / traceback */
};
static struct ref ref[N];
static struct fx fx;

static unsigned lcg(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static int setup_group(void **state)
{
    (void)state;
    unsigned seed = 7;
    if (fx_mkdir(&fx) != 0 || fx_open(&fx, DLQ_DURABILITY_NORMAL, 1) != DLQ_OK)
        return -1;
    struct dlq_entry e[100];
    struct dlq_capture_result r[100];
    char id[40], msg[128], tb[256];
    for (int b = 0; b < N / 100; b++) {
        for (int k = 0; k < 100; k++) {
            int i = b * 100 + k;
            struct ref *f = &ref[i];
            f->task = (int)(lcg(&seed) % 4);
            f->queue = (int)(lcg(&seed) % 4);
            f->tenant = (int)(lcg(&seed) % 3);
            f->exc = (int)(lcg(&seed) % 4);
            f->fp = (int)(lcg(&seed) % 3);
            f->status = 1 + (int)(lcg(&seed) % 7);
            f->reason = 1 + (int)(lcg(&seed) % 6);
            f->failed_at = 100000 + (int64_t)(lcg(&seed) % 400) * 10; /* many ties */
            f->refused = i % 5 == 0;
            f->zebra = i % 7 == 0;
            snprintf(id, sizeof id, "dlq_L%04d", i);
            mk_entry(&e[k], id, tasks[f->task], f->failed_at);
            fset(&e[k].queue, queues[f->queue]);
            fset(&e[k].tenant_id, tenants[f->tenant]);
            fset(&e[k].exc_type, excs[f->exc]);
            fset(&e[k].fingerprint, fps[f->fp]);
            e[k].status = f->status;
            e[k].reason = f->reason;
            snprintf(msg, sizeof msg, "user %d not found%s", i,
                     f->refused ? ": connection refused" : "");
            fset(&e[k].exc_message, msg);
            snprintf(tb, sizeof tb, "Traceback:\n  File \"worker.py\", line %d, in %s\n", i,
                     f->zebra ? "zebra_handler" : "run");
            fset(&e[k].exc_traceback, tb);
        }
        if (dlq_store_capture(fx.s, e, 100, "loader", r, fx.err, sizeof fx.err) != DLQ_OK)
            return -1;
        for (int k = 0; k < 100; k++)
            dlq_entry_clear(&e[k]);
    }
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    fx_rm(&fx);
    return 0;
}

static int idx_of(const char *index)
{
    return atoi(index + strlen("dlq_L"));
}

typedef int pred_fn(int i);

/* matches is the reference for every filter field but q (pred handles q). */
static int matches(const struct dlq_filter *f, pred_fn *pred, int i)
{
    const struct ref *r = &ref[i];
    if (f->status_mask && !(f->status_mask & (1u << r->status)))
        return 0;
    if (f->task_name && strcmp(f->task_name, tasks[r->task]) != 0)
        return 0;
    if (f->queue && (!queues[r->queue] || strcmp(f->queue, queues[r->queue]) != 0))
        return 0;
    if (f->tenant_id && strcmp(f->tenant_id, tenants[r->tenant] ? tenants[r->tenant] : "") != 0)
        return 0;
    if (f->exception_type && (!excs[r->exc] || strcmp(f->exception_type, excs[r->exc]) != 0))
        return 0;
    if (f->fingerprint && strcmp(f->fingerprint, fps[r->fp]) != 0)
        return 0;
    if (f->reason && (int)f->reason != r->reason)
        return 0;
    if (f->failed_after && r->failed_at < f->failed_after)
        return 0;
    if (f->failed_before && r->failed_at >= f->failed_before)
        return 0;
    return pred ? pred(i) : 1;
}

static int sort_desc;
static int cmp_order(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int c = ref[x].failed_at < ref[y].failed_at   ? -1
            : ref[x].failed_at > ref[y].failed_at ? 1
            : x < y                               ? -1
            : x > y                               ? 1
                                                  : 0;
    return sort_desc ? -c : c;
}

static int expected(const struct dlq_filter *f, pred_fn *pred, int *out)
{
    int n = 0;
    for (int i = 0; i < N; i++) {
        if (matches(f, pred, i))
            out[n++] = i;
    }
    sort_desc = f->sort == DLQ_SORT_FAILED_DESC;
    qsort(out, (size_t)n, sizeof *out, cmp_order);
    return n;
}

/* walk_cursor pages through f by cursor and checks order, coverage, totals. */
static void walk_cursor(struct dlq_filter f, const int *want, int nwant)
{
    struct dlq_page p;
    int seen = 0;
    for (int pages = 0;; pages++) {
        assert_true(pages <= N);
        assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_OK);
        assert_int_equal(p.total, nwant);
        for (size_t k = 0; k < p.n; k++) {
            assert_true(seen < nwant);
            assert_int_equal(idx_of(p.items[k].dlq_id), want[seen]);
            seen++;
        }
        if (p.next_cursor[0] == '\0') {
            dlq_page_free(&p);
            break;
        }
        assert_int_equal((int)p.n, f.limit);
        assert_int_equal(dlq_cursor_decode(p.next_cursor, &f), DLQ_OK);
        dlq_page_free(&p);
    }
    assert_int_equal(seen, nwant);
}

/* walk_offset does the same with limit/offset, one page past the end too. */
static void walk_offset(struct dlq_filter f, const int *want, int nwant)
{
    struct dlq_page p;
    for (f.offset = 0;; f.offset += f.limit) {
        assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_OK);
        assert_int_equal(p.total, nwant);
        int expect_n = nwant - (int)f.offset;
        expect_n = expect_n < 0 ? 0 : expect_n > f.limit ? f.limit : expect_n;
        assert_int_equal((int)p.n, expect_n);
        for (size_t k = 0; k < p.n; k++)
            assert_int_equal(idx_of(p.items[k].dlq_id), want[f.offset + (int64_t)k]);
        assert_int_equal(p.next_cursor[0] != '\0', f.offset + f.limit < nwant);
        dlq_page_free(&p);
        if (f.offset >= nwant)
            break;
    }
}

/* check runs f (with pred as the reference for q) in both orders and both
 * paging modes; returns the number of matches. */
static int check(struct dlq_filter f, pred_fn *pred, int limit)
{
    static int want[N];
    int n = 0;
    f.limit = limit;
    for (int s = 0; s < 2; s++) {
        f.sort = s ? DLQ_SORT_FAILED_ASC : DLQ_SORT_FAILED_DESC;
        n = expected(&f, pred, want);
        walk_cursor(f, want, n);
        walk_offset(f, want, n);
    }
    return n;
}

static struct dlq_filter base(void)
{
    struct dlq_filter f;
    dlq_filter_init(&f);
    return f;
}

#define BIT(s) (1u << DLQ_STATUS_##s)

static void test_all_entries_cursor(void **state)
{
    (void)state;
    assert_int_equal(check(base(), NULL, 37), N);
    assert_int_equal(check(base(), NULL, 100), N);
}

static void test_each_filter_alone(void **state)
{
    (void)state;
    struct dlq_filter f;
    int n;
    for (int t = 0; t < 4; t++) {
        f = base();
        f.task_name = tasks[t];
        assert_true(check(f, NULL, 50) > 0);
    }
    f = base();
    f.queue = "emails";
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.tenant_id = "t1";
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.tenant_id = ""; /* entries without a tenant */
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.exception_type = "KeyError";
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.fingerprint = "fp2";
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.reason = DLQ_REASON_TIMEOUT;
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.status_mask = BIT(RESOLVED);
    assert_true(check(f, NULL, 50) > 0);
    f = base();
    f.failed_after = 101000;
    n = check(f, NULL, 50);
    assert_true(n > 0 && n < N);
    f = base();
    f.failed_before = 101000;
    n = check(f, NULL, 50);
    assert_true(n > 0 && n < N);
    f = base();
    f.task_name = "no.such.task";
    assert_int_equal(check(f, NULL, 10), 0);
}

static void test_status_masks(void **state)
{
    (void)state;
    struct dlq_filter f = base();
    f.status_mask = BIT(PENDING_REVIEW) | BIT(REQUIRES_REVIEW);
    assert_true(check(f, NULL, 20) > 0);
    f.status_mask = BIT(RETRIED) | BIT(RESOLVED) | BIT(DISCARDED) | BIT(EXPIRED) | BIT(ARCHIVED);
    assert_true(check(f, NULL, 33) > 0);
    f.failed_after = 100500; /* several statuses with bounds */
    f.failed_before = 102000;
    assert_true(check(f, NULL, 10) > 0);
    f = base();
    f.status_mask = 0xFE; /* every status: no condition */
    assert_int_equal(check(f, NULL, 100), N);
    f.status_mask = 1; /* bit 0 is no status: nothing matches */
    struct dlq_page p;
    assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.total, 0);
    dlq_page_free(&p);
}

static void test_combined_filters(void **state)
{
    (void)state;
    struct dlq_filter f = base();
    f.task_name = "billing.invoice";
    f.status_mask = BIT(PENDING_REVIEW) | BIT(RESOLVED);
    assert_true(check(f, NULL, 7) > 0);
    f = base();
    f.tenant_id = "t2";
    f.queue = "default";
    f.reason = DLQ_REASON_PERMANENT_FAILURE;
    check(f, NULL, 5);
    f = base();
    f.fingerprint = "fp1";
    f.tenant_id = "t1";
    f.failed_after = 100800;
    assert_true(check(f, NULL, 9) > 0);
    f = base();
    f.exception_type = "ValueError";
    f.status_mask = BIT(ARCHIVED) | BIT(EXPIRED) | BIT(RETRIED);
    f.failed_before = 103000;
    assert_true(check(f, NULL, 11) > 0);
    f = base();
    f.task_name = "reports.build";
    f.queue = "billing";
    f.tenant_id = "";
    f.exception_type = "TimeoutError";
    f.reason = DLQ_REASON_JOB_NOT_FOUND;
    f.status_mask = BIT(PENDING_REVIEW);
    check(f, NULL, 3);
}

static int p_refused(int i)
{
    return ref[i].refused;
}
static int p_zebra(int i)
{
    return ref[i].zebra;
}
static int p_refused_zebra(int i)
{
    return ref[i].refused && ref[i].zebra;
}
static int p_send_email(int i)
{
    return ref[i].task == 0;
}
static int p_none(int i)
{
    (void)i;
    return 0;
}
static int p_user_42(int i)
{
    return i == 42;
}

static void test_full_text(void **state)
{
    (void)state;
    struct dlq_filter f = base();
    f.q = "refused"; /* message */
    assert_int_equal(check(f, p_refused, 50), N / 5);
    f.q = "  Connection   REFUSED "; /* case and spacing */
    assert_int_equal(check(f, p_refused, 50), N / 5);
    f.q = "zebra_handler"; /* traceback, as a phrase */
    assert_true(check(f, p_zebra, 50) > 0);
    f.q = "refused zebra"; /* terms are ANDed */
    assert_true(check(f, p_refused_zebra, 10) > 0);
    f.q = "send_email"; /* part of the task name */
    assert_true(check(f, p_send_email, 50) > 0);
    f.q = "\"user 42 not\""; /* quotes are text */
    check(f, p_user_42, 10);

    /* Anything that looks like FTS5 syntax is just text. */
    static const char *const evil[] = {"foo\" OR *",
                                       "*",
                                       "refused OR zebra",
                                       "NEAR(refused zebra)",
                                       "exc_type:KeyError",
                                       "\"",
                                       "-user",
                                       "^user",
                                       "(",
                                       "'; DROP TABLE entries;--"};
    for (size_t k = 0; k < sizeof evil / sizeof evil[0]; k++) {
        struct dlq_page p;
        f.q = evil[k];
        assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_OK);
        dlq_page_free(&p);
    }
    f.q = "foo\" OR *";
    check(f, p_none, 10);
    f.q = "refused OR zebra"; /* OR is a word: no entry has it */
    check(f, p_none, 10);

    /* q with other filters. */
    f = base();
    f.q = "refused";
    f.task_name = "app.tasks.charge";
    f.status_mask = BIT(PENDING_REVIEW) | BIT(DISCARDED);
    check(f, p_refused, 5);
    f.failed_after = 101000;
    check(f, p_refused, 5);
}

static void test_bad_cursor_and_edges(void **state)
{
    (void)state;
    struct dlq_filter f = base();
    struct dlq_page p;
    f.has_cursor = 1;
    f.cursor_failed_at = 100;
    snprintf(f.cursor_id, sizeof f.cursor_id, "12x");
    assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_E_INVAL);
    assert_null(p.items);
    assert_int_equal(p.n, 0);

    /* A deep offset: no rows, exact total. */
    f = base();
    f.offset = 1000000000000LL;
    assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.total, N);
    assert_string_equal(p.next_cursor, "");
    dlq_page_free(&p);

    /* A cursor past the end. */
    f = base();
    f.has_cursor = 1;
    f.cursor_failed_at = 1;
    snprintf(f.cursor_id, sizeof f.cursor_id, "1");
    assert_int_equal(dlq_store_list(fx.s, &f, &p, fx.err, sizeof fx.err), DLQ_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.total, N);
    dlq_page_free(&p);
}

struct reader {
    int t;
    int bad;
};

/* read_many lists and gets from one of many threads at once: more threads
 * than the store keeps read connections, so some wait for one. */
static void *read_many(void *arg)
{
    struct reader *r = arg;
    char err[256];
    for (int i = 0; i < 40; i++) {
        struct dlq_filter f;
        struct dlq_page p;
        struct dlq_entry e;
        dlq_filter_init(&f);
        f.task_name = tasks[(r->t + i) % 4];
        f.limit = 10;
        if (dlq_store_list(fx.s, &f, &p, err, sizeof err) != DLQ_OK || p.n != 10)
            r->bad++;
        dlq_page_free(&p);
        char id[40];
        snprintf(id, sizeof id, "dlq_L%04d", (r->t * 40 + i) % N);
        if (dlq_store_get(fx.s, id, NULL, &e, NULL, NULL, err, sizeof err) != DLQ_OK)
            r->bad++;
        dlq_entry_clear(&e);
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    enum { T = 16 };
    pthread_t th[T];
    struct reader r[T];
    for (int t = 0; t < T; t++) {
        r[t] = (struct reader){t, 0};
        assert_int_equal(pthread_create(&th[t], NULL, read_many, &r[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(r[t].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_entries_cursor), cmocka_unit_test(test_each_filter_alone),
        cmocka_unit_test(test_status_masks),       cmocka_unit_test(test_combined_filters),
        cmocka_unit_test(test_full_text),          cmocka_unit_test(test_bad_cursor_and_edges),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
