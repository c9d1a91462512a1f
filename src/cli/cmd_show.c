/*
 * cmd_show.c: `dlq show ID`, everything about one entry on one screen: a
 * block of "field: value" lines (the fields a debugging operator reads
 * first come first), the traceback indented, then the entry's history as a
 * timeline. Fields the entry does not have are left out rather than printed
 * empty, except the few every entry is expected to show.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

#define LABEL_WIDTH 16

static const struct option options[] = {
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* scalar returns a printable form of a JSON string, number or boolean (the
 * string borrowed, or written into tmp), or NULL for null, missing and
 * containers. */
static const char *scalar(const json_t *v, char *tmp, size_t n)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tmp;
    }
    if (json_is_real(v)) {
        snprintf(tmp, n, "%g", json_real_value(v));
        return tmp;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

/* field appends "label: value" to b; lines after the first of a multi-line
 * value are indented under the value. NULL values print as "-". */
static void field(struct dlq_buf *b, const char *label, const char *value)
{
    dlq_buf_printf(b, "%s:%*s", label, (int)(LABEL_WIDTH - strlen(label)), "");
    struct dlq_buf v = {0};
    dlq_cli_sanitize(&v, value ? value : "-", 1);
    for (const char *p = v.data; p && *p; p++) {
        dlq_buf_putc(b, *p);
        if (*p == '\n' && p[1])
            dlq_buf_printf(b, "%*s", LABEL_WIDTH + 1, "");
    }
    if (v.oom)
        b->oom = 1;
    dlq_buf_free(&v);
    dlq_buf_putc(b, '\n');
}

/* opt_field is field for members that are left out when null or missing. */
static void opt_field(struct dlq_buf *b, const char *label, const json_t *e, const char *key)
{
    char tmp[64];
    const char *s = scalar(json_object_get(e, key), tmp, sizeof(tmp));
    if (s && s[0])
        field(b, label, s);
}

/* time_field appends "label: <exact> (<relative>)" for an RFC 3339 member;
 * with required 0 it is left out when missing. */
static void time_field(struct dlq_buf *b, const char *label, const json_t *e, const char *key,
                       int64_t now, int required)
{
    const char *t = dlq_cli_jstr(e, key);
    if (t == NULL || t[0] == '\0') {
        if (required)
            field(b, label, NULL);
        return;
    }
    char rel[48], buf[128];
    int64_t ms;
    if (dlq_time_parse(t, &ms) != DLQ_OK) {
        field(b, label, t);
        return;
    }
    dlq_cli_reltime(ms, now, rel, sizeof(rel));
    snprintf(buf, sizeof(buf), "%.64s (%s)", t, rel);
    field(b, label, buf);
}

/* json_field appends a member holding JSON: a string of JSON text (task_args
 * in seed 000) as it is, any other value dumped; empty objects are left out. */
static void json_field(struct dlq_buf *b, const char *label, const json_t *e, const char *key,
                       int required)
{
    json_t *v = json_object_get(e, key);
    if (json_is_string(v)) {
        field(b, label, json_string_value(v));
    } else if (json_is_object(v) || json_is_array(v)) {
        if (!required && json_object_size(v) == 0 && json_is_object(v))
            return;
        char *s = json_dumps(v, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        field(b, label, s);
        free(s);
    } else if (required) {
        field(b, label, NULL);
    }
}

static void traceback(struct dlq_buf *b, const char *tb)
{
    if (tb == NULL || tb[0] == '\0')
        return;
    struct dlq_buf v = {0};
    dlq_cli_sanitize(&v, tb, 1);
    dlq_buf_puts(b, "traceback:\n    ");
    for (const char *p = v.data; p && *p; p++) {
        dlq_buf_putc(b, *p);
        if (*p == '\n' && p[1])
            dlq_buf_puts(b, "    ");
    }
    if (v.len && v.data[v.len - 1] != '\n')
        dlq_buf_putc(b, '\n');
    if (v.oom)
        b->oom = 1;
    dlq_buf_free(&v);
}

/* history appends the timeline: "  <time>  <event> by <actor>  k=v ...". */
static void history(struct dlq_buf *b, const json_t *hist)
{
    if (!json_is_array(hist) || json_array_size(hist) == 0)
        return;
    dlq_buf_puts(b, "history:\n");
    size_t i;
    json_t *ev;
    json_array_foreach(hist, i, ev)
    {
        struct dlq_buf line = {0};
        const char *at = dlq_cli_jstr(ev, "at");
        const char *what = dlq_cli_jstr(ev, "event");
        const char *actor = dlq_cli_jstr(ev, "actor");
        dlq_buf_printf(&line, "%-20s  %s", at ? at : "-", what ? what : "(event)");
        if (actor && actor[0])
            dlq_buf_printf(&line, " by %s", actor);
        json_t *details = json_object_get(ev, "details");
        const char *key;
        json_t *v;
        json_object_foreach(details, key, v)
        {
            char tmp[64];
            const char *s = scalar(v, tmp, sizeof(tmp));
            char *dump = s ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            dlq_buf_printf(&line, "  %s=%s", key, s ? s : dump ? dump : "null");
            free(dump);
        }
        dlq_buf_puts(b, "  ");
        dlq_cli_sanitize(b, line.data, 0);
        dlq_buf_putc(b, '\n');
        if (line.oom)
            b->oom = 1;
        dlq_buf_free(&line);
    }
}

/* render appends the human view of entry e to b. */
static void render(struct dlq_buf *b, const json_t *e, int64_t now)
{
    char tmp[64], tmp2[64], line[192];
    json_t *exc = json_object_get(e, "exception");

    field(b, "id", dlq_cli_jstr(e, "dlq_id"));
    opt_field(b, "original task", e, "original_task_id");
    field(b, "task", dlq_cli_jstr(e, "task_name"));
    field(b, "status", dlq_cli_jstr(e, "status"));
    const char *queue = dlq_cli_jstr(e, "queue");
    const char *prio = scalar(json_object_get(e, "priority"), tmp, sizeof(tmp));
    if (queue && prio && strcmp(prio, "0") != 0) {
        snprintf(line, sizeof(line), "%.100s (priority %s)", queue, prio);
        field(b, "queue", line);
    } else {
        field(b, "queue", queue);
    }
    field(b, "tenant", dlq_cli_jstr(e, "tenant_id"));
    field(b, "reason", dlq_cli_jstr(e, "reason"));
    opt_field(b, "error code", e, "error_code");
    field(b, "attempts", scalar(json_object_get(e, "retries_attempted"), tmp, sizeof(tmp)));
    const char *rc = scalar(json_object_get(e, "retry_count"), tmp, sizeof(tmp));
    const char *maxr = scalar(json_object_get(e, "max_replays"), tmp2, sizeof(tmp2));
    if (rc) {
        snprintf(line, sizeof(line), "%s of %s", rc, maxr ? maxr : "?");
        field(b, "replays", line);
    }
    time_field(b, "failed at", e, "failed_at", now, 1);
    time_field(b, "last retry", e, "last_retry_at", now, 0);
    opt_field(b, "retry task", e, "retry_task_id");
    time_field(b, "resolved at", e, "resolved_at", now, 0);
    opt_field(b, "resolved by", e, "resolved_by");
    opt_field(b, "resolution", e, "resolution_type");
    opt_field(b, "notes", e, "resolution_notes");
    time_field(b, "expires at", e, "expires_at", now, 0);
    opt_field(b, "fingerprint", e, "fingerprint");
    opt_field(b, "idempotency key", e, "idempotency_key");
    field(b, "exception", dlq_cli_jstr(exc, "type"));
    field(b, "message", dlq_cli_jstr(exc, "message"));
    json_field(b, "args", e, "task_args", 1);
    json_field(b, "kwargs", e, "task_kwargs", 1);
    json_field(b, "metadata", e, "metadata", 0);
    json_field(b, "context", e, "context", 0);
    traceback(b, dlq_cli_jstr(exc, "traceback"));
    history(b, json_object_get(e, "history"));
}

int dlq_cli_show_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    struct dlq_cli_reply r = {0};
    struct dlq_buf path = {0}, out = {0};
    int json;
    const char *id;
    int rc = dlq_cli_one_id("show", "entry", argc, argv, options, &conn, &json, &id);
    if (rc >= 0)
        return rc;

    dlq_buf_puts(&path, "/api/v1/dlq/entries/");
    dlq_cli_escape(&path, id);
    rc = DLQ_EXIT_ERROR;
    if (path.oom)
        goto done;
    rc = dlq_cli_call(&conn, "GET", path.data, NULL, &r);
    if (rc != DLQ_EXIT_OK)
        goto done;
    if (json) {
        rc = dlq_cli_print_json(&r);
        goto done;
    }
    json_t *doc = dlq_cli_reply_object(&r);
    if (doc == NULL) {
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    render(&out, doc, dlq_now_ms());
    json_decref(doc);
    if (out.oom) {
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    fputs(out.data, stdout);
done:
    if (rc == DLQ_EXIT_ERROR && (path.oom || out.oom))
        fprintf(stderr, "dlq: out of memory\n");
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    dlq_buf_free(&out);
    return rc;
}
