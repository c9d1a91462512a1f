/*
 * router.c: the route table and the dispatcher (Redis's command table). A
 * route is a method, a path pattern with {param} segments, a handler and the
 * permission it needs. What every route needs is checked once, here, in
 * order: a sane path, a known route (404) and method (405), a JSON body
 * (415), a bearer token (401) and a role that allows the route (403). Then
 * the handler runs, and any error it returns leaves through
 * dlq_http_problem().
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

struct route {
    const char *method;
    const char *pattern;
    dlq_handler_fn fn;
    enum dlq_perm perm;
};

/* Literal routes come before patterned ones of the same shape, so that
 * /entries/batch is the batch route and not an entry called "batch". */
static const struct route routes[] = {
    {"GET", "/healthz", dlq_h_healthz, DLQ_PERM_PUBLIC},
    {"GET", "/readyz", dlq_h_readyz, DLQ_PERM_PUBLIC},
    {"GET", "/api/v1/dlq/entries", dlq_h_entries_list, DLQ_PERM_READ},
    {"POST", "/api/v1/dlq/entries", dlq_h_entries_create, DLQ_PERM_INGEST},
    {"POST", "/api/v1/dlq/entries/batch", dlq_h_entries_batch, DLQ_PERM_INGEST},
    {"GET", "/api/v1/dlq/entries/{id}", dlq_h_entries_get, DLQ_PERM_READ},
    /* issue 3 slice A */
    {"DELETE", "/api/v1/dlq/entries/{id}", dlq_h_entries_discard, DLQ_PERM_ACT},
    {"POST", "/api/v1/dlq/entries/{id}/retry", dlq_h_entries_retry, DLQ_PERM_ACT},
    {"POST", "/api/v1/dlq/entries/{id}/resolve", dlq_h_entries_resolve, DLQ_PERM_ACT},
    {"POST", "/api/v1/dlq/entries/{id}/outcome", dlq_h_entries_outcome, DLQ_PERM_INGEST},
    {"GET", "/api/v1/audit", dlq_h_audit_list, DLQ_PERM_ADMIN},
    {"GET", "/api/v1/tokens", dlq_h_tokens_list, DLQ_PERM_ADMIN},
    {"POST", "/api/v1/tokens", dlq_h_tokens_create, DLQ_PERM_ADMIN},
    {"DELETE", "/api/v1/tokens/{id}", dlq_h_tokens_revoke, DLQ_PERM_ADMIN},
    /* slice B: bulk operations */
    {"POST", "/api/v1/dlq/replay-bulk", dlq_h_replay_bulk, DLQ_PERM_ACT},
    {"POST", "/api/v1/dlq/resolve-bulk", dlq_h_resolve_bulk, DLQ_PERM_ACT},
    {"POST", "/api/v1/dlq/discard-bulk", dlq_h_discard_bulk, DLQ_PERM_ACT},
    {"GET", "/api/v1/dlq/operations", dlq_h_ops_list, DLQ_PERM_READ},
    {"GET", "/api/v1/dlq/operations/{id}", dlq_h_ops_get, DLQ_PERM_READ},
    {"DELETE", "/api/v1/dlq/operations/{id}", dlq_h_ops_cancel, DLQ_PERM_ACT},
    /* slice C2: cleanup and export */
    {"POST", "/api/v1/dlq/cleanup", dlq_h_cleanup, DLQ_PERM_ADMIN},
    {"GET", "/api/v1/dlq/export", dlq_h_export, DLQ_PERM_ACT},
    /* slice C1: stats, groups, alerts, metrics */
    {"GET", "/api/v1/dlq/stats", dlq_h_stats, DLQ_PERM_READ},
    {"POST", "/api/v1/dlq/report", dlq_h_report, DLQ_PERM_ACT},
    {"GET", "/api/v1/dlq/groups", dlq_h_groups, DLQ_PERM_READ},
    {"GET", "/api/v1/dlq/alerts", dlq_h_alerts, DLQ_PERM_READ},
    {"GET", "/metrics", dlq_h_metrics, DLQ_PERM_READ},
    /* issue 4: the job queue */
    {"POST", "/api/v1/queues/{queue}/jobs", dlq_h_jobs_enqueue, DLQ_PERM_INGEST},
    {"POST", "/api/v1/queues/{queue}/jobs/batch", dlq_h_jobs_batch, DLQ_PERM_INGEST},
    {"POST", "/api/v1/queues/{queue}/reserve", dlq_h_jobs_reserve, DLQ_PERM_INGEST},
    {"POST", "/api/v1/jobs/ack", dlq_h_jobs_ack_batch, DLQ_PERM_INGEST},
    {"POST", "/api/v1/jobs/{id}/ack", dlq_h_jobs_ack, DLQ_PERM_INGEST},
    {"POST", "/api/v1/jobs/{id}/fail", dlq_h_jobs_fail, DLQ_PERM_INGEST},
    {"POST", "/api/v1/jobs/{id}/heartbeat", dlq_h_jobs_heartbeat, DLQ_PERM_INGEST},
    {"GET", "/api/v1/jobs/{id}", dlq_h_jobs_get, DLQ_PERM_READ},
    {"DELETE", "/api/v1/jobs/{id}", dlq_h_jobs_cancel, DLQ_PERM_ACT},
    {"GET", "/api/v1/queues", dlq_h_queues_list, DLQ_PERM_READ},
    {"GET", "/api/v1/queues/{queue}", dlq_h_queues_get, DLQ_PERM_READ},
    {"PUT", "/api/v1/queues/{queue}/settings", dlq_h_queues_settings, DLQ_PERM_ADMIN},
    {"POST", "/api/v1/queues/{queue}/pause", dlq_h_queues_pause, DLQ_PERM_ACT},
    {"POST", "/api/v1/queues/{queue}/resume", dlq_h_queues_resume, DLQ_PERM_ACT},
    /* issue 5: the dashboard (public files) and who the token is */
    {"GET", "/", dlq_h_static, DLQ_PERM_PUBLIC},
    {"GET", "/assets/{file}", dlq_h_static, DLQ_PERM_PUBLIC},
    {"GET", "/assets/js/{file}", dlq_h_static, DLQ_PERM_PUBLIC},
    {"GET", "/api/v1/whoami", dlq_h_whoami, DLQ_PERM_PUBLIC}, /* authenticates itself */
    {NULL, NULL, NULL, DLQ_PERM_PUBLIC},
};

