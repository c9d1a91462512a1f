/*
 * cmd_ops.c: `dlq ops`, the operator's view of server-side bulk operations
 * (a bulk replay runs on the server as an operation): the list of recent
 * ones, one in detail, cancelling one, and following one until it ends.
 * The following loop is shared with `dlq replay --wait`: it polls
 * GET /api/v1/dlq/operations/ID, keeps one progress line up to date, and
 * turns Ctrl-C into "stop watching" with the commands to resume or cancel,
 * since the operation itself goes on without the CLI.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "dlq/core.h"

#define POLL_MS 500

enum { OPT_CANCEL = DLQ_CLI_OPT_FIRST, OPT_WAIT };

static const struct option options[] = {
    {"cancel", no_argument, NULL, OPT_CANCEL},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* count_text writes member key of op as a number, or "?" when missing. */
static const char *count_text(const json_t *op, const char *key, char *out, size_t n)
{
    return dlq_cli_jcount(op, key, "?", out, n);
}

/* progress_numbers appends "340/1000 processed, 320 ok, 12 failed, 8
 * skipped". */
static void progress_numbers(struct dlq_buf *out, const json_t *op)
{
    char p[24], m[24], s[24], f[24], k[24];
    dlq_buf_printf(out, "%s/%s processed, %s ok, %s failed, %s skipped",
                   count_text(op, "processed", p, sizeof(p)),
                   count_text(op, "matched", m, sizeof(m)),
                   count_text(op, "succeeded", s, sizeof(s)),
                   count_text(op, "failed", f, sizeof(f)), count_text(op, "skipped", k, sizeof(k)));
}

int dlq_cli_op_progress(struct dlq_buf *out, const json_t *op)
{
    const char *id = dlq_cli_jstr(op, "operation_id");
    const char *state = dlq_cli_jstr(op, "state");
    dlq_cli_sanitize(out, id ? id : "(operation)", 0);
    dlq_buf_putc(out, ' ');
    dlq_cli_sanitize(out, state ? state : "?", 0);
    dlq_buf_putc(out, ' ');
    progress_numbers(out, op);
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}

/* ending appends what a finished operation's state means, when it says
 * more than the state word: the early-stop reason, an interruption. */
static void ending(struct dlq_buf *out, const json_t *op)
{
    const char *state = dlq_cli_jstr(op, "state");
    const char *why = dlq_cli_jstr(op, "early_stop_reason");
    if (why && why[0]) {
        dlq_buf_puts(out, "stopped early: ");
        dlq_cli_sanitize(out, why, 0);
        dlq_buf_putc(out, '\n');
    } else if (state && strcmp(state, "interrupted") == 0) {
        dlq_buf_puts(out, "interrupted: the server stopped during the operation and could "
                          "not resume it\n");
    } else if (state && strcmp(state, "cancelled") == 0) {
        dlq_buf_puts(out, "cancelled before it finished\n");
    }
}

/* op_path writes "/api/v1/dlq/operations/ID" (ID escaped) into b. */
static int op_path(struct dlq_buf *b, const char *id)
{
    dlq_buf_puts(b, "/api/v1/dlq/operations");
    if (id) {
        dlq_buf_putc(b, '/');
        dlq_cli_escape(b, id);
    }
    return b->oom ? DLQ_E_NOMEM : DLQ_OK;
}

/* nap sleeps ms milliseconds, or less when a signal arrives. */
static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* show_line puts the progress line on the terminal in place of the last
 * one: cut to the width (a wrapped line cannot be rewritten) and padded
 * over what is left of a longer previous one. */
static void show_line(const char *line, size_t *shown)
{
    size_t cols = 0;
    struct dlq_buf b = {0};
    if (isatty(STDOUT_FILENO))
        cols = dlq_cli_term_width();
    dlq_buf_putc(&b, '\r');
    dlq_cli_truncate(&b, line, cols > 1 ? cols - 1 : 200, 0);
    size_t w = dlq_cli_width(line);
    if (cols > 1 && w > cols - 1)
        w = cols - 1;
    for (size_t i = w; i < *shown; i++)
        dlq_buf_putc(&b, ' ');
    *shown = w;
    if (!b.oom)
        fputs(b.data, stdout);
    fflush(stdout);
    dlq_buf_free(&b);
}

/* interrupted_hint says the operation goes on and how to get back to it. */
static void interrupted_hint(const struct dlq_cli_conn *c, const char *id)
{
    struct dlq_buf b = {0}, url = {0};
    if (c->url_given) {
        dlq_buf_puts(&url, " --url ");
        dlq_cli_shell_word(&url, c->url);
    }
    dlq_buf_puts(&b, "stopped waiting; ");
    dlq_buf_puts(&b, id);
    dlq_buf_puts(&b, " goes on running on the server.\n  follow it: dlq ops ");
    dlq_cli_shell_word(&b, id);
    dlq_buf_printf(&b, "%s --wait\n  cancel it: dlq ops ", url.data ? url.data : "");
    dlq_cli_shell_word(&b, id);
    dlq_buf_printf(&b, "%s --cancel\n", url.data ? url.data : "");
    struct dlq_buf safe = {0};
    dlq_cli_sanitize(&safe, b.data, 1);
    if (!safe.oom && safe.data)
        fputs(safe.data, stderr);
    dlq_buf_free(&safe);
    dlq_buf_free(&b);
    dlq_buf_free(&url);
}

