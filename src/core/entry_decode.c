/*
 * entry_decode.c: ingest bodies -> struct dlq_entry. One table names every
 * field a producer may set, its type and its bounds; everything else is an
 * error (server-owned fields are "read-only", the rest "unknown"), so a typo
 * in a client is reported instead of silently dropped. All problems of a
 * body are collected before failing, and nothing is returned on failure.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

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

static const struct field *find_field(const struct field *tab, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i].name, name) == 0)
            return &tab[i];
    return NULL;
}

static int is_read_only(const char *name)
{
    for (size_t i = 0; i < COUNT(read_only); i++)
        if (strcmp(read_only[i], name) == 0)
            return 1;
    return 0;
}

/* The reasons a producer may name, for error messages (DLQ_REASON_MAP). */
#define REASON_LIST                                                                                \
    "external, max_retries_exceeded, permanent_failure, job_not_found, invalid_arguments, "        \
    "timeout"

/* decode_value stores v (not null) into the member f describes; path is the
 * field's name for errors (without the sink's prefix). */
static void decode_value(const struct field *f, const char *path, json_t *v, struct dlq_entry *e,
                         struct dlq_errsink *sink)
{
    char *base = (char *)e;
    switch (f->kind) {
    case K_STR: {
        if (!json_is_string(v)) {
            dlq_errsink_add(sink, path, "must be a string");
            return;
        }
        size_t len = json_string_length(v);
        if ((long long)len < f->min || (long long)len > f->max) {
            if (f->min > 0)
                dlq_errsink_add(sink, path, "must be %lld to %lld bytes long", f->min, f->max);
            else
                dlq_errsink_add(sink, path, "must be at most %lld bytes long", f->max);
            return;
        }
        char **dst = (char **)(base + f->off);
        free(*dst);
        *dst = strndup(json_string_value(v), len);
        if (*dst == NULL)
            dlq_errsink_add(sink, path, "out of memory");
        return;
    }
    case K_INT: {
        if (!json_is_integer(v)) {
            dlq_errsink_add(sink, path, "must be an integer");
            return;
        }
        json_int_t x = json_integer_value(v);
        if (x < f->min || x > f->max) {
            dlq_errsink_add(sink, path, "must be an integer from %lld to %lld", f->min, f->max);
            return;
        }
        *(int *)(base + f->off) = (int)x;
        return;
    }
    case K_TIME: {
        int64_t ms;
        if (!json_is_string(v) || dlq_time_parse(json_string_value(v), &ms) != DLQ_OK) {
            dlq_errsink_add(sink, path, "must be an RFC 3339 time, e.g. 2026-01-25T10:30:00Z");
            return;
        }
        *(int64_t *)(base + f->off) = ms;
        return;
    }
    case K_REASON: {
        enum dlq_reason r =
            json_is_string(v) ? dlq_reason_parse(json_string_value(v)) : DLQ_REASON_NONE;
        if (r == DLQ_REASON_NONE) {
            dlq_errsink_add(sink, path, "must be one of %s", REASON_LIST);
            return;
        }
        e->reason = r;
        return;
    }
    case K_JSONTEXT:
    case K_OBJECT: {
        char **dst = (char **)(base + f->off);
        char *text;
        if (f->kind == K_OBJECT && !json_is_object(v)) {
            dlq_errsink_add(sink, path, "must be an object");
            return;
        }
        if (f->kind == K_JSONTEXT && f->min == 1 && !json_is_object(v) && !json_is_string(v)) {
            dlq_errsink_add(sink, path, "must be a JSON object (or JSON text of one)");
            return;
        }
        if (json_is_string(v)) {
            /* A string is JSON text the producer encoded itself (as seed 000
             * shows it); keep it verbatim once it is known to parse. */
            json_t *inner =
                json_loadb(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, NULL);
            if (inner == NULL) {
                dlq_errsink_add(sink, path, "must be JSON text or a JSON value");
                return;
            }
            int is_object = json_is_object(inner);
            json_decref(inner);
            if (f->min == 1 && !is_object) {
                dlq_errsink_add(sink, path, "must be a JSON object (or JSON text of one)");
                return;
            }
            text = strndup(json_string_value(v), json_string_length(v));
        } else {
            text = dlq_json_encode_str(v);
        }
        if (text == NULL) {
            dlq_errsink_add(sink, path, "out of memory");
            return;
        }
        free(*dst);
        *dst = text;
        return;
    }
    case K_EXCEPTION: {
        if (!json_is_object(v)) {
            dlq_errsink_add(sink, path, "must be an object");
            return;
        }
        const char *key;
        json_t *sub;
        char subpath[96];
        json_object_foreach(v, key, sub)
        {
            snprintf(subpath, sizeof subpath, "%s.%s", path, key);
            const struct field *sf = find_field(exc_fields, COUNT(exc_fields), key);
            if (sf == NULL)
                dlq_errsink_add(sink, subpath, "unknown field");
            else if (!json_is_null(sub))
                decode_value(sf, subpath, sub, e, sink);
        }
        return;
    }
    }
}

