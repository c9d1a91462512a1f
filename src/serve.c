/*
 * serve.c: `dlq serve`, the server in process. It reads its options, opens
 * the store (migrating the schema), makes the first admin token when there
 * are none, starts HTTP, prints where it listens, and then waits for SIGTERM
 * or SIGINT with sigwait(): the signals are blocked in every thread, so no
 * handler and no global flag are needed. Stopping drains HTTP (requests in
 * flight finish), then closes the store (the writer flushes, the database
 * closes clean).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/cli.h"
#include "dlq/http.h"
#include "dlq/service.h"
#include "dlq/store.h"
#include "dlq/util.h"

#define DEFAULT_DB     "./dlq.db"
#define DEFAULT_LISTEN "127.0.0.1:8480"
/* Threads: a durable write holds its thread until the group commit, so the
 * pool bounds how many writes share one commit. 16 suits a few busy
 * clients; raise --threads towards the number of concurrent clients. */
#define DEFAULT_THREADS  16
#define DEFAULT_MAX_BODY (1024 * 1024)

struct serve_opts {
    const char *db; /* the store: a SQLite file path or a postgres:// URL */
    int pool;       /* postgres: sessions at most (0: the backend's default) */
    const char *listen;
    char host[256];
    int port;
    enum dlq_durability durability;
    int threads;
    size_t max_body;
    int quiet;
    struct dlq_maint_config maint;     /* slice C2: retention */
    struct dlq_service_config svc_cfg; /* slice C1: health thresholds, alerts */
    /* issue 6: spool, store busy timeout, connection limits */
    const char *spool; /* NULL: "<db>.spool" */
    int no_spool;
    long spool_max; /* bytes; 0: the default */
    long busy_timeout_ms;
    long max_conns, conn_timeout_s, per_ip;
};

/* usage_error prints one line about bad usage and returns the exit status. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "dlq serve: %s (try 'dlq serve --help')\n", msg);
    return DLQ_EXIT_USAGE;
}

/* parse_long reads a whole decimal number in [lo, hi]; 0 or -1. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* parse_listen splits HOST:PORT ("[::1]:8480" for IPv6; ":8480" means every
 * interface). 0 or -1. */
static int parse_listen(const char *s, struct serve_opts *o)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen)) {
        return -1; /* an IPv6 address needs brackets */
    }
    if (hlen >= sizeof(o->host))
        return -1;
    if (hlen == 0) {
        snprintf(o->host, sizeof(o->host), "0.0.0.0");
    } else {
        memcpy(o->host, h, hlen);
        o->host[hlen] = '\0';
    }
    long port;
    if (parse_long(colon + 1, 0, 65535, &port) != 0)
        return -1;
    o->port = (int)port;
    return 0;
}

/* option returns the value of --name VALUE or --name=VALUE at argv[*i]
 * (advancing *i), or NULL when argv[*i] is not that option. *missing is set
 * when the option is there without a value. */
static const char *option(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* c1_option parses slice C1's options (health thresholds, alerts,
 * notifications) at argv[*i] into c: returns 1 when argv[*i] was one of
 * them (then *bad is -1 if its value was refused, after printing why),
 * else 0. */
