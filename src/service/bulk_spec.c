/*
 * bulk_spec.c: decoding the bodies of the bulk endpoints (replay-bulk,
 * resolve-bulk, discard-bulk) into a filter and parameters, with every field
 * problem reported at once; and the JSON an operation stores of its filter
 * and parameters, which the same decoder reads back when the operation
 * resumes after a restart. Ranges and defaults are those of ISSUE3_API.md.
 */
#include <stdlib.h>
#include <string.h>

#include "bulk_int.h"

#define IDS_MAX 10000

static const char *const filter_keys[] = {
    "queue",       "task_name",    "exception_type", "reason", "status", "tenant_id",
    "fingerprint", "failed_after", "failed_before",  "q",      NULL};
static const char *const replay_keys[] = {"max_tasks",         "dry_run",
                                          "rate_per_second",   "batch_size",
                                          "min_samples",       "outcome_timeout_s",
                                          "stop_failure_rate", "note",
                                          "ticket_url",        NULL};
static const char *const resolve_keys[] = {"ids", "max_tasks", "dry_run", "resolution_notes", NULL};
static const char *const discard_keys[] = {"ids", "max_tasks", "dry_run", "note", NULL};

static int in_list(const char *const *l, const char *k)
{
    for (; *l; l++)
        if (strcmp(*l, k) == 0)
            return 1;
    return 0;
}

/* get_str reads an optional string of at most max bytes; NULL when absent. */
static const char *get_str(json_t *o, const char *k, size_t max, struct dlq_errors *errs)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        dlq_errors_add(errs, k, "must be a string");
        return NULL;
    }
    if (json_string_length(v) > max) {
        dlq_errors_add(errs, k, "must be at most %zu bytes", max);
        return NULL;
    }
    return json_string_value(v);
}

/* get_int reads an optional integer in [lo, hi] into *out (left alone when absent). */
static void get_int(json_t *o, const char *k, int64_t lo, int64_t hi, int64_t *out,
                    struct dlq_errors *errs)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        dlq_errors_add(errs, k, "must be an integer from %lld to %lld", (long long)lo,
                       (long long)hi);
        return;
    }
    *out = json_integer_value(v);
}

static void get_time(json_t *o, const char *k, int64_t *out, struct dlq_errors *errs)
{
    const char *s = get_str(o, k, 64, errs);
    if (s && dlq_time_parse(s, out) != DLQ_OK)
        dlq_errors_add(errs, k, "must be an RFC 3339 time such as 2026-01-25T10:30:00Z");
}

/* add_status adds one status name to the mask. */
static void add_status(const char *name, size_t len, unsigned *mask, struct dlq_errors *errs)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf) {
        dlq_errors_add(errs, "status", "unknown status '%.*s'", (int)(len > 40 ? 40 : len), name);
        return;
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    enum dlq_status st = dlq_status_parse(buf);
    if (st == DLQ_STATUS_NONE)
        dlq_errors_add(errs, "status", "unknown status '%s'", buf);
    else
        *mask |= 1u << st;
}

static void get_status(json_t *o, unsigned *mask, struct dlq_errors *errs)
{
    json_t *v = json_object_get(o, "status");
    if (v == NULL || json_is_null(v))
        return;
    *mask = 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (1) {
            const char *c = strchr(s, ',');
            add_status(s, c ? (size_t)(c - s) : strlen(s), mask, errs);
            if (!c)
                break;
            s = c + 1;
        }
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it)
        {
            if (!json_is_string(it))
                dlq_errors_add(errs, "status", "must hold status names");
            else
                add_status(json_string_value(it), json_string_length(it), mask, errs);
        }
    } else {
        dlq_errors_add(errs, "status", "must be a status name or an array of them");
    }
}

