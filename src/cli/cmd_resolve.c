/*
 * cmd_resolve.c: `dlq resolve` and `dlq delete`, the two ways an operator
 * closes entries without replaying them: resolve (the cause is handled,
 * POST .../resolve with notes) and delete, which discards (DELETE on the
 * entry, with a reason). Both take one ID, or many by --ids or by filter
 * options (POST /api/v1/dlq/resolve-bulk and discard-bulk), with --dry-run
 * to see how many would be touched. One table row describes each command,
 * so the two cannot drift apart. In the bulk forms --reason is the
 * failure-reason filter, as in `dlq list`.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

#define IDS_MAX 10000

enum { OPT_NOTES = DLQ_CLI_OPT_FIRST, OPT_IDS, OPT_ALL, OPT_MAX, OPT_DRY_RUN };

static const struct option options[] = {
    {"notes", required_argument, NULL, OPT_NOTES},
    {"ids", required_argument, NULL, OPT_IDS},
    {"all", no_argument, NULL, OPT_ALL},
    {"max", required_argument, NULL, OPT_MAX},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_FILTER_OPTIONS,
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* What differs between the two commands. */
struct action {
    const char *cmd;       /* "resolve" */
    const char *done;      /* "resolved" */
    const char *bulk_path; /* POST endpoint of the bulk form */
    const char *text_field;
    int text_opt; /* the option of the one-entry note, its limit */
    size_t text_max;
};

static const struct action resolve_action = {
    "resolve",          "resolved", "/api/v1/dlq/resolve-bulk",
    "resolution_notes", OPT_NOTES,  DLQ_MAX_MESSAGE,
};
/* delete's note is --reason, which is the reason filter in the bulk form. */
static const struct action delete_action = {
    "delete",
    "discarded",
    "/api/v1/dlq/discard-bulk",
    "reason",
    DLQ_CLI_OPT_FILTER + DLQ_CLI_F_REASON,
    1000,
};

struct close_args {
    const struct action *act;
    struct dlq_cli_conn conn;
    struct dlq_cli_filter filter;
    const char *id, *text, *reason;
    json_t *ids; /* --ids as a JSON array, or NULL */
    long max;    /* 0: not given */
    int all, dry_run, json;
    int bulk_opt; /* the first bulk-only option, for messages */
};

/* add_ids appends the ids in text (separated by commas or white space) to
 * a->ids. Returns 0, or -1 after a usage line. */
static int add_ids(struct close_args *a, const char *text)
{
    const char *cmd = a->act->cmd;
    if (a->ids == NULL && (a->ids = json_array()) == NULL) {
        fprintf(stderr, "dlq: out of memory\n");
        return -1;
    }
    for (const char *p = text; *p;) {
        size_t skip = strspn(p, ", \t\r\n");
        p += skip;
        size_t n = strcspn(p, ", \t\r\n");
        if (n == 0)
            break;
        int bad = n > DLQ_MAX_SHORT;
        for (size_t i = 0; i < n && !bad; i++)
            bad = iscntrl((unsigned char)p[i]);
        if (bad) {
            dlq_cli_usage_error(cmd, "--ids: '%.*s' is not an entry id", (int)(n > 40 ? 40 : n), p);
            return -1;
        }
        if (json_array_size(a->ids) >= IDS_MAX) {
            dlq_cli_usage_error(cmd, "--ids takes at most %d ids at a time", IDS_MAX);
            return -1;
        }
        json_t *s = json_stringn(p, n);
        if (s == NULL || json_array_append_new(a->ids, s) != 0) {
            dlq_cli_usage_error(cmd, "--ids must be UTF-8 text");
            return -1;
        }
        p += n;
    }
    return 0;
}

/* read_ids reads the ids for "--ids -" from standard input. */
static int read_ids(struct close_args *a)
{
    struct dlq_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (b.len + n > (size_t)IDS_MAX * (DLQ_MAX_SHORT + 2)) {
            dlq_buf_free(&b);
            dlq_cli_usage_error(a->act->cmd, "--ids -: too much input");
            return -1;
        }
        dlq_buf_append(&b, chunk, n);
    }
    if (b.oom)
        fprintf(stderr, "dlq: out of memory\n");
    int rc = b.oom ? -1 : add_ids(a, b.data ? b.data : "");
    dlq_buf_free(&b);
    return rc;
}