static int c1_option(int argc, char **argv, int *i, struct dlq_service_config *c, int *missing,
                     long *bad)
{
    static const char *const ints[] = {"--health-warning",     "--health-critical",
                                       "--alert-cooldown-s",   "--alert-interval-s",
                                       "--alert-new-per-hour", "--alert-replay-window"};
    int *dst[] = {&c->health_warning_at, &c->health_critical_at, &c->alert_cooldown_s,
                  &c->alert_interval_s,  &c->alert_new_per_hour, &c->alert_replay_window};
    const char *v;
    long num;
    *bad = 0;
    for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
        if ((v = option(argc, argv, i, ints[k], missing))) {
            if (parse_long(v, 1, 1000000000, &num) != 0) {
                usage_error("%s must be a number from 1 to 1000000000, not '%s'", ints[k], v);
                *bad = -1;
            } else {
                *dst[k] = (int)num;
            }
            return 1;
        }
    }
    if ((v = option(argc, argv, i, "--alert-webhook", missing))) {
        c->alert_webhook = v;
        return 1;
    }
    if ((v = option(argc, argv, i, "--notify-url", missing))) {
        c->notify_url = v;
        return 1;
    }
    int rate = 0;
    if ((v = option(argc, argv, i, "--alert-pending-minutes", missing)) ||
        (rate = 1, v = option(argc, argv, i, "--alert-replay-failure-rate", missing))) {
        const char *name = rate ? "--alert-replay-failure-rate" : "--alert-pending-minutes";
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        double hi = rate ? 1.0 : 1e6;
        if (errno || end == v || *end || !(d > 0) || d > hi) {
            usage_error("%s must be a number above 0 and at most %g, not '%s'", name, hi, v);
            *bad = -1;
        } else if (rate) {
            c->alert_replay_failure_rate = d;
        } else {
            c->alert_pending_minutes = d;
        }
        return 1;
    }
    return 0;
}

/* issue6_option parses the spool and connection options at argv[*i]:
 * 1 when it was one (*bad -1 if its value was refused, after printing why),
 * else 0. */
static int issue6_option(int argc, char **argv, int *i, struct serve_opts *o, int *missing,
                         long *bad)
{
    static const char *const nums[] = {"--spool-max-bytes", "--busy-timeout-ms",
                                       "--max-connections", "--conn-timeout-s",
                                       "--max-connections-per-ip"};
    long *dst[] = {&o->spool_max, &o->busy_timeout_ms, &o->max_conns, &o->conn_timeout_s,
                   &o->per_ip};
    static const long lo[] = {4096, 1, 1, 1, 0};
    const char *v;
    long num;
    *bad = 0;
    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
        if ((v = option(argc, argv, i, nums[k], missing))) {
            if (parse_long(v, lo[k], INT_MAX, &num) != 0) {
                usage_error("%s must be a number from %ld to %d, not '%s'", nums[k], lo[k], INT_MAX,
                            v);
                *bad = -1;
            } else {
                *dst[k] = num;
            }
            return 1;
        }
    }
    if ((v = option(argc, argv, i, "--spool", missing))) {
        if (!*v) {
            usage_error("--spool needs a path");
            *bad = -1;
        }
        o->spool = v;
        return 1;
    }
    if (strcmp(argv[*i], "--no-spool") == 0) {
        o->no_spool = 1;
        return 1;
    }
    return 0;
}

/* fault_wrap puts the store behind the fault-injecting wrapper when
 * DLQ_FAULT="from=N,count=M" is set (TEST ONLY: calls N..N+M-1 of the store,
 * counted from 1 over every method, fail as unavailable; count -1: for
 * ever). Returns the store to use (NULL when out of memory). */
static struct dlq_store *fault_wrap(struct dlq_store *store)
{
    const char *f = getenv("DLQ_FAULT");
    long from = 0, count = 0;
    if (!f || !*f || sscanf(f, "from=%ld,count=%ld", &from, &count) != 2)
        return store;
    dlq_log(DLQ_LOG_WARN, "DLQ_FAULT set: store calls %ld.. fail (%ld of them); for tests only",
            from, count);
    return dlq_store_fault_new(store, from, count);
}

