/*
 * cmd_cleanup.c: `dlq cleanup --days N` (seed 001), the admin's way to
 * delete old entries for good (POST /api/v1/dlq/cleanup). By default only
 * closed entries (resolved, discarded, expired, archived) go; pending ones
 * only when named with --status. --dry-run says how many would go, by
 * status, and deletes nothing.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

enum { OPT_DAYS = DLQ_CLI_OPT_FIRST, OPT_STATUS, OPT_DRY_RUN };

static const struct option options[] = {
    {"days", required_argument, NULL, OPT_DAYS},
    {"status", required_argument, NULL, OPT_STATUS},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

int dlq_cli_status_summary(struct dlq_buf *out, const json_t *by_status)
{
    int first = 1;
    /* Statuses in their lifecycle order, then any the CLI does not know. */
    for (int s = 1; s < DLQ_STATUS_COUNT; s++) {
        const char *name = dlq_status_name((enum dlq_status)s);
        long long n = name ? dlq_cli_jint(by_status, name, 0) : 0;
        if (n <= 0)
            continue;
        dlq_buf_printf(out, "%s%s %lld", first ? "" : ", ", name, n);
        first = 0;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)by_status, key, v)
    {
        if (dlq_status_parse(key) != DLQ_STATUS_NONE || !json_is_integer(v) ||
            json_integer_value(v) <= 0)
            continue;
        dlq_buf_puts(out, first ? "" : ", ");
        dlq_cli_sanitize(out, key, 0);
        dlq_buf_printf(out, " %" JSON_INTEGER_FORMAT, json_integer_value(v));
        first = 0;
    }
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}

int dlq_cli_cleanup_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    long days = -1;
    int dry_run = 0, json = 0, c;
    json_t *statuses = json_array();
    struct dlq_cli_reply r = {0};
    char *body = NULL;
    int rc = DLQ_EXIT_USAGE;
    if (statuses == NULL) {
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    dlq_cli_conn_init(&conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':') {
            rc = dlq_cli_getopt_error("cleanup", argc, argv, c);
            goto done;
        }
        switch (c) {
        case OPT_DAYS:
            if (dlq_cli_parse_long(optarg, 0, 36500, &days) != 0) {
                dlq_cli_usage_error("cleanup", "--days must be an integer from 0 to 36500");
                goto done;
            }
            break;
        case OPT_STATUS:
            if (dlq_cli_check_statuses("cleanup", "--status", optarg) != 0)
                goto done;
            for (const char *p = optarg; *p;) {
                size_t n = strcspn(p, ",");
                json_array_append_new(statuses, json_stringn(p, n));
                p += n + (p[n] == ',');
            }
            break;
        case OPT_DRY_RUN:
            dry_run = 1;
            break;
        case DLQ_CLI_OPT_JSON:
            json = 1;
            break;
        default:
            if (dlq_cli_conn_option(&conn, "cleanup", c, optarg) != 1)
                goto done;
        }
    }
    if (optind < argc) {
        dlq_cli_usage_error("cleanup", "unexpected argument '%s' (see 'dlq cleanup --help')",
                            argv[optind]);
        goto done;
    }
    if (days < 0) {
        dlq_cli_usage_error("cleanup", "--days N is required (delete entries that failed more "
                                       "than N days ago)");
        goto done;
    }
    if (dlq_cli_conn_check(&conn, "cleanup") != 0)
        goto done;

    json_t *req = json_object();
    json_object_set_new(req, "older_than_days", json_integer(days));
    if (json_array_size(statuses))
        json_object_set(req, "statuses", statuses);
    json_object_set_new(req, "dry_run", json_boolean(dry_run));
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    rc = DLQ_EXIT_ERROR;
    if (body == NULL) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    rc = dlq_cli_call(&conn, "POST", "/api/v1/dlq/cleanup", body, &r);
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
    long long n = dlq_cli_jint(doc, dry_run ? "matched" : "deleted", 0);
    struct dlq_buf out = {0};
    dlq_buf_printf(&out, "%s %lld %s", dry_run ? "would delete" : "deleted", n,
                   n == 1 ? "entry" : "entries");
    json_t *by = json_object_get(doc, "by_status");
    if (n > 0 && json_object_size(by)) {
        dlq_buf_puts(&out, " (");
        dlq_cli_status_summary(&out, by);
        dlq_buf_putc(&out, ')');
    }
    dlq_buf_printf(&out, " that failed more than %ld %s ago\n", days, days == 1 ? "day" : "days");
    if (dry_run)
        dlq_buf_puts(&out, "dry run: nothing was deleted\n");
    json_decref(doc);
    rc = dlq_cli_print_buf(&out);
done:
    free(body);
    json_decref(statuses);
    dlq_cli_reply_free(&r);
    return rc;
}