/* match returns 1 when path fits pattern, and then fills r's parameters. A
 * parameter is one whole segment of 1..DLQ_HTTP_PARAM_MAX bytes. */
static int match(const char *pat, const char *path, struct dlq_req *r)
{
    size_t np = 0;
    char *pb = r->parambuf;
    while (*pat && *path) {
        if (*pat != '/' || *path != '/')
            return 0;
        pat++;
        path++;
        const char *pe = strchrnul(pat, '/');
        const char *se = strchrnul(path, '/');
        size_t plen = (size_t)(pe - pat), slen = (size_t)(se - path);
        if (*pat == '{') {
            if (slen < 1 || slen > DLQ_HTTP_PARAM_MAX || np == DLQ_HTTP_MAX_PARAMS)
                return 0;
            memcpy(pb, path, slen);
            pb[slen] = '\0';
            r->params[np++] = pb;
            pb += slen + 1;
        } else if (plen != slen || memcmp(pat, path, slen) != 0) {
            return 0;
        }
        pat = pe;
        path = se;
    }
    if (*pat || *path)
        return 0;
    r->nparams = np;
    return 1;
}

/* dlq_http_bad_path: percent-encoded slashes and NULs would let one path
 * mean two things (MHD decodes before we route), and empty segments never
 * name anything here. */
const char *dlq_http_bad_path(const char *raw, size_t len)
{
    if (len == 0 || raw[0] != '/')
        return "the path must start with '/'";
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == '%' && i + 2 < len && raw[i + 1] == '2' &&
            (raw[i + 2] == 'f' || raw[i + 2] == 'F'))
            return "the path must not contain an encoded '/' (%2F)";
        if (raw[i] == '%' && i + 2 < len && raw[i + 1] == '0' && raw[i + 2] == '0')
            return "the path must not contain an encoded NUL (%00)";
        if (raw[i] == '/' && i + 1 < len && raw[i + 1] == '/')
            return "the path must not contain '//'";
    }
    return NULL;
}

/* dot_segment returns 1 when the decoded path has a "." or ".." segment. */
static int dot_segment(const char *p)
{
    while ((p = strchr(p, '/')) != NULL) {
        p++;
        if (p[0] == '.' && (p[1] == '/' || p[1] == '\0'))
            return 1;
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return 1;
    }
    return 0;
}