static int parse_args(struct close_args *a, int argc, char **argv)
{
    const char *cmd = a->act->cmd;
    int c;
    dlq_cli_conn_init(&a->conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    int64_t now = dlq_now_ms();
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error(cmd, argc, argv, c);
        if (c == DLQ_CLI_OPT_FILTER + DLQ_CLI_F_REASON) {
            a->reason = optarg; /* a note or a filter: known once the form is */
            continue;
        }
        if (c == a->act->text_opt) {
            a->text = optarg;
            continue;
        }
        int bulk = 1;
        switch (c) {
        case OPT_IDS:
            if ((strcmp(optarg, "-") == 0 ? read_ids(a) : add_ids(a, optarg)) != 0)
                return DLQ_EXIT_USAGE;
            break;
        case OPT_ALL:
            a->all = 1;
            break;
        case OPT_MAX:
            if (dlq_cli_parse_long(optarg, 1, 1000000, &a->max) != 0)
                return dlq_cli_usage_error(cmd, "--max must be an integer from 1 to 1000000");
            break;
        case OPT_DRY_RUN:
            a->dry_run = 1;
            break;
        case DLQ_CLI_OPT_JSON:
            a->json = 1;
            bulk = 0;
            break;
        default:
            if (c >= DLQ_CLI_OPT_FILTER && c < DLQ_CLI_OPT_FILTER + DLQ_CLI_F_COUNT) {
                if (dlq_cli_filter_set(&a->filter, cmd, c - DLQ_CLI_OPT_FILTER, optarg, now) != 0)
                    return DLQ_EXIT_USAGE;
                break;
            }
            if (c == OPT_NOTES)
                return dlq_cli_usage_error(cmd, "--notes is for 'dlq resolve'");
            if (dlq_cli_conn_option(&a->conn, cmd, c, optarg) != 1)
                return DLQ_EXIT_USAGE;
            bulk = 0;
            break;
        }
        if (bulk && !a->bulk_opt)
            a->bulk_opt = c;
    }
    if (optind < argc)
        a->id = argv[optind];
    if (a->id && a->id[0] == '\0')
        return dlq_cli_usage_error(cmd, "the entry ID is empty");
    if (optind + 1 < argc)
        return dlq_cli_usage_error(cmd, "unexpected argument '%s' (one ID; use --ids for many)",
                                   argv[optind + 1]);
    const int resolve = a->act == &resolve_action;
    if (a->reason && a->id && !resolve) {
        a->text = a->reason; /* delete ID --reason R: why, for the audit trail */
    } else if (a->reason) {
        if (a->id)
            return dlq_cli_usage_error(cmd, "--reason is a filter of the bulk form; it cannot be "
                                            "used with an entry ID");
        if (dlq_cli_filter_set(&a->filter, cmd, DLQ_CLI_F_REASON, a->reason, now) != 0)
            return DLQ_EXIT_USAGE;
        if (!a->bulk_opt)
            a->bulk_opt = DLQ_CLI_OPT_FILTER + DLQ_CLI_F_REASON;
    }
    if (a->text &&
        dlq_cli_check_text(cmd, resolve ? "--notes" : "--reason", a->text, a->act->text_max) != 0)
        return DLQ_EXIT_USAGE;

    if (a->id) {
        if (a->bulk_opt) {
            for (const struct option *o = options; o->name; o++)
                if (o->val == a->bulk_opt)
                    return dlq_cli_usage_error(cmd,
                                               "--%s selects entries for the bulk form; it "
                                               "cannot be used with an entry ID",
                                               o->name);
        }
    } else {
        int forms = (a->ids != NULL) + (a->filter.n > 0) + a->all;
        if (forms == 0)
            return dlq_cli_usage_error(cmd,
                                       "which entries? give an entry ID, --ids, filter options "
                                       "or --all (see 'dlq %s --help')",
                                       cmd);
        if (forms > 1)
            return dlq_cli_usage_error(cmd, "give only one of --ids, filter options and --all");
        if (a->ids && json_array_size(a->ids) == 0)
            return dlq_cli_usage_error(cmd, "--ids names no entry");
        if (a->ids && a->max)
            return dlq_cli_usage_error(cmd, "--max applies to filters, not to --ids");
    }
    if (dlq_cli_conn_check(&a->conn, cmd) != 0)
        return DLQ_EXIT_USAGE;
    return DLQ_EXIT_OK;
}

