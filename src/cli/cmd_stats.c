/*
 * cmd_stats.c: the on-call view of the queue as a whole. `dlq stats`
 * (GET /api/v1/dlq/stats): health, how much is pending and since when, how
 * fast failures arrive, the alert status, and what the pending entries are
 * by task, queue, reason and exception type. `dlq groups` (GET .../groups):
 * failures grouped by fingerprint, the biggest open problems first.
 * `dlq alerts` (GET .../alerts): each alert rule, firing or not and why.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

#define COUNTS_ROWS 10

enum {
    OPT_HOURS = DLQ_CLI_OPT_FIRST,
    OPT_STATUS,
    OPT_TASK,
    OPT_QUEUE,
    OPT_EXCEPTION,
    OPT_LIMIT,
};

static const struct option options[] = {
    {"hours", required_argument, NULL, OPT_HOURS},
    {"status", required_argument, NULL, OPT_STATUS},
    {"task", required_argument, NULL, OPT_TASK},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"exception", required_argument, NULL, OPT_EXCEPTION},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* Which options a command takes, and the query parameter of each. */
struct view {
    const char *cmd, *path;
    const int *opts; /* ended by 0 */
    int (*print)(json_t *doc);
};

static const struct {
    int opt;
    const char *param;
} params[] = {
    {OPT_HOURS, "hours"},
    {OPT_STATUS, "status"},
    {OPT_TASK, "task_name"},
    {OPT_QUEUE, "queue"},
    {OPT_EXCEPTION, "exception_type"},
    {OPT_LIMIT, "limit"},
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* counts_section appends one table of counts, when there is anything in it. */
static void counts_section(struct dlq_buf *b, const json_t *doc, const char *key,
                           const char *header, size_t width)
{
    json_t *counts = json_object_get(doc, key);
    if (json_object_size(counts) == 0)
        return;
    dlq_buf_putc(b, '\n');
    dlq_cli_counts_render(b, header, counts, COUNTS_ROWS, width);
}

static int print_stats(json_t *doc)
{
    struct dlq_buf b = {0}, v = {0};
    char tmp[96];
    int64_t now = dlq_now_ms();
    long long pending = dlq_cli_jint(doc, "pending_entries", -1);
    json_t *th = json_object_get(doc, "thresholds");
    const char *health = dlq_cli_jstr(doc, "health");

    dlq_cli_sanitize(&v, health ? health : "?", 0);
    if (json_is_object(th))
        dlq_buf_printf(&v, " (thresholds: warning at %lld pending, critical above %lld)",
                       dlq_cli_jint(th, "warning", 1), dlq_cli_jint(th, "critical", 10));
    dlq_cli_field(&b, "health", v.data);

    dlq_buf_reset(&v);
    dlq_buf_printf(&v, "%lld", pending);
    dlq_cli_field(&b, "pending", v.data);

    dlq_buf_reset(&v);
    dlq_buf_printf(&v, "%lld", dlq_cli_jint(doc, "total_failures", -1));
    json_t *by_status = json_object_get(doc, "by_status");
    if (json_object_size(by_status)) {
        dlq_buf_puts(&v, " (");
        dlq_cli_status_summary(&v, by_status);
        dlq_buf_putc(&v, ')');
    }
    dlq_cli_field(&b, "stored", v.data);

    long long hours = dlq_cli_jint(doc, "window_hours", -1);
    dlq_buf_reset(&v);
    dlq_buf_printf(&v, "%lld in the last hour", dlq_cli_jint(doc, "failures_last_hour", 0));
    if (hours > 0)
        dlq_buf_printf(&v, ", %lld in the last %lld hours",
                       dlq_cli_jint(doc, "failures_in_window", 0), hours);
    dlq_cli_field(&b, "new failures", v.data);

    const char *oldest = dlq_cli_jstr(doc, "oldest_pending_at");
    dlq_cli_time_long(oldest, now, tmp, sizeof(tmp));
    dlq_cli_field(&b, "oldest pending", oldest ? tmp : "none");

    json_t *alert = json_object_get(doc, "alert_status");
    dlq_buf_reset(&v);
    if (json_is_true(json_object_get(alert, "should_alert"))) {
        const char *why = dlq_cli_jstr(alert, "reason");
        dlq_buf_puts(&v, "FIRING");
        if (why && why[0]) {
            dlq_buf_puts(&v, " (");
            dlq_buf_puts(&v, why);
            dlq_buf_putc(&v, ')');
        }
    } else {
        dlq_buf_puts(&v, "ok");
    }
    dlq_buf_puts(&v, " (see 'dlq alerts')");
    dlq_cli_field(&b, "alert", v.data);
    dlq_buf_free(&v);

    size_t width = dlq_cli_term_width();
    counts_section(&b, doc, "by_task", "PENDING BY TASK", width);
    counts_section(&b, doc, "by_queue", "PENDING BY QUEUE", width);
    counts_section(&b, doc, "by_reason", "PENDING BY REASON", width);
    counts_section(&b, doc, "by_exception_type", "PENDING BY EXCEPTION", width);
    return dlq_cli_print_buf(&b);
}

static int print_groups(json_t *doc)
{
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no \"items\" list\n");
        return DLQ_EXIT_ERROR;
    }
    if (json_array_size(items) == 0) {
        printf("No failure groups match.\n");
        return DLQ_EXIT_OK;
    }
    static const char *const headers[] = {"FINGERPRINT", "COUNT",     "PENDING",       "TASK",
                                          "EXCEPTION",   "LAST SEEN", "SAMPLE MESSAGE"};
    struct dlq_cli_table t;
    int rc = dlq_cli_table_init(&t, 7, headers);
    dlq_cli_table_set_col(&t, 3, 20, 40, 1);
    dlq_cli_table_set_col(&t, 4, 14, 28, 1);
    dlq_cli_table_set_col(&t, 6, 20, 60, 0);
    int64_t now = dlq_now_ms();
    size_t i;
    json_t *g;
    json_array_foreach(items, i, g)
    {
        if (rc != DLQ_OK)
            break;
        char count[24], pending[24], seen[32];
        snprintf(count, sizeof(count), "%lld", dlq_cli_jint(g, "count", 0));
        snprintf(pending, sizeof(pending), "%lld", dlq_cli_jint(g, "pending", 0));
        dlq_cli_time_cell(dlq_cli_jstr(g, "last_seen"), now, seen, sizeof(seen));
        const char *cells[7] = {
            dlq_cli_jstr(g, "fingerprint"),
            count,
            pending,
            dlq_cli_jstr(g, "task_name"),
            dlq_cli_jstr(g, "exception_type"),
            seen,
            dlq_cli_jstr(g, "sample_message"),
        };
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc != DLQ_OK) {
        dlq_cli_table_free(&t);
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    rc = dlq_cli_table_print(&t);
    if (rc == DLQ_EXIT_OK)
        printf("entries of a group: dlq list --fingerprint FINGERPRINT\n");
    return rc;
}

