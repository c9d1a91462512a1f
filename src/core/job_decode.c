/*
 * job_decode.c: enqueue bodies (one job or a batch) -> struct dlq_job_spec.
 * Each field is checked against its type and bounds (ISSUE4_API.md), every
 * problem is reported with its path (prefix "jobs[3]." in a batch, nested
 * "backoff.factor"), unknown fields are errors so a client's typo is not
 * silently dropped, and nothing is returned unless the whole body is valid.
 * Bodies are small, so they are decoded through a jansson tree; the helpers
 * here are shared with job_decode_calls.c through job_int.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"

int dlq_job_queue_name_ok(const char *q)
{
    size_t n = 0;
    if (!q)
        return 0;
    for (; q[n]; n++) {
        char c = q[n];
        if (n >= DLQ_JOB_QUEUE_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return n > 0;
}

void dlq_jd_unknown_keys(struct dlq_errsink *s, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            dlq_errsink_add(s, key, "unknown field");
    }
}

json_t *dlq_jd_get(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

int dlq_jd_int(struct dlq_errsink *s, json_t *obj, const char *key, int64_t min, int64_t max,
               int64_t *out)
{
    json_t *v = dlq_jd_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        dlq_errsink_add(s, key, "must be an integer from %lld to %lld", (long long)min,
                        (long long)max);
        return -1;
    }
    *out = json_integer_value(v);
    return 1;
}

const char *dlq_jd_str(struct dlq_errsink *s, json_t *obj, const char *key, size_t min, size_t max)
{
    json_t *v = dlq_jd_get(obj, key);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        dlq_errsink_add(s, key, "must be a string");
        return NULL;
    }
    size_t len = json_string_length(v);
    if (len < min || len > max || strlen(json_string_value(v)) != len) {
        if (min > 0)
            dlq_errsink_add(s, key, "must be a string of %zu to %zu bytes", min, max);
        else
            dlq_errsink_add(s, key, "must be a string of at most %zu bytes", max);
        return NULL;
    }
    return json_string_value(v);
}

int dlq_jd_bool(struct dlq_errsink *s, json_t *obj, const char *key, int *out)
{
    json_t *v = dlq_jd_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        dlq_errsink_add(s, key, "must be true or false");
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

/* set_dup replaces *dst with a copy of src (NULL src: untouched). */
static void set_dup(struct dlq_errsink *s, const char *key, char **dst, const char *src)
{
    if (!src)
        return;
    char *c = strdup(src);
    if (!c) {
        dlq_errsink_add(s, key, "out of memory");
        return;
    }
    free(*dst);
    *dst = c;
}

/* json_member stores the compact JSON of an array (want 'a') or object
 * ('o') member in *dst, or dflt when absent. */
static void json_member(struct dlq_errsink *s, json_t *obj, const char *key, char want,
                        const char *dflt, char **dst)
{
    json_t *v = dlq_jd_get(obj, key);
    if (!v) {
        set_dup(s, key, dst, dflt);
        return;
    }
    if (want == 'a' ? !json_is_array(v) : !json_is_object(v)) {
        dlq_errsink_add(s, key, "must be a JSON %s", want == 'a' ? "array" : "object");
        return;
    }
    char *text = dlq_json_encode_str(v);
    if (!text) {
        dlq_errsink_add(s, key, "out of memory");
        return;
    }
    free(*dst);
    *dst = text;
}

/* decode_backoff reads the backoff object into j (defaults already set). */
static void decode_backoff(struct dlq_errsink *outer, json_t *obj, struct dlq_job *j)
{
    json_t *b = dlq_jd_get(obj, "backoff");
    if (!b)
        return;
    if (!json_is_object(b)) {
        dlq_errsink_add(outer, "backoff", "must be an object {base_ms, factor, max_ms}");
        return;
    }
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%sbackoff.", outer->prefix);
    struct dlq_errsink s = {outer->errs, prefix, 0};
    static const char *const allowed[] = {"base_ms", "factor", "max_ms", NULL};
    dlq_jd_unknown_keys(&s, b, allowed);
    int64_t v;
    if (dlq_jd_int(&s, b, "base_ms", 0, 86400000, &v) > 0)
        j->backoff_base_ms = v;
    if (dlq_jd_int(&s, b, "max_ms", 0, DLQ_JOB_DELAY_MS_MAX, &v) > 0)
        j->backoff_max_ms = v;
    json_t *f = dlq_jd_get(b, "factor");
    if (f) {
        double d = json_is_number(f) ? json_number_value(f) : NAN;
        if (!(d >= 1.0 && d <= 10.0))
            dlq_errsink_add(&s, "factor", "must be a number from 1 to 10");
        else
            j->backoff_factor = d;
    }
    outer->bad += s.bad;
}