static void parse_filter(json_t *o, enum dlq_bulk_kind kind, const char *tenant,
                         struct dlq_bulk_spec *sp, struct dlq_errors *errs)
{
    struct dlq_filter *f = &sp->f;
    dlq_filter_init(f);
    f->sort = DLQ_SORT_FAILED_ASC;
    f->status_mask = kind == DLQ_BULK_REPLAY
                         ? 1u << DLQ_STATUS_PENDING_REVIEW
                         : (1u << DLQ_STATUS_PENDING_REVIEW) | (1u << DLQ_STATUS_REQUIRES_REVIEW) |
                               (1u << DLQ_STATUS_RETRIED);
    f->queue = get_str(o, "queue", DLQ_MAX_SHORT, errs);
    f->task_name = get_str(o, "task_name", DLQ_MAX_NAME, errs);
    f->exception_type = get_str(o, "exception_type", DLQ_MAX_SHORT, errs);
    f->fingerprint = get_str(o, "fingerprint", DLQ_MAX_SHORT, errs);
    f->tenant_id = get_str(o, "tenant_id", DLQ_MAX_SHORT, errs);
    f->q = get_str(o, "q", 1000, errs);
    const char *reason = get_str(o, "reason", DLQ_MAX_SHORT, errs);
    if (reason && (f->reason = dlq_reason_parse(reason)) == DLQ_REASON_NONE)
        dlq_errors_add(errs, "reason", "unknown reason '%s'", reason);
    get_status(o, &f->status_mask, errs);
    get_time(o, "failed_after", &f->failed_after, errs);
    get_time(o, "failed_before", &f->failed_before, errs);
    if (tenant) {
        if (f->tenant_id && strcmp(f->tenant_id, tenant) != 0)
            sp->nothing = 1;
        f->tenant_id = tenant;
    }
}

static void get_bool(json_t *o, const char *k, int *out, struct dlq_errors *errs)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_boolean(v))
        dlq_errors_add(errs, k, "must be true or false");
    else
        *out = json_is_true(v);
}

static void parse_replay(json_t *o, struct dlq_bulk_spec *sp, struct dlq_errors *errs)
{
    int64_t v;
    v = 0;
    get_int(o, "rate_per_second", 0, 100000, &v, errs);
    sp->rate_per_second = (int)v;
    v = 100;
    get_int(o, "batch_size", 1, 10000, &v, errs);
    sp->batch_size = (int)v;
    v = 10;
    get_int(o, "min_samples", 1, 100000, &v, errs);
    sp->min_samples = (int)v;
    v = 300;
    get_int(o, "outcome_timeout_s", 0, 86400, &v, errs);
    sp->outcome_timeout_s = (int)v;
    sp->stop_failure_rate = 0.5;
    json_t *r = json_object_get(o, "stop_failure_rate");
    if (r && !json_is_null(r)) {
        if (!json_is_number(r) || json_number_value(r) < 0 || json_number_value(r) > 1)
            dlq_errors_add(errs, "stop_failure_rate", "must be a number from 0 to 1");
        else
            sp->stop_failure_rate = json_number_value(r);
    }
    sp->note = get_str(o, "note", DLQ_MAX_MESSAGE, errs);
    sp->ticket_url = get_str(o, "ticket_url", 2000, errs);
}

/* has_filter_field says whether o names any filter field. */
static int has_filter_field(json_t *o)
{
    for (const char *const *k = filter_keys; *k; k++)
        if (json_object_get(o, *k))
            return 1;
    return 0;
}

static void parse_ids(json_t *o, struct dlq_bulk_spec *sp, struct dlq_errors *errs)
{
    json_t *ids = json_object_get(o, "ids");
    if (ids == NULL)
        return;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > IDS_MAX) {
        dlq_errors_add(errs, "ids", "must be an array of 1 to %d dlq_ids", IDS_MAX);
        return;
    }
    size_t i;
    json_t *it;
    json_array_foreach(ids, i, it)
    {
        if (!json_is_string(it) || json_string_length(it) == 0 ||
            json_string_length(it) >= DLQ_ID_MAX) {
            dlq_errors_add(errs, "ids", "item %zu is not a dlq_id", i);
            return;
        }
    }
    if (has_filter_field(o))
        dlq_errors_add(errs, "ids", "give either ids or filter fields, not both");
    sp->ids = ids;
}

/* dlq_bulk_spec_parse: see bulk_int.h. */
int dlq_bulk_spec_parse(const char *body, size_t len, enum dlq_bulk_kind kind, const char *tenant,
                        struct dlq_bulk_spec *sp, struct dlq_errors *errs)
{
    memset(sp, 0, sizeof *sp);
    json_error_t je;
    json_t *o = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
    if (o == NULL)
        return dlq_errors_add(errs, "body", "is not valid JSON: %s", je.text);
    sp->root = o;
    if (!json_is_object(o))
        return dlq_errors_add(errs, "body", "must be a JSON object");
    const char *const *extra = kind == DLQ_BULK_REPLAY    ? replay_keys
                               : kind == DLQ_BULK_RESOLVE ? resolve_keys
                                                          : discard_keys;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (!in_list(filter_keys, k) && !in_list(extra, k))
            dlq_errors_add(errs, k, "is not a known field");
    }
    parse_filter(o, kind, tenant, sp, errs);
    sp->max_tasks = 1000;
    get_int(o, "max_tasks", 1, 1000000, &sp->max_tasks, errs);
    get_bool(o, "dry_run", &sp->dry_run, errs);
    if (kind == DLQ_BULK_REPLAY)
        parse_replay(o, sp, errs);
    else
        parse_ids(o, sp, errs);
    if (kind == DLQ_BULK_RESOLVE)
        sp->notes = get_str(o, "resolution_notes", DLQ_MAX_MESSAGE, errs);
    if (kind == DLQ_BULK_DISCARD)
        sp->note = get_str(o, "note", DLQ_MAX_MESSAGE, errs);
    sp->has_filter = has_filter_field(o);
    return errs->n || errs->dropped ? DLQ_E_INVAL : DLQ_OK;
}

