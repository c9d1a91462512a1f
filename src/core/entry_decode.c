/*
 * entry_decode.c: ingest bodies -> struct dlq_entry. One table names every
 * field a producer may set, its type and its bounds; everything else is an
 * error (server-owned fields are "read-only", the rest "unknown"), so a typo
 * in a client is reported instead of silently dropped. All problems of a
 * body are collected before failing, and nothing is returned on failure.
 * Bodies are walked once with the jscan pull scanner and decoded straight
 * into the entry (no jansson tree); a syntax error anywhere drops the field
 * problems found before it and is reported alone on "body".
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "jscan.h"

enum kind { K_STR, K_INT, K_TIME, K_JSONTEXT, K_OBJECT, K_REASON, K_EXCEPTION };

struct field {
    const char *name;
    enum kind kind;
    size_t off;         /* offset of the member in struct dlq_entry */
    long long min, max; /* K_STR: byte length; K_INT: value */
};

#define OFF(m) offsetof(struct dlq_entry, m)

static const struct field fields[] = {
    {"task_name", K_STR, OFF(task_name), 1, DLQ_MAX_NAME},
    {"original_task_id", K_STR, OFF(original_task_id), 0, DLQ_MAX_SHORT},
    {"task_args", K_JSONTEXT, OFF(task_args), 0, 0},
    {"task_kwargs", K_JSONTEXT, OFF(task_kwargs), 1, 0}, /* min 1: must be an object */
    {"exception", K_EXCEPTION, 0, 0, 0},
    {"tenant_id", K_STR, OFF(tenant_id), 0, DLQ_MAX_SHORT},
    {"retries_attempted", K_INT, OFF(retries_attempted), 0, 1000000},
    {"failed_at", K_TIME, OFF(failed_at), 0, 0},
    {"queue", K_STR, OFF(queue), 1, DLQ_MAX_SHORT},
    {"priority", K_INT, OFF(priority), -1000000, 1000000},
    {"reason", K_REASON, OFF(reason), 0, 0},
    {"error_code", K_STR, OFF(error_code), 0, DLQ_MAX_SHORT},
    {"max_replays", K_INT, OFF(max_replays), 0, 1000},
    {"expires_at", K_TIME, OFF(expires_at), 0, 0},
    {"metadata", K_OBJECT, OFF(metadata), 0, 0},
    {"context", K_OBJECT, OFF(context), 0, 0},
    {"idempotency_key", K_STR, OFF(idempotency_key), 1, DLQ_MAX_SHORT},
    {"replay_of", K_STR, OFF(replay_of), 1, DLQ_MAX_SHORT}, /* issue 3: a failed replay */
};

static const struct field exc_fields[] = {
    {"type", K_STR, OFF(exc_type), 0, DLQ_MAX_SHORT},
    {"message", K_STR, OFF(exc_message), 0, DLQ_MAX_MESSAGE},
    {"traceback", K_STR, OFF(exc_traceback), 0, 8 * DLQ_MAX_MESSAGE},
};

/* Fields of the entry JSON that only the server writes. */
static const char *const read_only[] = {
    "dlq_id",        "status",      "processed_at",     "retry_count", "last_retry_at",
    "retry_task_id", "resolved_at", "resolution_notes", "fingerprint", "resolution_type",
    "resolved_by",   "history",     "updated_at",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The reasons a producer may name, for error messages (DLQ_REASON_MAP). */
#define REASON_LIST                                                                                \
    "external, max_retries_exceeded, permanent_failure, job_not_found, invalid_arguments, "        \
    "timeout"

/* A decode in progress: the scanner, the sink, and scratch for values. */
struct dec {
    struct jscan *s;
    struct dlq_errsink *sink;
    struct dlq_buf val; /* compact re-encoding of JSON values */
};

/* key_name copies key (possibly cut) into a NUL-terminated buffer for paths. */
static void key_name(const struct jscan_str *key, char *out, size_t outlen)
{
    size_t n = key->len < outlen - 1 ? key->len : outlen - 1;
    memcpy(out, key->p, n);
    out[n] = '\0';
}

static const struct field *find_field(const struct field *tab, size_t n,
                                      const struct jscan_str *key)
{
    for (size_t i = 0; i < n; i++)
        if (key->len > 1 && tab[i].name[0] == key->p[0] && tab[i].name[1] == key->p[1] &&
            strncmp(tab[i].name, key->p, key->len) == 0 && tab[i].name[key->len] == '\0')
            return &tab[i];
    return NULL;
}

static int is_read_only(const struct jscan_str *key)
{
    for (size_t i = 0; i < COUNT(read_only); i++)
        if (strncmp(read_only[i], key->p, key->len) == 0 && read_only[i][key->len] == '\0')
            return 1;
    return 0;
}

/* bad_type reports path and skips (validates) the value at the cursor;
 * returns -1 on a syntax error in it. */
static int bad_type(struct dec *d, const char *path, const char *detail)
{
    dlq_errsink_add(d->sink, path, "%s", detail);
    return jscan_value(d->s, NULL);
}

/* store replaces the string member at *dst with a copy of n bytes at p. */
static void store(struct dec *d, const char *path, char **dst, const char *p, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        dlq_errsink_add(d->sink, path, "out of memory");
        return;
    }
    memcpy(copy, p, n);
    copy[n] = '\0';
    free(*dst);
    *dst = copy;
}

