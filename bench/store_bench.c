/*
 * store_bench.c: an in-process microbenchmark of the store interface (no
 * HTTP), to see what the storage layer itself can do on this machine:
 *   batch   durable capture of batches of 100 from 1 and 16 threads
 *   single  durable single-entry capture from 64 threads (group commit)
 *           (both with bench/run's ingest entry, one task for all, and with
 *           the skewed seed data: 8 tasks, ~50 tenants, 4 exceptions)
 *   list    seed N entries (default 1,000,000; data skewed like bench/run's),
 *           then first pages of 50 with their exact total for several
 *           filters, and deep keyset pages: p50 / p99 / max
 * Usage: dlq-store-bench [--dir DIR] [--entries N] [--reuse] [batch|single|list|profile]...
 * --reuse: list keeps the database an earlier list run seeded.
 * DIR (default bench/out/store) must be on the disk being measured; each
 * case uses a fresh database there.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlq/core.h"
#include "dlq/store.h"

static const char *dir = "bench/out/store";
static long seed_entries = 1000000;
static int reuse; /* list: keep a database seeded by an earlier run */
static atomic_long id_seq;
/* One clock for every thread, as a server stamping failures with "now". */
static atomic_llong clock_ms = 1760000000000LL;

static const char *const tasks[] = {
    "app.tasks.email.send_welcome",  "app.tasks.export.generate_export",
    "app.tasks.billing.charge_card", "app.tasks.sync.pull_crm",
    "app.tasks.search.reindex",      "app.tasks.images.resize",
    "app.tasks.webhooks.deliver",    "app.tasks.ledger.close_day"};
static const double task_w[] = {0.45, 0.25, 0.12, 0.08, 0.04, 0.03, 0.02, 0.01};
static const char *const task_q[] = {"mail",   "default", "billing",  "default",
                                     "search", "images",  "webhooks", "billing"};
static const char *const excs[] = {"ConnectionError", "TimeoutError", "ValueError", "KeyError"};
static const double exc_w[] = {0.5, 0.3, 0.15, 0.05};
static const enum dlq_reason reasons[] = {DLQ_REASON_MAX_RETRIES_EXCEEDED, DLQ_REASON_TIMEOUT,
                                          DLQ_REASON_PERMANENT_FAILURE, DLQ_REASON_EXTERNAL};
static const double reason_w[] = {0.6, 0.2, 0.15, 0.05};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (double)((*s >> 8) & 0xffffff) / 16777216.0;
}

static int pick(unsigned *s, const double *w, int n)
{
    double r = rnd(s), acc = 0;
    for (int i = 0; i < n; i++) {
        acc += w[i];
        if (r < acc)
            return i;
    }
    return n - 1;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    return strdup(b);
}

/* make_same fills e like bench/run's ingest cases: one task, tenant,
 * queue and exception for every entry, the numbers in the text varying. */
static void make_same(struct dlq_entry *e, int64_t ms)
{
    uint8_t r[10] = {0};
    long n = atomic_fetch_add(&id_seq, 1);
    char id[DLQ_ID_MAX];
    memcpy(r, &n, sizeof n);
    dlq_id_make("dlq", ms, r, id, sizeof id);
    memset(e, 0, sizeof *e);
    e->dlq_id = strdup(id);
    e->task_name = strdup("app.tasks.email.send_welcome");
    e->original_task_id = dupf("bench-%ld", n);
    e->task_args = dupf("[\"user\",%ld]", n);
    e->task_kwargs = strdup("{\"locale\":\"en\"}");
    e->exc_type = strdup("SMTPServerDisconnected");
    e->exc_message = dupf("Connection unexpectedly closed while sending to user %ld", n);
    e->exc_traceback = strdup("Traceback (most recent call last):\n  File \"mailer.py\", line 88,"
                              " in send\nSMTPServerDisconnected");
    e->tenant_id = strdup("t_17");
    e->queue = strdup("mail");
    e->retries_attempted = 3;
    e->failed_at = ms;
    e->processed_at = ms + 3;
    e->status = DLQ_STATUS_PENDING_REVIEW;
    e->reason = DLQ_REASON_MAX_RETRIES_EXCEEDED;
    e->max_replays = 3;
    char fp[17];
    dlq_fingerprint(e->task_name, e->exc_type, e->exc_message, fp);
    e->fingerprint = strdup(fp);
}

