/*
 * cmd_list.c: `dlq list`, the operator's view of the dead-letter queue. It
 * maps its options onto the query of GET /api/v1/dlq/entries (seed 001's
 * --limit and --filter, the rest of DESIGN.md section 4's filters), checks
 * what it can before asking (so a typo costs no round trip and exits 2), and
 * prints a table with relative times, a "showing a-b of n" footer and the
 * exact command for the next page.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

enum {
    P_LIMIT,
    P_OFFSET,
    P_CURSOR,
    P_STATUS,
    P_TASK,
    P_QUEUE,
    P_TENANT,
    P_REASON,
    P_EXCEPTION,
    P_FINGERPRINT,
    P_FILTER,
    P_AFTER,
    P_BEFORE,
    P_COUNT,
};

/* Each option's query parameter; the option's getopt value is
 * DLQ_CLI_OPT_FIRST + its index. */
static const struct {
    const char *option;
    const char *param;
} params[P_COUNT] = {
    [P_LIMIT] = {"limit", "limit"},
    [P_OFFSET] = {"offset", "offset"},
    [P_CURSOR] = {"cursor", "cursor"},
    [P_STATUS] = {"status", "status"},
    [P_TASK] = {"task", "task_name"},
    [P_QUEUE] = {"queue", "queue"},
    [P_TENANT] = {"tenant", "tenant_id"},
    [P_REASON] = {"reason", "reason"},
    [P_EXCEPTION] = {"exception", "exception_type"},
    [P_FINGERPRINT] = {"fingerprint", "fingerprint"},
    [P_FILTER] = {"filter", "q"},
    [P_AFTER] = {"after", "failed_after"},
    [P_BEFORE] = {"before", "failed_before"},
};

#define OPT(p)                                                                                     \
    {                                                                                              \
        params[p].option, required_argument, NULL, DLQ_CLI_OPT_FIRST + (p)                         \
    }

static const struct option options[] = {
    OPT(P_LIMIT),
    OPT(P_OFFSET),
    OPT(P_CURSOR),
    OPT(P_STATUS),
    OPT(P_TASK),
    OPT(P_QUEUE),
    OPT(P_TENANT),
    OPT(P_REASON),
    OPT(P_EXCEPTION),
    OPT(P_FINGERPRINT),
    OPT(P_FILTER),
    OPT(P_AFTER),
    OPT(P_BEFORE),
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

struct list_args {
    struct dlq_cli_conn conn;
    const char *value[P_COUNT]; /* what goes into the query; NULL: not given */
    struct dlq_buf status;      /* every --status, comma-joined */
    char after[DLQ_TIME_MAX], before[DLQ_TIME_MAX];
    char limit[24], offset_text[24]; /* numbers as sent: "+5" and "05" become "5" */
    long offset;
    int json;
};

/* check_status checks each comma-separated word of a --status value and
 * prints the usage line if one is not a status. Returns 0 or -1. */
static int check_status(const char *list)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        char word[32];
        if (n == 0 || n >= sizeof(word))
            goto bad;
        memcpy(word, p, n);
        word[n] = '\0';
        if (dlq_status_parse(word) == DLQ_STATUS_NONE)
            goto bad;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
bad:
    dlq_cli_usage_error("list",
                        "--status must be one of pending_review, requires_review, "
                        "retried, resolved, discarded, expired, archived (got '%s')",
                        list);
    return -1;
}

/* set_param validates one filter option and records its query value.
 * Returns 0, or -1 after printing a usage line. */
