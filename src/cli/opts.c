/*
 * opts.c: the parts of argument handling every client command shares: the
 * global options (--url, --token, --timeout and their DLQ_URL / DLQ_TOKEN
 * defaults), the one-line usage errors (exit 2), parsing of numbers,
 * durations and times given on the command line, and the entry filter
 * options (--task, --status, ...) that list-like and bulk commands share.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_int.h"
#include "dlq/core.h"

/* set_url copies s into c->url, adding "http://" when no scheme is given
 * and dropping trailing slashes. Returns 0, or -1 when it does not fit. */
static int set_url(struct dlq_cli_conn *c, const char *s)
{
    const char *scheme = strstr(s, "://") ? "" : "http://";
    int n = snprintf(c->url, sizeof(c->url), "%s%s", scheme, s);
    if (n < 0 || (size_t)n >= sizeof(c->url)) {
        c->url[0] = '\0';
        return -1;
    }
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    return 0;
}

void dlq_cli_conn_init(struct dlq_cli_conn *c)
{
    memset(c, 0, sizeof(*c));
    const char *url = getenv("DLQ_URL");
    /* A DLQ_URL too long to keep leaves url empty: dlq_cli_conn_check says so. */
    if (url == NULL || url[0] == '\0')
        set_url(c, DLQ_CLI_DEFAULT_URL);
    else
        set_url(c, url);
    const char *token = getenv("DLQ_TOKEN");
    c->token = token && token[0] ? token : NULL;
    c->timeout_s = DLQ_CLI_DEFAULT_TIMEOUT;
}

int dlq_cli_conn_option(struct dlq_cli_conn *c, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case DLQ_CLI_OPT_URL:
        if (arg[0] == '\0' || set_url(c, arg) != 0) {
            dlq_cli_usage_error(cmd, "--url must be a URL such as %s", DLQ_CLI_DEFAULT_URL);
            return -1;
        }
        c->url_given = 1;
        return 1;
    case DLQ_CLI_OPT_TOKEN:
        c->token = arg[0] ? arg : NULL;
        return 1;
    case DLQ_CLI_OPT_TIMEOUT:
        if (dlq_cli_parse_long(arg, 1, 86400, &c->timeout_s) != 0) {
            dlq_cli_usage_error(cmd, "--timeout must be a number of seconds from 1 to 86400");
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

int dlq_cli_one_id(const char *cmd, const char *what, int argc, char **argv,
                   const struct option *options, struct dlq_cli_conn *conn, int *json,
                   const char **id)
{
    int c;
    *json = 0;
    dlq_cli_conn_init(conn);
    optind = 0; /* glibc: start afresh; argv[0] is the command name */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
        if (c == '?' || c == ':')
            return dlq_cli_getopt_error(cmd, argc, argv, c);
        if (c == DLQ_CLI_OPT_JSON)
            *json = 1;
        else if (dlq_cli_conn_option(conn, cmd, c, optarg) != 1)
            return DLQ_EXIT_USAGE;
    }
    if (optind >= argc || argv[optind][0] == '\0')
        return dlq_cli_usage_error(cmd, "which %s? (usage: dlq %s ID)", what, cmd);
    if (optind + 1 < argc)
        return dlq_cli_usage_error(cmd, "unexpected argument '%s' (one ID at a time)",
                                   argv[optind + 1]);
    if (dlq_cli_conn_check(conn, cmd) != 0)
        return DLQ_EXIT_USAGE;
    *id = argv[optind];
    return -1;
}

int dlq_cli_conn_check(struct dlq_cli_conn *c, const char *cmd)
{
    const char *host = NULL;
    if (strncasecmp(c->url, "http://", 7) == 0)
        host = c->url + 7;
    else if (strncasecmp(c->url, "https://", 8) == 0)
        host = c->url + 8;
    if (host == NULL || host[0] == '\0' || host[0] == '/' || strpbrk(c->url, " \t\r\n")) {
        dlq_cli_usage_error(cmd, "%s must be an http:// or https:// URL",
                            c->url_given ? "--url" : "DLQ_URL");
        return -1;
    }
    /* The token goes into a header line: nothing that could end or split it. */
    for (const unsigned char *p = (const unsigned char *)c->token; p && *p; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            dlq_cli_usage_error(cmd, "the token (--token or DLQ_TOKEN) contains spaces or "
                                     "control characters");
            return -1;
        }
    }
    return 0;
}

int dlq_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dlq %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return DLQ_EXIT_USAGE;
}