/* json_body_ok returns 1 when a Content-Type is absent or application/json
 * (with or without parameters such as charset). */
static int json_body_ok(const char *ctype)
{
    if (!ctype)
        return 1;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    static const char want[] = "application/json";
    if (strncasecmp(ctype, want, sizeof(want) - 1) != 0)
        return 0;
    char next = ctype[sizeof(want) - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* has_json_body says whether a method's body is read (as JSON) at all. */
static int has_json_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* bearer returns the secret of an "Authorization: Bearer <secret>" header,
 * copied into out, or NULL when there is none. */
static const char *bearer(const char *hdr, char *out, size_t outlen)
{
    if (!hdr)
        return NULL;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    if (strncasecmp(hdr, "Bearer", 6) != 0 || (hdr[6] != ' ' && hdr[6] != '\t'))
        return NULL;
    hdr += 6;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    size_t len = strlen(hdr);
    while (len > 0 && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= outlen)
        return len == 0 ? NULL : "";
    memcpy(out, hdr, len);
    out[len] = '\0';
    return out;
}

/* authenticate checks the token and the role a route needs. */
static int authenticate(struct dlq_req *r, enum dlq_perm perm)
{
    char secret[512];
    const char *s =
        bearer(dlq_http_header_get(r, MHD_HTTP_HEADER_AUTHORIZATION), secret, sizeof(secret));
    if (!s)
        return dlq_http_fail(r, DLQ_E_UNAUTHORIZED,
                             "missing bearer token: send 'Authorization: Bearer <token>'");
    r->bad_token = 1;
    int rc = dlq_service_authenticate(r->h->svc, s, &r->who, r->detail, sizeof(r->detail));
    memset(secret, 0, sizeof(secret));
    if (rc != DLQ_OK)
        return rc;
    r->bad_token = 0;
    r->authed = 1;
    if (dlq_role_allows(r->who.role, perm))
        return DLQ_OK;
    char roles[64] = "";
    size_t n = 0;
    for (int role = DLQ_ROLE_VIEWER; role <= DLQ_ROLE_PRODUCER; role++)
        if (dlq_role_allows((enum dlq_role)role, perm))
            n += (size_t)snprintf(roles + n, sizeof(roles) - n, "%s%s", n ? ", " : "",
                                  dlq_role_name((enum dlq_role)role));
    return dlq_http_fail(r, DLQ_E_FORBIDDEN, "role '%s' may not do this; allowed roles: %s",
                         dlq_role_name(r->who.role), roles);
}

/* harden: the query arguments of every route are checked once, here: at
 * most DLQ_HTTP_MAX_ARGS of them, no key given twice (which value would
 * count is not obvious, so a repeat is a 400 naming it rather than a silent
 * pick), and no decoded NUL in a key or value (it would cut it short). */
struct query_check {
    struct dlq_req *r;
    const char *keys[DLQ_HTTP_MAX_ARGS];
    char told[DLQ_HTTP_MAX_ARGS]; /* a repeat of keys[i] was reported */
    size_t n;
    int too_many;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    struct query_check *q = cls;
    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size))
        dlq_errors_add(&q->r->errs, key, "must not contain a NUL byte (%%00)");
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->keys[i], key) == 0) {
            if (!q->told[i])
                dlq_errors_add(&q->r->errs, key, "given more than once");
            q->told[i] = 1;
            return MHD_YES;
        }
    }
    if (q->n == DLQ_HTTP_MAX_ARGS) {
        q->too_many = 1;
        return MHD_NO;
    }
    q->told[q->n] = 0;
    q->keys[q->n++] = key;
    return MHD_YES;
}

static int check_query(struct dlq_req *r)
{
    struct query_check q = {.r = r};
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    if (q.too_many)
        return dlq_http_fail(r, DLQ_E_INVAL, "more than %d query arguments", DLQ_HTTP_MAX_ARGS);
    if (r->errs.n > 0)
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid query");
    return DLQ_OK;
}

static enum MHD_Result count_auth(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
        ++*(int *)cls;
    return MHD_YES;
}