static int print_alerts(json_t *doc)
{
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no \"items\" list\n");
        return DLQ_EXIT_ERROR;
    }
    static const char *const headers[] = {"RULE", "STATE", "SINCE", "REASON"};
    struct dlq_cli_table t;
    int rc = dlq_cli_table_init(&t, 4, headers);
    dlq_cli_table_set_col(&t, 3, 20, 100, 0);
    int64_t now = dlq_now_ms();
    size_t i, firing = 0;
    json_t *a;
    json_array_foreach(items, i, a)
    {
        if (rc != DLQ_OK)
            break;
        int on = json_is_true(json_object_get(a, "firing"));
        char since[32];
        dlq_cli_time_cell(on ? dlq_cli_jstr(a, "since") : NULL, now, since, sizeof(since));
        const char *cells[4] = {dlq_cli_jstr(a, "rule"), on ? "FIRING" : "ok", since,
                                on ? dlq_cli_jstr(a, "reason") : ""};
        firing += on;
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc != DLQ_OK) {
        dlq_cli_table_free(&t);
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    rc = dlq_cli_table_print(&t);
    json_t *hook = json_object_get(doc, "webhook");
    if (rc == DLQ_EXIT_OK)
        printf("%zu firing; webhook %s\n", firing,
               json_is_true(hook)    ? "configured"
               : json_is_false(hook) ? "not configured"
                                     : "?");
    return rc;
}