/* make_entry fills e like an ingest of bench/run's seed data (about 500
 * bytes of text); `cold` makes it the rare task, `word` adds a rare word. */
static void make_entry(struct dlq_entry *e, unsigned *s, int64_t ms, int cold, int word)
{
    uint8_t r[10] = {0};
    long n = atomic_fetch_add(&id_seq, 1);
    char id[DLQ_ID_MAX];
    memcpy(r, &n, sizeof n);
    dlq_id_make("dlq", ms, r, id, sizeof id);
    memset(e, 0, sizeof *e);
    int t = pick(s, task_w, 8), x = pick(s, exc_w, 4);
    e->dlq_id = strdup(id);
    e->task_name = strdup(cold ? "app.tasks.reports.cold_rebuild" : tasks[t]);
    e->queue = strdup(cold ? "reports" : task_q[t]);
    e->original_task_id = dupf("seed-%ld", n);
    e->task_args = dupf("[%ld]", n);
    e->task_kwargs = strdup("{\"locale\":\"en\"}");
    e->exc_type = strdup(excs[x]);
    e->exc_message = dupf("database connection refused on host db-%d after %d ms%s",
                          (int)(rnd(s) * 1000), (int)(rnd(s) * 5000), word ? " zanzibar" : "");
    e->exc_traceback = dupf("Traceback (most recent call last):\n  File \"worker.py\", line %d,"
                            " in run\n    conn = pool.get()\n%s",
                            (int)(rnd(s) * 400), excs[x]);
    e->tenant_id = dupf("t_%d", (int)(50 * rnd(s) * rnd(s)));
    e->retries_attempted = 3;
    e->failed_at = ms;
    e->processed_at = ms + 3;
    e->status = DLQ_STATUS_PENDING_REVIEW;
    e->reason = reasons[pick(s, reason_w, 4)];
    e->max_replays = 3;
    char fp[17];
    dlq_fingerprint(e->task_name, e->exc_type, e->exc_message, fp);
    e->fingerprint = strdup(fp);
}

static struct dlq_store *open_fresh(const char *name, enum dlq_durability d, int keep)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    for (const char *suf = ""; !keep && suf;
         suf = *suf ? (suf[1] == 'w' ? "-shm" : NULL) : "-wal") {
        char p[600];
        snprintf(p, sizeof p, "%s%s", path, suf);
        unlink(p);
    }
    struct dlq_store_config cfg = {.path = path, .durability = d, .migrate = 1};
    struct dlq_store *s;
    if (dlq_store_open("sqlite", &cfg, &s, err, sizeof err) != DLQ_OK) {
        fprintf(stderr, "open %s: %s\n", path, err);
        exit(1);
    }
    return s;
}

struct job {
    struct dlq_store *s;
    int skewed;
    int batch;
    long count; /* entries to capture */
    unsigned seed;
    double *lat; /* per call, seconds */
    long nlat;
};

