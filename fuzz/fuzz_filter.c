/*
 * fuzz_filter.c: list query strings -> struct dlq_filter. The input is a
 * query string ("a=1&b=2"), split and percent-decoded the way libmicrohttpd
 * hands arguments to the handlers (a decoded NUL ends the value), then given
 * to dlq_filter_parse. On success the filter must keep its documented
 * invariants; on failure there must be a field error. Either way, no read
 * or write out of bounds.
 */
#include "dlq/core.h"
#include "fuzz_util.h"

#define MAX_ARGS 64

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

/* unescape decodes s in place: %XX and '+' as libmicrohttpd does. */
static void unescape(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *w++ = ' ';
        } else if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *w++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    struct dlq_kv kv[MAX_ARGS];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, "&", &save); tok && n < MAX_ARGS;
         tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq++ = '\0';
        unescape(tok);
        if (eq)
            unescape(eq);
        kv[n].key = tok;
        kv[n].value = eq; /* NULL: "key" without '=' */
        n++;
    }
    struct dlq_filter f;
    struct dlq_errors errs = {0};
    int rc = dlq_filter_parse(&f, kv, n, &errs);
    if (rc == DLQ_OK) {
        FUZZ_CHECK(errs.n == 0 && errs.dropped == 0);
        FUZZ_CHECK(f.limit >= 1 && f.limit <= DLQ_LIST_LIMIT_MAX);
        FUZZ_CHECK(f.offset >= 0);
        FUZZ_CHECK((f.status_mask & 1u) == 0 && f.status_mask < (1u << DLQ_STATUS_COUNT));
        FUZZ_CHECK(f.failed_after == 0 || f.failed_before == 0 ||
                   f.failed_after <= f.failed_before);
        FUZZ_CHECK(f.sort == DLQ_SORT_FAILED_ASC || f.sort == DLQ_SORT_FAILED_DESC);
        if (f.has_cursor) {
            FUZZ_CHECK(f.cursor_failed_at >= 0);
            FUZZ_CHECK(strlen(f.cursor_id) > 0 && strlen(f.cursor_id) < sizeof f.cursor_id);
        }
        const char *strs[] = {f.task_name,      f.tenant_id,   f.queue,
                              f.exception_type, f.fingerprint, f.q};
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            FUZZ_CHECK(strs[i] == NULL || (strs[i][0] != '\0' && strlen(strs[i]) <= 512));
    } else {
        FUZZ_CHECK(rc == DLQ_E_INVAL && errs.n + errs.dropped > 0);
    }
    free(s);
    return 0;
}