static const int stats_opts[] = {OPT_HOURS, 0};
static const int groups_opts[] = {OPT_STATUS, OPT_TASK, OPT_QUEUE, OPT_EXCEPTION, OPT_LIMIT, 0};
static const int alerts_opts[] = {0};

static const struct view stats_view = {"stats", "/api/v1/dlq/stats", stats_opts, print_stats};
static const struct view groups_view = {"groups", "/api/v1/dlq/groups", groups_opts, print_groups};
static const struct view alerts_view = {"alerts", "/api/v1/dlq/alerts", alerts_opts, print_alerts};

/* check_value validates the value of option opt (named name). Returns 0 or
 * -1 (usage printed). */
static int check_value(const char *cmd, int opt, const char *name, const char *arg)
{
    long v;
    switch (opt) {
    case OPT_HOURS:
        if (dlq_cli_parse_long(arg, 1, 720, &v) != 0) {
            dlq_cli_usage_error(cmd, "--hours must be an integer from 1 to 720");
            return -1;
        }
        return 0;
    case OPT_LIMIT:
        if (dlq_cli_parse_long(arg, 1, 100, &v) != 0) {
            dlq_cli_usage_error(cmd, "--limit must be an integer from 1 to 100");
            return -1;
        }
        return 0;
    case OPT_STATUS:
        return dlq_cli_check_statuses(cmd, "--status", arg);
    default:
        if (arg[0] == '\0') {
            dlq_cli_usage_error(cmd, "--%s needs a non-empty value", name);
            return -1;
        }
        return 0;
    }
}

static int render_view(json_t *doc, void *arg)
{
    const struct view *vw = arg;
    return vw->print(doc);
}

static int run(const struct view *vw, int argc, char **argv)
{
    struct dlq_cli_conn conn;
    const char *value[NPARAMS] = {0};
    int json = 0, c, li = 0;
    dlq_cli_conn_init(&conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, &li)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error(vw->cmd, argc, argv, c);
        if (c == DLQ_CLI_OPT_JSON) {
            json = 1;
            continue;
        }
        int r = dlq_cli_conn_option(&conn, vw->cmd, c, optarg);
        if (r < 0)
            return DLQ_EXIT_USAGE;
        if (r == 1)
            continue;
        int known = 0;
        for (const int *o = vw->opts; *o; o++)
            known |= *o == c;
        if (!known)
            return dlq_cli_usage_error(vw->cmd, "unknown option '--%s' (see 'dlq %s --help')",
                                       options[li].name, vw->cmd);
        if (check_value(vw->cmd, c, options[li].name, optarg) != 0)
            return DLQ_EXIT_USAGE;
        for (size_t i = 0; i < NPARAMS; i++)
            if (params[i].opt == c)
                value[i] = optarg;
    }
    if (optind < argc)
        return dlq_cli_usage_error(vw->cmd, "unexpected argument '%s' (see 'dlq %s --help')",
                                   argv[optind], vw->cmd);
    if (dlq_cli_conn_check(&conn, vw->cmd) != 0)
        return DLQ_EXIT_USAGE;

    struct dlq_buf path = {0};
    int rc = DLQ_EXIT_ERROR;
    dlq_buf_puts(&path, vw->path);
    for (size_t i = 0; i < NPARAMS; i++)
        dlq_cli_query_add(&path, params[i].param, value[i]);
    if (path.oom) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    rc = dlq_cli_fetch(&conn, "GET", path.data, NULL, json, render_view, (void *)vw);
done:
    dlq_buf_free(&path);
    return rc;
}

int dlq_cli_stats_run(int argc, char **argv)
{
    return run(&stats_view, argc, argv);
}

int dlq_cli_groups_run(int argc, char **argv)
{
    return run(&groups_view, argc, argv);
}

int dlq_cli_alerts_run(int argc, char **argv)
{
    return run(&alerts_view, argc, argv);
}