/* route finds the route for r, or fails with 404 or 405 (Allow set). */
static int route(struct dlq_req *r, const struct route **out)
{
    /* HEAD is answered as GET; libmicrohttpd leaves the body out. */
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    size_t n = 0;
    int path_known = 0;
    for (const struct route *rt = routes; rt->method; rt++) {
        if (!match(rt->pattern, r->url, r))
            continue;
        if (strcmp(rt->method, method) == 0) {
            *out = rt;
            return DLQ_OK;
        }
        /* Several patterns may fit one path ({id} and a literal): list each
         * method once. */
        if (!strstr(r->allow, rt->method)) {
            const char *m = strcmp(rt->method, "GET") == 0 ? "GET, HEAD" : rt->method;
            n += (size_t)snprintf(r->allow + n, sizeof(r->allow) - n, "%s%s", n ? ", " : "", m);
        }
        path_known = 1;
    }
    if (path_known)
        return dlq_http_fail(r, DLQ_E_METHOD, "%s is not allowed here; allowed: %s", r->method,
                             r->allow);
    return dlq_http_fail(r, DLQ_E_NOTFOUND, "no such resource: %s", r->path);
}

/* find checks r's paths (raw and decoded) and finds its route: DLQ_OK with
 * *out set, or the error the dispatcher answers. */
static int find(struct dlq_req *r, const struct route **out)
{
    const char *why = r->bad_path ? dlq_http_bad_path(r->path, strlen(r->path)) : NULL;
    if (!why && (!r->url || r->url[0] != '/'))
        why = "the path must start with '/'";
    if (!why && dot_segment(r->url))
        why = "the path must not contain '.' or '..' segments";
    if (why)
        return dlq_http_fail(r, DLQ_E_INVAL, "%s", why);
    return route(r, out);
}

/* dlq_http_route_find: see http_int.h (the fuzzer's way in). */
int dlq_http_route_find(struct dlq_req *r, const char **pattern, enum dlq_perm *perm)
{
    const struct route *rt = NULL;
    int rc = find(r, &rt);
    if (rc == DLQ_OK) {
        *pattern = rt->pattern;
        *perm = rt->perm;
    }
    return rc;
}

static int dispatch(struct dlq_req *r)
{
    if (r->resume) /* a handler's continuation: routed and authorized before */
        return r->resume(r);
    /* Stopping: a request that comes now is refused, not started. Every
     * request that could still suspend its connection was counted in flight
     * before draining was set, so dlq_http_stop waits for it: libmicrohttpd
     * must not stop with a connection suspended. */
    if (!r->dispatched && atomic_load(&r->h->draining))
        return dlq_http_fail(r, DLQ_E_UNAVAILABLE, "the server is stopping; retry in a moment");
    r->dispatched = 1;
    if (r->too_big)
        return dlq_http_fail(r, DLQ_E_TOOBIG, "the request body is larger than %zu bytes",
                             r->h->cfg.max_body);
    if (r->dup_length) /* harden */
        return dlq_http_fail(r, DLQ_E_INVAL, "more than one Content-Length header");
    const struct route *rt = NULL;
    int rc = find(r, &rt);
    if (rc != DLQ_OK)
        return rc;
    r->route = rt->pattern; /* slice C1: request metrics by route */
    if (r->body.len > 0 && has_json_body(r->method) &&
        !json_body_ok(dlq_http_header_get(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return dlq_http_fail(r, DLQ_E_MEDIATYPE, "the request body must be application/json");
    if (rt->perm != DLQ_PERM_PUBLIC) {
        /* harden: two Authorization headers are refused, never one picked. */
        int nauth = 0;
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_auth, &nauth);
        if (nauth > 1)
            return dlq_http_fail(r, DLQ_E_INVAL, "more than one Authorization header");
        rc = authenticate(r, rt->perm);
        if (rc != DLQ_OK)
            return rc;
    }
    rc = check_query(r); /* harden */
    if (rc != DLQ_OK)
        return rc;
    rc = rt->fn(r);
    if (rc == DLQ_OK && !r->queued && !r->suspended) /* issue 4: a suspended long poll */
        rc = dlq_http_fail(r, DLQ_E_INTERNAL, "the handler gave no answer");
    return rc;
}

int dlq_http_dispatch(struct dlq_req *r)
{
    int rc = dispatch(r);
    if (rc == DLQ_OK)
        return DLQ_OK;
    if (r->queued)
        return rc; /* answered already; nothing more can be sent */
    return dlq_http_problem(r, rc);
}