/* short_string decodes a string value into buf (NUL-terminated) for the
 * time and reason parsers; 1 when it was a string that fit, 0 if not
 * (reported by the caller), -1 on a syntax error. */
static int short_string(struct dec *d, int c, char *buf, size_t buflen)
{
    struct jscan_str str;
    if (c != '"')
        return jscan_value(d->s, NULL) == 0 ? 0 : -1;
    if (jscan_string(d->s, &str) != 0)
        return -1;
    if (str.len >= buflen)
        return 0;
    memcpy(buf, str.p, str.len);
    buf[str.len] = '\0';
    return 1;
}

static int decode_exception(struct dec *d, const char *path, struct dlq_entry *e);

/* decode_value stores the value at the cursor (not null; c is its first
 * byte) into the member f describes; path names it for errors. Returns 0,
 * or -1 on a syntax error. */
static int decode_value(struct dec *d, const struct field *f, const char *path, int c,
                        struct dlq_entry *e)
{
    char *base = (char *)e;
    struct jscan_str str;
    char small[64];
    int r;
    switch (f->kind) {
    case K_STR:
        if (c != '"')
            return bad_type(d, path, "must be a string");
        if (jscan_string(d->s, &str) != 0)
            return -1;
        if ((long long)str.len < f->min || (long long)str.len > f->max) {
            if (f->min > 0)
                dlq_errsink_add(d->sink, path, "must be %lld to %lld bytes long", f->min, f->max);
            else
                dlq_errsink_add(d->sink, path, "must be at most %lld bytes long", f->max);
            return 0;
        }
        store(d, path, (char **)(base + f->off), str.p, str.len);
        return 0;
    case K_INT: {
        struct jscan_num num;
        if (c != '-' && (c < '0' || c > '9'))
            return bad_type(d, path, "must be an integer");
        if (jscan_number(d->s, &num) != 0)
            return -1;
        if (!num.is_int)
            dlq_errsink_add(d->sink, path, "must be an integer");
        else if (num.i < f->min || num.i > f->max)
            dlq_errsink_add(d->sink, path, "must be an integer from %lld to %lld", f->min, f->max);
        else
            *(int *)(base + f->off) = (int)num.i;
        return 0;
    }
    case K_TIME: {
        int64_t ms;
        if ((r = short_string(d, c, small, sizeof small)) < 0)
            return -1;
        if (r == 0 || dlq_time_parse(small, &ms) != DLQ_OK)
            dlq_errsink_add(d->sink, path, "must be an RFC 3339 time, e.g. 2026-01-25T10:30:00Z");
        else
            *(int64_t *)(base + f->off) = ms;
        return 0;
    }
    case K_REASON: {
        enum dlq_reason rs = DLQ_REASON_NONE;
        if ((r = short_string(d, c, small, sizeof small)) < 0)
            return -1;
        if (r == 1)
            rs = dlq_reason_parse(small);
        if (rs == DLQ_REASON_NONE)
            dlq_errsink_add(d->sink, path, "must be one of %s", REASON_LIST);
        else
            e->reason = rs;
        return 0;
    }
    case K_JSONTEXT:
        if (c == '"') {
            /* A string is JSON text the producer encoded itself (as seed 000
             * shows it); keep it verbatim once it is known to parse. */
            int first;
            if (jscan_string(d->s, &str) != 0)
                return -1;
            if (!jscan_text_check(str.p, str.len, &first))
                dlq_errsink_add(d->sink, path, "must be JSON text or a JSON value");
            else if (f->min == 1 && first != '{')
                dlq_errsink_add(d->sink, path, "must be a JSON object (or JSON text of one)");
            else
                store(d, path, (char **)(base + f->off), str.p, str.len);
            return 0;
        }
        if (f->min == 1 && c != '{')
            return bad_type(d, path, "must be a JSON object (or JSON text of one)");
        goto value;
    case K_OBJECT:
        if (c != '{')
            return bad_type(d, path, "must be an object");
    value:
        dlq_buf_reset(&d->val);
        if (jscan_value(d->s, &d->val) != 0)
            return -1;
        store(d, path, (char **)(base + f->off), d->val.data, d->val.len);
        return 0;
    case K_EXCEPTION:
        if (c != '{')
            return bad_type(d, path, "must be an object");
        return decode_exception(d, path, e);
    }
    return 0;
}

