/*
 * test_service_spool.c: the spool over a fake store whose capture can be
 * made to fail with a chosen code: what is spooled (unavailable) and what is
 * not (overload, DLQ_E_BUSY), repeats of a spooled idempotency key, the
 * drain once the store recovers, a drain repeated after a crash (no
 * duplicates), a torn tail and a damaged record at load, and the size cap.
 */
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

#define MAX_E 64

struct fake {
    struct dlq_store base;
    int fail; /* capture fails with this code when non-zero */
    size_t n;
    char ids[MAX_E][40];
    char keys[MAX_E][64];
    int captures;
};

static int f_capture(struct dlq_store *s, const struct dlq_entry *e, size_t n, const char *actor,
                     struct dlq_capture_result *res, char *err, size_t errlen)
{
    struct fake *f = (struct fake *)s;
    (void)actor;
    f->captures++;
    if (f->fail)
        return dlq_errf(err, errlen, f->fail, "fake failure");
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof(res[i]));
        size_t j = 0;
        for (; e[i].idempotency_key && j < f->n; j++)
            if (strcmp(f->keys[j], e[i].idempotency_key) == 0)
                break;
        if (e[i].idempotency_key && j < f->n) {
            /* ids hold ids this fake stored (< 40 bytes): copy, not snprintf, so
             * -Wformat-truncation has nothing to guess about. */
            memcpy(res[i].dlq_id, f->ids[j], sizeof(res[i].dlq_id) - 1);
            res[i].dlq_id[sizeof(res[i].dlq_id) - 1] = '\0';
            continue;
        }
        assert_true(f->n < MAX_E);
        snprintf(f->ids[f->n], sizeof(f->ids[0]), "%s", e[i].dlq_id);
        snprintf(f->keys[f->n], 64, "%s", e[i].idempotency_key ? e[i].idempotency_key : "");
        f->n++;
        res[i].created = 1;
        snprintf(res[i].dlq_id, sizeof(res[i].dlq_id), "%s", e[i].dlq_id);
    }
    return DLQ_OK;
}

static int f_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
                 struct dlq_event **hist, size_t *nhist, char *err, size_t errlen)
{
    struct fake *f = (struct fake *)s;
    (void)tenant, (void)hist, (void)nhist;
    if (f->fail)
        return dlq_errf(err, errlen, f->fail, "fake failure");
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->ids[i], id) == 0) {
            memset(out, 0, sizeof(*out));
            out->dlq_id = dlq_strdup(id);
            return DLQ_OK;
        }
    return DLQ_E_NOTFOUND;
}

static const struct dlq_store_methods fake_methods = {
    .version = 1, .name = "fake", .capture = f_capture, .get = f_get};

struct ctx {
    struct fake f;
    struct dlq_service *svc;
    struct dlq_principal p;
    char path[256];
};