static void *capture_job(void *arg)
{
    struct job *j = arg;
    struct dlq_entry *e = calloc((size_t)j->batch, sizeof *e);
    struct dlq_capture_result *r = calloc((size_t)j->batch, sizeof *r);
    char err[256];
    for (long done = 0; done < j->count; done += j->batch) {
        int64_t ms = atomic_fetch_add(&clock_ms, 1);
        for (int k = 0; k < j->batch; k++) {
            if (j->skewed)
                make_entry(&e[k], &j->seed, ms, 0, 0);
            else
                make_same(&e[k], ms);
        }
        double t0 = now_s();
        int rc = dlq_store_capture(j->s, e, (size_t)j->batch, "bench", r, err, sizeof err);
        if (j->lat)
            j->lat[j->nlat++] = now_s() - t0;
        if (rc != DLQ_OK) {
            fprintf(stderr, "capture: %s\n", err);
            exit(1);
        }
        for (int k = 0; k < j->batch; k++)
            dlq_entry_clear(&e[k]);
    }
    free(e);
    free(r);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void pct(double *v, long n, double *p50, double *p99, double *max)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *p50 = v[n / 2] * 1e3;
    *p99 = v[(n * 99) / 100] * 1e3;
    *max = v[n - 1] * 1e3;
}

/* run_capture captures total entries in batches from threads into a fresh
 * database (durability full); prints the rate and per-call latency. */
static void run_capture(const char *name, int threads, int batch, long total, int skewed)
{
    struct dlq_store *s = open_fresh("capture", DLQ_DURABILITY_FULL, 0);
    pthread_t th[64];
    struct job j[64];
    long per = total / threads;
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        j[i] = (struct job){s, skewed, batch, per, (unsigned)i + 1, NULL, 0};
        j[i].lat = malloc(sizeof(double) * (size_t)(per / batch + 1));
        pthread_create(&th[i], NULL, capture_job, &j[i]);
    }
    double *all = malloc(sizeof(double) * (size_t)(total / batch + threads));
    long nall = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        memcpy(all + nall, j[i].lat, sizeof(double) * (size_t)j[i].nlat);
        nall += j[i].nlat;
        free(j[i].lat);
    }
    double dt = now_s() - t0, p50, p99, mx;
    pct(all, nall, &p50, &p99, &mx);
    printf("%-34s %9.0f entries/s  (%ld entries, %.2f s; call p50 %.2f ms p99 %.2f ms)\n", name,
           (double)per * threads / dt, per * threads, dt, p50, p99);
    fflush(stdout);
    free(all);
    dlq_store_close(s);
}

/* time_list runs f `reps` times (cursor from the previous page when walk) and
 * prints p50/p99/max of the call, and the total of the last page. */
static void time_list(struct dlq_store *s, const char *name, struct dlq_filter f, int reps,
                      int walk)
{
    double *lat = malloc(sizeof(double) * (size_t)reps);
    char err[256];
    int64_t total = 0;
    struct dlq_filter start = f;
    for (int i = 0; i < reps; i++) {
        struct dlq_page p;
        double t0 = now_s();
        if (dlq_store_list(s, &f, &p, err, sizeof err) != DLQ_OK) {
            fprintf(stderr, "list %s: %s\n", name, err);
            exit(1);
        }
        lat[i] = now_s() - t0;
        total = p.total;
        if (walk && p.next_cursor[0])
            dlq_cursor_decode(p.next_cursor, &f);
        else if (walk)
            f = start;
        dlq_page_free(&p);
    }
    double p50, p99, mx;
    pct(lat, reps, &p50, &p99, &mx);
    printf("%-34s p50 %6.3f ms  p99 %6.3f ms  max %6.3f ms  (total %lld)\n", name, p50, p99, mx,
           (long long)total);
    fflush(stdout);
    free(lat);
}

