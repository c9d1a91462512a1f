/*
 * filter.c: list query parameters -> struct dlq_filter, and the opaque
 * keyset cursor. Every parameter is checked (unknown and repeated keys too)
 * and every problem is reported at once, so a client learns everything that
 * is wrong with a query from one 400. The filter borrows the parameter
 * strings: nothing here allocates.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core_int.h"

#define MAX_VALUE  512
#define MAX_OFFSET 1000000000000LL

void dlq_filter_init(struct dlq_filter *f)
{
    memset(f, 0, sizeof *f);
    f->limit = DLQ_LIST_LIMIT_DEFAULT;
    f->sort = DLQ_SORT_FAILED_DESC;
}

/* parse_uint reads a decimal number of digits only (no sign, no space, no
 * exponent) into *v; returns 0 if s is not one or exceeds max. */
static int parse_uint(const char *s, long long max, long long *v)
{
    long long x = 0;
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        x = x * 10 + (*s - '0');
        if (x > max)
            return 0;
    }
    *v = x;
    return 1;
}

/* parse_statuses turns "a,b,c" into a status bit mask; 0 if any is bad. */
static unsigned parse_statuses(const char *s)
{
    unsigned mask = 0;
    while (1) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char name[32];
        if (len == 0 || len >= sizeof name)
            return 0;
        memcpy(name, s, len);
        name[len] = '\0';
        enum dlq_status st = dlq_status_parse(name);
        if (st == DLQ_STATUS_NONE)
            return 0;
        mask |= 1u << st;
        if (comma == NULL)
            return mask;
        s = comma + 1;
    }
}

enum key {
    P_LIMIT,
    P_OFFSET,
    P_STATUS,
    P_TASK_NAME,
    P_TENANT_ID,
    P_QUEUE,
    P_REASON,
    P_EXCEPTION_TYPE,
    P_FINGERPRINT,
    P_FAILED_AFTER,
    P_FAILED_BEFORE,
    P_Q,
    P_SORT,
    P_CURSOR,
    P_COUNT
};

static const char *const key_names[P_COUNT] = {
    "limit",         "offset", "status",         "task_name",   "tenant_id",
    "queue",         "reason", "exception_type", "fingerprint", "failed_after",
    "failed_before", "q",      "sort",           "cursor",
};

/* parse_one applies one known parameter to f; problems go to errs. */
static void parse_one(struct dlq_filter *f, enum key k, const char *v, struct dlq_errors *errs)
{
    const char *name = key_names[k];
    long long x;
    int64_t ms;
    if (k == P_LIMIT) {
        if (!parse_uint(v, DLQ_LIST_LIMIT_MAX, &x) || x < 1)
            dlq_errors_add(errs, name, "must be an integer from 1 to %d", DLQ_LIST_LIMIT_MAX);
        else
            f->limit = (int)x;
        return;
    }
    if (k == P_OFFSET) {
        if (!parse_uint(v, MAX_OFFSET, &x))
            dlq_errors_add(errs, name, "must be an integer from 0 to %lld", MAX_OFFSET);
        else
            f->offset = x;
        return;
    }
    if (v[0] == '\0') {
        dlq_errors_add(errs, name, "must not be empty");
        return;
    }
    switch (k) {
    case P_STATUS:
        f->status_mask = parse_statuses(v);
        if (f->status_mask == 0)
            dlq_errors_add(errs, name,
                           "must be a comma-separated list of pending_review, requires_review, "
                           "retried, resolved, discarded, expired, archived");
        break;
    case P_TASK_NAME:
        f->task_name = v;
        break;
    case P_TENANT_ID:
        f->tenant_id = v;
        break;
    case P_QUEUE:
        f->queue = v;
        break;
    case P_EXCEPTION_TYPE:
        f->exception_type = v;
        break;
    case P_FINGERPRINT:
        f->fingerprint = v;
        break;
    case P_Q:
        f->q = v;
        break;
    case P_REASON:
        f->reason = dlq_reason_parse(v);
        if (f->reason == DLQ_REASON_NONE)
            dlq_errors_add(errs, name,
                           "must be one of external, max_retries_exceeded, permanent_failure, "
                           "job_not_found, invalid_arguments, timeout");
        break;
    case P_FAILED_AFTER:
    case P_FAILED_BEFORE:
        if (dlq_time_parse(v, &ms) != DLQ_OK)
            dlq_errors_add(errs, name, "must be an RFC 3339 time, e.g. 2026-01-25T10:30:00Z");
        else if (k == P_FAILED_AFTER)
            f->failed_after = ms;
        else
            f->failed_before = ms;
        break;
    case P_SORT:
        if (strcmp(v, "-failed_at") == 0)
            f->sort = DLQ_SORT_FAILED_DESC;
        else if (strcmp(v, "failed_at") == 0)
            f->sort = DLQ_SORT_FAILED_ASC;
        else
            dlq_errors_add(errs, name, "must be -failed_at or failed_at");
        break;
    case P_CURSOR:
        if (dlq_cursor_decode(v, f) != DLQ_OK)
            dlq_errors_add(errs, name, "is malformed, or was made for another sort order");
        break;
    default:
        break;
    }
}