void dlq_bulk_spec_clear(struct dlq_bulk_spec *sp)
{
    json_decref(sp->root);
    memset(sp, 0, sizeof *sp);
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void set_time(json_t *o, const char *k, int64_t ms)
{
    char t[DLQ_TIME_MAX];
    if (ms) {
        dlq_time_format(ms, t);
        json_object_set_new(o, k, json_string(t));
    }
}

/* dlq_bulk_filter_json: see bulk_int.h. NULL when out of memory. */
char *dlq_bulk_filter_json(const struct dlq_bulk_spec *sp)
{
    const struct dlq_filter *f = &sp->f;
    json_t *o = json_object(), *st = json_array();
    if (o == NULL || st == NULL) {
        json_decref(o);
        json_decref(st);
        return NULL;
    }
    for (int s = 1; s < DLQ_STATUS_COUNT; s++)
        if (f->status_mask & (1u << s))
            json_array_append_new(st, json_string(dlq_status_name((enum dlq_status)s)));
    json_object_set_new(o, "status", st);
    set_str(o, "queue", f->queue);
    set_str(o, "task_name", f->task_name);
    set_str(o, "exception_type", f->exception_type);
    set_str(o, "fingerprint", f->fingerprint);
    set_str(o, "tenant_id", f->tenant_id);
    set_str(o, "q", f->q);
    if (f->reason)
        set_str(o, "reason", dlq_reason_name(f->reason));
    set_time(o, "failed_after", f->failed_after);
    set_time(o, "failed_before", f->failed_before);
    return dump(o);
}

/* dlq_bulk_params_json: see bulk_int.h. NULL when out of memory. */
char *dlq_bulk_params_json(const struct dlq_bulk_spec *sp)
{
    json_t *o = json_pack("{s:I, s:i, s:i, s:f, s:i, s:i}", "max_tasks", (json_int_t)sp->max_tasks,
                          "rate_per_second", sp->rate_per_second, "batch_size", sp->batch_size,
                          "stop_failure_rate", sp->stop_failure_rate, "min_samples",
                          sp->min_samples, "outcome_timeout_s", sp->outcome_timeout_s);
    if (o) {
        set_str(o, "note", sp->note);
        set_str(o, "ticket_url", sp->ticket_url);
    }
    return dump(o);
}

/* dlq_bulk_spec_from_op decodes the filter and params an op stored, by
 * merging them into one replay body. DLQ_E_INVAL when they do not decode
 * (the op cannot resume). */
int dlq_bulk_spec_from_op(const struct dlq_op *op, struct dlq_bulk_spec *sp, char *err,
                          size_t errlen)
{
    json_t *f = json_loads(op->filter ? op->filter : "{}", 0, NULL);
    json_t *p = json_loads(op->params ? op->params : "{}", 0, NULL);
    int code = DLQ_E_INVAL;
    memset(sp, 0, sizeof *sp);
    if (json_is_object(f) && json_is_object(p) && json_object_update(f, p) == 0) {
        char *text = json_dumps(f, JSON_COMPACT);
        struct dlq_errors errs;
        memset(&errs, 0, sizeof errs);
        if (text) {
            code = dlq_bulk_spec_parse(text, strlen(text), DLQ_BULK_REPLAY, NULL, sp, &errs);
            if (code != DLQ_OK)
                dlq_errf(err, errlen, code, "stored operation does not decode: %s: %s",
                         errs.items[0].field, errs.items[0].detail);
            free(text);
        }
    } else {
        dlq_errf(err, errlen, code, "stored operation does not decode");
    }
    json_decref(f);
    json_decref(p);
    return code;
}

/* dlq_bulk_make_id writes a fresh "<prefix>_<ULID>" into out. */
void dlq_bulk_make_id(const char *prefix, char out[40])
{
    uint8_t rnd[10];
    dlq_random(rnd, sizeof rnd);
    dlq_id_make(prefix, dlq_now_ms(), rnd, out, 40);
}