/* member decodes the value of key found in tab (or reports it); *seen is
 * set when the value is not null. Returns 0 or -1 on a syntax error. */
static int member(struct dec *d, const struct field *f, const char *path, struct dlq_entry *e,
                  int *seen)
{
    int c = jscan_peek(d->s);
    if (c == 'n') /* null means absent; jscan_value checks it is "null" */
        return jscan_value(d->s, NULL);
    *seen = 1;
    return decode_value(d, f, path, c, e);
}

static int decode_exception(struct dec *d, const char *path, struct dlq_entry *e)
{
    struct jscan_iter it;
    struct jscan_str key;
    char subpath[96];
    int r, seen;
    if (jscan_obj_begin(d->s, &it) != 0)
        return -1;
    while ((r = jscan_obj_next(d->s, &it, &key)) == 1) {
        /* Not snprintf: this runs for every member of every exception. */
        size_t pl = strlen(path);
        memcpy(subpath, path, pl);
        subpath[pl] = '.';
        key_name(&key, subpath + pl + 1, sizeof subpath - pl - 1);
        const struct field *sf = find_field(exc_fields, COUNT(exc_fields), &key);
        if (sf == NULL)
            r = bad_type(d, subpath, "unknown field");
        else
            r = member(d, sf, subpath, e, &seen);
        if (r != 0)
            return -1;
    }
    return r;
}

/* decode_object fills e (zeroed first) from the entry object at the cursor.
 * Returns -1 on a syntax error (e cleared), else 0 with problems counted in
 * the sink (e cleared when there were any). */
static int decode_object(struct dec *d, struct dlq_entry *e)
{
    struct jscan_iter it;
    struct jscan_str key;
    char name[96];
    int before = d->sink->bad, have_name = 0, have_mr = 0, r;
    memset(e, 0, sizeof *e);
    if (jscan_obj_begin(d->s, &it) != 0)
        return -1;
    while ((r = jscan_obj_next(d->s, &it, &key)) == 1) {
        const struct field *f = find_field(fields, COUNT(fields), &key);
        if (f != NULL) {
            int seen = 0;
            r = member(d, f, f->name, e, &seen);
            if (f->off == OFF(task_name))
                have_name |= seen;
            else if (f->off == OFF(max_replays))
                have_mr |= seen;
        } else {
            key_name(&key, name, sizeof name);
            r = bad_type(d, name, is_read_only(&key) ? "read-only field" : "unknown field");
        }
        if (r != 0)
            break;
    }
    if (r < 0) {
        dlq_entry_clear(e);
        return -1;
    }
    if (!have_name)
        dlq_errsink_add(d->sink, "task_name", "is required");
    if (d->sink->bad == before) {
        if (e->queue == NULL)
            e->queue = strdup("default");
        if (e->task_args == NULL)
            e->task_args = strdup("[]");
        if (e->task_kwargs == NULL)
            e->task_kwargs = strdup("{}");
        if (e->reason == DLQ_REASON_NONE)
            e->reason = DLQ_REASON_EXTERNAL;
        if (!have_mr)
            e->max_replays = 3;
        if (e->queue == NULL || e->task_args == NULL || e->task_kwargs == NULL)
            dlq_errsink_add(d->sink, "body", "out of memory");
    }
    if (d->sink->bad != before)
        dlq_entry_clear(e);
    return 0;
}

/* syntax_error drops the problems reported since (n, dropped) and reports
 * the scanner's error on "body" instead, as the only one. */
static void syntax_error(const struct jscan *s, struct dlq_errors *errs, int n, int dropped)
{
    int line, col;
    jscan_where(s, &line, &col);
    errs->n = n;
    errs->dropped = dropped;
    dlq_errors_add(errs, "body", "malformed JSON: %s (line %d, column %d)", s->err, line, col);
}

int dlq_entry_from_json(const char *text, size_t len, struct dlq_entry *out,
                        struct dlq_errors *errs)
{
    struct dlq_errsink sink = {errs, "", 0};
    struct jscan s;
    struct dec d = {&s, &sink, {0}};
    int n0 = errs->n, d0 = errs->dropped, r;
    memset(out, 0, sizeof *out);
    jscan_init(&s, text, len, 1);
    int c = jscan_peek(&s);
    if (c == '{')
        r = decode_object(&d, out);
    else if (c == '[')
        r = bad_type(&d, "body", "must be a JSON object");
    else
        r = jscan_fail(&s, s.p, "'[' or '{' expected");
    if (r == 0)
        r = jscan_finish(&s);
    if (r != 0) {
        dlq_entry_clear(out);
        syntax_error(&s, errs, n0, d0);
        sink.bad = 1;
    }
    jscan_free(&s);
    dlq_buf_free(&d.val);
    return sink.bad ? DLQ_E_INVAL : DLQ_OK;
}