/* decode_object fills e from one entry object; returns the problem count. */
static int decode_object(json_t *obj, struct dlq_entry *e, struct dlq_errsink *sink)
{
    const char *key;
    json_t *v;
    int before = sink->bad;
    memset(e, 0, sizeof *e);
    json_object_foreach(obj, key, v)
    {
        const struct field *f = find_field(fields, COUNT(fields), key);
        if (f != NULL) {
            if (!json_is_null(v))
                decode_value(f, key, v, e, sink);
        } else if (is_read_only(key)) {
            dlq_errsink_add(sink, key, "read-only field");
        } else {
            dlq_errsink_add(sink, key, "unknown field");
        }
    }
    json_t *name = json_object_get(obj, "task_name");
    if (name == NULL || json_is_null(name))
        dlq_errsink_add(sink, "task_name", "is required");
    if (sink->bad == before) {
        if (e->queue == NULL)
            e->queue = strdup("default");
        if (e->task_args == NULL)
            e->task_args = strdup("[]");
        if (e->task_kwargs == NULL)
            e->task_kwargs = strdup("{}");
        if (e->reason == DLQ_REASON_NONE)
            e->reason = DLQ_REASON_EXTERNAL;
        json_t *mr = json_object_get(obj, "max_replays");
        if (mr == NULL || json_is_null(mr))
            e->max_replays = 3;
        if (e->queue == NULL || e->task_args == NULL || e->task_kwargs == NULL)
            dlq_errsink_add(sink, "body", "out of memory");
    }
    if (sink->bad != before)
        dlq_entry_clear(e);
    return sink->bad - before;
}

int dlq_entry_from_json(const char *text, size_t len, struct dlq_entry *out,
                        struct dlq_errors *errs)
{
    struct dlq_errsink sink = {errs, "", 0};
    memset(out, 0, sizeof *out);
    json_t *root = dlq_json_load(text, len, errs);
    if (root == NULL)
        return DLQ_E_INVAL;
    if (!json_is_object(root))
        dlq_errsink_add(&sink, "body", "must be a JSON object");
    else
        decode_object(root, out, &sink);
    json_decref(root);
    return sink.bad ? DLQ_E_INVAL : DLQ_OK;
}

int dlq_entries_from_json_batch(const char *text, size_t len, size_t max, struct dlq_entry **out,
                                size_t *n, struct dlq_errors *errs)
{
    struct dlq_errsink sink = {errs, "", 0};
    struct dlq_entry *items = NULL;
    size_t count = 0;
    *out = NULL;
    *n = 0;
    json_t *root = dlq_json_load(text, len, errs);
    if (root == NULL)
        return DLQ_E_INVAL;

    json_t *arr = root;
    if (json_is_object(root)) {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            if (strcmp(key, "entries") != 0)
                dlq_errsink_add(&sink, key, "unknown field");
        }
        arr = json_object_get(root, "entries");
        if (arr == NULL) {
            dlq_errsink_add(&sink, "entries", "is required");
            goto fail;
        }
        if (!json_is_array(arr)) {
            dlq_errsink_add(&sink, "entries", "must be an array");
            goto fail;
        }
    }
    count = json_array_size(arr);
    if (count == 0 || count > max) {
        dlq_errsink_add(&sink, "entries", "must hold 1 to %zu entries", max);
        goto fail;
    }
    if (sink.bad)
        goto fail;
    items = calloc(count, sizeof *items);
    if (items == NULL) {
        dlq_errsink_add(&sink, "body", "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "entries[%zu].", i);
        json_t *item = json_array_get(arr, i);
        if (!json_is_object(item)) {
            char field[32];
            snprintf(field, sizeof field, "entries[%zu]", i);
            dlq_errors_add(errs, field, "must be an object");
            sink.bad++;
            continue;
        }
        sink.prefix = prefix;
        decode_object(item, &items[i], &sink);
        sink.prefix = "";
    }
    if (sink.bad)
        goto fail;
    json_decref(root);
    *out = items;
    *n = count;
    return DLQ_OK;

fail:
    if (items != NULL) {
        for (size_t i = 0; i < count; i++)
            dlq_entry_clear(&items[i]);
        free(items);
    }
    json_decref(root);
    return DLQ_E_INVAL;
}
