/*
 * jobgen.c: the load generator of the job queue benchmark (bench/run-jobs).
 * It speaks the worker protocol over keep-alive HTTP connections (libcurl,
 * one handle per thread) and times two things against a running server:
 *
 *   cycle      producers enqueue N jobs in batches (POST .../jobs/batch)
 *              while workers reserve them (count up to 100, long poll) and
 *              ack them in one request per reserve (POST /api/v1/jobs/ack);
 *              prints the jobs/s of the whole cycle, from the first enqueue
 *              to the last ack.
 *   fullcycle  the dead-letter round trip for N jobs, phase by phase:
 *              enqueue; workers fail every attempt retryably (max_retries 2,
 *              backoff base_ms 1) until every job is dead; one unthrottled
 *              bulk replay (filter: the queue); workers ack the replayed
 *              jobs until every entry is resolved. Prints each phase's time.
 *
 * --url may be given several times (several dlq nodes on one database):
 * producer and worker threads take the URLs in turn, so that jobs enqueued
 * through one node are reserved through another; the counters of fullcycle
 * are read through the first.
 *
 * Each run uses a queue of its own. Any answer the protocol does not expect
 * (a 4xx or 5xx) makes the run invalid: it stops with exit status 1.
 * Output: one line of key=value pairs (for bench/run-jobs).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_URLS 8

struct opts {
    const char *url, *token, *mode;
    const char *urls[MAX_URLS]; /* every --url; url is urls[0] */
    int nurls;
    long jobs;
    int producers, workers, batch, count;
};

static struct opts g_o;
static char g_queue[64];
static atomic_long g_enqueued; /* jobs handed to producers so far */
static atomic_long g_done;     /* jobs acked (cycle), or failed attempts (fullcycle) */
static atomic_int g_stop;
static atomic_int g_ack_mode; /* fullcycle: 0 fail every job, 1 ack */

struct resp {
    char *p;
    size_t len, cap;
};

struct client {
    const char *url; /* the node this client talks to */
    CURL *h;
    struct curl_slist *headers;
    struct resp body;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "dlq-jobgen: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n;
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 65536;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *q = realloc(r->p, cap);
        if (q == NULL)
            return 0;
        r->p = q;
        r->cap = cap;
    }
    memcpy(r->p + r->len, p, len);
    r->len += len;
    r->p[r->len] = '\0';
    return len;
}

/* client_init opens a client on the node of thread number idx (urls in turn). */
static void client_init(struct client *c, long idx)
{
    char auth[600];
    memset(c, 0, sizeof(*c));
    c->url = g_o.urls[idx % g_o.nurls];
    c->h = curl_easy_init();
    if (c->h == NULL)
        die("cannot start libcurl", NULL);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g_o.token ? g_o.token : "");
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    if (g_o.token)
        c->headers = curl_slist_append(c->headers, auth);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
}

static void client_free(struct client *c)
{
    curl_slist_free_all(c->headers);
    curl_easy_cleanup(c->h);
    free(c->body.p);
}

/* call sends one request on c's keep-alive connection and returns the
 * status; the answer is in c->body. A failed transfer ends the run. */