static void run_list(void)
{
    char lpath[512];
    snprintf(lpath, sizeof lpath, "%s/list.db", dir);
    int keep = reuse && access(lpath, F_OK) == 0;
    struct dlq_store *s = open_fresh("list", DLQ_DURABILITY_NORMAL, keep);
    enum { B = 1000 };
    struct dlq_entry *e = calloc(B, sizeof *e);
    struct dlq_capture_result *r = calloc(B, sizeof *r);
    char err[256];
    unsigned seed = 42;
    int64_t ms = 1750000000000;
    double t0 = now_s();
    for (long n = 0; !keep && n < seed_entries; n += B) {
        for (int k = 0; k < B; k++)
            make_entry(&e[k], &seed, ms += 17, k == 500, n == 0 && k == 7);
        if (dlq_store_capture(s, e, B, "seed", r, err, sizeof err) != DLQ_OK) {
            fprintf(stderr, "seed: %s\n", err);
            exit(1);
        }
        for (int k = 0; k < B; k++)
            dlq_entry_clear(&e[k]);
    }
    double dt = now_s() - t0;
    if (!keep)
        printf("%-34s %9.0f entries/s  (%ld entries, batches of %d, durability normal)\n", "seed",
               (double)seed_entries / dt, seed_entries, B);
    free(e);
    free(r);

    struct dlq_filter f;
    const int reps = 2000;
    dlq_filter_init(&f);
    f.task_name = "app.tasks.reports.cold_rebuild";
    time_list(s, "list cold task + total", f, reps, 0);
    dlq_filter_init(&f);
    f.task_name = "app.tasks.email.send_welcome";
    time_list(s, "list hot task + total", f, reps, 0);
    dlq_filter_init(&f);
    f.status_mask = 1u << DLQ_STATUS_PENDING_REVIEW;
    time_list(s, "list status + total", f, reps, 0);
    dlq_filter_init(&f);
    f.tenant_id = "t_3";
    time_list(s, "list tenant + total", f, reps, 0);
    dlq_filter_init(&f);
    f.tenant_id = "t_3";
    f.task_name = "app.tasks.billing.charge_card";
    f.exception_type = "TimeoutError";
    time_list(s, "list tenant+task+exc + total", f, reps, 0);
    dlq_filter_init(&f);
    f.q = "zanzibar";
    time_list(s, "list q rare + total", f, reps, 0);
    dlq_filter_init(&f);
    f.status_mask = (1u << DLQ_STATUS_PENDING_REVIEW) | (1u << DLQ_STATUS_REQUIRES_REVIEW);
    time_list(s, "list 2 statuses + total", f, reps, 0);
    dlq_filter_init(&f);
    f.failed_after = 1750000000000 + 17LL * 900000;
    time_list(s, "list failed_after (100k) + total", f, 200, 0);
    dlq_filter_init(&f);
    f.task_name = "app.tasks.email.send_welcome";
    time_list(s, "cursor walk hot task (pages 1..)", f, reps, 1);
    dlq_filter_init(&f);
    time_list(s, "cursor walk all (pages 1..)", f, reps, 1);
    dlq_store_close(s);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--reuse") == 0)
            reuse = 1;
        else if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
            seed_entries = atol(argv[++i]) / 1000 * 1000;
        else {
            fprintf(stderr, "usage: dlq-store-bench [--dir DIR] [--entries N] [--reuse] "
                            "[batch|single|list|profile]...\n");
            return 2;
        }
    }
    mkdir("bench/out", 0755);
    mkdir(dir, 0755);
    int all = i == argc;
    for (int k = all ? 0 : i; all ? k < 1 : k < argc; k++) {
        int want_batch = all || strcmp(argv[k], "batch") == 0;
        int want_single = all || strcmp(argv[k], "single") == 0;
        int want_list = all || strcmp(argv[k], "list") == 0;
        /* "profile": a short batch case sized for callgrind. */
        if (strcmp(argv[k], "profile") == 0)
            run_capture("batch100 x4 threads, same task (profile)", 4, 100, 20000, 0);
        if (want_batch) {
            run_capture("batch100 x1 thread, same task", 1, 100, 200000, 0);
            run_capture("batch100 x16 threads, same task", 16, 100, 320000, 0);
            run_capture("batch100 x1 thread, skewed", 1, 100, 200000, 1);
            run_capture("batch100 x16 threads, skewed", 16, 100, 320000, 1);
        }
        if (want_single) {
            run_capture("single x64 threads, same task", 64, 1, 128000, 0);
            run_capture("single x64 threads, skewed", 64, 1, 128000, 1);
        }
        if (want_list)
            run_list();
    }
    return 0;
}