static int set_param(struct list_args *a, int p, const char *arg)
{
    long v;
    switch (p) {
    case P_LIMIT:
        if (dlq_cli_parse_long(arg, 1, DLQ_LIST_LIMIT_MAX, &v) != 0) {
            dlq_cli_usage_error("list", "--limit must be an integer from 1 to %d",
                                DLQ_LIST_LIMIT_MAX);
            return -1;
        }
        snprintf(a->limit, sizeof(a->limit), "%ld", v);
        a->value[p] = a->limit;
        return 0;
    case P_OFFSET:
        if (dlq_cli_parse_long(arg, 0, 1000000000L, &a->offset) != 0) {
            dlq_cli_usage_error("list", "--offset must be an integer from 0 to 1000000000");
            return -1;
        }
        snprintf(a->offset_text, sizeof(a->offset_text), "%ld", a->offset);
        a->value[p] = a->offset_text;
        return 0;
    case P_STATUS:
        if (check_status(arg) != 0)
            return -1;
        if (a->status.len)
            dlq_buf_putc(&a->status, ',');
        dlq_buf_puts(&a->status, arg);
        if (a->status.oom)
            return -1;
        a->value[p] = a->status.data;
        return 0;
    case P_REASON:
        if (dlq_reason_parse(arg) == DLQ_REASON_NONE) {
            dlq_cli_usage_error("list",
                                "--reason must be one of max_retries_exceeded, "
                                "permanent_failure, job_not_found, invalid_arguments, "
                                "timeout, external (got '%s')",
                                arg);
            return -1;
        }
        break;
    case P_AFTER:
    case P_BEFORE: {
        char *out = p == P_AFTER ? a->after : a->before;
        if (dlq_cli_parse_time(arg, dlq_now_ms(), out, DLQ_TIME_MAX) != 0) {
            dlq_cli_usage_error("list",
                                "--%s must be an RFC 3339 time (2026-01-25T10:30:00Z), a date "
                                "(2026-01-25) or an age (30m, 2h, 7d)",
                                params[p].option);
            return -1;
        }
        a->value[p] = out;
        return 0;
    }
    default:
        break;
    }
    a->value[p] = arg;
    return 0;
}

static int parse_args(struct list_args *a, int argc, char **argv)
{
    dlq_cli_conn_init(&a->conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error("list", argc, argv, c);
        if (c == DLQ_CLI_OPT_JSON) {
            a->json = 1;
            continue;
        }
        if (c >= DLQ_CLI_OPT_FIRST && c < DLQ_CLI_OPT_FIRST + P_COUNT) {
            if (set_param(a, c - DLQ_CLI_OPT_FIRST, optarg) != 0)
                return DLQ_EXIT_USAGE;
            continue;
        }
        if (dlq_cli_conn_option(&a->conn, "list", c, optarg) != 1)
            return DLQ_EXIT_USAGE;
    }
    if (optind < argc)
        return dlq_cli_usage_error("list", "unexpected argument '%s' (see 'dlq list --help')",
                                   argv[optind]);
    if (a->value[P_OFFSET] && a->value[P_CURSOR])
        return dlq_cli_usage_error("list", "--offset and --cursor cannot be used together");
    if (dlq_cli_conn_check(&a->conn, "list") != 0)
        return DLQ_EXIT_USAGE;
    return DLQ_EXIT_OK;
}

/* next_page_hint prints the command that fetches the page after this one:
 * the same filters and --limit, with --cursor (or --offset when the server
 * gave no cursor). --token is left out: it is a secret. */
static void next_page_hint(const struct list_args *a, const char *cursor, long long offset)
{
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "next page: dlq list");
    if (a->conn.url_given) {
        dlq_buf_puts(&b, " --url ");
        dlq_cli_shell_word(&b, a->conn.url);
    }
    for (int p = 0; p < P_COUNT; p++) {
        if (p == P_OFFSET || p == P_CURSOR || a->value[p] == NULL)
            continue;
        dlq_buf_printf(&b, " --%s ", params[p].option);
        dlq_cli_shell_word(&b, a->value[p]);
    }
    if (cursor) {
        dlq_buf_puts(&b, " --cursor ");
        dlq_cli_shell_word(&b, cursor);
    } else {
        dlq_buf_printf(&b, " --offset %lld", offset);
    }
    if (!b.oom) {
        /* Filters come from the user, but a cursor comes from the server. */
        struct dlq_buf safe = {0};
        dlq_cli_sanitize(&safe, b.data, 0);
        if (!safe.oom)
            printf("%s\n", safe.data);
        dlq_buf_free(&safe);
    }
    dlq_buf_free(&b);
}

