/*
 * cmd_job.c: `dlq job ID`, one job of the native job queue
 * (GET /api/v1/jobs/ID) on one screen: what it is and where it stands
 * (queue, task, state, attempt k of n), its times, the last error, its
 * arguments and result, then every finished attempt as a timeline. The
 * lease token is never in the answer, so it cannot be printed.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

static const struct option options[] = {
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* time_field appends "label: <exact> (<relative>)", left out when null. */
static void time_field(struct dlq_buf *b, const char *label, const json_t *j, const char *key,
                       int64_t now)
{
    const char *t = dlq_cli_jstr(j, key);
    if (t == NULL || t[0] == '\0')
        return;
    char out[128];
    dlq_cli_time_long(t, now, out, sizeof(out));
    dlq_cli_field(b, label, out);
}

/* str_field appends a string member, left out when null or missing. */
static void str_field(struct dlq_buf *b, const char *label, const json_t *j, const char *key)
{
    const char *s = dlq_cli_jstr(j, key);
    if (s && s[0])
        dlq_cli_field(b, label, s);
}

/* json_field appends a member holding any JSON, dumped on one line. */
static void json_field(struct dlq_buf *b, const char *label, const json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    if (v == NULL || json_is_null(v))
        return;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    dlq_cli_field(b, label, s);
    free(s);
}

/* error_text writes "Type: message" of an error object into out. */
static void error_text(const json_t *err, char *out, size_t n)
{
    const char *type = dlq_cli_jstr(err, "type"), *msg = dlq_cli_jstr(err, "message");
    snprintf(out, n, "%s%s%s", type ? type : "", type && msg ? ": " : "", msg ? msg : "");
}

/* attempts appends the timeline of finished attempts. */
static void attempts(struct dlq_buf *b, const json_t *list)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return;
    dlq_buf_puts(b, "attempts:\n");
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        struct dlq_buf line = {0};
        const char *at = dlq_cli_jstr(a, "started_at");
        const char *outcome = dlq_cli_jstr(a, "outcome");
        const char *worker = dlq_cli_jstr(a, "worker_id");
        char err[1024];
        error_text(json_object_get(a, "error"), err, sizeof(err));
        dlq_buf_printf(&line, "#%lld %-24s %-10s", dlq_cli_jint(a, "attempt", 0), at ? at : "-",
                       outcome ? outcome : "?");
        long long ms = dlq_cli_jint(a, "duration_ms", -1);
        if (ms >= 0)
            dlq_buf_printf(&line, " %lldms", ms);
        if (worker && worker[0])
            dlq_buf_printf(&line, " by %s", worker);
        if (err[0])
            dlq_buf_printf(&line, "  %s", err);
        dlq_buf_puts(b, "  ");
        dlq_cli_sanitize(b, line.data, 0);
        dlq_buf_putc(b, '\n');
        if (line.oom)
            b->oom = 1;
        dlq_buf_free(&line);
    }
}

static int render(json_t *j, void *arg)
{
    struct dlq_buf b = {0};
    int64_t now = dlq_now_ms();
    char tmp[1024];
    dlq_cli_field(&b, "id", dlq_cli_jstr(j, "job_id"));
    dlq_cli_field(&b, "queue", dlq_cli_jstr(j, "queue"));
    dlq_cli_field(&b, "task", dlq_cli_jstr(j, "task_name"));
    dlq_cli_field(&b, "state", dlq_cli_jstr(j, "state"));
    snprintf(tmp, sizeof(tmp), "%lld of %lld", dlq_cli_jint(j, "attempt", 0),
             dlq_cli_jint(j, "max_retries", 0) + 1);
    dlq_cli_field(&b, "attempts", tmp);
    long long prio = dlq_cli_jint(j, "priority", 0);
    if (prio != 0) {
        snprintf(tmp, sizeof(tmp), "%lld", prio);
        dlq_cli_field(&b, "priority", tmp);
    }
    snprintf(tmp, sizeof(tmp), "%llds", dlq_cli_jint(j, "timeout_s", 0));
    dlq_cli_field(&b, "timeout", tmp);
    str_field(&b, "target", j, "target");
    str_field(&b, "tenant", j, "tenant_id");
    str_field(&b, "worker", j, "worker_id");
    str_field(&b, "replay of", j, "replay_of");
    str_field(&b, "dlq entry", j, "dlq_id");
    str_field(&b, "idempotency key", j, "idempotency_key");
    time_field(&b, "created at", j, "created_at", now);
    time_field(&b, "run at", j, "run_at", now);
    time_field(&b, "started at", j, "started_at", now);
    time_field(&b, "lease expires", j, "lease_expires_at", now);
    time_field(&b, "finished at", j, "finished_at", now);
    json_t *last = json_object_get(j, "last_error");
    if (json_is_object(last)) {
        error_text(last, tmp, sizeof(tmp));
        dlq_cli_field(&b, "last error", tmp);
    }
    json_field(&b, "args", j, "args");
    json_field(&b, "kwargs", j, "kwargs");
    if (json_object_size(json_object_get(j, "metadata")))
        json_field(&b, "metadata", j, "metadata");
    json_field(&b, "result", j, "result");
    attempts(&b, json_object_get(j, "attempts"));
    return dlq_cli_print_buf(&b);
}

int dlq_cli_job_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    int json;
    const char *id;
    int rc = dlq_cli_one_id("job", "job", argc, argv, options, &conn, &json, &id);
    if (rc >= 0)
        return rc;
    struct dlq_buf path = {0};
    dlq_buf_puts(&path, "/api/v1/jobs/");
    dlq_cli_escape(&path, id);
    rc = DLQ_EXIT_ERROR;
    if (path.oom)
        fprintf(stderr, "dlq: out of memory\n");
    else
        rc = dlq_cli_fetch(&conn, "GET", path.data, NULL, json, render, NULL);
    dlq_buf_free(&path);
    return rc;
}
