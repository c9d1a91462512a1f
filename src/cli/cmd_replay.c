/*
 * cmd_replay.c: `dlq replay`, in two forms. With an ID it replays one entry
 * (POST /api/v1/dlq/entries/ID/retry), optionally editing its queue,
 * max_retries or arguments first, or force-redriving it past its replay
 * budget (--force, with the reason the audit trail keeps). With filter
 * options instead it starts a safe bulk replay on the server
 * (POST /api/v1/dlq/replay-bulk): --dry-run shows what would be replayed,
 * a real run starts an operation that --wait follows to its end. --queue
 * and --reason mean the entry's new queue and the force reason with an ID,
 * and filters without one, as `dlq list` reads them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

#define SAMPLE_MAX  20
#define COUNTS_ROWS 10

enum {
    OPT_FORCE = DLQ_CLI_OPT_FIRST,
    OPT_TICKET,
    OPT_MAX_RETRIES,
    OPT_ARGS,
    OPT_KWARGS,
    OPT_ALL,
    OPT_MAX,
    OPT_RATE,
    OPT_BATCH,
    OPT_STOP_RATE,
    OPT_MIN_SAMPLES,
    OPT_OUTCOME_TIMEOUT,
    OPT_DRY_RUN,
    OPT_WAIT,
};

static const struct option options[] = {
    {"force", no_argument, NULL, OPT_FORCE},
    {"ticket", required_argument, NULL, OPT_TICKET},
    {"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
    {"args", required_argument, NULL, OPT_ARGS},
    {"kwargs", required_argument, NULL, OPT_KWARGS},
    {"all", no_argument, NULL, OPT_ALL},
    {"max", required_argument, NULL, OPT_MAX},
    {"rate", required_argument, NULL, OPT_RATE},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"stop-rate", required_argument, NULL, OPT_STOP_RATE},
    {"min-samples", required_argument, NULL, OPT_MIN_SAMPLES},
    {"outcome-timeout", required_argument, NULL, OPT_OUTCOME_TIMEOUT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_FILTER_OPTIONS,
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* The numeric options of a bulk replay: option, body field, range, and
 * whether a fraction is allowed. */
static const struct {
    int opt;
    const char *name, *field;
    double min, max;
    int fraction;
} numbers[] = {
    {OPT_MAX, "max", "max_tasks", 1, 1000000, 0},
    {OPT_RATE, "rate", "rate_per_second", 0, 100000, 1},
    {OPT_BATCH, "batch", "batch_size", 1, 10000, 0},
    {OPT_STOP_RATE, "stop-rate", "stop_failure_rate", 0, 1, 1},
    {OPT_MIN_SAMPLES, "min-samples", "min_samples", 1, 100000, 0},
    {OPT_OUTCOME_TIMEOUT, "outcome-timeout", "outcome_timeout_s", 0, 86400, 0},
};
#define NNUMBERS (sizeof(numbers) / sizeof(numbers[0]))

struct replay_args {
    struct dlq_cli_conn conn;
    struct dlq_cli_filter filter;
    const char *id;
    const char *queue, *reason; /* raw: an edit and a note, or filters */
    const char *ticket, *args, *kwargs;
    long max_retries; /* -1: not given */
    double number[NNUMBERS];
    int has_number[NNUMBERS];
    int force, all, dry_run, wait, json;
    int single_only, bulk_only; /* the first option of either form, for messages */
};

/* set_number checks a bulk option's value. Returns 0 or -1 (usage printed). */
static int set_number(struct replay_args *a, int opt, const char *arg)
{
    for (size_t i = 0; i < NNUMBERS; i++) {
        if (numbers[i].opt != opt)
            continue;
        double v;
        int ok = dlq_cli_parse_number(arg, numbers[i].min, numbers[i].max, &v) == 0 &&
                 (numbers[i].fraction || v == (double)(long long)v);
        if (!ok) {
            dlq_cli_usage_error("replay", "--%s must be %s from %.10g to %.10g", numbers[i].name,
                                numbers[i].fraction ? "a number" : "an integer", numbers[i].min,
                                numbers[i].max);
            return -1;
        }
        a->number[i] = v;
        a->has_number[i] = 1;
        if (!a->bulk_only)
            a->bulk_only = opt;
        return 0;
    }
    return -1;
}

