/*
 * test_http_route.c (harden): the dispatcher's path checks and route lookup
 * through dlq_http_route_find, the entry point fuzz/fuzz_route.c uses: dot
 * segments, encoded slashes and NULs, empty segments, parameter bounds, 404
 * against 405, and the permission each kind of route carries. Also replays
 * every input kept in fuzz/corpus/route/ so the fuzzer's seeds and any
 * crash it found stay regression tests in the ordinary unit run.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_int.h"

/* corpus_dir writes <repo>/fuzz/corpus/route into out; the repo is found
 * from this file's path (CMake compiles it by absolute path). */
static void corpus_dir(char *out, size_t len)
{
    const char *me = __FILE__;
    const char *cut = strstr(me, "tests/unit/");
    snprintf(out, len, "%.*sfuzz/corpus/route", cut ? (int)(cut - me) : 0, me);
}

/* find runs the lookup as server.c would: raw path checked, decoded path
 * routed (here raw and decoded are given separately). */
static int find(const char *method, const char *raw, const char *url, const char **pattern,
                enum dlq_perm *perm, char *params0, size_t plen)
{
    struct dlq_req *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = strdup(raw);
    r->bad_path = dlq_http_bad_path(raw, strlen(raw)) != NULL;
    r->url = url;
    int rc = dlq_http_route_find(r, pattern, perm);
    if (params0)
        snprintf(params0, plen, "%s", rc == DLQ_OK && r->nparams ? r->params[0] : "");
    free(r->path);
    free(r);
    return rc;
}

static void test_routes_found(void **state)
{
    (void)state;
    const char *pat = NULL;
    enum dlq_perm perm;
    char p0[256];
    assert_int_equal(
        find("GET", "/api/v1/dlq/entries", "/api/v1/dlq/entries", &pat, &perm, p0, sizeof p0),
        DLQ_OK);
    assert_string_equal(pat, "/api/v1/dlq/entries");
    assert_int_equal(perm, DLQ_PERM_READ);
    assert_int_equal(find("POST", "/api/v1/dlq/entries/batch", "/api/v1/dlq/entries/batch", &pat,
                          &perm, p0, sizeof p0),
                     DLQ_OK);
    assert_string_equal(pat, "/api/v1/dlq/entries/batch");
    assert_int_equal(
        find("DELETE", "/api/v1/tokens/tok_1", "/api/v1/tokens/tok_1", &pat, &perm, p0, sizeof p0),
        DLQ_OK);
    assert_string_equal(p0, "tok_1");
    assert_int_equal(perm, DLQ_PERM_ADMIN);
    assert_int_equal(find("HEAD", "/healthz", "/healthz", &pat, &perm, NULL, 0), DLQ_OK);
    assert_int_equal(perm, DLQ_PERM_PUBLIC);
}

static void test_paths_refused(void **state)
{
    (void)state;
    const char *pat = NULL;
    enum dlq_perm perm;
    static const char *const bad[][2] = {
        {"/api/v1/dlq/entries/..", "/api/v1/dlq/entries/.."},
        {"/api/v1/dlq/entries/%2e%2e", "/api/v1/dlq/entries/.."},
        {"/api/v1/dlq/entries/.", "/api/v1/dlq/entries/."},
        {"/api/v1/dlq/x/../entries", "/api/v1/dlq/x/../entries"},
        {"/api/v1/dlq/entries/a%2Fb", "/api/v1/dlq/entries/a/b"},
        {"/api/v1/dlq/entries/a%2fb", "/api/v1/dlq/entries/a/b"},
        {"/api/v1/dlq/entries/a%00b", "/api/v1/dlq/entries/a"},
        {"//api/v1/dlq/entries", "//api/v1/dlq/entries"},
        {"/api/v1//dlq/entries", "/api/v1//dlq/entries"},
        {"api/v1/dlq/entries", "api/v1/dlq/entries"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(find("GET", bad[i][0], bad[i][1], &pat, &perm, NULL, 0), DLQ_E_INVAL);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    const char *pat = NULL;
    enum dlq_perm perm;
    char big[300];
    memset(big, 'x', sizeof big);
    char path[400];
    snprintf(path, sizeof path, "/api/v1/dlq/entries/%.*s", DLQ_HTTP_PARAM_MAX + 1, big);
    assert_int_equal(find("GET", path, path, &pat, &perm, NULL, 0), DLQ_E_NOTFOUND);
    snprintf(path, sizeof path, "/api/v1/dlq/entries/%.*s", DLQ_HTTP_PARAM_MAX, big);
    assert_int_equal(find("GET", path, path, &pat, &perm, NULL, 0), DLQ_OK);
    assert_int_equal(
        find("GET", "/api/v1/dlq/entries/", "/api/v1/dlq/entries/", &pat, &perm, NULL, 0),
        DLQ_E_NOTFOUND);
    assert_int_equal(
        find("PUT", "/api/v1/dlq/entries", "/api/v1/dlq/entries", &pat, &perm, NULL, 0),
        DLQ_E_METHOD);
    assert_int_equal(find("GET", "/nope", "/nope", &pat, &perm, NULL, 0), DLQ_E_NOTFOUND);
}

/* The fuzzer's corpus: every kept input must still route or fail cleanly. */
static void test_route_corpus(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "HEAD", "PATCH"};
    char dir[400];
    corpus_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char fn[1024];
        snprintf(fn, sizeof fn, "%s/%s", dir, de->d_name);
        FILE *f = fopen(fn, "rb");
        assert_non_null(f);
        char buf[4097];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        if (len < 1)
            continue;
        buf[len] = '\0';
        char *raw = strndup(buf + 1, strcspn(buf + 1, "?"));
        const char *pat = NULL;
        enum dlq_perm perm;
        int rc = find(methods[(unsigned char)buf[0] % 6], raw, raw, &pat, &perm, NULL, 0);
        assert_true(rc == DLQ_OK || rc == DLQ_E_INVAL || rc == DLQ_E_NOTFOUND ||
                    rc == DLQ_E_METHOD);
        free(raw);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_found),
        cmocka_unit_test(test_paths_refused),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_route_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
