/*
 * h_static.c: the web dashboard's files, GET / and GET /assets/...,
 * served from the table that the build generates from web/ (web/embed.cmake
 * writes each file's bytes, content type and a SHA-256 ETag into a C source
 * in the build directory, so the binary needs no files and no network).
 * Every answer carries a strict Content-Security-Policy (only our own
 * scripts, styles and connections; no inline code; no framing) and is
 * revalidated by ETag (If-None-Match gives 304), because module URLs are
 * not versioned and a stale module must never mix with a new page.
 */
#include <string.h>

#include "http_int.h"

#define ASSET_PREFIX "/assets/"

/* The policy: nothing but this origin, no inline script or style (the
 * pages set no style attributes and use no eval), no plugins, no framing,
 * and forms only to ourselves. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

/* find returns the embedded asset called name, or NULL. */
static const struct dlq_web_asset *find(const char *name)
{
    for (size_t i = 0; i < dlq_web_assets_count; i++)
        if (strcmp(dlq_web_assets[i].path, name) == 0)
            return &dlq_web_assets[i];
    return NULL;
}

/* etag_matches returns 1 when an If-None-Match header names etag or "*".
 * The comparison is weak (RFC 9110 13.1.2): a W/ prefix is ignored. */
static int etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = p;
        if (*end == '"') {
            end = strchr(end + 1, '"');
            end = end ? end + 1 : p + strlen(p);
        } else {
            end += strcspn(end, ",");
        }
        if ((size_t)(end - p) == elen && memcmp(p, etag, elen) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/* send_asset queues asset a with status 200, or a bodiless 304 when
 * not_modified. The bytes are static, so libmicrohttpd sends them without a
 * copy. Returns DLQ_OK, or DLQ_E_NOMEM / DLQ_E_INTERNAL when libmicrohttpd
 * refused (nothing is queued then). */
static int send_asset(struct dlq_req *r, const struct dlq_web_asset *a, int not_modified,
                      const char *cache)
{
    unsigned status = not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    size_t len = not_modified ? 0 : a->len;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, not_modified ? (void *)"" : (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return DLQ_E_NOMEM;
    const struct dlq_http_header hdrs[] = {
        {"X-Request-Id", r->id},
        {MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype},
        {MHD_HTTP_HEADER_CACHE_CONTROL, cache},
        {MHD_HTTP_HEADER_ETAG, a->etag},
        {"Content-Security-Policy", CSP},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", "DENY"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {NULL, NULL},
    };
    return dlq_http_queue(r, status, resp, len, hdrs);
}

/* dlq_h_static answers GET / (the page) and GET /assets/<file> and
 * /assets/js/<file> (its styles and modules); an unknown file is a 404
 * problem like any other unknown resource. */
int dlq_h_static(struct dlq_req *r)
{
    const char *url = r->url;
    const char *name = NULL;
    if (strcmp(url, "/") == 0)
        name = "index.html";
    else if (strncmp(url, ASSET_PREFIX, sizeof(ASSET_PREFIX) - 1) == 0)
        name = url + sizeof(ASSET_PREFIX) - 1;
    const struct dlq_web_asset *a = name ? find(name) : NULL;
    if (!a || (strcmp(a->path, "index.html") == 0 && url[1] != '\0'))
        return dlq_http_fail(r, DLQ_E_NOTFOUND, "no such resource: %s", r->path);
    const char *inm = dlq_http_header_get(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int fresh = inm && etag_matches(inm, a->etag);
    /* "no-cache" lets a browser keep the file but makes it ask first; the
     * 304 costs one round trip and no bytes. */
    return send_asset(r, a, fresh, "no-cache");
}