/* option_name returns the long name of getopt value opt, for messages. */
static const char *option_name(int opt)
{
    for (const struct option *o = options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* check_json checks that the text of --args/--kwargs is JSON (an object for
 * kwargs). Returns 0 or -1 (usage printed). */
static int check_json(const char *option, const char *text, int want_object)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    int ok = v && (!want_object || json_is_object(v));
    if (v == NULL)
        dlq_cli_usage_error("replay", "--%s is not JSON: %s (at character %d)", option, jerr.text,
                            jerr.position);
    else if (!ok)
        dlq_cli_usage_error("replay", "--%s must be a JSON object, e.g. '{\"user_id\": 42}'",
                            option);
    json_decref(v);
    return ok ? 0 : -1;
}

static int parse_args(struct replay_args *a, int argc, char **argv)
{
    int c;
    a->max_retries = -1;
    dlq_cli_conn_init(&a->conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    int64_t now = dlq_now_ms();
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error("replay", argc, argv, c);
        int single = 0;
        switch (c) {
        case DLQ_CLI_OPT_FILTER + DLQ_CLI_F_QUEUE:
            a->queue = optarg;
            continue;
        case DLQ_CLI_OPT_FILTER + DLQ_CLI_F_REASON:
            a->reason = optarg;
            continue;
        case OPT_FORCE:
            a->force = single = 1;
            break;
        case OPT_TICKET:
            a->ticket = optarg;
            break;
        case OPT_MAX_RETRIES:
            if (dlq_cli_parse_long(optarg, 0, 100, &a->max_retries) != 0)
                return dlq_cli_usage_error("replay", "--max-retries must be an integer from 0 "
                                                     "to 100");
            single = 1;
            break;
        case OPT_ARGS:
        case OPT_KWARGS:
            if (check_json(c == OPT_ARGS ? "args" : "kwargs", optarg, c == OPT_KWARGS) != 0)
                return DLQ_EXIT_USAGE;
            *(c == OPT_ARGS ? &a->args : &a->kwargs) = optarg;
            single = 1;
            break;
        case OPT_ALL:
        case OPT_DRY_RUN:
        case OPT_WAIT:
            *(c == OPT_ALL ? &a->all : c == OPT_DRY_RUN ? &a->dry_run : &a->wait) = 1;
            if (!a->bulk_only)
                a->bulk_only = c;
            break;
        case DLQ_CLI_OPT_JSON:
            a->json = 1;
            break;
        default:
            if (c >= DLQ_CLI_OPT_FILTER && c < DLQ_CLI_OPT_FILTER + DLQ_CLI_F_COUNT) {
                if (dlq_cli_filter_set(&a->filter, "replay", c - DLQ_CLI_OPT_FILTER, optarg, now) !=
                    0)
                    return DLQ_EXIT_USAGE;
                if (!a->bulk_only)
                    a->bulk_only = c;
            } else if (c >= OPT_MAX && c <= OPT_OUTCOME_TIMEOUT) {
                if (set_number(a, c, optarg) != 0)
                    return DLQ_EXIT_USAGE;
            } else if (dlq_cli_conn_option(&a->conn, "replay", c, optarg) != 1) {
                return DLQ_EXIT_USAGE;
            }
            break;
        }
        if (single && !a->single_only)
            a->single_only = c;
    }
    if (optind < argc)
        a->id = argv[optind];
    if (a->id && a->id[0] == '\0')
        return dlq_cli_usage_error("replay", "the entry ID is empty");
    if (optind + 1 < argc)
        return dlq_cli_usage_error("replay",
                                   "unexpected argument '%s' (one ID at a time; "
                                   "use filter options for many)",
                                   argv[optind + 1]);
    if (a->ticket && dlq_cli_check_text("replay", "--ticket", a->ticket, 2000) != 0)
        return DLQ_EXIT_USAGE;

    if (a->id) {
        if (a->bulk_only)
            return dlq_cli_usage_error("replay",
                                       "--%s is for a bulk replay; it cannot be used with an "
                                       "entry ID",
                                       option_name(a->bulk_only));
        if (a->force && (a->reason == NULL || a->reason[0] == '\0'))
            return dlq_cli_usage_error("replay", "--force needs --reason R (why the entry is "
                                                 "force-redriven: the audit trail keeps it)");
        if (a->reason && dlq_cli_check_text("replay", "--reason", a->reason, 1000) != 0)
            return DLQ_EXIT_USAGE;
        if (a->queue && a->queue[0] == '\0')
            return dlq_cli_usage_error("replay", "--queue needs a queue name");
        if (a->queue && dlq_cli_check_text("replay", "--queue", a->queue, DLQ_MAX_SHORT) != 0)
            return DLQ_EXIT_USAGE;
    } else {
        if (a->single_only)
            return dlq_cli_usage_error("replay",
                                       "--%s applies to one entry (dlq replay ID --%s ...), not "
                                       "to a bulk replay",
                                       option_name(a->single_only), option_name(a->single_only));
        if (a->queue && dlq_cli_filter_set(&a->filter, "replay", DLQ_CLI_F_QUEUE, a->queue, 0) != 0)
            return DLQ_EXIT_USAGE;
        if (a->reason &&
            dlq_cli_filter_set(&a->filter, "replay", DLQ_CLI_F_REASON, a->reason, 0) != 0)
            return DLQ_EXIT_USAGE;
        if (a->filter.n == 0 && !a->all)
            return dlq_cli_usage_error("replay", "which entries? give an entry ID, filter options "
                                                 "(--task, --queue, ...) or --all (see 'dlq "
                                                 "replay --help')");
        if (a->filter.n > 0 && a->all)
            return dlq_cli_usage_error("replay", "--all means no filter; drop it or the filter "
                                                 "options");
        if (a->dry_run && a->wait)
            return dlq_cli_usage_error("replay", "--wait follows a real run; a dry run has "
                                                 "nothing to wait for");
        if (!a->dry_run && !a->has_number[0])
            return dlq_cli_usage_error("replay", "a bulk replay needs --max N (how many entries "
                                                 "at most; try --dry-run first)");
    }
    if (dlq_cli_conn_check(&a->conn, "replay") != 0)
        return DLQ_EXIT_USAGE;
    return DLQ_EXIT_OK;
}

/* set_text sets obj[key] to s, or fails for text that is not UTF-8. */
static int set_text(json_t *obj, const char *key, const char *s)
{
    return s == NULL ? 0 : json_object_set_new(obj, key, json_string(s));
}

/* single_body is the JSON of the edits and notes of a one-entry replay
 * (caller frees), or NULL when memory ran out. args and kwargs go as JSON
 * text, which the server reads as ingest does: exactly what was typed. */
static char *single_body(const struct replay_args *a)
{
    json_t *b = json_object();
    int bad = b == NULL || set_text(b, "task_args", a->args) ||
              set_text(b, "task_kwargs", a->kwargs) || set_text(b, "queue", a->queue) ||
              set_text(b, "reason", a->reason) || set_text(b, "ticket_url", a->ticket) ||
              (a->max_retries >= 0 &&
               json_object_set_new(b, "max_retries", json_integer(a->max_retries)));
    char *s = bad ? NULL : json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

/* max_replays asks for the entry's replay budget, for the "retry 2 of 3"
 * line; -1 when it cannot be had (the replay succeeded all the same). */
static long long max_replays(const struct dlq_cli_conn *c, const char *id)
{
    struct dlq_buf path = {0};
    struct dlq_cli_reply r = {0};
    char err[256];
    long long n = -1;
    dlq_buf_puts(&path, "/api/v1/dlq/entries/");
    dlq_cli_escape(&path, id);
    if (!path.oom && dlq_cli_request(c, "GET", path.data, NULL, &r, err, sizeof(err)) == DLQ_OK &&
        r.status == 200) {
        json_t *e = json_loadb(r.body.data, r.body.len, 0, NULL);
        n = dlq_cli_jint(e, "max_replays", -1);
        json_decref(e);
    }
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    return n;
}

static int replay_one(struct replay_args *a)
{
    struct dlq_buf path = {0}, out = {0};
    struct dlq_cli_reply r = {0};
    int rc = DLQ_EXIT_ERROR;
    char *body = single_body(a);
    if (body == NULL)
        return dlq_cli_usage_error("replay", "--queue, --reason and --ticket must be UTF-8 text");
    dlq_buf_puts(&path, "/api/v1/dlq/entries/");
    dlq_cli_escape(&path, a->id);
    dlq_buf_puts(&path, a->force ? "/retry?force=true" : "/retry");
    if (path.oom) {
        fprintf(stderr, "dlq: out of memory\n");
        goto done;
    }
    rc = dlq_cli_call(&a->conn, "POST", path.data, body, &r);
    if (rc != DLQ_EXIT_OK)
        goto done;
    if (a->json) {
        rc = dlq_cli_print_json(&r);
        goto done;
    }
    json_t *doc = dlq_cli_reply_object(&r);
    if (doc == NULL) {
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    const char *dlq_id = dlq_cli_jstr(doc, "dlq_id");
    long long count = dlq_cli_jint(doc, "retry_count", -1);
    long long budget = max_replays(&a->conn, dlq_id ? dlq_id : a->id);
    dlq_buf_puts(&out, a->force ? "force-redriven " : "replayed ");
    dlq_cli_sanitize(&out, dlq_id ? dlq_id : a->id, 0);
    dlq_buf_puts(&out, " as ");
    dlq_cli_sanitize(&out, dlq_cli_jstr(doc, "retry_task_id"), 0);
    if (count >= 0 && budget >= 0)
        dlq_buf_printf(&out, " (retry %lld of %lld%s)", count, budget,
                       a->force ? ", a fresh budget" : "");
    else if (count >= 0)
        dlq_buf_printf(&out, " (retry %lld)", count);
    dlq_buf_putc(&out, '\n');
    if (a->queue || a->max_retries >= 0 || a->args || a->kwargs) {
        dlq_buf_puts(&out, "edited:");
        if (a->queue) {
            dlq_buf_puts(&out, " queue=");
            dlq_cli_sanitize(&out, a->queue, 0);
        }
        if (a->max_retries >= 0)
            dlq_buf_printf(&out, " max_retries=%ld", a->max_retries);
        dlq_buf_puts(&out, a->args ? " task_args" : "");
        dlq_buf_puts(&out, a->kwargs ? " task_kwargs" : "");
        dlq_buf_puts(&out, " (before/after in 'dlq show')\n");
    }
    json_decref(doc);
    rc = dlq_cli_print_buf(&out);
done:
    free(body);
    dlq_buf_free(&out);
    dlq_cli_reply_free(&r);
    dlq_buf_free(&path);
    return rc;
}

/* bulk_body is the replay-bulk request (caller frees), or NULL when a value
 * is not UTF-8 or memory ran out. */
static char *bulk_body(const struct replay_args *a)
{
    json_t *b = json_object();
    int bad = b == NULL || dlq_cli_filter_json(&a->filter, b) != 0 ||
              set_text(b, "ticket_url", a->ticket) ||
              json_object_set_new(b, "dry_run", json_boolean(a->dry_run));
    for (size_t i = 0; i < NNUMBERS && !bad; i++) {
        if (!a->has_number[i])
            continue;
        double v = a->number[i];
        json_t *j = v == (double)(long long)v ? json_integer((json_int_t)v) : json_real(v);
        bad = json_object_set_new(b, numbers[i].field, j) != 0;
    }
    char *s = bad ? NULL : json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

/* print_dry_run shows what a bulk replay would take: how many, by task and
 * by exception type, and the first ids. */
static int print_dry_run(const struct replay_args *a, json_t *doc)
{
    struct dlq_buf b = {0};
    long long matched = dlq_cli_jint(doc, "matched", -1);
    size_t width = dlq_cli_term_width();
    dlq_buf_printf(&b, "dry run: %lld %s would be replayed", matched,
                   matched == 1 ? "entry" : "entries");
    if (a->has_number[0] && matched >= (long long)a->number[0])
        dlq_buf_printf(&b, " (the --max %.0f limit; more may match)", a->number[0]);
    dlq_buf_puts(&b, "\n");
    json_t *by_task = json_object_get(doc, "by_task");
    json_t *by_exc = json_object_get(doc, "by_exception_type");
    if (json_object_size(by_task)) {
        dlq_buf_putc(&b, '\n');
        dlq_cli_counts_render(&b, "TASK", by_task, COUNTS_ROWS, width);
    }
    if (json_object_size(by_exc)) {
        dlq_buf_putc(&b, '\n');
        dlq_cli_counts_render(&b, "EXCEPTION", by_exc, COUNTS_ROWS, width);
    }
    json_t *ids = json_object_get(doc, "sample_ids");
    if (json_array_size(ids)) {
        /* As many ids to a line as fit: they are all about as wide. */
        size_t line_max = width ? width : 80, col = 0, i;
        json_t *id;
        dlq_buf_printf(&b, "\nfirst %zu:\n", json_array_size(ids));
        json_array_foreach(ids, i, id)
        {
            if (i >= SAMPLE_MAX || !json_is_string(id))
                continue;
            size_t w = dlq_cli_width(json_string_value(id)) + 2;
            if (col > 0 && col + w > line_max) {
                dlq_buf_putc(&b, '\n');
                col = 0;
            }
            dlq_buf_puts(&b, "  ");
            dlq_cli_sanitize(&b, json_string_value(id), 0);
            col += w;
        }
        dlq_buf_putc(&b, '\n');
    }
    if (matched > 0) {
        /* The command that does it, to copy: the same selection, with --max. */
        struct dlq_buf cmd = {0};
        dlq_buf_puts(&cmd, "dlq replay");
        if (a->conn.url_given) {
            dlq_buf_puts(&cmd, " --url ");
            dlq_cli_shell_word(&cmd, a->conn.url);
        }
        dlq_cli_filter_describe(&a->filter, &cmd);
        dlq_buf_printf(&cmd, "%s --max %.0f", a->all ? " --all" : "",
                       a->has_number[0] ? a->number[0] : (double)matched);
        for (size_t i = 1; i < NNUMBERS; i++)
            if (a->has_number[i])
                dlq_buf_printf(&cmd, " --%s %.10g", numbers[i].name, a->number[i]);
        if (a->ticket) {
            dlq_buf_puts(&cmd, " --ticket ");
            dlq_cli_shell_word(&cmd, a->ticket);
        }
        dlq_buf_puts(&b, "\nNothing was replayed. To replay them:\n  ");
        dlq_cli_sanitize(&b, cmd.data, 0);
        dlq_buf_putc(&b, '\n');
        if (cmd.oom)
            b.oom = 1;
        dlq_buf_free(&cmd);
    }
    return dlq_cli_print_buf(&b);
}

static int replay_bulk(struct replay_args *a)
{
    struct dlq_cli_reply r = {0};
    int rc;
    char *body = bulk_body(a);
    if (body == NULL)
        return dlq_cli_usage_error("replay", "filter values and --ticket must be UTF-8 text");
    rc = dlq_cli_call(&a->conn, "POST", "/api/v1/dlq/replay-bulk", body, &r);
    free(body);
    if (rc != DLQ_EXIT_OK)
        goto done;
    if (a->json && !a->wait) {
        rc = dlq_cli_print_json(&r);
        goto done;
    }
    json_t *doc = dlq_cli_reply_object(&r);
    if (doc == NULL) {
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    if (a->dry_run) {
        rc = print_dry_run(a, doc);
        json_decref(doc);
        goto done;
    }
    const char *op = dlq_cli_jstr(doc, "operation_id");
    if (op == NULL || op[0] == '\0') {
        fprintf(stderr, "dlq: the server's answer has no operation_id\n");
        json_decref(doc);
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    char *id = strdup(op);
    long long matched = dlq_cli_jint(doc, "matched", -1);
    json_decref(doc);
    if (id == NULL) {
        fprintf(stderr, "dlq: out of memory\n");
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    if (!a->json) {
        struct dlq_buf b = {0};
        dlq_buf_puts(&b, "started ");
        dlq_cli_sanitize(&b, id, 0);
        if (matched >= 0)
            dlq_buf_printf(&b, ": replaying %lld %s", matched, matched == 1 ? "entry" : "entries");
        dlq_buf_putc(&b, '\n');
        if (!a->wait) {
            struct dlq_buf h = {0};
            dlq_buf_puts(&h, "follow it: dlq ops ");
            dlq_cli_shell_word(&h, id);
            dlq_buf_puts(&h, " --wait   cancel it: dlq ops ");
            dlq_cli_shell_word(&h, id);
            dlq_buf_puts(&h, " --cancel");
            dlq_cli_sanitize(&b, h.data, 0);
            dlq_buf_putc(&b, '\n');
            dlq_buf_free(&h);
        }
        rc = dlq_cli_print_buf(&b);
        fflush(stdout);
    }
    if (a->wait && rc == DLQ_EXIT_OK)
        rc = dlq_cli_op_wait(&a->conn, id, a->json);
    free(id);
done:
    dlq_cli_reply_free(&r);
    return rc;
}

int dlq_cli_replay_run(int argc, char **argv)
{
    struct replay_args a;
    memset(&a, 0, sizeof(a));
    int rc = parse_args(&a, argc, argv);
    if (rc == DLQ_EXIT_OK)
        rc = a.id ? replay_one(&a) : replay_bulk(&a);
    dlq_cli_filter_free(&a.filter);
    return rc;
}