static long call(struct client *c, const char *method, const char *path, const char *body)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", c->url, path);
    c->body.len = 0;
    if (c->body.p)
        c->body.p[0] = '\0';
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, NULL);
    }
    CURLcode rc = curl_easy_perform(c->h);
    if (rc != CURLE_OK)
        die("request failed", curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void expect(long status, long want, struct client *c, const char *what)
{
    if (status == want)
        return;
    fprintf(stderr, "dlq-jobgen: %s: HTTP %ld: %.300s\n", what, status, c->body.p ? c->body.p : "");
    exit(1);
}

/* enqueue_batch makes the body of n jobs and posts it. */
static void enqueue_batch(struct client *c, long first, int n, int failing)
{
    size_t cap = (size_t)n * 256 + 64, len = 0;
    char *b = malloc(cap), path[256];
    if (b == NULL)
        die("out of memory", NULL);
    len += (size_t)snprintf(b, cap, "{\"jobs\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"task_name\":\"app.tasks.bench.run\",\"args\":[%ld],"
                                "\"kwargs\":{\"user\":\"u%ld\"}%s}",
                                i ? "," : "", first + i, (first + i) % 977,
                                failing ? ",\"max_retries\":2,\"backoff\":{\"base_ms\":1,"
                                          "\"factor\":1,\"max_ms\":1}"
                                        : "");
    snprintf(b + len, cap - len, "]}");
    snprintf(path, sizeof(path), "/api/v1/queues/%s/jobs/batch", g_queue);
    expect(call(c, "POST", path, b), 201, c, "enqueue batch");
    free(b);
}

static void *producer(void *arg)
{
    struct client c;
    int failing = strcmp(g_o.mode, "fullcycle") == 0;
    client_init(&c, (long)(intptr_t)arg);
    for (;;) {
        long first = atomic_fetch_add(&g_enqueued, g_o.batch);
        if (first >= g_o.jobs)
            break;
        long n = g_o.jobs - first < g_o.batch ? g_o.jobs - first : g_o.batch;
        enqueue_batch(&c, first, (int)n, failing);
    }
    client_free(&c);
    return NULL;
}

/* settle answers every reserved job: one batch ack, or a fail per job. */
static void settle(struct client *c, json_t *jobs)
{
    size_t i, n = json_array_size(jobs);
    json_t *j;
    if (atomic_load(&g_ack_mode)) {
        json_t *acks = json_array();
        json_array_foreach(jobs, i, j)
        {
            json_array_append_new(acks,
                                  json_pack("{s:O, s:O}", "job_id", json_object_get(j, "job_id"),
                                            "lease_token", json_object_get(j, "lease_token")));
        }
        json_t *body = json_pack("{s:o}", "acks", acks);
        char *s = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        expect(call(c, "POST", "/api/v1/jobs/ack", s), 200, c, "ack batch");
        free(s);
        json_t *ans = json_loads(c->body.p, 0, NULL);
        json_t *items = json_object_get(ans, "items");
        json_array_foreach(items, i, j)
        {
            if (json_object_get(j, "status"))
                die("ack refused", json_string_value(json_object_get(j, "detail")));
        }
        json_decref(ans);
        atomic_fetch_add(&g_done, (long)n);
        return;
    }
    json_array_foreach(jobs, i, j)
    {
        char path[256], body[256];
        snprintf(path, sizeof(path), "/api/v1/jobs/%s/fail",
                 json_string_value(json_object_get(j, "job_id")));
        snprintf(body, sizeof(body),
                 "{\"lease_token\":\"%s\",\"error\":{\"type\":\"ConnectionError\","
                 "\"message\":\"upstream refused the connection\"}}",
                 json_string_value(json_object_get(j, "lease_token")));
        expect(call(c, "POST", path, body), 200, c, "fail");
        atomic_fetch_add(&g_done, 1);
    }
}

static void *worker(void *arg)
{
    struct client c;
    char path[256], body[128];
    client_init(&c, (long)(intptr_t)arg);
    snprintf(path, sizeof(path), "/api/v1/queues/%s/reserve", g_queue);
    snprintf(body, sizeof(body), "{\"count\":%d,\"wait_ms\":200,\"worker_id\":\"jobgen-%ld\"}",
             g_o.count, (long)(intptr_t)arg);
    while (!atomic_load(&g_stop)) {
        long st = call(&c, "POST", path, body);
        if (st == 204)
            continue;
        expect(st, 200, &c, "reserve");
        json_t *ans = json_loads(c.body.p, 0, NULL);
        json_t *jobs = json_object_get(ans, "jobs");
        if (json_array_size(jobs))
            settle(&c, jobs);
        json_decref(ans);
    }
    client_free(&c);
    return NULL;
}

static void start(pthread_t *th, int n, void *(*fn)(void *))
{
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, fn, (void *)(intptr_t)i) != 0)
            die("cannot start a thread", NULL);
}