static int close_one(struct close_args *a)
{
    const int resolve = a->act == &resolve_action;
    struct dlq_buf path = {0};
    struct dlq_cli_reply r = {0};
    char *body = NULL;
    int rc = DLQ_EXIT_ERROR;
    dlq_buf_puts(&path, "/api/v1/dlq/entries/");
    dlq_cli_escape(&path, a->id);
    if (resolve) {
        dlq_buf_puts(&path, "/resolve");
        json_t *b = json_object();
        if (a->text)
            json_object_set_new(b, "resolution_notes", json_string(a->text));
        body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
    } else {
        dlq_cli_query_add(&path, "reason", a->text);
    }
    if (path.oom || (resolve && body == NULL)) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    rc = dlq_cli_call(&a->conn, resolve ? "POST" : "DELETE", path.data, body, &r);
    if (rc != DLQ_EXIT_OK)
        goto done;
    if (a->json) {
        rc = dlq_cli_print_json(&r);
        goto done;
    }
    json_t *doc = dlq_cli_reply_object(&r);
    const char *id = dlq_cli_jstr(doc, "dlq_id");
    struct dlq_buf out = {0};
    dlq_buf_printf(&out, "%s ", a->act->done);
    dlq_cli_sanitize(&out, id ? id : a->id, 0);
    dlq_buf_putc(&out, '\n');
    json_decref(doc);
    rc = dlq_cli_print_buf(&out);
done:
    free(body);
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    return rc;
}

/* print_bulk reports a bulk answer: how many matched and were changed, and
 * each entry that was skipped with why. */
static int print_bulk(const struct close_args *a, json_t *doc)
{
    struct dlq_buf b = {0};
    long long matched = dlq_cli_jint(doc, "matched", 0);
    long long ok = dlq_cli_jint(doc, "succeeded", 0);
    long long skipped = dlq_cli_jint(doc, "skipped", 0);
    const char *noun = matched == 1 ? "entry" : "entries";
    if (a->dry_run)
        dlq_buf_printf(&b, "dry run: %lld %s would be %s; nothing changed\n", matched, noun,
                       a->act->done);
    else if (matched == 0)
        dlq_buf_printf(&b, "no entry matched; nothing %s\n", a->act->done);
    else
        dlq_buf_printf(&b, "%s %lld of %lld matched %s\n", a->act->done, ok, matched, noun);
    json_t *list = json_object_get(doc, "skipped_ids");
    if (skipped > 0 && !a->dry_run)
        dlq_buf_printf(&b, "skipped %lld:\n", skipped);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = dlq_cli_jstr(item, "dlq_id"), *why = dlq_cli_jstr(item, "detail");
        dlq_buf_puts(&b, "  ");
        dlq_cli_sanitize(&b, id ? id : "?", 0);
        if (why) {
            dlq_buf_puts(&b, ": ");
            dlq_cli_sanitize(&b, why, 0);
        }
        dlq_buf_putc(&b, '\n');
    }
    if (skipped > (long long)json_array_size(list) && json_array_size(list) > 0)
        dlq_buf_printf(&b, "  (and %lld more)\n", skipped - (long long)json_array_size(list));
    return dlq_cli_print_buf(&b);
}

static int close_bulk(struct close_args *a)
{
    struct dlq_cli_reply r = {0};
    json_t *b = json_object();
    int bad = b == NULL || dlq_cli_filter_json(&a->filter, b) != 0 ||
              json_object_set_new(b, "dry_run", json_boolean(a->dry_run)) != 0 ||
              (a->ids && json_object_set(b, "ids", a->ids) != 0) ||
              (a->max && json_object_set_new(b, "max_tasks", json_integer(a->max)) != 0) ||
              (a->text && json_object_set_new(b, a->act->text_field, json_string(a->text)) != 0);
    char *body = bad ? NULL : json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (body == NULL)
        return dlq_cli_usage_error(a->act->cmd, "filter values must be UTF-8 text");
    int rc = dlq_cli_call(&a->conn, "POST", a->act->bulk_path, body, &r);
    free(body);
    if (rc == DLQ_EXIT_OK && a->json) {
        rc = dlq_cli_print_json(&r);
    } else if (rc == DLQ_EXIT_OK) {
        json_t *doc = dlq_cli_reply_object(&r);
        rc = doc ? print_bulk(a, doc) : DLQ_EXIT_ERROR;
        json_decref(doc);
    }
    dlq_cli_reply_free(&r);
    return rc;
}

static int run(const struct action *act, int argc, char **argv)
{
    struct close_args a;
    memset(&a, 0, sizeof(a));
    a.act = act;
    int rc = parse_args(&a, argc, argv);
    if (rc == DLQ_EXIT_OK)
        rc = a.id ? close_one(&a) : close_bulk(&a);
    json_decref(a.ids);
    dlq_cli_filter_free(&a.filter);
    return rc;
}

int dlq_cli_resolve_run(int argc, char **argv)
{
    return run(&resolve_action, argc, argv);
}

int dlq_cli_delete_run(int argc, char **argv)
{
    return run(&delete_action, argc, argv);
}