int dlq_cli_op_wait(struct dlq_cli_conn *c, const char *id, int json)
{
    struct dlq_buf path = {0}, line = {0}, prev = {0};
    struct dlq_cli_reply r = {0};
    json_t *op = NULL;
    int tty = !json && isatty(STDOUT_FILENO), rc = DLQ_EXIT_ERROR;
    size_t shown = 0;
    char err[DLQ_CLI_URL_MAX + 256];
    const volatile sig_atomic_t *stop = dlq_cli_interrupt_catch();
    c->interrupt = stop;
    int64_t last_answer = dlq_mono_ns();
    if (op_path(&path, id) != DLQ_OK)
        goto oom;
    for (;;) {
        if (*stop)
            goto interrupted;
        if (dlq_cli_request(c, "GET", path.data, NULL, &r, err, sizeof(err)) != DLQ_OK) {
            if (*stop)
                goto interrupted;
            /* The server may be restarting (operations survive that): keep
             * asking until --timeout has passed without an answer. */
            if (dlq_mono_ns() - last_answer > (int64_t)c->timeout_s * 1000000000LL) {
                if (shown)
                    fputc('\n', stdout);
                fprintf(stderr, "dlq: %s\n", err);
                goto done;
            }
            nap(POLL_MS);
            continue;
        }
        last_answer = dlq_mono_ns();
        if (r.status < 200 || r.status >= 300) {
            if (shown)
                fputc('\n', stdout);
            fflush(stdout);
            struct dlq_buf out = {0};
            dlq_cli_format_problem(&out, r.status, r.body.data, r.body.len, c->token == NULL);
            fputs(out.data && !out.oom ? out.data : "dlq: the server answered with an error\n",
                  stderr);
            dlq_buf_free(&out);
            goto done;
        }
        json_decref(op);
        op = dlq_cli_reply_object(&r);
        if (op == NULL)
            goto done;
        dlq_buf_reset(&line);
        if (dlq_cli_op_progress(&line, op) != DLQ_OK)
            goto oom;
        if (tty) {
            show_line(line.data, &shown);
        } else if (!json && (prev.data == NULL || strcmp(prev.data, line.data) != 0)) {
            printf("%s\n", line.data);
            fflush(stdout);
            dlq_buf_reset(&prev);
            dlq_buf_puts(&prev, line.data);
        }
        const char *state = dlq_cli_jstr(op, "state");
        if (state && strcmp(state, "running") != 0) {
            if (tty)
                fputc('\n', stdout);
            if (json) {
                rc = dlq_cli_print_json(&r);
                if (rc == DLQ_EXIT_OK && strcmp(state, "done") != 0)
                    rc = DLQ_EXIT_ERROR;
                goto done;
            }
            struct dlq_buf end = {0};
            ending(&end, op);
            dlq_cli_print_buf(&end);
            rc = strcmp(state, "done") == 0 ? DLQ_EXIT_OK : DLQ_EXIT_ERROR;
            goto done;
        }
        dlq_cli_reply_free(&r);
        nap(POLL_MS);
    }
interrupted:
    if (shown)
        fputc('\n', stdout);
    fflush(stdout);
    interrupted_hint(c, id);
    goto done;
oom:
    fprintf(stderr, "dlq: out of memory\n");
done:
    dlq_cli_interrupt_release();
    c->interrupt = NULL;
    json_decref(op);
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    dlq_buf_free(&line);
    dlq_buf_free(&prev);
    return rc;
}

static int print_list(json_t *doc)
{
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no \"items\" list\n");
        return DLQ_EXIT_ERROR;
    }
    if (json_array_size(items) == 0) {
        printf("No operations.\n");
        return DLQ_EXIT_OK;
    }
    static const char *const headers[] = {"ID", "KIND",   "STATE",   "PROCESSED",
                                          "OK", "FAILED", "SKIPPED", "CREATED"};
    struct dlq_cli_table t;
    int rc = dlq_cli_table_init(&t, 8, headers);
    int64_t now = dlq_now_ms();
    size_t i;
    json_t *op;
    json_array_foreach(items, i, op)
    {
        if (rc != DLQ_OK)
            break;
        char p[24], m[24], s[24], f[24], k[24], processed[56], created[32];
        snprintf(processed, sizeof(processed), "%s/%s", count_text(op, "processed", p, sizeof(p)),
                 count_text(op, "matched", m, sizeof(m)));
        dlq_cli_time_cell(dlq_cli_jstr(op, "created_at"), now, created, sizeof(created));
        const char *cells[8] = {
            dlq_cli_jstr(op, "operation_id"),
            dlq_cli_jstr(op, "kind"),
            dlq_cli_jstr(op, "state"),
            processed,
            count_text(op, "succeeded", s, sizeof(s)),
            count_text(op, "failed", f, sizeof(f)),
            count_text(op, "skipped", k, sizeof(k)),
            created,
        };
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc != DLQ_OK) {
        dlq_cli_table_free(&t);
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    return dlq_cli_table_print(&t);
}