static void join(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* counter reads one number of a GET answer: the queue's "dead", or an
 * entry list's "total". */
static long counter(struct client *c, const char *path, const char *key)
{
    expect(call(c, "GET", path, NULL), 200, c, path);
    json_t *ans = json_loads(c->body.p, 0, NULL);
    long v = (long)json_integer_value(json_object_get(ans, key));
    json_decref(ans);
    return v;
}

static void wait_for(struct client *c, const char *path, const char *key, long want)
{
    double deadline = now_s() + 3600;
    while (counter(c, path, key) < want) {
        if (now_s() > deadline)
            die("gave up waiting for", path);
        usleep(20000);
    }
}

static int run_cycle(void)
{
    pthread_t pt[64], wt[64];
    double t0 = now_s();
    atomic_store(&g_ack_mode, 1);
    start(wt, g_o.workers, worker);
    start(pt, g_o.producers, producer);
    join(pt, g_o.producers);
    double t_enq = now_s();
    while (atomic_load(&g_done) < g_o.jobs)
        usleep(1000);
    double t1 = now_s();
    atomic_store(&g_stop, 1);
    join(wt, g_o.workers);
    printf("mode=cycle jobs=%ld secs=%.3f jps=%.0f enqueue_secs=%.3f producers=%d workers=%d "
           "batch=%d count=%d\n",
           g_o.jobs, t1 - t0, (double)g_o.jobs / (t1 - t0), t_enq - t0, g_o.producers, g_o.workers,
           g_o.batch, g_o.count);
    return 0;
}

static int run_fullcycle(void)
{
    pthread_t pt[64], wt[64];
    struct client c;
    char qpath[256], epath[512], body[512];
    client_init(&c, 0);
    snprintf(qpath, sizeof(qpath), "/api/v1/queues/%s", g_queue);
    snprintf(epath, sizeof(epath), "/api/v1/dlq/entries?queue=%s&status=resolved&limit=1", g_queue);

    double t0 = now_s();
    start(pt, g_o.producers, producer);
    join(pt, g_o.producers);
    double t_enq = now_s();

    atomic_store(&g_ack_mode, 0);
    start(wt, g_o.workers, worker);
    wait_for(&c, qpath, "dead", g_o.jobs);
    double t_dlq = now_s();
    atomic_store(&g_ack_mode, 1); /* the workers ack what comes next: the replays */

    snprintf(body, sizeof(body),
             "{\"queue\":\"%s\",\"max_tasks\":%ld,\"rate_per_second\":0,\"batch_size\":1000,"
             "\"stop_failure_rate\":1,\"dry_run\":false}",
             g_queue, g_o.jobs);
    long st = call(&c, "POST", "/api/v1/dlq/replay-bulk", body);
    if (st != 200 && st != 201 && st != 202)
        expect(st, 202, &c, "replay-bulk");
    double t_replay = now_s();
    wait_for(&c, epath, "total", g_o.jobs);
    double t_end = now_s();
    atomic_store(&g_stop, 1);
    join(wt, g_o.workers);
    client_free(&c);
    printf("mode=fullcycle jobs=%ld enqueue_secs=%.3f fail_to_dlq_secs=%.3f "
           "replay_start_secs=%.3f replay_to_resolved_secs=%.3f total_secs=%.3f "
           "failed_attempts=%ld workers=%d\n",
           g_o.jobs, t_enq - t0, t_dlq - t_enq, t_replay - t_dlq, t_end - t_replay, t_end - t0,
           atomic_load(&g_done) - g_o.jobs, g_o.workers);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: dlq-jobgen cycle|fullcycle --url URL [--url URL2 ...] [--token T] [--jobs N]\n"
          "                  [--producers P] [--workers W] [--batch B] [--count C]\n"
          "  --url      a node; repeat for several nodes (threads take them in turn)\n"
          "  cycle      enqueue (batches of B) -> reserve (count C) -> batch ack, jobs/s\n"
          "  fullcycle  enqueue -> fail every attempt -> DLQ -> bulk replay -> ack -> resolved\n"
          "defaults: --jobs 10000 --producers 2 --workers 4 --batch 100 --count 100\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"jobs", required_argument, NULL, 'n'},
        {"producers", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"batch", required_argument, NULL, 'b'},
        {"count", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    g_o = (struct opts){.jobs = 10000, .producers = 2, .workers = 4, .batch = 100, .count = 100};
    int c;
    while ((c = getopt_long(argc, argv, "u:t:n:p:w:b:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            if (g_o.nurls == MAX_URLS) {
                usage(stderr);
                return 2;
            }
            g_o.urls[g_o.nurls++] = optarg;
            g_o.url = g_o.urls[0];
            break;
        case 't':
            g_o.token = optarg;
            break;
        case 'n':
            g_o.jobs = atol(optarg);
            break;
        case 'p':
            g_o.producers = atoi(optarg);
            break;
        case 'w':
            g_o.workers = atoi(optarg);
            break;
        case 'b':
            g_o.batch = atoi(optarg);
            break;
        case 'c':
            g_o.count = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || g_o.url == NULL || g_o.jobs < 1 || g_o.producers < 1 ||
        g_o.producers > 64 || g_o.workers < 1 || g_o.workers > 64 || g_o.batch < 1 ||
        g_o.batch > 1000 || g_o.count < 1 || g_o.count > 100) {
        usage(stderr);
        return 2;
    }
    g_o.mode = argv[optind];
    if (getenv("DLQ_TOKEN") && g_o.token == NULL)
        g_o.token = getenv("DLQ_TOKEN");
    unsigned rnd = (unsigned)time(NULL) ^ (unsigned)getpid();
    snprintf(g_queue, sizeof(g_queue), "bench.%s.%08x", g_o.mode, rnd);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(g_o.mode, "cycle") == 0)
        rc = run_cycle();
    else if (strcmp(g_o.mode, "fullcycle") == 0)
        rc = run_fullcycle();
    else {
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
