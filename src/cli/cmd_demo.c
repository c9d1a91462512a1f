/*
 * cmd_demo.c: `dlq demo`, the job queue's story told against a running
 * server in under a minute: jobs are enqueued on queue "demo", an
 * in-process worker (cmd_worker.h) runs a small shell script that declines
 * charges over 100 and images it cannot read, the failed jobs retry and land
 * in the dead-letter queue, the script is "fixed", one bulk replay sends
 * them back through the queue, and they end resolved. It starts no server
 * and leaves nothing behind but the jobs and entries it made (its temporary
 * directory is removed, also on Ctrl-C).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd_worker.h"
#include "dlq/core.h"
#include "dlq/error.h"

#define DEMO_QUEUE   "demo"
#define DEMO_LIMIT_S 50 /* each worker phase gives up after this */

static const struct option options[] = {
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* The job script, before and after the "fix". Both read the job's JSON on
 * stdin; the worker acks exit 0, retries other exits, dead-letters exit 3. */
static const char script_v1[] =
    "#!/bin/sh\n"
    "# dlq demo job script, version 1: the job's JSON comes on stdin.\n"
    "job=$(cat)\n"
    "case \"$DLQ_TASK_NAME\" in\n"
    "charge_card)\n"
    "    amount=$(printf '%s' \"$job\" | sed -n 's/.*\"amount\":\\([0-9]*\\).*/\\1/p')\n"
    "    if [ \"${amount:-0}\" -gt 100 ]; then\n"
    "        echo \"charging card for $amount...\" >&2\n"
    "        echo \"CardLimitExceeded: amount $amount is over the limit of 100\" >&2\n"
    "        exit 1\n"
    "    fi\n"
    "    echo \"{\\\"charged\\\":$amount}\" ;;\n"
    "resize_image)\n"
    "    case \"$job\" in *'\"format\":\"tiff\"'*)\n"
    "        echo 'UnsupportedFormat: cannot read tiff images' >&2\n"
    "        exit 3 ;;\n"
    "    esac\n"
    "    echo '{\"resized\":true}' ;;\n"
    "*) echo '{\"ok\":true}' ;;\n"
    "esac\n";

static const char script_v2[] = "#!/bin/sh\n"
                                "# dlq demo job script, version 2: no charge limit, tiff "
                                "support.\n"
                                "cat >/dev/null\n"
                                "echo '{\"ok\":true,\"fixed\":true}'\n";

struct demo {
    struct dlq_cli_conn conn;
    const volatile sig_atomic_t *intr;
    char dir[64], script[96];
    char since[DLQ_TIME_MAX]; /* entries failed at or after this are the demo's */
    char op[96];              /* the bulk replay's operation id */
    double deadline;
};

static double now_s(void)
{
    return (double)dlq_mono_ns() / 1e9;
}

/* get returns the parsed answer of a GET (caller json_decref's), or NULL. */
static json_t *call(struct demo *d, const char *method, const char *path, const char *body)
{
    struct dlq_cli_reply r = {0};
    json_t *doc = NULL;
    if (dlq_cli_call(&d->conn, method, path, body, &r) == DLQ_EXIT_OK)
        doc = dlq_cli_reply_object(&r);
    dlq_cli_reply_free(&r);
    return doc;
}

/* write_script (re)writes the job script: a new file renamed over the old
 * one, so a command starting meanwhile reads one version or the other. */
static int write_script(struct demo *d, const char *text)
{
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s.new", d->script);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, d->script) != 0) {
        fprintf(stderr, "dlq demo: cannot write %s: %s\n", d->script, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* enqueue puts the demo's jobs on the queue in one batch; returns how many. */
static int enqueue(struct demo *d)
{
    static const int amounts[] = {20, 250, 75, 480, 99, 130};
    json_t *jobs = json_array();
    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++)
        json_array_append_new(jobs, json_pack("{s:s, s:[i], s:{s:i, s:s}}", "task_name",
                                              "charge_card", "args", (int)(1000 + i), "kwargs",
                                              "amount", amounts[i], "currency", "EUR"));
    for (int i = 0; i < 3; i++)
        json_array_append_new(jobs, json_pack("{s:s, s:[s]}", "task_name", "send_email", "args",
                                              i == 0   ? "ana@example.com"
                                              : i == 1 ? "li@example.com"
                                                       : "sam@example.com"));
    json_array_append_new(jobs, json_pack("{s:s, s:[s], s:{s:s}}", "task_name", "resize_image",
                                          "args", "cat.png", "kwargs", "format", "png"));
    json_array_append_new(jobs, json_pack("{s:s, s:[s], s:{s:s}}", "task_name", "resize_image",
                                          "args", "scan.tiff", "kwargs", "format", "tiff"));
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
    {
        /* One retry, soon: the failures reach the DLQ within a second. */
        json_object_set_new(j, "max_retries", json_integer(1));
        json_object_set_new(j, "timeout_s", json_integer(10));
        json_object_set_new(
            j, "backoff",
            json_pack("{s:i, s:i, s:i}", "base_ms", 200, "factor", 2, "max_ms", 1000));
    }
    int n = (int)json_array_size(jobs);
    json_t *body = json_pack("{s:o}", "jobs", jobs);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    json_t *ans = text ? call(d, "POST", "/api/v1/queues/" DEMO_QUEUE "/jobs/batch", text) : NULL;
    free(text);
    int ok = ans && json_array_size(json_object_get(ans, "items")) == (size_t)n;
    json_decref(ans);
    return ok ? n : -1;
}

/* queue_idle is the worker's idle check of the first phase: nothing of the
 * demo queue is ready, waiting for a retry or running. */
static int queue_idle(void *ud)
{
    struct demo *d = ud;
    if (now_s() > d->deadline) {
        fprintf(stderr, "dlq demo: the worker phase took too long; stopping it\n");
        return 1;
    }
    json_t *q = call(d, "GET", "/api/v1/queues/" DEMO_QUEUE, NULL);
    int idle = q && dlq_cli_jint(q, "ready", 1) == 0 && dlq_cli_jint(q, "scheduled", 1) == 0 &&
               dlq_cli_jint(q, "running", 1) == 0;
    json_decref(q);
    return idle;
}

/* replay_idle is the idle check of the second phase: the queue is idle and
 * the bulk replay has finished (it waits for the replays' outcomes). */
static int replay_idle(void *ud)
{
    struct demo *d = ud;
    if (!queue_idle(d))
        return 0;
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/dlq/operations/%s", d->op);
    json_t *op = call(d, "GET", path, NULL);
    const char *st = dlq_cli_jstr(op, "state");
    if (st == NULL)
        st = dlq_cli_jstr(op, "status");
    int done = op == NULL || now_s() > d->deadline ||
               (st && strcmp(st, "running") != 0 && strcmp(st, "pending") != 0);
    json_decref(op);
    return done;
}

static int run_worker(struct demo *d, int (*idle)(void *))
{
    struct dlq_worker w;
    char *argv[] = {(char *)"/bin/sh", d->script, NULL};
    memset(&w, 0, sizeof(w));
    w.conn = d->conn;
    w.queue = DEMO_QUEUE;
    w.concurrency = 4;
    w.lease_s = 10;
    w.worker_id = "dlq-demo";
    w.argv = argv;
    w.wait_ms = 500;
    w.stop = d->intr;
    w.idle = idle;
    w.idle_ud = d;
    w.log_prefix = "  worker";
    d->deadline = now_s() + DEMO_LIMIT_S / 2;
    int rc = dlq_worker_run(&w);
    printf("   worker done: %ld succeeded, %ld failed and retried, %ld dead-lettered\n", w.acked,
           w.failed, w.dead);
    fflush(stdout);
    return rc;
}

/* entries prints the demo's entries as a table; returns how many there
 * are (-1: the list failed) and how many are resolved in *resolved. */
static int entries(struct demo *d, int *resolved)
{
    struct dlq_buf path = {0};
    dlq_buf_puts(&path, "/api/v1/dlq/entries?limit=100");
    dlq_cli_query_add(&path, "queue", DEMO_QUEUE);
    dlq_cli_query_add(&path, "failed_after", d->since);
    json_t *page = path.oom ? NULL : call(d, "GET", path.data, NULL);
    dlq_buf_free(&path);
    json_t *items = json_object_get(page, "items");
    if (!json_is_array(items)) {
        json_decref(page);
        return -1;
    }
    static const char *const headers[] = {"ENTRY", "TASK", "REASON", "STATUS", "MESSAGE"};
    struct dlq_cli_table t;
    dlq_cli_table_init(&t, 5, headers);
    dlq_cli_table_set_col(&t, 4, 20, 60, 0);
    size_t i;
    json_t *e;
    *resolved = 0;
    json_array_foreach(items, i, e)
    {
        const char *st = dlq_cli_jstr(e, "status");
        *resolved += st && strcmp(st, "resolved") == 0;
        const char *cells[5] = {dlq_cli_jstr(e, "dlq_id"), dlq_cli_jstr(e, "task_name"),
                                dlq_cli_jstr(e, "reason"), st,
                                dlq_cli_jstr(json_object_get(e, "exception"), "message")};
        dlq_cli_table_add(&t, cells);
    }
    int n = (int)json_array_size(items);
    json_decref(page);
    struct dlq_buf out = {0};
    dlq_cli_table_render(&t, dlq_cli_term_width(), &out);
    dlq_cli_table_free(&t);
    for (char *line = out.data; line && *line;) {
        char *nl = strchr(line, '\n');
        printf("   %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : line + strlen(line);
    }
    dlq_buf_free(&out);
    fflush(stdout);
    return n;
}

/* replay starts one bulk replay of the demo's pending entries. */
static int replay(struct demo *d, int n)
{
    json_t *b = json_pack("{s:s, s:s, s:[s], s:i, s:i, s:i, s:b}", "queue", DEMO_QUEUE,
                          "failed_after", d->since, "status", "pending_review", "max_tasks", n,
                          "rate_per_second", 0, "outcome_timeout_s", 30, "dry_run", 0);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    json_t *ans = text ? call(d, "POST", "/api/v1/dlq/replay-bulk", text) : NULL;
    free(text);
    const char *op = dlq_cli_jstr(ans, "operation_id");
    if (op)
        snprintf(d->op, sizeof(d->op), "%s", op);
    long long matched = dlq_cli_jint(ans, "matched", -1);
    json_decref(ans);
    if (op == NULL)
        return -1;
    printf("   started %s: replaying %lld entries, unthrottled\n", d->op, matched);
    return 0;
}

static int tour(struct demo *d)
{
    int resolved = 0;
    printf("dlq demo against %s\n\n", d->conn.url);
    printf("1. A worker will run a small shell script for each job of queue \"%s\":\n"
           "   it declines charges over 100 (exit 1: retried, then dead-lettered) and\n"
           "   cannot read tiff images (exit 3: dead-lettered at once).\n"
           "   script: %s\n\n",
           DEMO_QUEUE, d->script);
    int n = enqueue(d);
    if (n < 0)
        return DLQ_EXIT_ERROR;
    printf("2. Enqueued %d jobs: 6 charge_card (amounts 20 to 480), 3 send_email, 2 "
           "resize_image.\n   Running the worker until the queue is drained...\n",
           n);
    fflush(stdout);
    if (run_worker(d, queue_idle) != DLQ_EXIT_OK || *d->intr)
        return DLQ_EXIT_ERROR;
    printf("\n3. The failures arrived in the dead-letter queue:\n");
    int dead = entries(d, &resolved);
    if (dead <= 0) {
        fprintf(stderr, "dlq demo: no entries of queue %s arrived in the DLQ\n", DEMO_QUEUE);
        return DLQ_EXIT_ERROR;
    }
    printf("\n4. Fixing the command (job script version 2: no limit, tiff support) and\n"
           "   replaying the %d entries with one bulk replay (filter queue=%s)...\n",
           dead, DEMO_QUEUE);
    if (write_script(d, script_v2) != 0 || replay(d, dead) != 0)
        return DLQ_EXIT_ERROR;
    fflush(stdout);
    if (run_worker(d, replay_idle) != DLQ_EXIT_OK || *d->intr)
        return DLQ_EXIT_ERROR;
    printf("\n5. The replayed jobs succeeded and closed their entries:\n");
    int total = entries(d, &resolved);
    if (total < 0)
        return DLQ_EXIT_ERROR;
    printf("\n%d of %d entries resolved (resolution replay_succeeded). See them with\n"
           "  dlq list --queue %s   and   dlq queues\n",
           resolved, total, DEMO_QUEUE);
    return resolved == total ? DLQ_EXIT_OK : DLQ_EXIT_ERROR;
}

int dlq_cli_demo_run(int argc, char **argv)
{
    struct demo d;
    int c;
    memset(&d, 0, sizeof(d));
    dlq_cli_conn_init(&d.conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error("demo", argc, argv, c);
        if (dlq_cli_conn_option(&d.conn, "demo", c, optarg) != 1)
            return DLQ_EXIT_USAGE;
    }
    if (optind < argc)
        return dlq_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    if (dlq_cli_conn_check(&d.conn, "demo") != 0)
        return DLQ_EXIT_USAGE;
    /* Before anything is made: is there a server, and may we use it? */
    json_t *q = call(&d, "GET", "/api/v1/queues", NULL);
    if (q == NULL)
        return DLQ_EXIT_ERROR;
    json_decref(q);

    snprintf(d.dir, sizeof(d.dir), "/tmp/dlq-demo-XXXXXX");
    if (mkdtemp(d.dir) == NULL) {
        fprintf(stderr, "dlq demo: cannot make a temporary directory: %s\n", strerror(errno));
        return DLQ_EXIT_ERROR;
    }
    snprintf(d.script, sizeof(d.script), "%s/job.sh", d.dir);
    dlq_time_format(dlq_now_ms() - 1000, d.since);
    signal(SIGPIPE, SIG_IGN);
    d.intr = dlq_cli_interrupt_catch();
    d.conn.interrupt = d.intr;
    int rc = write_script(&d, script_v1) == 0 ? tour(&d) : DLQ_EXIT_ERROR;
    if (*d.intr) {
        fprintf(stderr, "dlq demo: interrupted\n");
        rc = DLQ_EXIT_ERROR;
    }
    dlq_cli_interrupt_release();
    unlink(d.script);
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s.new", d.script);
    unlink(tmp);
    rmdir(d.dir);
    return rc;
}
