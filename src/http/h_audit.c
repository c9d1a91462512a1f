/*
 * h_audit.c: GET /api/v1/audit, the audit trail, newest first, filtered by
 * actor, action, target entry and time, paged with an opaque cursor. The
 * stored JSON columns (target_ids, filter, details) are written into the
 * answer as they are: the store only ever holds JSON text there.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static void put_str(struct dlq_buf *b, const char *key, const char *v)
{
    dlq_buf_printf(b, ",\"%s\":", key);
    if (v)
        dlq_buf_json_string(b, v, strlen(v));
    else
        dlq_buf_puts(b, "null");
}

static void put_raw(struct dlq_buf *b, const char *key, const char *v)
{
    dlq_buf_printf(b, ",\"%s\":%s", key, v && v[0] ? v : "null");
}

/* time_arg parses an RFC 3339 query argument; problems go to r->errs. */
static int64_t time_arg(struct dlq_req *r, const char *key)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    int64_t ms = 0;
    if (v && dlq_time_parse(v, &ms) != DLQ_OK)
        dlq_errors_add(&r->errs, key, "must be an RFC 3339 time");
    return ms;
}

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    static const char *const known[] = {"actor", "action", "target", "since",
                                        "until", "limit",  "cursor", NULL};
    struct dlq_req *r = cls;
    (void)kind;
    (void)value;
    for (size_t i = 0; known[i]; i++)
        if (strcmp(known[i], key) == 0)
            return MHD_YES;
    dlq_errors_add(&r->errs, key, "unknown parameter");
    return MHD_YES;
}

int dlq_h_audit_list(struct dlq_req *r)
{
    struct dlq_audit_filter f;
    memset(&f, 0, sizeof(f));
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, r);
    f.actor = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "actor");
    f.action = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "action");
    f.target = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "target");
    f.cursor = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "cursor");
    f.since = time_arg(r, "since");
    f.until = time_arg(r, "until");
    f.limit = 50;
    const char *lim = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (end == lim || *end || v < 1 || v > 100)
            dlq_errors_add(&r->errs, "limit", "must be an integer from 1 to 100");
        else
            f.limit = (int)v;
    }
    if (r->errs.n > 0)
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid query");
    struct dlq_audit *v = NULL;
    size_t n = 0;
    char next[128];
    int rc =
        dlq_service_audit_list(r->h->svc, &r->who, &f, &v, &n, next, r->detail, sizeof(r->detail));
    if (rc == DLQ_E_INVAL) {
        dlq_errors_add(&r->errs, "cursor", "is not a cursor this server handed out");
        return dlq_http_fail_fields(r, rc, "invalid query");
    }
    if (rc != DLQ_OK)
        return rc;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        char at[DLQ_TIME_MAX];
        dlq_time_format(v[i].at, at);
        dlq_buf_printf(&b, "%s{\"id\":", i ? "," : "");
        dlq_buf_json_string(&b, v[i].id, strlen(v[i].id));
        put_str(&b, "at", at);
        put_str(&b, "actor", v[i].actor);
        put_str(&b, "action", v[i].action);
        put_raw(&b, "target_ids", v[i].target_ids);
        put_raw(&b, "filter", v[i].filter);
        put_str(&b, "reason", v[i].reason);
        put_str(&b, "ticket_url", v[i].ticket_url);
        put_raw(&b, "details", v[i].details);
        if (v[i].tenant_id)
            put_str(&b, "tenant_id", v[i].tenant_id);
        dlq_buf_putc(&b, '}');
        dlq_audit_clear(&v[i]);
    }
    free(v);
    dlq_buf_puts(&b, "],\"next_cursor\":");
    if (next[0])
        dlq_buf_json_string(&b, next, strlen(next));
    else
        dlq_buf_puts(&b, "null");
    dlq_buf_putc(&b, '}');
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}
