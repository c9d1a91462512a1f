/*
 * cmd_queues.c: the queues of the native job queue. `dlq queues` shows each
 * queue's depth (GET /api/v1/queues) as a table: what waits, what runs,
 * what died, how old the oldest waiting job is, and where replays go.
 * `dlq queue set|pause|resume QUEUE` changes one queue's settings (PUT
 * .../settings, admin) or stops and restarts its reserves (POST .../pause,
 * .../resume) and shows the queue as the server left it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/core.h"

enum {
    OPT_TARGET = DLQ_CLI_OPT_FIRST,
    OPT_WEBHOOK_URL,
    OPT_WEBHOOK_SECRET,
    OPT_MAX_REPLAYS,
};

static const struct option list_options[] = {
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const struct option queue_options[] = {
    {"target", required_argument, NULL, OPT_TARGET},
    {"webhook-url", required_argument, NULL, OPT_WEBHOOK_URL},
    {"webhook-secret", required_argument, NULL, OPT_WEBHOOK_SECRET},
    {"max-replays", required_argument, NULL, OPT_MAX_REPLAYS},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    DLQ_CLI_GLOBAL_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* num writes a counter member into out ("-" when missing). */
static const char *num(const json_t *q, const char *key, char *out, size_t n)
{
    return dlq_cli_jcount(q, key, "-", out, n);
}

/* age writes the age of the oldest ready job: "12s", "5m", or "-". */
static void age(const json_t *q, char *out, size_t n)
{
    json_t *v = json_object_get(q, "oldest_ready_age_s");
    if (!json_is_number(v)) {
        snprintf(out, n, "-");
        return;
    }
    int64_t s = (int64_t)json_number_value(v);
    char rel[48];
    dlq_cli_reltime(0, s * 1000, rel, sizeof(rel)); /* "12s ago" */
    char *sp = strchr(rel, ' ');
    if (sp)
        *sp = '\0';
    snprintf(out, n, "%s", rel);
}

static int render_list(json_t *doc, void *arg)
{
    static const char *const headers[] = {"QUEUE", "READY",  "SCHEDULED", "RUNNING", "SUCCEEDED",
                                          "DEAD",  "OLDEST", "PAUSED",    "TARGET"};
    json_t *items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        fprintf(stderr, "dlq: the server's answer has no items\n");
        return DLQ_EXIT_ERROR;
    }
    if (json_array_size(items) == 0) {
        printf("no queues yet (enqueue a job: dlq enqueue QUEUE TASK)\n");
        return DLQ_EXIT_OK;
    }
    struct dlq_cli_table t;
    int rc = dlq_cli_table_init(&t, 9, headers);
    dlq_cli_table_set_col(&t, 0, 12, 60, 1);
    size_t i;
    json_t *q;
    json_array_foreach(items, i, q)
    {
        char c[5][32], old[48];
        age(q, old, sizeof(old));
        const char *target = dlq_cli_jstr(q, "replay_target");
        const char *cells[9] = {dlq_cli_jstr(q, "queue"),
                                num(q, "ready", c[0], sizeof(c[0])),
                                num(q, "scheduled", c[1], sizeof(c[1])),
                                num(q, "running", c[2], sizeof(c[2])),
                                num(q, "succeeded", c[3], sizeof(c[3])),
                                num(q, "dead", c[4], sizeof(c[4])),
                                old,
                                json_is_true(json_object_get(q, "paused")) ? "yes" : "no",
                                target ? target : "native"};
        if (rc == DLQ_OK)
            rc = dlq_cli_table_add(&t, cells);
    }
    if (rc != DLQ_OK) {
        dlq_cli_table_free(&t);
        fprintf(stderr, "dlq: out of memory\n");
        return DLQ_EXIT_ERROR;
    }
    return dlq_cli_table_print(&t);
}

int dlq_cli_queues_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    int json = 0, c;
    dlq_cli_conn_init(&conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", list_options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error("queues", argc, argv, c);
        if (c == DLQ_CLI_OPT_JSON)
            json = 1;
        else if (dlq_cli_conn_option(&conn, "queues", c, optarg) != 1)
            return DLQ_EXIT_USAGE;
    }
    if (optind < argc)
        return dlq_cli_usage_error("queues",
                                   "unexpected argument '%s' (one queue: dlq queues "
                                   "--json, or 'dlq queue --help')",
                                   argv[optind]);
    if (dlq_cli_conn_check(&conn, "queues") != 0)
        return DLQ_EXIT_USAGE;
    return dlq_cli_fetch(&conn, "GET", "/api/v1/queues", NULL, json, render_list, NULL);
}

