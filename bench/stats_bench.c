/*
 * stats_bench.c: how long stats, groups and the /metrics numbers take over
 * a large database (issue 3 slice C1's target: stats over 1,000,000 entries
 * with p99 under 5 ms). Seeds N entries (default 1,000,000) through the
 * store interface in batches of 1000, skewed like real data (8 tasks, 50
 * tenants, 5 queues, 4 exceptions, failures spread over the last two days,
 * all pending: the worst case for the pending breakdowns), then times each
 * read R times and prints p50 / p99 / max in milliseconds.
 * Usage: dlq-stats-bench [--dir DIR] [--entries N] [--runs R] [--reuse]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlq/core.h"
#include "dlq/store.h"

static const char *const tasks[] = {
    "app.tasks.email.send_welcome",  "app.tasks.export.generate_export",
    "app.tasks.billing.charge_card", "app.tasks.sync.pull_crm",
    "app.tasks.search.reindex",      "app.tasks.images.resize",
    "app.tasks.webhooks.deliver",    "app.tasks.ledger.close_day"};
static const char *const queues[] = {"default", "emails", "billing", "exports", "low"};
static const char *const excs[] = {"TimeoutError", "ValueError", "ConnectionError", "KeyError"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* skew picks an index in [0, n) with the low indexes much more likely. */
static unsigned skew(unsigned *s, unsigned n)
{
    unsigned a = (unsigned)rand_r(s) % n, b = (unsigned)rand_r(s) % n;
    return a < b ? a : b;
}

static void seed(struct dlq_store *st, long n)
{
    enum { BATCH = 1000 };
    static struct dlq_entry es[BATCH];
    static struct dlq_capture_result res[BATCH];
    static char ids[BATCH][40], tenants[BATCH][16], msgs[BATCH][96], fps[BATCH][17];
    unsigned s = 42;
    int64_t t0 = wall_ms() - 48LL * 3600000;
    char err[256];
    double start = now_ms();
    for (long done = 0; done < n;) {
        size_t k = (size_t)(n - done < BATCH ? n - done : BATCH);
        for (size_t i = 0; i < k; i++) {
            struct dlq_entry *e = &es[i];
            memset(e, 0, sizeof *e);
            long seq = done + (long)i;
            int64_t at = t0 + seq * (48LL * 3600000) / n;
            uint8_t rnd[10];
            memcpy(rnd, &seq, sizeof seq);
            rnd[8] = rnd[9] = 7;
            dlq_id_make("dlq", at, rnd, ids[i], sizeof ids[i]);
            snprintf(tenants[i], sizeof tenants[i], "t%u", skew(&s, 50));
            unsigned x = skew(&s, 4);
            snprintf(msgs[i], sizeof msgs[i], "failure %ld of order %u", seq, (unsigned)rand_r(&s));
            e->dlq_id = ids[i];
            e->task_name = (char *)tasks[skew(&s, 8)];
            e->queue = (char *)queues[skew(&s, 5)];
            e->exc_type = (char *)excs[x];
            e->exc_message = msgs[i];
            e->tenant_id = tenants[i];
            e->failed_at = at;
            e->processed_at = at;
            e->updated_at = at;
            e->status = DLQ_STATUS_PENDING_REVIEW;
            e->reason = (enum dlq_reason)(1 + skew(&s, 6));
            e->max_replays = 3;
            dlq_fingerprint(e->task_name, e->exc_type, e->exc_message, fps[i]);
            e->fingerprint = fps[i];
        }
        if (dlq_store_capture(st, es, k, "bench", res, err, sizeof err) != DLQ_OK) {
            fprintf(stderr, "seed: %s\n", err);
            exit(1);
        }
        done += (long)k;
        if (done % 100000 == 0)
            fprintf(stderr, "seeded %ld (%.0f/s)\n", done, done / ((now_ms() - start) / 1e3));
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, int runs)
{
    qsort(t, (size_t)runs, sizeof *t, cmp);
    printf("%-28s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", name, t[runs / 2],
           t[(runs * 99) / 100], t[runs - 1]);
}

int main(int argc, char **argv)
{
    const char *dir = "bench/out/stats";
    long entries = 1000000;
    int runs = 500, reuse = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
            entries = atol(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reuse") == 0)
            reuse = 1;
        else {
            fprintf(stderr, "usage: dlq-stats-bench [--dir DIR] [--entries N] [--runs R] "
                            "[--reuse]\n");
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    mkdir(dir, 0755);
    char path[512], p2[600];
    snprintf(path, sizeof path, "%s/stats-%ld.db", dir, entries);
    int exists = access(path, F_OK) == 0;
    if (!reuse || !exists) {
        unlink(path);
        snprintf(p2, sizeof p2, "%s-wal", path);
        unlink(p2);
        snprintf(p2, sizeof p2, "%s-shm", path);
        unlink(p2);
    }
    struct dlq_store_config cfg = {
        .path = path, .durability = DLQ_DURABILITY_NORMAL, .busy_timeout_ms = 5000, .migrate = 1};
    struct dlq_store *st;
    char err[256];
    if (dlq_store_open("sqlite", &cfg, &st, err, sizeof err) != DLQ_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    if (!reuse || !exists)
        seed(st, entries);
    double *t = calloc((size_t)runs, sizeof *t);
    struct dlq_stats s;
    int64_t total = 0;
    for (int pass = 0; pass < 4; pass++) {
        const char *tenant = pass == 1 ? "t0" : pass == 2 ? "t49" : NULL;
        int hours = pass == 3 ? 720 : 24;
        for (int r = 0; r < runs; r++) {
            double a = now_ms();
            if (dlq_store_stats(st, tenant, wall_ms(), hours, &s, err, sizeof err) != DLQ_OK) {
                fprintf(stderr, "stats: %s\n", err);
                return 1;
            }
            t[r] = now_ms() - a;
            total = s.total;
            dlq_stats_clear(&s);
        }
        char name[64];
        snprintf(name, sizeof name, "stats %s %dh", tenant ? tenant : "all", hours);
        report(name, t, runs);
    }
    printf("(total_failures %lld)\n", (long long)total);
    for (int r = 0; r < runs; r++) {
        struct dlq_group_filter f = {.limit = 50};
        struct dlq_group *g;
        size_t n;
        double a = now_ms();
        if (dlq_store_groups(st, &f, &g, &n, err, sizeof err) != DLQ_OK) {
            fprintf(stderr, "groups: %s\n", err);
            return 1;
        }
        t[r] = now_ms() - a;
        dlq_groups_free(g, n);
    }
    report("groups (limit 50)", t, runs);
    for (int r = 0; r < runs; r++) {
        struct dlq_store_metrics m;
        double a = now_ms();
        if (dlq_store_metrics(st, &m, err, sizeof err) != DLQ_OK) {
            fprintf(stderr, "metrics: %s\n", err);
            return 1;
        }
        t[r] = now_ms() - a;
        dlq_store_metrics_clear(&m);
    }
    report("metrics numbers", t, runs);
    free(t);
    dlq_store_close(st);
    return 0;
}
