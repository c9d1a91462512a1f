/*
 * cmd_enqueue.c: `dlq enqueue QUEUE TASK`, a producer's one-liner: it puts a
 * job on a queue of the server's native job queue
 * (POST /api/v1/queues/QUEUE/jobs) and prints its id. --args and --kwargs
 * are checked to be JSON (an array, an object) before anything is sent, so
 * a typo is a usage error and not a job. Here --timeout is the job's
 * timeout (the contract's name); the request's own time limit moves to
 * --request-timeout.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

enum {
    OPT_ARGS = DLQ_CLI_OPT_FIRST,
    OPT_KWARGS,
    OPT_MAX_RETRIES,
    OPT_DELAY,
    OPT_PRIORITY,
    OPT_JOB_TIMEOUT,
    OPT_IDEM,
};

/* The job's --timeout comes first so it wins over the global one of the
 * same name, whose role --request-timeout takes here. */
static const struct option options[] = {
    {"args", required_argument, NULL, OPT_ARGS},
    {"kwargs", required_argument, NULL, OPT_KWARGS},
    {"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
    {"delay", required_argument, NULL, OPT_DELAY},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"timeout", required_argument, NULL, OPT_JOB_TIMEOUT},
    {"idempotency-key", required_argument, NULL, OPT_IDEM},
    {"json", no_argument, NULL, DLQ_CLI_OPT_JSON},
    {"url", required_argument, NULL, DLQ_CLI_OPT_URL},
    {"token", required_argument, NULL, DLQ_CLI_OPT_TOKEN},
    {"request-timeout", required_argument, NULL, DLQ_CLI_OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

struct enqueue_args {
    struct dlq_cli_conn conn;
    const char *queue, *task;
    json_t *args, *kwargs;                 /* owned; NULL: not given */
    long max_retries, priority, timeout_s; /* -1 / LONG_MIN: not given */
    int has_priority;
    int64_t delay_ms; /* -1: not given */
    const char *idem;
    int json;
};

/* parse_json parses --args/--kwargs text into *out (an array or an object
 * as asked). Returns 0, or -1 after a usage line. */
static int parse_json(const char *option, const char *text, int want_object, json_t **out)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        dlq_cli_usage_error("enqueue", "--%s is not JSON: %s (at character %d)", option, jerr.text,
                            jerr.position);
        return -1;
    }
    if (want_object ? !json_is_object(v) : !json_is_array(v)) {
        json_decref(v);
        dlq_cli_usage_error("enqueue", "--%s must be a JSON %s, e.g. %s", option,
                            want_object ? "object" : "array",
                            want_object ? "'{\"user_id\": 42}'" : "'[42, \"x\"]'");
        return -1;
    }
    json_decref(*out);
    *out = v;
    return 0;
}

/* parse_seconds reads --delay: a number of seconds ("30", "1.5") or a
 * duration ("5m", "2h"), up to 30 days. Returns 0 or -1. */
static int parse_seconds(const char *s, int64_t *ms)
{
    double v;
    if (dlq_cli_parse_number(s, 0, 2592000, &v) == 0) {
        *ms = (int64_t)(v * 1000.0 + 0.5);
        return 0;
    }
    return dlq_cli_parse_duration(s, ms) == 0 && *ms <= 2592000000LL ? 0 : -1;
}