/* render_one shows one queue item as "label: value" lines. */
static int render_one(json_t *q, void *arg)
{
    struct dlq_buf b = {0};
    char tmp[64], old[48];
    const char *target = dlq_cli_jstr(q, "replay_target");
    dlq_cli_field(&b, "queue", dlq_cli_jstr(q, "queue"));
    dlq_cli_field(&b, "paused", json_is_true(json_object_get(q, "paused")) ? "yes" : "no");
    dlq_cli_field(&b, "replay target", target ? target : "native");
    if (dlq_cli_jstr(q, "webhook_url"))
        dlq_cli_field(&b, "webhook url", dlq_cli_jstr(q, "webhook_url"));
    if (json_is_boolean(json_object_get(q, "webhook_secret_set")))
        dlq_cli_field(&b, "webhook secret",
                      json_is_true(json_object_get(q, "webhook_secret_set")) ? "set" : "not set");
    if (dlq_cli_jint(q, "max_replays", -1) >= 0)
        dlq_cli_field(&b, "max replays", num(q, "max_replays", tmp, sizeof(tmp)));
    static const char *const counters[] = {"ready", "scheduled", "running",   "succeeded",
                                           "dead",  "cancelled", "dispatched"};
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        dlq_cli_field(&b, counters[i], num(q, counters[i], tmp, sizeof(tmp)));
    age(q, old, sizeof(old));
    dlq_cli_field(&b, "oldest ready", old);
    return dlq_cli_print_buf(&b);
}

/* set_body builds the settings body from the options (caller frees). */
static char *set_body(const char *target, const char *url, const char *secret, long max_replays)
{
    json_t *b = json_object();
    int bad = b == NULL;
    if (!bad && target)
        bad = json_object_set_new(b, "replay_target", json_string(target)) != 0;
    if (!bad && url)
        bad = json_object_set_new(b, "webhook_url", json_string(url)) != 0;
    if (!bad && secret)
        bad = json_object_set_new(b, "webhook_secret", json_string(secret)) != 0;
    if (!bad && max_replays > 0)
        bad = json_object_set_new(b, "max_replays", json_integer(max_replays)) != 0;
    char *s = bad ? NULL : json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

int dlq_cli_queue_run(int argc, char **argv)
{
    struct dlq_cli_conn conn;
    const char *target = NULL, *url = NULL, *secret = NULL;
    long max_replays = -1;
    int json = 0, c, setting = 0;
    dlq_cli_conn_init(&conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", queue_options, NULL)) != -1) {
        switch (c) {
        case '?':
        case ':':
            return dlq_cli_getopt_error("queue", argc, argv, c);
        case OPT_TARGET:
            if (strcmp(optarg, "native") != 0 && strcmp(optarg, "webhook") != 0)
                return dlq_cli_usage_error("queue", "--target must be native or webhook");
            target = optarg;
            setting = c;
            break;
        case OPT_WEBHOOK_URL:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
                return dlq_cli_usage_error("queue", "--webhook-url must be an http:// or "
                                                    "https:// URL");
            if (dlq_cli_check_text("queue", "--webhook-url", optarg, 2000) != 0)
                return DLQ_EXIT_USAGE;
            url = optarg;
            setting = c;
            break;
        case OPT_WEBHOOK_SECRET:
            if (dlq_cli_check_text("queue", "--webhook-secret", optarg, 255) != 0)
                return DLQ_EXIT_USAGE;
            secret = optarg;
            setting = c;
            break;
        case OPT_MAX_REPLAYS:
            if (dlq_cli_parse_long(optarg, 1, 100, &max_replays) != 0)
                return dlq_cli_usage_error("queue", "--max-replays must be an integer from 1 "
                                                    "to 100");
            setting = c;
            break;
        case DLQ_CLI_OPT_JSON:
            json = 1;
            break;
        default:
            if (dlq_cli_conn_option(&conn, "queue", c, optarg) != 1)
                return DLQ_EXIT_USAGE;
            break;
        }
    }
    if (argc - optind != 2)
        return dlq_cli_usage_error("queue", "usage: dlq queue set|pause|resume QUEUE [OPTIONS] "
                                            "(see 'dlq queue --help')");
    const char *verb = argv[optind], *queue = argv[optind + 1];
    int is_set = strcmp(verb, "set") == 0;
    if (!is_set && strcmp(verb, "pause") != 0 && strcmp(verb, "resume") != 0)
        return dlq_cli_usage_error("queue", "unknown action '%s' (set, pause or resume)", verb);
    if (queue[0] == '\0')
        return dlq_cli_usage_error("queue", "the queue name is empty");
    if (is_set && !setting)
        return dlq_cli_usage_error("queue", "nothing to set: give --target, --webhook-url, "
                                            "--webhook-secret or --max-replays");
    if (!is_set && setting)
        return dlq_cli_usage_error("queue",
                                   "settings go with 'dlq queue set QUEUE ...', not "
                                   "with %s",
                                   verb);
    if (dlq_cli_conn_check(&conn, "queue") != 0)
        return DLQ_EXIT_USAGE;

    struct dlq_buf path = {0};
    char *b = is_set ? set_body(target, url, secret, max_replays) : NULL;
    dlq_buf_puts(&path, "/api/v1/queues/");
    dlq_cli_escape(&path, queue);
    dlq_buf_printf(&path, "/%s", is_set ? "settings" : verb);
    int rc = DLQ_EXIT_ERROR;
    if (path.oom || (is_set && b == NULL))
        fprintf(stderr, "dlq: out of memory\n");
    else
        rc = dlq_cli_fetch(&conn, is_set ? "PUT" : "POST", path.data, is_set ? b : "{}", json,
                           render_one, NULL);
    free(b);
    dlq_buf_free(&path);
    return rc;
}
