/*
 * cmd_audit.c: `dlq audit`, the append-only trail of operator actions
 * (GET /api/v1/audit, admin only): who did what to which entries, why, and
 * when, newest first, filterable by actor, action, target entry and time,
 * paged with a cursor. Times are printed exactly, not "5m ago": an audit is
 * read to line events up.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

enum {
    P_ACTOR,
    P_ACTION,
    P_TARGET,
    P_SINCE,
    P_UNTIL,
    P_LIMIT,
    P_CURSOR,
    P_COUNT,
};

static const char *const param_names[P_COUNT] = {
    [P_ACTOR] = "actor", [P_ACTION] = "action", [P_TARGET] = "target", [P_SINCE] = "since",
    [P_UNTIL] = "until", [P_LIMIT] = "limit",   [P_CURSOR] = "cursor",
};

#define OPT(p)                                                                                     \
    {                                                                                              \
        param_names[p], required_argument, NULL, DLQ_CLI_OPT_FIRST + (p)                           \
    }

static const struct option options[] = {
    OPT(P_ACTOR),           OPT(P_ACTION),
    OPT(P_TARGET),          OPT(P_SINCE),
    OPT(P_UNTIL),           OPT(P_LIMIT),
    OPT(P_CURSOR),          {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS, {NULL, 0, NULL, 0},
};

/* The actions the server records (ISSUE3 contract, "Audit"). */
static const char *const actions[] = {
    "retry",   "force_redrive", "edit",         "resolve",      "discard",
    "outcome", "replay_bulk",   "resolve_bulk", "discard_bulk", "operation_cancel",
    "cleanup", "token_create",  "token_revoke",
};

struct audit_args {
    struct dlq_cli_conn conn;
    const char *value[P_COUNT];
    char since[DLQ_TIME_MAX], until[DLQ_TIME_MAX], limit[24];
    int json;
};

static int set_param(struct audit_args *a, int p, const char *arg)
{
    long v;
    switch (p) {
    case P_ACTION:
        for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
            if (strcmp(arg, actions[i]) == 0)
                goto ok;
        dlq_cli_usage_error("audit",
                            "--action must be one of retry, force_redrive, edit, resolve, "
                            "discard, outcome, replay_bulk, resolve_bulk, discard_bulk, "
                            "operation_cancel, cleanup, token_create, token_revoke (got '%s')",
                            arg);
        return -1;
    case P_SINCE:
    case P_UNTIL: {
        char *out = p == P_SINCE ? a->since : a->until;
        if (dlq_cli_parse_time(arg, dlq_now_ms(), out, DLQ_TIME_MAX) != 0) {
            dlq_cli_usage_error("audit",
                                "--%s must be an RFC 3339 time (2026-01-25T10:30:00Z), a date "
                                "(2026-01-25) or an age (30m, 2h, 7d)",
                                param_names[p]);
            return -1;
        }
        a->value[p] = out;
        return 0;
    }
    case P_LIMIT:
        if (dlq_cli_parse_long(arg, 1, 100, &v) != 0) {
            dlq_cli_usage_error("audit", "--limit must be an integer from 1 to 100");
            return -1;
        }
        snprintf(a->limit, sizeof(a->limit), "%ld", v);
        a->value[p] = a->limit;
        return 0;
    default:
        if (arg[0] == '\0') {
            dlq_cli_usage_error("audit", "--%s needs a non-empty value", param_names[p]);
            return -1;
        }
        break;
    }
ok:
    a->value[p] = arg;
    return 0;
}

/* targets writes the TARGETS cell: the entry (or the first and how many
 * more), else the filter a bulk action used. */
static void targets(struct dlq_buf *b, const json_t *rec)
{
    json_t *ids = json_object_get(rec, "target_ids");
    size_t n = json_array_size(ids);
    if (n > 0) {
        const char *first = json_string_value(json_array_get(ids, 0));
        long long total = dlq_cli_jint(json_object_get(rec, "details"), "count", (long long)n);
        dlq_buf_puts(b, first ? first : "?");
        if (total > 1)
            dlq_buf_printf(b, " +%lld more", total - 1);
        return;
    }
    json_t *filter = json_object_get(rec, "filter");
    if (json_is_object(filter)) {
        char *s = json_dumps(filter, JSON_COMPACT);
        dlq_buf_puts(b, "filter ");
        dlq_buf_puts(b, s ? s : "?");
        free(s);
    }
}