/* decode_one reads one job object; problems go to s. */
static void decode_one(struct dlq_errsink *s, json_t *obj, struct dlq_job_spec *out)
{
    static const char *const allowed[] = {
        "task_name", "args",    "kwargs",    "priority", "max_retries",     "timeout_s", "delay_ms",
        "run_at",    "backoff", "tenant_id", "metadata", "idempotency_key", NULL};
    struct dlq_job *j = &out->job;
    memset(out, 0, sizeof *out);
    out->delay_ms = -1;
    j->max_retries = DLQ_JOB_MAX_RETRIES_DEFAULT;
    j->timeout_s = DLQ_JOB_TIMEOUT_S_DEFAULT;
    j->backoff_base_ms = DLQ_JOB_BACKOFF_BASE_MS;
    j->backoff_factor = DLQ_JOB_BACKOFF_FACTOR;
    j->backoff_max_ms = DLQ_JOB_BACKOFF_MAX_MS;
    if (!json_is_object(obj)) {
        /* The item itself is wrong: name it without the trailing dot. */
        char path[64];
        int n = (int)strlen(s->prefix);
        snprintf(path, sizeof path, "%.*s", n > 0 ? n - 1 : 0, s->prefix);
        dlq_errors_add(s->errs, n > 0 ? path : "body", "must be a JSON object");
        s->bad++;
        return;
    }
    dlq_jd_unknown_keys(s, obj, allowed);
    const char *tn = dlq_jd_str(s, obj, "task_name", 1, DLQ_JOB_TASK_MAX);
    if (!tn && !dlq_jd_get(obj, "task_name"))
        dlq_errsink_add(s, "task_name", "is required");
    set_dup(s, "task_name", &j->task_name, tn);
    json_member(s, obj, "args", 'a', "[]", &j->args);
    json_member(s, obj, "kwargs", 'o', "{}", &j->kwargs);
    json_member(s, obj, "metadata", 'o', "{}", &j->metadata);
    int64_t v;
    if (dlq_jd_int(s, obj, "priority", -1000, 1000, &v) > 0)
        j->priority = (int)v;
    if (dlq_jd_int(s, obj, "max_retries", 0, 100, &v) > 0)
        j->max_retries = (int)v;
    if (dlq_jd_int(s, obj, "timeout_s", 1, 86400, &v) > 0)
        j->timeout_s = (int)v;
    int has_delay = dlq_jd_int(s, obj, "delay_ms", 0, DLQ_JOB_DELAY_MS_MAX, &v);
    if (has_delay > 0)
        out->delay_ms = v;
    json_t *ra = dlq_jd_get(obj, "run_at");
    if (ra) {
        int64_t ms = 0;
        if (!json_is_string(ra) || dlq_time_parse(json_string_value(ra), &ms) != DLQ_OK || ms <= 0)
            dlq_errsink_add(s, "run_at", "must be an RFC 3339 time, e.g. 2026-01-25T10:30:00Z");
        else
            out->run_at = ms;
        if (has_delay != 0)
            dlq_errsink_add(s, "run_at", "give delay_ms or run_at, not both");
    }
    decode_backoff(s, obj, j);
    set_dup(s, "tenant_id", &j->tenant_id, dlq_jd_str(s, obj, "tenant_id", 0, DLQ_MAX_SHORT));
    set_dup(s, "idempotency_key", &j->idempotency_key,
            dlq_jd_str(s, obj, "idempotency_key", 1, DLQ_JOB_KEY_MAX));
}

void dlq_job_spec_clear(struct dlq_job_spec *s)
{
    if (!s)
        return;
    dlq_job_clear(&s->job);
    memset(s, 0, sizeof *s);
}

int dlq_job_spec_from_json(const char *text, size_t len, struct dlq_job_spec *out,
                           struct dlq_errors *errs)
{
    memset(out, 0, sizeof *out);
    json_t *root = dlq_json_load(text, len, errs);
    if (!root)
        return DLQ_E_INVAL;
    struct dlq_errsink s = {errs, "", 0};
    if (!json_is_object(root)) {
        json_decref(root);
        dlq_errors_add(errs, "body", "must be a JSON object");
        return DLQ_E_INVAL;
    }
    decode_one(&s, root, out);
    json_decref(root);
    if (s.bad) {
        dlq_job_spec_clear(out);
        return DLQ_E_UNPROCESSABLE;
    }
    return DLQ_OK;
}

int dlq_job_specs_from_json_batch(const char *text, size_t len, size_t max,
                                  struct dlq_job_spec **out, size_t *n, struct dlq_errors *errs)
{
    *out = NULL;
    *n = 0;
    json_t *root = dlq_json_load(text, len, errs);
    if (!root)
        return DLQ_E_INVAL;
    json_t *jobs = json_is_object(root) ? json_object_get(root, "jobs") : NULL;
    int rc = DLQ_OK;
    if (!json_is_object(root)) {
        dlq_errors_add(errs, "body", "must be a JSON object {\"jobs\":[...]}");
        rc = DLQ_E_INVAL;
    } else if (json_object_size(root) != 1 || !json_is_array(jobs)) {
        dlq_errors_add(errs, "jobs", "must be the only field: an array of 1 to %zu jobs", max);
        rc = DLQ_E_UNPROCESSABLE;
    } else if (json_array_size(jobs) == 0 || json_array_size(jobs) > max) {
        dlq_errors_add(errs, "jobs", "must hold 1 to %zu jobs", max);
        rc = DLQ_E_UNPROCESSABLE;
    }
    if (rc != DLQ_OK) {
        json_decref(root);
        return rc;
    }
    size_t cnt = json_array_size(jobs);
    struct dlq_job_spec *specs = calloc(cnt, sizeof *specs);
    if (!specs) {
        json_decref(root);
        return DLQ_E_NOMEM;
    }
    int bad = 0;
    for (size_t i = 0; i < cnt; i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "jobs[%zu].", i);
        struct dlq_errsink s = {errs, prefix, 0};
        decode_one(&s, json_array_get(jobs, i), &specs[i]);
        bad += s.bad;
    }
    json_decref(root);
    if (bad) {
        for (size_t i = 0; i < cnt; i++)
            dlq_job_spec_clear(&specs[i]);
        free(specs);
        return DLQ_E_UNPROCESSABLE;
    }
    *out = specs;
    *n = cnt;
    return DLQ_OK;
}