static int parse_args(struct enqueue_args *a, int argc, char **argv)
{
    int c;
    dlq_cli_conn_init(&a->conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        switch (c) {
        case '?':
        case ':':
            return dlq_cli_getopt_error("enqueue", argc, argv, c);
        case OPT_ARGS:
        case OPT_KWARGS:
            if (parse_json(c == OPT_ARGS ? "args" : "kwargs", optarg, c == OPT_KWARGS,
                           c == OPT_ARGS ? &a->args : &a->kwargs) != 0)
                return DLQ_EXIT_USAGE;
            break;
        case OPT_MAX_RETRIES:
            if (dlq_cli_parse_long(optarg, 0, 100, &a->max_retries) != 0)
                return dlq_cli_usage_error("enqueue",
                                           "--max-retries must be an integer from 0 to 100");
            break;
        case OPT_PRIORITY:
            if (dlq_cli_parse_long(optarg, -1000, 1000, &a->priority) != 0)
                return dlq_cli_usage_error("enqueue",
                                           "--priority must be an integer from -1000 to 1000");
            a->has_priority = 1;
            break;
        case OPT_JOB_TIMEOUT:
            if (dlq_cli_parse_long(optarg, 1, 86400, &a->timeout_s) != 0)
                return dlq_cli_usage_error("enqueue", "--timeout must be a number of seconds "
                                                      "from 1 to 86400 (the job's time limit)");
            break;
        case OPT_DELAY:
            if (parse_seconds(optarg, &a->delay_ms) != 0)
                return dlq_cli_usage_error("enqueue", "--delay must be seconds (30, 1.5) or a "
                                                      "duration (5m, 2h), at most 30 days");
            break;
        case OPT_IDEM:
            if (optarg[0] == '\0')
                return dlq_cli_usage_error("enqueue", "--idempotency-key is empty");
            if (dlq_cli_check_text("enqueue", "--idempotency-key", optarg, 200) != 0)
                return DLQ_EXIT_USAGE;
            a->idem = optarg;
            break;
        case DLQ_CLI_OPT_JSON:
            a->json = 1;
            break;
        default:
            if (dlq_cli_conn_option(&a->conn, "enqueue", c, optarg) != 1)
                return DLQ_EXIT_USAGE;
            break;
        }
    }
    if (argc - optind < 2)
        return dlq_cli_usage_error("enqueue", "usage: dlq enqueue QUEUE TASK [OPTIONS] (see "
                                              "'dlq enqueue --help')");
    if (argc - optind > 2)
        return dlq_cli_usage_error("enqueue", "unexpected argument '%s' (arguments go in --args)",
                                   argv[optind + 2]);
    a->queue = argv[optind];
    a->task = argv[optind + 1];
    if (a->queue[0] == '\0' || a->task[0] == '\0')
        return dlq_cli_usage_error("enqueue", "the %s is empty", a->queue[0] ? "task" : "queue");
    if (dlq_cli_check_text("enqueue", "TASK", a->task, 200) != 0)
        return DLQ_EXIT_USAGE;
    if (dlq_cli_conn_check(&a->conn, "enqueue") != 0)
        return DLQ_EXIT_USAGE;
    return DLQ_EXIT_OK;
}

/* body returns the request's JSON (caller frees), or NULL when memory ran out. */
static char *body(const struct enqueue_args *a)
{
    json_t *b = json_object();
    int bad = b == NULL || json_object_set_new(b, "task_name", json_string(a->task)) != 0;
    if (!bad && a->args)
        bad = json_object_set(b, "args", a->args) != 0;
    if (!bad && a->kwargs)
        bad = json_object_set(b, "kwargs", a->kwargs) != 0;
    if (!bad && a->max_retries >= 0)
        bad = json_object_set_new(b, "max_retries", json_integer(a->max_retries)) != 0;
    if (!bad && a->has_priority)
        bad = json_object_set_new(b, "priority", json_integer(a->priority)) != 0;
    if (!bad && a->timeout_s > 0)
        bad = json_object_set_new(b, "timeout_s", json_integer(a->timeout_s)) != 0;
    if (!bad && a->delay_ms >= 0)
        bad = json_object_set_new(b, "delay_ms", json_integer(a->delay_ms)) != 0;
    if (!bad && a->idem)
        bad = json_object_set_new(b, "idempotency_key", json_string(a->idem)) != 0;
    char *s = bad ? NULL : json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static int render(json_t *doc, void *arg)
{
    const char *id = dlq_cli_jstr(doc, "job_id");
    if (id == NULL) {
        fprintf(stderr, "dlq: the server's answer has no job_id\n");
        return DLQ_EXIT_ERROR;
    }
    struct dlq_buf b = {0};
    dlq_cli_sanitize(&b, id, 0);
    dlq_buf_putc(&b, '\n');
    return dlq_cli_print_buf(&b);
}

int dlq_cli_enqueue_run(int argc, char **argv)
{
    struct enqueue_args a;
    memset(&a, 0, sizeof(a));
    a.max_retries = a.timeout_s = -1;
    a.delay_ms = -1;
    int rc = parse_args(&a, argc, argv);
    char *b = NULL;
    struct dlq_buf path = {0};
    if (rc != DLQ_EXIT_OK)
        goto done;
    b = body(&a);
    dlq_buf_puts(&path, "/api/v1/queues/");
    dlq_cli_escape(&path, a.queue);
    dlq_buf_puts(&path, "/jobs");
    if (b == NULL || path.oom) {
        fprintf(stderr, "dlq: out of memory\n");
        rc = DLQ_EXIT_ERROR;
        goto done;
    }
    rc = dlq_cli_fetch(&a.conn, "POST", path.data, b, a.json, render, NULL);
done:
    free(b);
    dlq_buf_free(&path);
    json_decref(a.args);
    json_decref(a.kwargs);
    return rc;
}
