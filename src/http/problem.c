/*
 * problem.c: the one exit for HTTP errors (OpenBSD httpd's
 * server_abort_http). Every failure, whichever layer found it, becomes a dlq
 * code; this file turns the code and the detail the handler left in the
 * request into an RFC 9457 application/problem+json answer. The body is
 * built with dlq_buf_json_string so that any text a client sent (a path, an
 * id) comes back as valid JSON whatever bytes it held.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http_int.h"

#define PROBLEM_TYPE_BASE "https://dlq.dev/problems/"

int dlq_http_fail(struct dlq_req *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    return code;
}

/* dlq_http_fail_fields: the detail names the first problem so that a client
 * that shows only `detail` still says what is wrong; `errors` has them all. */
int dlq_http_fail_fields(struct dlq_req *r, int code, const char *what)
{
    const struct dlq_errors *e = &r->errs;
    if (e->n == 0)
        return dlq_http_fail(r, code, "%s", what);
    const struct dlq_field_error *f = &e->items[0];
    int more = e->n - 1 + e->dropped;
    char extra[48] = "";
    if (more > 0)
        snprintf(extra, sizeof(extra), " (and %d more)", more);
    if (f->field[0])
        return dlq_http_fail(r, code, "%s: %s: %s%s", what, f->field, f->detail, extra);
    return dlq_http_fail(r, code, "%s: %s%s", what, f->detail, extra);
}

static void put_key(struct dlq_buf *b, const char *key)
{
    dlq_buf_putc(b, ',');
    dlq_buf_json_string(b, key, strlen(key));
    dlq_buf_putc(b, ':');
}

static void put_str(struct dlq_buf *b, const char *key, const char *val)
{
    put_key(b, key);
    dlq_buf_json_string(b, val, strlen(val));
}

/* dlq_http_problem: see http_int.h. Returns what dlq_http_reply returns. */
int dlq_http_problem(struct dlq_req *r, int code)
{
    if (code >= 0)
        code = DLQ_E_INTERNAL; /* a handler bug: never answer an error as success */
    int status = dlq_err_http_status(code);
    if (status >= 500)
        /* The client sees the detail too, but an operator needs it in the
         * log, tied to the request id the client may report. */
        dlq_log(DLQ_LOG_ERROR, "request %s %s %s: %s: %s", r->id, r->method, r->path ? r->path : "",
                dlq_strerror(code), r->detail[0] ? r->detail : "-");
    char type[96];
    int n = snprintf(type, sizeof(type), "%s", PROBLEM_TYPE_BASE);
    for (const char *p = dlq_err_name(code); *p && n < (int)sizeof(type) - 1; p++)
        type[n++] = (char)tolower((unsigned char)*p);
    type[n] = '\0';

    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"type\":");
    dlq_buf_json_string(&b, type, strlen(type));
    put_str(&b, "title", dlq_strerror(code));
    put_key(&b, "status");
    dlq_buf_printf(&b, "%d", status);
    put_str(&b, "detail", r->detail[0] ? r->detail : dlq_strerror(code));
    put_str(&b, "instance", r->path ? r->path : "");
    put_str(&b, "request_id", r->id);
    if (r->errs.n > 0) {
        put_key(&b, "errors");
        dlq_buf_putc(&b, '[');
        for (int i = 0; i < r->errs.n; i++) {
            const struct dlq_field_error *f = &r->errs.items[i];
            dlq_buf_puts(&b, i ? ",{\"field\":" : "{\"field\":");
            dlq_buf_json_string(&b, f->field, strlen(f->field));
            put_str(&b, "detail", f->detail);
            dlq_buf_putc(&b, '}');
        }
        dlq_buf_putc(&b, ']');
    }
    dlq_buf_putc(&b, '}');
    if (b.oom) {
        dlq_buf_free(&b);
        return dlq_http_reply(r, (unsigned)status, NULL, 0, "application/problem+json", NULL);
    }

    struct dlq_http_header hdrs[2] = {{NULL, NULL}, {NULL, NULL}};
    if (code == DLQ_E_UNAUTHORIZED)
        hdrs[0] = (struct dlq_http_header){
            "WWW-Authenticate", r->bad_token ? "Bearer realm=\"dlq\", error=\"invalid_token\""
                                             : "Bearer realm=\"dlq\""};
    else if (code == DLQ_E_METHOD && r->allow[0])
        hdrs[0] = (struct dlq_http_header){"Allow", r->allow};
    else if (status == 503)
        hdrs[0] = (struct dlq_http_header){"Retry-After", "1"};
    size_t len = b.len;
    return dlq_http_reply(r, (unsigned)status, dlq_buf_steal(&b), len, "application/problem+json",
                          hdrs);
}