/* A batch being read: its items so far; the first max are kept. */
struct items {
    struct dlq_entry *v;
    size_t n, cap, max;
};

static void items_free(struct items *it)
{
    for (size_t i = 0; i < it->n && i < it->max; i++)
        dlq_entry_clear(&it->v[i]);
    free(it->v);
    it->v = NULL;
}

/* item_prefix writes "entries[i]." into out (at least 32 bytes); by hand,
 * as snprintf would cost more than decoding a small entry. */
static void item_prefix(char *out, size_t i)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0);
    memcpy(out, "entries[", 8);
    out += 8;
    while (n > 0)
        *out++ = digits[--n];
    memcpy(out, "].", 3);
}

/* decode_items reads the array at the cursor into it; entries past max are
 * only validated. Returns 0 or -1 on a syntax error. */
static int decode_items(struct dec *d, struct items *items)
{
    struct jscan_iter it;
    int r;
    if (jscan_arr_begin(d->s, &it) != 0)
        return -1;
    while ((r = jscan_arr_next(d->s, &it)) == 1) {
        size_t i = items->n;
        if (i >= items->max) {
            items->n++;
            if (jscan_value(d->s, NULL) != 0)
                return -1;
            continue;
        }
        if (i == items->cap) {
            size_t ncap = items->cap ? items->cap * 2 : 16;
            struct dlq_entry *nv = realloc(items->v, ncap * sizeof *nv);
            if (nv == NULL)
                return jscan_fail(d->s, d->s->p, "out of memory");
            items->v = nv;
            items->cap = ncap;
        }
        memset(&items->v[i], 0, sizeof items->v[i]);
        items->n++;
        if (jscan_peek(d->s) != '{') {
            char field[32];
            snprintf(field, sizeof field, "entries[%zu]", i);
            r = bad_type(d, field, "must be an object");
        } else {
            char prefix[32];
            item_prefix(prefix, i);
            d->sink->prefix = prefix;
            r = decode_object(d, &items->v[i]);
            d->sink->prefix = "";
        }
        if (r != 0)
            return -1;
    }
    return r;
}

int dlq_entries_from_json_batch(const char *text, size_t len, size_t max, struct dlq_entry **out,
                                size_t *n, struct dlq_errors *errs)
{
    struct dlq_errsink sink = {errs, "", 0};
    struct dlq_errors werrs = {0}; /* problems of the wrapper: they win */
    struct dlq_errsink wsink = {&werrs, "", 0};
    struct jscan s;
    struct dec d = {&s, &sink, {0}};
    struct items items = {NULL, 0, 0, max};
    int n0 = errs->n, d0 = errs->dropped, r = 0, have = 1;
    *out = NULL;
    *n = 0;
    jscan_init(&s, text, len, 1);
    int c = jscan_peek(&s);
    if (c == '{') {
        struct jscan_iter it;
        struct jscan_str key;
        char name[96];
        have = 0;
        r = jscan_obj_begin(&s, &it);
        while (r == 0 && (r = jscan_obj_next(&s, &it, &key)) == 1) {
            if (key.len == 7 && memcmp(key.p, "entries", 7) == 0) {
                have = 1;
                if (jscan_peek(&s) == '[')
                    r = decode_items(&d, &items);
                else {
                    have = 2;
                    r = jscan_value(&s, NULL);
                }
            } else {
                key_name(&key, name, sizeof name);
                dlq_errsink_add(&wsink, name, "unknown field");
                r = jscan_value(&s, NULL);
            }
        }
        if (have == 0 && r == 0)
            dlq_errsink_add(&wsink, "entries", "is required");
        else if (have == 2 && r == 0)
            dlq_errsink_add(&wsink, "entries", "must be an array");
    } else if (c == '[')
        r = decode_items(&d, &items);
    else
        r = jscan_fail(&s, s.p, "'[' or '{' expected");
    if (r == 0)
        r = jscan_finish(&s);
    if (r != 0) {
        syntax_error(&s, errs, n0, d0);
        goto fail;
    }
    if (have == 1 && (items.n == 0 || items.n > max))
        dlq_errsink_add(&wsink, "entries", "must hold 1 to %zu entries", max);
    if (wsink.bad) {
        errs->n = n0;
        errs->dropped = d0 + werrs.dropped;
        for (int i = 0; i < werrs.n; i++)
            dlq_errors_add(errs, werrs.items[i].field, "%s", werrs.items[i].detail);
        goto fail;
    }
    if (sink.bad)
        goto fail;
    jscan_free(&s);
    dlq_buf_free(&d.val);
    *out = items.v;
    *n = items.n;
    return DLQ_OK;

fail:
    items_free(&items);
    jscan_free(&s);
    dlq_buf_free(&d.val);
    return DLQ_E_INVAL;
}
