/*
 * cmd_worker.c: `dlq worker --queue Q [--concurrency N] -- COMMAND ARGS...`,
 * a generic worker of the native job queue. The main thread long-polls
 * POST /api/v1/queues/Q/reserve for as many jobs as it has free slots and
 * starts one thread per job (cmd_worker_job.c runs the command and acks or
 * fails it); finished threads are joined before the next reserve, so there
 * are never more than N commands, threads or sets of pipes. A server that
 * goes away (a restart) is waited for. SIGINT/SIGTERM are taken by a
 * dedicated thread: the first stops the reserving and lets the running
 * commands finish and be reported, then the worker exits 0; a second kills
 * the commands (their leases give the jobs back) and exits at once.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd_worker.h"
#include "dlq/error.h"

#define RESERVE_SLACK_S 15 /* a long poll's answer may take this much past wait_ms */

enum {
    OPT_QUEUE = DLQ_CLI_OPT_FIRST,
    OPT_CONCURRENCY,
    OPT_LEASE,
    OPT_TASK,
    OPT_WORKER_ID,
};

static const struct option options[] = {
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"task", required_argument, NULL, OPT_TASK},
    {"worker-id", required_argument, NULL, OPT_WORKER_ID},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* reap joins the slots whose thread has finished; returns the free slots. */
static int reap(struct dlq_worker *w)
{
    int free_slots = 0;
    for (int i = 0; i < w->concurrency; i++) {
        struct dlq_worker_slot *s = &w->slots[i];
        pthread_mutex_lock(&w->mu);
        int done = s->done;
        pthread_mutex_unlock(&w->mu);
        if (s->busy && done) {
            pthread_join(s->th, NULL);
            json_decref(s->job);
            s->job = NULL;
            s->busy = s->done = 0;
        }
        if (!s->busy)
            free_slots++;
    }
    return free_slots;
}

/* wait_slot sleeps until a thread finishes, stop is set, or a second passed. */
static void wait_slot(struct dlq_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&w->mu);
    int any_done = 0;
    for (int i = 0; i < w->concurrency; i++)
        any_done |= w->slots[i].busy && w->slots[i].done;
    if (!any_done && !*w->stop)
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    pthread_mutex_unlock(&w->mu);
}

/* pause_s sleeps s seconds, or less when stop is set. */
static void pause_s(const struct dlq_worker *w, int s)
{
    for (int i = 0; i < s * 10 && !*w->stop; i++) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
}

/* reserve_body is the reserve request for count jobs (caller frees). */
static char *reserve_body(const struct dlq_worker *w, int count)
{
    json_t *b = json_pack("{s:i, s:i, s:s}", "count", count, "wait_ms", w->wait_ms, "worker_id",
                          w->worker_id);
    if (b && w->lease_s)
        json_object_set_new(b, "lease_s", json_integer(w->lease_s));
    if (b && w->ntasks) {
        json_t *names = json_array();
        for (size_t i = 0; i < w->ntasks; i++)
            json_array_append_new(names, json_string(w->tasks[i]));
        json_object_set_new(b, "task_names", names);
    }
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return s;
}

/* start_jobs hands each job of a reserve answer to a free slot's thread.
 * Returns how many started. */
static int start_jobs(struct dlq_worker *w, json_t *jobs)
{
    size_t i;
    json_t *job;
    int started = 0;
    json_array_foreach(jobs, i, job)
    {
        struct dlq_worker_slot *s = NULL;
        for (int k = 0; k < w->concurrency && s == NULL; k++)
            if (!w->slots[k].busy)
                s = &w->slots[k];
        if (s == NULL) {
            fprintf(stderr,
                    "%s: the server sent more jobs than asked; the extra ones return "
                    "when their lease ends\n",
                    w->log_prefix);
            break;
        }
        s->w = w;
        s->job = json_incref(job);
        s->done = 0;
        if (pthread_create(&s->th, NULL, dlq_worker_job, s) != 0) {
            fprintf(stderr, "%s: cannot start a thread; the job's lease will return it\n",
                    w->log_prefix);
            json_decref(s->job);
            s->job = NULL;
            continue;
        }
        s->busy = 1;
        started++;
    }
    return started;
}

/* reserve asks for up to free_slots jobs and starts them. Returns how many
 * started, or -1 when the server could not be asked (logged once per
 * outage via *down). */