int dlq_filter_parse(struct dlq_filter *f, const struct dlq_kv *kv, size_t n,
                     struct dlq_errors *errs)
{
    const char *value[P_COUNT] = {0};
    assert(errs != NULL);
    int before = errs->n + errs->dropped;
    dlq_filter_init(f);
    for (size_t i = 0; i < n; i++) {
        const char *key = kv[i].key != NULL ? kv[i].key : "";
        const char *v = kv[i].value != NULL ? kv[i].value : "";
        int k;
        for (k = 0; k < P_COUNT; k++)
            if (strcmp(key, key_names[k]) == 0)
                break;
        if (k == P_COUNT) {
            dlq_errors_add(errs, key, "unknown parameter");
        } else if (value[k] != NULL) {
            /* Report a repeated key once, however often it repeats. */
            if (value[k] != key_names[k])
                dlq_errors_add(errs, key, "given more than once");
            value[k] = key_names[k];
        } else if (strlen(v) > MAX_VALUE) {
            dlq_errors_add(errs, key, "must be at most %d bytes long", MAX_VALUE);
            value[k] = key_names[k];
        } else {
            value[k] = v;
        }
    }
    /* key_names[k] marks a key that is already wrong; the cursor goes last
     * because it is checked against the sort order. */
    for (int k = 0; k < P_COUNT; k++)
        if (value[k] != NULL && value[k] != key_names[k])
            parse_one(f, (enum key)k, value[k], errs);
    if (f->failed_after != 0 && f->failed_before != 0 && f->failed_after > f->failed_before)
        dlq_errors_add(errs, "failed_after", "must not be later than failed_before");
    return errs->n + errs->dropped > before ? DLQ_E_INVAL : DLQ_OK;
}

/* Cursor: base64url("v1|<sort>|<failed_at>|<id>"). */

static int valid_id(const char *id, size_t len)
{
    if (len == 0 || len >= sizeof(((struct dlq_filter *)0)->cursor_id))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void dlq_cursor_encode(enum dlq_sort sort, int64_t failed_at, const char *id, char *out,
                       size_t outlen)
{
    char raw[128];
    if (id == NULL || !valid_id(id, strlen(id)) || failed_at < 0) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    int n = snprintf(raw, sizeof raw, "v1|%d|%" PRId64 "|%s", sort == DLQ_SORT_FAILED_ASC ? 1 : 0,
                     failed_at, id);
    dlq_b64url_encode((const uint8_t *)raw, (size_t)n, out, outlen);
}

int dlq_cursor_decode(const char *s, struct dlq_filter *f)
{
    uint8_t raw[128];
    if (strlen(s) > 4 * sizeof raw / 3)
        return DLQ_E_INVAL;
    long n = dlq_b64url_decode(s, raw, sizeof raw - 1);
    if (n < 0)
        return DLQ_E_INVAL;
    raw[n] = '\0';
    const char *p = (const char *)raw;
    if (memchr(raw, '\0', (size_t)n) != NULL || strncmp(p, "v1|", 3) != 0)
        return DLQ_E_INVAL;
    p += 3;
    if ((p[0] != '0' && p[0] != '1') || p[1] != '|')
        return DLQ_E_INVAL;
    enum dlq_sort sort = p[0] == '1' ? DLQ_SORT_FAILED_ASC : DLQ_SORT_FAILED_DESC;
    if (sort != f->sort)
        return DLQ_E_INVAL;
    p += 2;
    const char *bar = strchr(p, '|');
    if (bar == NULL || bar == p || bar - p > 19 || (bar - p > 1 && p[0] == '0'))
        return DLQ_E_INVAL;
    int64_t ms = 0;
    for (const char *q = p; q < bar; q++) {
        if (*q < '0' || *q > '9' || ms > (INT64_MAX - (*q - '0')) / 10)
            return DLQ_E_INVAL;
        ms = ms * 10 + (*q - '0');
    }
    const char *id = bar + 1;
    size_t idlen = strlen(id);
    if (!valid_id(id, idlen))
        return DLQ_E_INVAL;
    f->has_cursor = 1;
    f->cursor_failed_at = ms;
    memcpy(f->cursor_id, id, idlen + 1);
    return DLQ_OK;
}