static int parse_opts(int argc, char **argv, struct serve_opts *o)
{
    const char *env_db = getenv("DLQ_DB"), *env_listen = getenv("DLQ_LISTEN");
    const char *env_store = getenv("DLQ_STORE");
    o->db = env_store && *env_store ? env_store : env_db && *env_db ? env_db : DEFAULT_DB;
    o->listen = env_listen && *env_listen ? env_listen : DEFAULT_LISTEN;
    o->durability = DLQ_DURABILITY_FULL;
    o->threads = DEFAULT_THREADS;
    o->max_body = DEFAULT_MAX_BODY;
    o->maint.interval_s = 60;     /* slice C2 */
    o->maint.retention_days = 30; /* slice C2 */
    o->maint.purge_days = 90;     /* slice C2 */
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        long num;
        if ((v = option(argc, argv, &i, "--db", &missing)) ||
            (v = option(argc, argv, &i, "--store", &missing))) {
            if (!*v)
                return usage_error("%s needs a path or a postgres:// URL", argv[i]);
            o->db = v;
        } else if ((v = option(argc, argv, &i, "--pool", &missing))) {
            if (parse_long(v, 1, 256, &num) != 0)
                return usage_error("--pool must be a number from 1 to 256, not '%s'", v);
            o->pool = (int)num;
        } else if ((v = option(argc, argv, &i, "--listen", &missing))) {
            o->listen = v;
        } else if ((v = option(argc, argv, &i, "--durability", &missing))) {
            if (strcmp(v, "full") == 0)
                o->durability = DLQ_DURABILITY_FULL;
            else if (strcmp(v, "normal") == 0)
                o->durability = DLQ_DURABILITY_NORMAL;
            else
                return usage_error("--durability must be full or normal, not '%s'", v);
        } else if ((v = option(argc, argv, &i, "--threads", &missing))) {
            if (parse_long(v, 1, 1024, &num) != 0)
                return usage_error("--threads must be a number from 1 to 1024, not '%s'", v);
            o->threads = (int)num;
        } else if ((v = option(argc, argv, &i, "--max-body", &missing))) {
            if (parse_long(v, 1, INT_MAX, &num) != 0)
                return usage_error("--max-body must be a positive number of bytes, not '%s'", v);
            o->max_body = (size_t)num;
        } else if ((v = option(argc, argv, &i, "--retention-days", &missing))) { /* slice C2 */
            if (parse_long(v, 0, 36500, &num) != 0)
                return usage_error("--retention-days must be a number from 0 to 36500, not '%s'",
                                   v);
            o->maint.retention_days = (int)num;
        } else if ((v = option(argc, argv, &i, "--purge-days", &missing))) {
            if (parse_long(v, 0, 36500, &num) != 0)
                return usage_error("--purge-days must be a number from 0 to 36500, not '%s'", v);
            o->maint.purge_days = (int)num;
        } else if ((v = option(argc, argv, &i, "--expiry-hours", &missing))) {
            if (parse_long(v, 0, 876000, &num) != 0)
                return usage_error("--expiry-hours must be a number from 0 to 876000, not '%s'", v);
            o->maint.expiry_hours = (int)num;
        } else if ((v = option(argc, argv, &i, "--maintenance-interval-s", &missing))) {
            if (parse_long(v, 1, 86400, &num) != 0)
                return usage_error("--maintenance-interval-s must be from 1 to 86400, not '%s'", v);
            o->maint.interval_s = (int)num;
        } else if ((v = option(argc, argv, &i, "--max-entries", &missing))) {
            if (parse_long(v, 0, LONG_MAX, &num) != 0)
                return usage_error("--max-entries must be a number >= 0, not '%s'", v);
            o->maint.max_entries = num;
        } else if (c1_option(argc, argv, &i, &o->svc_cfg, &missing, &num) != 0) { /* slice C1 */
            if (num < 0)
                return DLQ_EXIT_USAGE;
        } else if (issue6_option(argc, argv, &i, o, &missing, &num) != 0) { /* issue 6 */
            if (num < 0)
                return DLQ_EXIT_USAGE;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            o->quiet = 1;
        } else if (missing) {
            return usage_error("%s needs a value", argv[i]);
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (parse_listen(o->listen, o) != 0)
        return usage_error("--listen must be HOST:PORT (e.g. 127.0.0.1:8480), not '%s'", o->listen);
    return DLQ_EXIT_OK;
}

/* print_banner tells the operator where the server is and, once, the admin
 * secret it generated. stdout is flushed: scripts wait for these lines. */
static void print_banner(const struct serve_opts *o, int port, int created, const char *secret)
{
    char base[300];
    int v6 = strchr(o->host, ':') != NULL;
    snprintf(base, sizeof(base), "http://%s%s%s:%d/", v6 ? "[" : "", o->host, v6 ? "]" : "", port);
    printf("dlq %s listening on %s\n", DLQ_VERSION, base);
    printf("api: %sapi/v1/\n", base);
    if (created && secret[0])
        printf("admin token (shown once): %s\n", secret);
    else if (created)
        printf("admin token: taken from DLQ_ADMIN_TOKEN\n");
    fflush(stdout);
}

/* wait_for_stop blocks until SIGTERM or SIGINT arrives; returns the signal. */
static int wait_for_stop(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

static int run_server(const struct serve_opts *o, const sigset_t *stop_set)
{
    char err[512] = "";
    struct dlq_store_config scfg = {.path = o->db,
                                    .durability = o->durability,
                                    .busy_timeout_ms =
                                        o->busy_timeout_ms ? (int)o->busy_timeout_ms : 5000,
                                    .migrate = 1,
                                    .pool_size = o->pool};
    struct dlq_store *store = NULL;
    const char *backend = dlq_store_backend_of(o->db);
    if (dlq_store_open(backend, &scfg, &store, err, sizeof(err)) != DLQ_OK) {
        char where[512];
        fprintf(stderr, "dlq serve: cannot open the store at '%s': %s\n",
                dlq_store_location_shown(o->db, where, sizeof where), err);
        return DLQ_EXIT_ERROR;
    }
    if (!(store = fault_wrap(store))) { /* issue 6: test-only fault injection */
        fprintf(stderr, "dlq serve: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    struct dlq_service *svc = NULL;
    struct dlq_http *http = NULL;
    struct dlq_maint *maint = NULL; /* slice C2 */
    int status = DLQ_EXIT_ERROR;
    if (dlq_service_new(store, &o->svc_cfg, &svc) != DLQ_OK) {
        fprintf(stderr, "dlq serve: cannot create the service: out of memory\n");
        goto fail;
    }
    /* The first admin token exists before the port opens, so the first
     * request a client makes after seeing the server up can use it. */
    int created = 0;
    char secret[DLQ_SECRET_MAX] = "";
    if (dlq_service_bootstrap_admin(svc, getenv("DLQ_ADMIN_TOKEN"), &created, secret, err,
                                    sizeof(err)) != DLQ_OK) {
        fprintf(stderr, "dlq serve: cannot create the admin token: %s\n", err);
        goto fail;
    }
    /* issue 6: load the spool and drain it into the store before serving. */
    char spool_path[4096];
    if (strcmp(backend, "sqlite") == 0)
        snprintf(spool_path, sizeof(spool_path), "%s.spool", o->db);
    else
        snprintf(spool_path, sizeof(spool_path), "./dlq.spool");
    struct dlq_spool_config spcfg = {.path = o->no_spool ? NULL
                                             : o->spool  ? o->spool
                                                         : spool_path,
                                     .max_bytes = o->spool_max};
    if (dlq_service_spool_start(svc, &spcfg, err, sizeof(err)) != DLQ_OK) {
        fprintf(stderr, "dlq serve: cannot start the spool: %s\n", err);
        goto fail;
    }
    if (dlq_service_jobs_start(svc, err, sizeof(err)) != DLQ_OK) { /* issue 4: timer, webhooks */
        fprintf(stderr, "dlq serve: cannot start the job queue threads: %s\n", err);
        goto fail;
    }
    if (dlq_service_ops_start(svc, err, sizeof(err)) != DLQ_OK) { /* slice B: bulk runner */
        fprintf(stderr, "dlq serve: cannot start the bulk operation runner: %s\n", err);
        goto fail;
    }
    if (dlq_service_cluster_start(svc, err, sizeof(err)) != DLQ_OK) { /* issue 7 */
        fprintf(stderr, "dlq serve: cannot watch the store for other servers: %s\n", err);
        goto fail;
    }
    if (dlq_service_alerts_start(svc, &o->svc_cfg, err, sizeof(err)) != DLQ_OK) { /* slice C1 */
        fprintf(stderr, "dlq serve: cannot start alerts: %s\n", err);
        goto fail;
    }
    if (dlq_maint_start(svc, &o->maint, &maint, err, sizeof(err)) != DLQ_OK) { /* slice C2 */
        fprintf(stderr, "dlq serve: %s\n", err);
        goto fail;
    }
    struct dlq_http_config hcfg = {.host = o->host,
                                   .port = o->port,
                                   .threads = o->threads,
                                   .max_body = o->max_body,
                                   .access_log = !o->quiet,
                                   .conn_limit = o->max_conns ? (int)o->max_conns : 1024,
                                   .conn_timeout_s =
                                       o->conn_timeout_s ? (int)o->conn_timeout_s : 60,
                                   .per_ip_limit = (int)o->per_ip}; /* issue 6 */
    if (dlq_http_start(svc, &hcfg, &http, err, sizeof(err)) != DLQ_OK) {
        /* A generated secret is stored now and will not be made again:
         * show it even though this start failed, or nobody could use it. */
        if (created && secret[0])
            printf("admin token (shown once): %s\n", secret);
        fflush(stdout);
        memset(secret, 0, sizeof(secret));
        fprintf(stderr, "dlq serve: %s\n", err);
        goto fail;
    }
    /* Every thread is running before the banner: a client that waits for
     * the banner (or for /healthz) finds the whole server up. */
    print_banner(o, dlq_http_port(http), created, secret);
    memset(secret, 0, sizeof(secret));

    int sig = wait_for_stop(stop_set);
    dlq_log(DLQ_LOG_INFO, "stopping (%s): finishing requests in flight", strsignal(sig));
    status = DLQ_EXIT_OK;
fail:
    dlq_http_stop(http);
    dlq_maint_stop(maint);         /* slice C2 */
    dlq_service_cluster_stop(svc); /* issue 7: before what it wakes */
    if (svc)
        dlq_service_alerts_stop(svc); /* slice C1: after everything that may raise an alert */
    if (svc)
        dlq_service_ops_stop(svc); /* slice B: leaves a running op resumable */
    if (svc)
        dlq_service_jobs_stop(svc); /* issue 4: after HTTP and the runner, which wake it */
    dlq_service_spool_stop(svc);    /* issue 6: after HTTP, so no ingest is spooling */
    dlq_service_free(svc);
    dlq_store_close(store);
    if (status == DLQ_EXIT_OK)
        dlq_log(DLQ_LOG_INFO, "stopped");
    return status;
}

static int serve_run(int argc, char **argv)
{
    struct serve_opts o;
    memset(&o, 0, sizeof(o));
    int rc = parse_opts(argc, argv, &o);
    if (rc != DLQ_EXIT_OK)
        return rc;
    /* Block the stop signals before any thread starts, so every thread
     * inherits the mask and only sigwait() below ever takes them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return run_server(&o, &set);
}

const struct dlq_command dlq_cmd_serve = {
    "serve",
    "run the server: REST API, worker-facing ingest, background work",
    "usage: dlq serve [--store PATH|URL] [--pool N] [--listen HOST:PORT]\n"
    "                 [--durability full|normal]\n"
    "                 [--threads N] [--max-body BYTES] [--quiet]\n"
    "                 [--retention-days N] [--purge-days N] [--expiry-hours N]\n"
    "                 [--maintenance-interval-s N] [--max-entries N]\n"
    "                 [--health-warning N] [--health-critical N] [--alert-webhook URL]\n"
    "                 [--notify-url URL] [--alert-cooldown-s N] [--alert-interval-s N]\n"
    "                 [--alert-pending-minutes M] [--alert-new-per-hour N]\n"
    "                 [--alert-replay-failure-rate F] [--alert-replay-window N]\n"
    "                 [--spool PATH | --no-spool] [--spool-max-bytes N] [--busy-timeout-ms N]\n"
    "                 [--max-connections N] [--max-connections-per-ip N] [--conn-timeout-s N]\n"
    "\n"
    "  --store PATH|URL    where entries live: a SQLite database file, or a PostgreSQL\n"
    "                      URL postgres://user:pw@host:port/db[?schema=NAME] that\n"
    "                      several dlq servers may share (env DLQ_STORE; --db PATH and\n"
    "                      env DLQ_DB too; default ./dlq.db)\n"
    "  --pool N            PostgreSQL sessions this server opens at most (default 8)\n"
    "  --listen HOST:PORT  address to serve on (env DLQ_LISTEN; default 127.0.0.1:8480;\n"
    "                      port 0 picks a free port, printed at start)\n"
    "  --durability full|normal\n"
    "                      full: fsync every commit before answering (default);\n"
    "                      normal: survive a process crash, not a power loss\n"
    "  --threads N         HTTP worker threads (default 16). A durable write holds its\n"
    "                      thread until its group commit: use about as many threads as\n"
    "                      concurrent writers (e.g. 64 for 64 busy connections)\n"
    "  --max-body BYTES    request body cap, 413 above (default 1048576)\n"
    "  --quiet             no access log (one JSON line per request on stderr)\n"
    "  --retention-days N  archive resolved/discarded/expired entries untouched for N\n"
    "                      days (default 30)\n"
    "  --purge-days N      delete archived entries untouched for N days (default 90)\n"
    "  --expiry-hours N    expire pending_review entries older than N hours (default 0:\n"
    "                      off; an entry's own expires_at is always honoured)\n"
    "  --maintenance-interval-s N\n"
    "                      seconds between retention runs (default 60)\n"
    "  --health-warning N  health is warning from N pending entries (default 1)\n"
    "  --health-critical N health is critical above N pending entries (default 10)\n"
    "  --alert-webhook URL POST alerts firing and clearing here (Slack-compatible JSON)\n"
    "  --notify-url URL    POST /api/v1/dlq/report bodies here\n"
    "  --alert-cooldown-s N  least seconds between two messages of one rule (default 300)\n"
    "  --alert-interval-s N  seconds between alert evaluations (default 10)\n"
    "  --alert-pending-minutes M  pending_age: entries pending for M minutes (default 5;\n"
    "                      fractions allowed)\n"
    "  --alert-new-per-hour N  ingest_rate: more than N new failures in an hour (default 5)\n"
    "  --alert-replay-failure-rate F  replay_failure_rate: failed share above F (0..1,\n"
    "                      default 0.5) of the last --alert-replay-window N (default 20)\n"
    "                      finished replays, once at least 5 have finished\n"
    "  --max-entries N     raise the retention_cap alert above N stored entries; nothing\n"
    "                      is dropped (default 0: off)\n"
    "  --spool PATH        when the store cannot take an ingest (disk full, locked,\n"
    "                      failing), append it to this fsynced file, answer 202 with\n"
    "                      \"spooled\": true and move it into the store when it recovers\n"
    "                      and at start (default <db>.spool; --no-spool: answer 503)\n"
    "  --spool-max-bytes N past N bytes of spool, ingests get 503 (default 64 MiB)\n"
    "  --busy-timeout-ms N how long a write waits for a locked database (default 5000)\n"
    "  --max-connections N concurrent connections; more are refused (default 1024)\n"
    "  --max-connections-per-ip N  per client address (default 0: no limit)\n"
    "  --conn-timeout-s N  close a connection idle or stalled for N seconds (default 60)\n"
    "\n"
    "On first start with no tokens an admin token is created: the secret in\n"
    "DLQ_ADMIN_TOKEN if set, otherwise a random one printed once.\n"
    "SIGTERM or SIGINT stops the server gracefully.\n",
    serve_run,
};