static int reserve(struct dlq_worker *w, const char *path, int free_slots, int *down)
{
    struct dlq_cli_conn c = w->conn;
    struct dlq_cli_reply r = {0};
    char err[DLQ_CLI_URL_MAX + 256];
    c.interrupt = w->stop; /* a signal ends a long poll within a second */
    c.timeout_s = w->wait_ms / 1000 + RESERVE_SLACK_S;
    if (c.timeout_s < w->conn.timeout_s)
        c.timeout_s = w->conn.timeout_s;
    char *body = reserve_body(w, free_slots > 100 ? 100 : free_slots);
    if (body == NULL) {
        fprintf(stderr, "%s: out of memory\n", w->log_prefix);
        return -1;
    }
    int rc = dlq_cli_request(&c, "POST", path, body, &r, err, sizeof(err));
    free(body);
    if (rc != DLQ_OK) {
        if (!*w->stop && !*down)
            fprintf(stderr, "%s: %s; trying again\n", w->log_prefix, err);
        *down = 1;
        return -1;
    }
    if (*down)
        fprintf(stderr, "%s: the server answers again\n", w->log_prefix);
    *down = 0;
    int started = 0;
    if (r.status == 200) {
        json_t *doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
        started = start_jobs(w, json_object_get(doc, "jobs"));
        json_decref(doc);
    } else if (r.status != 204) {
        struct dlq_buf out = {0};
        dlq_cli_format_problem(&out, r.status, r.body.data, r.body.len, c.token == NULL);
        fprintf(stderr, "%s: reserve refused: %s", w->log_prefix,
                out.data ? out.data + 5 : "error\n"); /* skip "dlq: " */
        dlq_buf_free(&out);
        /* A bad token, queue name or request does not mend itself: stop.
         * Anything else (429, 5xx) may pass: try again. */
        int fatal = r.status == 400 || r.status == 401 || r.status == 403 || r.status == 404 ||
                    r.status == 422;
        started = fatal ? -3 : -2;
    }
    dlq_cli_reply_free(&r);
    return started;
}

int dlq_worker_run(struct dlq_worker *w)
{
    struct dlq_buf path = {0};
    static const volatile sig_atomic_t never = 0;
    if (w->stop == NULL)
        w->stop = &never;
    if (w->log_prefix == NULL)
        w->log_prefix = "dlq worker";
    w->slots = calloc((size_t)w->concurrency, sizeof(*w->slots));
    dlq_buf_puts(&path, "/api/v1/queues/");
    dlq_cli_escape(&path, w->queue);
    dlq_buf_puts(&path, "/reserve");
    if (w->slots == NULL || path.oom) {
        free(w->slots);
        dlq_buf_free(&path);
        fprintf(stderr, "%s: out of memory\n", w->log_prefix);
        return DLQ_EXIT_ERROR;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int down = 0, refused = 0, rc = DLQ_EXIT_OK;
    while (!*w->stop) {
        int free_slots = reap(w);
        if (free_slots == 0) {
            wait_slot(w);
            continue;
        }
        int n = reserve(w, path.data, free_slots, &down);
        if (n == -3) {
            rc = DLQ_EXIT_ERROR;
            break;
        }
        if (n == -1 || n == -2) {
            /* Down (a restart) or refused (a paused token, a bad queue name):
             * wait a little, more when it keeps refusing. */
            refused = n == -2 ? refused + 1 : 0;
            pause_s(w, refused > 3 ? 5 : 1);
            continue;
        }
        refused = 0;
        if (n == 0 && w->idle && free_slots == w->concurrency && w->idle(w->idle_ud))
            break;
    }
    /* Let every running command finish and be reported. */
    for (int i = 0; i < w->concurrency; i++) {
        struct dlq_worker_slot *s = &w->slots[i];
        if (s->busy) {
            pthread_join(s->th, NULL);
            json_decref(s->job);
            s->job = NULL;
            s->busy = s->done = 0;
        }
    }
    /* A second signal killed the commands: the signal thread ends the
     * process with an error; returning first must not make it a success. */
    pthread_mutex_lock(&w->mu);
    if (w->killed)
        rc = DLQ_EXIT_ERROR;
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->slots);
    w->slots = NULL;
    dlq_buf_free(&path);
    return rc;
}

void dlq_worker_kill(struct dlq_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->killed = 1;
    for (int i = 0; w->slots && i < w->concurrency; i++)
        if (w->slots[i].pgid > 0)
            kill(-w->slots[i].pgid, SIGKILL);
    pthread_mutex_unlock(&w->mu);
}

/* ---- the command ---- */

static volatile sig_atomic_t stopping;

struct sig_thread {
    sigset_t set;
    struct dlq_worker *w;
};

/* on_signals waits for SIGINT/SIGTERM: the first stops the worker, the
 * second kills the commands and ends the process. */
static void *on_signals(void *arg)
{
    struct sig_thread *st = arg;
    for (int n = 0;;) {
        int sig;
        if (sigwait(&st->set, &sig) != 0)
            continue;
        if (++n == 1) {
            stopping = 1;
            fprintf(stderr,
                    "%s: %s: no new jobs; finishing the running ones (signal again "
                    "to kill them)\n",
                    st->w->log_prefix, strsignal(sig));
            continue;
        }
        fprintf(stderr,
                "%s: second signal: killing the running commands; their leases "
                "return the jobs\n",
                st->w->log_prefix);
        dlq_worker_kill(st->w);
        /* Reap the killed commands (a job thread may get some first) so
         * none is left a zombie; a second at most. */
        for (int i = 0; i < 100; i++) {
            pid_t p = waitpid(-1, NULL, WNOHANG);
            if (p < 0 && errno == ECHILD)
                break;
            if (p <= 0) {
                struct timespec ts = {0, 10000000L};
                nanosleep(&ts, NULL);
            }
        }
        _exit(DLQ_EXIT_ERROR);
    }
    return NULL;
}