static int print_table(const struct list_args *a, json_t *doc)
{
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no \"items\" list\n");
        return DLQ_EXIT_ERROR;
    }
    json_t *jt = json_object_get(doc, "total"), *jo = json_object_get(doc, "offset");
    size_t n = json_array_size(items);
    long long total = json_is_integer(jt) ? json_integer_value(jt) : -1;
    long long offset = json_is_integer(jo) ? json_integer_value(jo) : a->offset;
    if (a->value[P_CURSOR])
        offset = 0; /* a cursor page has no meaningful offset */
    if (n == 0) {
        printf("No entries match.\n");
        if (total > 0 && !a->value[P_CURSOR])
            printf("(%lld match; --offset %lld is past the last of them)\n", total, offset);
        return DLQ_EXIT_OK;
    }

    static const char *const headers[] = {"ID", "TASK", "EXCEPTION", "QUEUE", "STATUS", "FAILED"};
    struct dlq_cli_table t;
    struct dlq_buf out = {0};
    int rc = dlq_cli_table_init(&t, 6, headers);
    /* Dotted names (app.tasks.send_email, requests.exceptions.Timeout) say
     * most at their end, so those columns lose their start when cut. */
    dlq_cli_table_set_col(&t, 1, 20, 48, 1);
    dlq_cli_table_set_col(&t, 2, 14, 32, 1);
    dlq_cli_table_set_col(&t, 3, 8, 16, 0);
    int64_t now = dlq_now_ms();
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e)
    {
        if (rc != DLQ_OK)
            break;
        char failed[32];
        dlq_cli_time_cell(dlq_cli_jstr(e, "failed_at"), now, failed, sizeof(failed));
        const char *cells[6] = {
            dlq_cli_jstr(e, "dlq_id"),
            dlq_cli_jstr(e, "task_name"),
            dlq_cli_jstr(json_object_get(e, "exception"), "type"),
            dlq_cli_jstr(e, "queue"),
            dlq_cli_jstr(e, "status"),
            failed,
        };
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc == DLQ_OK)
        rc = dlq_cli_table_render(&t, dlq_cli_term_width(), &out);
    dlq_cli_table_free(&t);
    if (rc != DLQ_OK) {
        dlq_buf_free(&out);
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    fputs(out.data, stdout);
    dlq_buf_free(&out);

    if (a->value[P_CURSOR] && total >= 0)
        printf("showing %zu of %lld (after the cursor)\n", n, total);
    else if (a->value[P_CURSOR])
        printf("showing %zu (after the cursor)\n", n);
    else if (total >= 0)
        printf("showing %lld-%lld of %lld\n", offset + 1, offset + (long long)n, total);
    const char *next = dlq_cli_jstr(doc, "next_cursor");
    if (next && next[0])
        next_page_hint(a, next, 0);
    else if (!a->value[P_CURSOR] && total >= 0 && offset + (long long)n < total)
        next_page_hint(a, NULL, offset + (long long)n);
    return DLQ_EXIT_OK;
}

static int render_table(json_t *doc, void *arg)
{
    return print_table(arg, doc);
}

int dlq_cli_list_run(int argc, char **argv)
{
    struct list_args a;
    memset(&a, 0, sizeof(a));
    struct dlq_buf path = {0};
    int rc = parse_args(&a, argc, argv);
    if (rc != DLQ_EXIT_OK)
        goto done;
    dlq_buf_puts(&path, "/api/v1/dlq/entries");
    for (int p = 0; p < P_COUNT; p++)
        dlq_cli_query_add(&path, params[p].param, a.value[p]);
    if (path.oom) {
        fprintf(stderr, "dlq: out of memory\n");
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    rc = dlq_cli_fetch(&a.conn, "GET", path.data, NULL, a.json, render_table, &a);
done:
    dlq_buf_free(&path);
    dlq_buf_free(&a.status);
    return rc;
}