int dlq_cli_getopt_error(const char *cmd, int argc, char **argv, int c)
{
    /* getopt_long has moved optind past the bad word already. */
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (c == ':')
        return dlq_cli_usage_error(cmd, "%s needs a value (see 'dlq %s --help')", word, cmd);
    if (strncmp(word, "--", 2) == 0) {
        size_t n = strcspn(word, "=");
        return dlq_cli_usage_error(cmd, "unknown option '%.*s' (see 'dlq %s --help')", (int)n, word,
                                   cmd);
    }
    return dlq_cli_usage_error(cmd, "unknown option '-%c' (see 'dlq %s --help')",
                               optopt ? optopt : '?', cmd);
}

int dlq_cli_parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+'))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int dlq_cli_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
    size_t n = strlen(s);
    if (n < 2 || n > 12 || !isdigit((unsigned char)s[0]))
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (s[n - 1] != units[i].unit)
            continue;
        int64_t v = 0;
        for (size_t k = 0; k + 1 < n; k++) {
            if (!isdigit((unsigned char)s[k]))
                return -1;
            v = v * 10 + (s[k] - '0');
        }
        /* Ten digits at most, so this cannot overflow; cap at 100 years. */
        if (v > 36500LL * 86400000 / units[i].ms)
            return -1;
        *ms = v * units[i].ms;
        return 0;
    }
    return -1;
}

int dlq_cli_parse_time(const char *s, int64_t now_ms, char *out, size_t outlen)
{
    int64_t ms, ago;
    char tmp[DLQ_TIME_MAX];
    if (dlq_cli_parse_duration(s, &ago) == 0) {
        ms = now_ms - ago;
        ms -= ms % 1000; /* whole seconds read better in the next-page hint */
    } else if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
        snprintf(tmp, sizeof(tmp), "%sT00:00:00Z", s);
        if (dlq_time_parse(tmp, &ms) != DLQ_OK)
            return -1;
    } else if (dlq_time_parse(s, &ms) != DLQ_OK) {
        return -1;
    }
    if (ms < 0)
        return -1;
    dlq_time_format(ms, tmp);
    if (strlen(tmp) >= outlen)
        return -1;
    memcpy(out, tmp, strlen(tmp) + 1);
    return 0;
}

void dlq_cli_time_cell(const char *rfc3339, int64_t now_ms, char *out, size_t outlen)
{
    int64_t ms;
    if (rfc3339 == NULL || rfc3339[0] == '\0')
        snprintf(out, outlen, "-");
    else if (dlq_time_parse(rfc3339, &ms) == DLQ_OK)
        dlq_cli_reltime(ms, now_ms, out, outlen);
    else
        snprintf(out, outlen, "%s", rfc3339);
}