/* check_word checks a non-empty UTF-8 option value of at most max bytes.
 * Returns 0, or -1 after a usage line. */
static int check_word(const char *option, const char *arg, size_t max)
{
    if (arg[0] == '\0') {
        dlq_cli_usage_error("worker", "%s needs a value", option);
        return -1;
    }
    return dlq_cli_check_text("worker", option, arg, max);
}

static int parse_args(struct dlq_worker *w, int argc, char **argv)
{
    int c;
    long n;
    dlq_cli_conn_init(&w->conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    /* "+": the first word that is not an option starts COMMAND, whose own
     * options are not the worker's ("--" works too). */
    while ((c = getopt_long(argc, argv, "+:", options, NULL)) != -1) {
        switch (c) {
        case '?':
        case ':':
            return dlq_cli_getopt_error("worker", argc, argv, c);
        case OPT_QUEUE:
            if (check_word("--queue", optarg, 128) != 0)
                return DLQ_EXIT_USAGE;
            w->queue = optarg;
            break;
        case OPT_CONCURRENCY:
            if (dlq_cli_parse_long(optarg, 1, DLQ_WORKER_MAX_CONCURRENCY, &n) != 0)
                return dlq_cli_usage_error("worker",
                                           "--concurrency must be an integer from 1 "
                                           "to %d",
                                           DLQ_WORKER_MAX_CONCURRENCY);
            w->concurrency = (int)n;
            break;
        case OPT_LEASE:
            if (dlq_cli_parse_long(optarg, 1, 86400, &w->lease_s) != 0)
                return dlq_cli_usage_error("worker", "--lease must be a number of seconds from 1 "
                                                     "to 86400");
            break;
        case OPT_TASK:
            if (check_word("--task", optarg, 200) != 0)
                return DLQ_EXIT_USAGE;
            if (w->ntasks == DLQ_WORKER_MAX_TASKS)
                return dlq_cli_usage_error("worker", "at most %d --task options",
                                           DLQ_WORKER_MAX_TASKS);
            w->tasks[w->ntasks++] = optarg;
            break;
        case OPT_WORKER_ID:
            if (check_word("--worker-id", optarg, 128) != 0)
                return DLQ_EXIT_USAGE;
            w->worker_id = optarg;
            break;
        default:
            if (dlq_cli_conn_option(&w->conn, "worker", c, optarg) != 1)
                return DLQ_EXIT_USAGE;
            break;
        }
    }
    if (w->queue == NULL)
        return dlq_cli_usage_error("worker", "which queue? give --queue Q");
    if (optind >= argc || argv[optind][0] == '\0')
        return dlq_cli_usage_error("worker", "which command? (usage: dlq worker --queue Q -- "
                                             "COMMAND ARGS...)");
    w->argv = argv + optind;
    if (dlq_cli_conn_check(&w->conn, "worker") != 0)
        return DLQ_EXIT_USAGE;
    return DLQ_EXIT_OK;
}

int dlq_cli_worker_run(int argc, char **argv)
{
    struct dlq_worker w;
    const char *tasks[DLQ_WORKER_MAX_TASKS];
    char host[64] = "worker", id[128];
    memset(&w, 0, sizeof(w));
    w.tasks = tasks;
    w.concurrency = 1;
    w.wait_ms = 30000;
    w.log_prefix = "dlq worker";
    int rc = parse_args(&w, argc, argv);
    if (rc != DLQ_EXIT_OK)
        return rc;
    if (w.worker_id == NULL) {
        gethostname(host, sizeof(host) - 1);
        snprintf(id, sizeof(id), "%.63s:%ld", host, (long)getpid());
        w.worker_id = id;
    }
    /* Signals go to one thread only (every thread inherits this mask);
     * a command written to a closed pipe must not end the worker. */
    static struct sig_thread st;
    sigemptyset(&st.set);
    sigaddset(&st.set, SIGINT);
    sigaddset(&st.set, SIGTERM);
    st.w = &w;
    signal(SIGPIPE, SIG_IGN);
    pthread_sigmask(SIG_BLOCK, &st.set, NULL);
    pthread_t sth;
    if (pthread_create(&sth, NULL, on_signals, &st) != 0) {
        fprintf(stderr, "dlq worker: cannot start a thread\n");
        return DLQ_EXIT_ERROR;
    }
    pthread_detach(sth);
    stopping = 0;
    w.stop = &stopping;
    fprintf(stderr, "dlq worker: %s on queue %s, %d at a time, running", w.worker_id, w.queue,
            w.concurrency);
    for (char **a = w.argv; *a; a++)
        fprintf(stderr, " %s", *a);
    fputc('\n', stderr);
    rc = dlq_worker_run(&w);
    fprintf(stderr,
            "dlq worker: stopped: %ld succeeded, %ld failed (to retry), %ld dead-lettered\n",
            w.acked, w.failed, w.dead);
    return rc;
}