static void start(struct ctx *c)
{
    struct dlq_spool_config cfg = {.path = c->path, .max_bytes = 0};
    char err[256];
    assert_int_equal(dlq_service_spool_start(c->svc, &cfg, err, sizeof(err)), DLQ_OK);
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    c->f.base.m = &fake_methods;
    assert_int_equal(dlq_service_new(&c->f.base, NULL, &c->svc), DLQ_OK);
    snprintf(c->p.name, sizeof(c->p.name), "tester");
    c->p.role = DLQ_ROLE_ADMIN;
    snprintf(c->path, sizeof(c->path), "/tmp/dlq-spool-test-%d-%ld.spool", (int)getpid(),
             (long)random());
    unlink(c->path);
    start(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    dlq_service_spool_stop(c->svc);
    dlq_service_free(c->svc);
    unlink(c->path);
    char rej[300];
    snprintf(rej, sizeof(rej), "%s.rejected", c->path);
    unlink(rej);
    free(c);
    return 0;
}

/* ingest sends one entry (key may be NULL); returns the code, fills res. */
static int ingest(struct ctx *c, const char *key, struct dlq_capture_result *res, int *spooled)
{
    struct dlq_entry e;
    memset(&e, 0, sizeof(e));
    e.task_name = dlq_strdup("app.tasks.spool");
    e.exc_message = dlq_strdup("line one\nline two \"quoted\"");
    if (key)
        e.idempotency_key = dlq_strdup(key);
    char err[256];
    int rc = dlq_service_ingest(c->svc, &c->p, &e, 1, res, spooled, err, sizeof(err));
    dlq_entry_clear(&e);
    return rc;
}

static struct dlq_spool_stats stats(struct ctx *c)
{
    struct dlq_spool_stats st;
    dlq_service_spool_stats(c->svc, &st);
    return st;
}

static void wait_drained(struct ctx *c)
{
    for (int i = 0; i < 500 && stats(c).pending > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(stats(c).pending, 0);
}

static long file_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    return n;
}

static void test_store_up_is_not_spooled(void **state)
{
    struct ctx *c = *state;
    struct dlq_capture_result res;
    int spooled = -1;
    assert_int_equal(ingest(c, NULL, &res, &spooled), DLQ_OK);
    assert_int_equal(spooled, 0);
    assert_int_equal(res.created, 1);
    assert_int_equal(c->f.n, 1);
    assert_int_equal(stats(c).spooled, 0);
}

static void test_unavailable_is_spooled_then_drained(void **state)
{
    struct ctx *c = *state;
    struct dlq_capture_result res, again, res2;
    int spooled = 0;
    c->f.fail = DLQ_E_UNAVAILABLE;
    assert_int_equal(ingest(c, "k1", &res, &spooled), DLQ_OK);
    assert_int_equal(spooled, 1);
    assert_int_equal(res.created, 1);
    assert_int_equal(strncmp(res.dlq_id, "dlq_", 4), 0);
    /* a repeat of the spooled key answers the spooled entry */
    assert_int_equal(ingest(c, "k1", &again, &spooled), DLQ_OK);
    assert_int_equal(spooled, 1);
    assert_int_equal(again.created, 0);
    assert_string_equal(again.dlq_id, res.dlq_id);
    /* the store is known down: the next goes straight to the spool */
    int before = c->f.captures;
    assert_int_equal(ingest(c, NULL, &res2, &spooled), DLQ_OK);
    assert_int_equal(spooled, 1);
    assert_int_equal(stats(c).pending, 2);
    assert_true(c->f.captures - before <= 1); /* at most the drain's attempt */
    assert_true(file_size(c->path) > 0);
    c->f.fail = 0;
    wait_drained(c);
    assert_int_equal(c->f.n, 2);
    assert_string_equal(c->f.ids[0], res.dlq_id);
    assert_string_equal(c->f.keys[0], "k1");
    assert_string_equal(c->f.ids[1], res2.dlq_id);
    assert_int_equal(file_size(c->path), 0);
    assert_int_equal(stats(c).store_down, 0);
}

static void test_busy_is_refused_not_spooled(void **state)
{
    struct ctx *c = *state;
    struct dlq_capture_result res;
    int spooled = 0;
    c->f.fail = DLQ_E_BUSY;
    assert_int_equal(ingest(c, NULL, &res, &spooled), DLQ_E_BUSY);
    assert_int_equal(spooled, 0);
    assert_int_equal(stats(c).spooled, 0);
    assert_int_equal(file_size(c->path), 0);
}

static void test_invalid_is_not_spooled(void **state)
{
    struct ctx *c = *state;
    struct dlq_capture_result res;
    int spooled = 0;
    c->f.fail = DLQ_E_CONFLICT;
    assert_int_equal(ingest(c, NULL, &res, &spooled), DLQ_E_CONFLICT);
    assert_int_equal(stats(c).spooled, 0);
}

static void test_drain_repeated_after_crash(void **state)
{
    struct ctx *c = *state;
    struct dlq_capture_result res;
    int spooled;
    c->f.fail = DLQ_E_UNAVAILABLE;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ingest(c, i == 1 ? "kk" : NULL, &res, &spooled), DLQ_OK);
    dlq_service_spool_stop(c->svc);
    /* keep a copy of the file, as a crash before the truncate would */
    char copy[300], cmd[700];
    snprintf(copy, sizeof(copy), "%s.copy", c->path);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", c->path, copy);
    assert_int_equal(system(cmd), 0);
    c->f.fail = 0;
    start(c); /* drains at start */
    assert_int_equal(stats(c).pending, 0);
    assert_int_equal(c->f.n, 3);
    dlq_service_spool_stop(c->svc);
    assert_int_equal(rename(copy, c->path), 0);
    start(c);
    assert_int_equal(stats(c).pending, 0);
    assert_int_equal(stats(c).skipped, 3);
    assert_int_equal(c->f.n, 3);
}

static void test_torn_tail_and_damaged_record(void **state)
{
    struct ctx *c = *state;
    struct dlq_capture_result r1, r2;
    int spooled;
    c->f.fail = DLQ_E_UNAVAILABLE;
    assert_int_equal(ingest(c, NULL, &r1, &spooled), DLQ_OK);
    assert_int_equal(ingest(c, NULL, &r2, &spooled), DLQ_OK);
    dlq_service_spool_stop(c->svc);
    /* damage the first record (its checksum no longer matches) and add a
     * torn tail */
    FILE *fp = fopen(c->path, "r+b");
    assert_non_null(fp);
    fseek(fp, 40, SEEK_SET);
    fputc('#', fp);
    fseek(fp, 0, SEEK_END);
    fputs("S1 99 0123456789abcdef {\"actor\":\"x\",\"ent", fp);
    fclose(fp);
    c->f.fail = 0;
    start(c);
    assert_int_equal(stats(c).torn, 2);
    assert_int_equal(stats(c).pending, 0);
    assert_int_equal(c->f.n, 1);
    assert_string_equal(c->f.ids[0], r2.dlq_id);
    assert_int_equal(file_size(c->path), 0);
    char rej[300];
    snprintf(rej, sizeof(rej), "%s.rejected", c->path);
    assert_true(file_size(rej) > 400); /* the damaged record's bytes, kept */
}

static void test_size_cap_is_busy(void **state)
{
    struct ctx *c = *state;
    dlq_service_spool_stop(c->svc);
    struct dlq_spool_config cfg = {.path = c->path, .max_bytes = 1500};
    char err[256];
    assert_int_equal(dlq_service_spool_start(c->svc, &cfg, err, sizeof(err)), DLQ_OK);
    c->f.fail = DLQ_E_IO;
    struct dlq_capture_result res;
    int spooled, rc = DLQ_OK, n = 0;
    while (n < 100 && (rc = ingest(c, NULL, &res, &spooled)) == DLQ_OK)
        n++;
    assert_int_equal(rc, DLQ_E_BUSY);
    assert_true(n >= 1 && n < 100);
    assert_int_equal(stats(c).pending, n);
    c->f.fail = 0;
    wait_drained(c);
    assert_int_equal((int)c->f.n, n);
}

int main(void)
{
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_up_is_not_spooled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_is_spooled_then_drained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_is_refused_not_spooled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_is_not_spooled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_repeated_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_and_damaged_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap_is_busy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
