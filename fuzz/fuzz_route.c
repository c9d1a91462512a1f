/*
 * fuzz_route.c: the path checks and the route matcher of src/http/router.c
 * (through dlq_http_route_find, which dispatch() uses too). The first byte
 * picks the method, the rest is the request target as a client sends it.
 * Like server.c, the raw path (before '?') is checked by dlq_http_bad_path,
 * and the path libmicrohttpd decodes (%XX, a decoded NUL ends it) is what is
 * routed. Properties of an accepted route: the raw path had no encoded '/',
 * no encoded NUL and no '//'; the decoded path has no '.' or '..' segment;
 * every parameter is one whole segment of 1..DLQ_HTTP_PARAM_MAX bytes; and a
 * route without parameters matched its pattern exactly.
 */
#include "fuzz_util.h"
#include "http/http_int.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* unescape decodes %XX in place, as libmicrohttpd's default unescaper does. */
static void unescape(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *w++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

static int has_dot_segment(const char *p)
{
    for (const char *s = p; (s = strchr(s, '/')) != NULL;) {
        s++;
        size_t n = strcspn(s, "/");
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "HEAD", "PATCH"};
    if (size < 1 || size > 4096)
        return 0;
    const char *method = methods[data[0] % 6];
    char *target = fuzz_cstr(data + 1, size - 1);
    size_t plen = strcspn(target, "?");

    struct dlq_req *r = calloc(1, sizeof *r);
    FUZZ_CHECK(r != NULL);
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = fuzz_cstr((const uint8_t *)target, plen);
    r->bad_path = dlq_http_bad_path(r->path, plen) != NULL;
    char *url = fuzz_cstr((const uint8_t *)target, plen);
    unescape(url);
    r->url = url;

    const char *pattern = NULL;
    enum dlq_perm perm = DLQ_PERM_PUBLIC;
    int rc = dlq_http_route_find(r, &pattern, &perm);
    if (rc == DLQ_OK) {
        FUZZ_CHECK(pattern != NULL && pattern[0] == '/');
        FUZZ_CHECK(!r->bad_path);
        FUZZ_CHECK(strstr(r->path, "%2f") == NULL && strstr(r->path, "%2F") == NULL);
        FUZZ_CHECK(strstr(r->path, "%00") == NULL && strstr(r->path, "//") == NULL);
        FUZZ_CHECK(!has_dot_segment(url));
        FUZZ_CHECK(r->nparams <= DLQ_HTTP_MAX_PARAMS);
        for (size_t i = 0; i < r->nparams; i++) {
            size_t n = strlen(r->params[i]);
            FUZZ_CHECK(n >= 1 && n <= DLQ_HTTP_PARAM_MAX);
            FUZZ_CHECK(strchr(r->params[i], '/') == NULL);
            FUZZ_CHECK(strcmp(r->params[i], ".") != 0 && strcmp(r->params[i], "..") != 0);
        }
        if (strchr(pattern, '{') == NULL)
            FUZZ_CHECK(strcmp(pattern, url) == 0 && r->nparams == 0);
        /* No API route is public, except whoami, which authenticates itself. */
        if (perm == DLQ_PERM_PUBLIC)
            FUZZ_CHECK(strncmp(url, "/api/", 5) != 0 || strcmp(url, "/api/v1/whoami") == 0);
    } else {
        FUZZ_CHECK(rc == DLQ_E_INVAL || rc == DLQ_E_NOTFOUND || rc == DLQ_E_METHOD);
        FUZZ_CHECK(r->detail[0] != '\0' && memchr(r->detail, '\0', sizeof r->detail) != NULL);
    }
    free(url);
    free(r->path);
    free(r);
    free(target);
    return 0;
}