/* json_text appends a member holding JSON (filter, params) compactly. */
static void json_text(struct dlq_buf *b, const char *label, const json_t *op, const char *key)
{
    json_t *v = json_object_get(op, key);
    if (v == NULL || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
        return;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    dlq_cli_field(b, label, s);
    free(s);
}

static int print_one(json_t *op)
{
    struct dlq_buf b = {0}, line = {0};
    char tmp[96];
    int64_t now = dlq_now_ms();
    const char *state = dlq_cli_jstr(op, "state");
    const char *id = dlq_cli_jstr(op, "operation_id");
    dlq_cli_field(&b, "operation", id);
    dlq_cli_field(&b, "kind", dlq_cli_jstr(op, "kind"));
    dlq_cli_field(&b, "state", state);
    progress_numbers(&line, op);
    dlq_cli_field(&b, "progress", line.data);
    const char *why = dlq_cli_jstr(op, "early_stop_reason");
    if (why && why[0])
        dlq_cli_field(&b, "stopped early", why);
    const char *actor = dlq_cli_jstr(op, "actor");
    if (actor && actor[0])
        dlq_cli_field(&b, "started by", actor);
    dlq_cli_time_long(dlq_cli_jstr(op, "created_at"), now, tmp, sizeof(tmp));
    dlq_cli_field(&b, "created", tmp);
    dlq_cli_time_long(dlq_cli_jstr(op, "updated_at"), now, tmp, sizeof(tmp));
    dlq_cli_field(&b, "updated", tmp);
    if (dlq_cli_jstr(op, "finished_at")) {
        dlq_cli_time_long(dlq_cli_jstr(op, "finished_at"), now, tmp, sizeof(tmp));
        dlq_cli_field(&b, "finished", tmp);
    }
    json_text(&b, "filter", op, "filter");
    json_text(&b, "params", op, "params");
    if (state && strcmp(state, "running") == 0 && id) {
        /* The id came from the server: quoted, then made safe to print. */
        dlq_buf_reset(&line);
        dlq_buf_puts(&line, "follow it: dlq ops ");
        dlq_cli_shell_word(&line, id);
        dlq_buf_puts(&line, " --wait   cancel it: dlq ops ");
        dlq_cli_shell_word(&line, id);
        dlq_buf_puts(&line, " --cancel");
        dlq_cli_sanitize(&b, line.data, 0);
        dlq_buf_putc(&b, '\n');
    }
    dlq_buf_free(&line);
    return dlq_cli_print_buf(&b);
}

int dlq_cli_ops_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    int json = 0, cancel = 0, wait = 0, c;
    dlq_cli_conn_init(&conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error("ops", argc, argv, c);
        if (c == DLQ_CLI_OPT_JSON)
            json = 1;
        else if (c == OPT_CANCEL)
            cancel = 1;
        else if (c == OPT_WAIT)
            wait = 1;
        else if (dlq_cli_conn_option(&conn, "ops", c, optarg) != 1)
            return DLQ_EXIT_USAGE;
    }
    const char *id = optind < argc ? argv[optind] : NULL;
    if (id && id[0] == '\0')
        return dlq_cli_usage_error("ops", "the operation ID is empty");
    if (optind + 1 < argc)
        return dlq_cli_usage_error("ops", "unexpected argument '%s' (one ID at a time)",
                                   argv[optind + 1]);
    if ((cancel || wait) && id == NULL)
        return dlq_cli_usage_error("ops", "which operation? (usage: dlq ops ID --%s)",
                                   cancel ? "cancel" : "wait");
    if (cancel && wait)
        return dlq_cli_usage_error("ops", "--cancel and --wait cannot be used together");
    if (dlq_cli_conn_check(&conn, "ops") != 0)
        return DLQ_EXIT_USAGE;
    if (wait)
        return dlq_cli_op_wait(&conn, id, json);

    struct dlq_buf path = {0};
    struct dlq_cli_reply r = {0};
    int rc = DLQ_EXIT_ERROR;
    if (op_path(&path, id) != DLQ_OK) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    rc = dlq_cli_call(&conn, cancel ? "DELETE" : "GET", path.data, NULL, &r);
    if (rc != DLQ_EXIT_OK)
        goto done;
    if (json) {
        rc = dlq_cli_print_json(&r);
        goto done;
    }
    json_t *doc = dlq_cli_reply_object(&r);
    if (doc == NULL) {
        rc = DLQ_EXIT_ERROR;
    } else if (id == NULL) {
        rc = print_list(doc);
    } else if (cancel) {
        struct dlq_buf b = {0};
        dlq_cli_op_progress(&b, doc);
        dlq_buf_putc(&b, '\n');
        rc = dlq_cli_print_buf(&b);
    } else {
        rc = print_one(doc);
    }
    json_decref(doc);
done:
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    return rc;
}