static void next_page_hint(const struct audit_args *a, const char *cursor)
{
    struct dlq_buf b = {0}, safe = {0};
    dlq_buf_puts(&b, "next page: dlq audit");
    if (a->conn.url_given) {
        dlq_buf_puts(&b, " --url ");
        dlq_cli_shell_word(&b, a->conn.url);
    }
    for (int p = 0; p < P_COUNT; p++) {
        if (p == P_CURSOR || a->value[p] == NULL)
            continue;
        dlq_buf_printf(&b, " --%s ", param_names[p]);
        dlq_cli_shell_word(&b, a->value[p]);
    }
    dlq_buf_puts(&b, " --cursor ");
    dlq_cli_shell_word(&b, cursor);
    dlq_cli_sanitize(&safe, b.data, 0);
    if (!safe.oom && safe.data)
        printf("%s\n", safe.data);
    dlq_buf_free(&safe);
    dlq_buf_free(&b);
}

static int print_audit(const struct audit_args *a, json_t *doc)
{
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no \"items\" list\n");
        return DLQ_EXIT_ERROR;
    }
    if (json_array_size(items) == 0) {
        printf("No audit records match.\n");
        return DLQ_EXIT_OK;
    }
    static const char *const headers[] = {"TIME", "ACTOR", "ACTION", "TARGETS", "REASON"};
    struct dlq_cli_table t;
    int rc = dlq_cli_table_init(&t, 5, headers);
    dlq_cli_table_set_col(&t, 1, 12, 24, 0);
    dlq_cli_table_set_col(&t, 3, 30, 60, 0);
    dlq_cli_table_set_col(&t, 4, 20, 80, 0);
    size_t i;
    json_t *rec;
    json_array_foreach(items, i, rec)
    {
        if (rc != DLQ_OK)
            break;
        struct dlq_buf tg = {0}, why = {0};
        targets(&tg, rec);
        const char *reason = dlq_cli_jstr(rec, "reason");
        const char *ticket = dlq_cli_jstr(rec, "ticket_url");
        dlq_buf_puts(&why, reason ? reason : "");
        if (ticket && ticket[0])
            dlq_buf_printf(&why, "%s(%s)", reason && reason[0] ? " " : "", ticket);
        const char *cells[5] = {dlq_cli_jstr(rec, "at"), dlq_cli_jstr(rec, "actor"),
                                dlq_cli_jstr(rec, "action"), tg.data ? tg.data : "-",
                                why.data && why.data[0] ? why.data : "-"};
        rc = tg.oom || why.oom ? DLQ_E_NOMEM : dlq_cli_table_add(&t, cells);
        dlq_buf_free(&tg);
        dlq_buf_free(&why);
    }
    if (rc != DLQ_OK) {
        dlq_cli_table_free(&t);
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    rc = dlq_cli_table_print(&t);
    const char *next = dlq_cli_jstr(doc, "next_cursor");
    if (rc == DLQ_EXIT_OK && next && next[0])
        next_page_hint(a, next);
    return rc;
}

static int render_audit(json_t *doc, void *arg)
{
    return print_audit(arg, doc);
}

int dlq_cli_audit_run(int argc, char **argv)
{
    struct audit_args a;
    memset(&a, 0, sizeof(a));
    dlq_cli_conn_init(&a.conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error("audit", argc, argv, c);
        if (c == DLQ_CLI_OPT_JSON)
            a.json = 1;
        else if (c >= DLQ_CLI_OPT_FIRST && c < DLQ_CLI_OPT_FIRST + P_COUNT) {
            if (set_param(&a, c - DLQ_CLI_OPT_FIRST, optarg) != 0)
                return DLQ_EXIT_USAGE;
        } else if (dlq_cli_conn_option(&a.conn, "audit", c, optarg) != 1)
            return DLQ_EXIT_USAGE;
    }
    if (optind < argc)
        return dlq_cli_usage_error("audit", "unexpected argument '%s' (see 'dlq audit --help')",
                                   argv[optind]);
    if (dlq_cli_conn_check(&a.conn, "audit") != 0)
        return DLQ_EXIT_USAGE;

    struct dlq_buf path = {0};
    int rc = DLQ_EXIT_ERROR;
    dlq_buf_puts(&path, "/api/v1/audit");
    for (int p = 0; p < P_COUNT; p++)
        dlq_cli_query_add(&path, param_names[p], a.value[p]);
    if (path.oom) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    rc = dlq_cli_fetch(&a.conn, "GET", path.data, NULL, a.json, render_audit, &a);
done:
    dlq_buf_free(&path);
    return rc;
}