int dlq_cli_parse_number(const char *s, double min, double max, double *out)
{
    if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    /* strtod also takes "inf", "nan", hex and exponents: the first character
     * rules out the first two, the letters check the rest. */
    if (errno != 0 || end == s || *end != '\0' || strpbrk(s, "xXpPeE") || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* The filter options: their names on the command line and in the API. */
static const struct {
    const char *option, *param;
} filter_keys[DLQ_CLI_F_COUNT] = {
    [DLQ_CLI_F_FILTER] = {"filter", "q"},
    [DLQ_CLI_F_TASK] = {"task", "task_name"},
    [DLQ_CLI_F_QUEUE] = {"queue", "queue"},
    [DLQ_CLI_F_EXCEPTION] = {"exception", "exception_type"},
    [DLQ_CLI_F_REASON] = {"reason", "reason"},
    [DLQ_CLI_F_STATUS] = {"status", "status"},
    [DLQ_CLI_F_TENANT] = {"tenant", "tenant_id"},
    [DLQ_CLI_F_FINGERPRINT] = {"fingerprint", "fingerprint"},
    [DLQ_CLI_F_AFTER] = {"after", "failed_after"},
    [DLQ_CLI_F_BEFORE] = {"before", "failed_before"},
};

const char *dlq_cli_filter_option(int key)
{
    return key >= 0 && key < DLQ_CLI_F_COUNT ? filter_keys[key].option : NULL;
}

int dlq_cli_check_statuses(const char *cmd, const char *option, const char *list)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        char word[32];
        if (n == 0 || n >= sizeof(word))
            break;
        memcpy(word, p, n);
        word[n] = '\0';
        if (dlq_status_parse(word) == DLQ_STATUS_NONE)
            break;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
    dlq_cli_usage_error(cmd,
                        "%s must be one of pending_review, requires_review, retried, resolved, "
                        "discarded, expired, archived (got '%s')",
                        option, list);
    return -1;
}

int dlq_cli_filter_set(struct dlq_cli_filter *f, const char *cmd, int key, const char *arg,
                       int64_t now_ms)
{
    if (key < 0 || key >= DLQ_CLI_F_COUNT)
        return -1;
    switch (key) {
    case DLQ_CLI_F_STATUS:
        if (dlq_cli_check_statuses(cmd, "--status", arg) != 0)
            return -1;
        if (f->status.len)
            dlq_buf_putc(&f->status, ',');
        dlq_buf_puts(&f->status, arg);
        if (f->status.oom) {
            fprintf(stderr, "dlq: out of memory\n");
            return -1;
        }
        if (f->value[key] == NULL)
            f->n++;
        f->value[key] = f->status.data;
        return 0;
    case DLQ_CLI_F_REASON:
        if (dlq_reason_parse(arg) == DLQ_REASON_NONE) {
            dlq_cli_usage_error(cmd,
                                "--reason must be one of max_retries_exceeded, permanent_failure, "
                                "job_not_found, invalid_arguments, timeout, external (got '%s')",
                                arg);
            return -1;
        }
        break;
    case DLQ_CLI_F_AFTER:
    case DLQ_CLI_F_BEFORE: {
        char *out = key == DLQ_CLI_F_AFTER ? f->after : f->before;
        if (dlq_cli_parse_time(arg, now_ms, out, DLQ_TIME_MAX) != 0) {
            dlq_cli_usage_error(cmd,
                                "--%s must be an RFC 3339 time (2026-01-25T10:30:00Z), a date "
                                "(2026-01-25) or an age (30m, 2h, 7d)",
                                filter_keys[key].option);
            return -1;
        }
        if (f->value[key] == NULL)
            f->n++;
        f->value[key] = out;
        return 0;
    }
    default:
        if (arg[0] == '\0') {
            dlq_cli_usage_error(cmd, "--%s needs a non-empty value", filter_keys[key].option);
            return -1;
        }
        break;
    }
    if (f->value[key] == NULL)
        f->n++;
    f->value[key] = arg;
    return 0;
}

int dlq_cli_filter_query(const struct dlq_cli_filter *f, struct dlq_buf *path)
{
    for (int k = 0; k < DLQ_CLI_F_COUNT; k++)
        dlq_cli_query_add(path, filter_keys[k].param, f->value[k]);
    return path->oom ? DLQ_E_NOMEM : DLQ_OK;
}

int dlq_cli_filter_json(const struct dlq_cli_filter *f, json_t *obj)
{
    for (int k = 0; k < DLQ_CLI_F_COUNT; k++) {
        const char *v = f->value[k];
        if (v == NULL)
            continue;
        json_t *jv;
        if (k == DLQ_CLI_F_STATUS) {
            /* The bulk bodies take a list; the words were checked already. */
            jv = json_array();
            for (const char *p = v; jv && *p;) {
                size_t n = strcspn(p, ",");
                if (json_array_append_new(jv, json_stringn(p, n)) != 0) {
                    json_decref(jv);
                    jv = NULL;
                }
                p += n + (p[n] == ',');
            }
        } else {
            jv = json_string(v); /* NULL for text that is not UTF-8 */
        }
        if (json_object_set_new(obj, filter_keys[k].param, jv) != 0)
            return -1;
    }
    return 0;
}

int dlq_cli_filter_describe(const struct dlq_cli_filter *f, struct dlq_buf *b)
{
    for (int k = 0; k < DLQ_CLI_F_COUNT; k++) {
        if (f->value[k] == NULL)
            continue;
        dlq_buf_printf(b, " --%s ", filter_keys[k].option);
        dlq_cli_shell_word(b, f->value[k]);
    }
    return b->oom ? DLQ_E_NOMEM : DLQ_OK;
}

void dlq_cli_filter_free(struct dlq_cli_filter *f)
{
    dlq_buf_free(&f->status);
    memset(f, 0, sizeof(*f));
}

int dlq_cli_check_text(const char *cmd, const char *option, const char *s, size_t max)
{
    json_t *j = json_string(s); /* NULL for text that is not UTF-8 */
    json_decref(j);
    if (j == NULL) {
        dlq_cli_usage_error(cmd, "%s must be UTF-8 text", option);
        return -1;
    }
    if (strlen(s) > max) {
        dlq_cli_usage_error(cmd, "%s is too long (at most %zu bytes)", option, max);
        return -1;
    }
    return 0;
}

void dlq_cli_time_long(const char *rfc3339, int64_t now_ms, char *out, size_t outlen)
{
    int64_t ms;
    char rel[48];
    if (rfc3339 == NULL || rfc3339[0] == '\0') {
        snprintf(out, outlen, "-");
    } else if (dlq_time_parse(rfc3339, &ms) == DLQ_OK) {
        dlq_cli_reltime(ms, now_ms, rel, sizeof(rel));
        snprintf(out, outlen, "%.40s (%s)", rfc3339, rel);
    } else {
        snprintf(out, outlen, "%s", rfc3339);
    }
}
