/*
 * job_decode_calls.c: the smaller job queue bodies: reserve, ack, fail,
 * heartbeat, the batch ack and queue settings. Same rules as enqueue
 * (job_decode.c): every field checked, unknown fields refused, every
 * problem reported with its path, nothing returned on failure. Malformed
 * JSON is DLQ_E_INVAL (400); a well-formed body with bad fields is
 * DLQ_E_UNPROCESSABLE (422).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"

/* load_opt parses a body that may be empty (then *root is NULL). */
static int load_opt(const char *text, size_t len, json_t **root, struct dlq_errors *errs)
{
    *root = NULL;
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i]))
        i++;
    if (i == len)
        return DLQ_OK;
    json_t *v = dlq_json_load(text, len, errs);
    if (!v)
        return DLQ_E_INVAL;
    if (!json_is_object(v)) {
        json_decref(v);
        dlq_errors_add(errs, "body", "must be a JSON object");
        return DLQ_E_INVAL;
    }
    *root = v;
    return DLQ_OK;
}

void dlq_job_reserve_req_clear(struct dlq_job_reserve_req *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->ntask; i++)
        free(q->task_names[i]);
    free(q->task_names);
    memset(q, 0, sizeof *q);
}

/* task_names reads the task_names array into q. */
static void task_names(struct dlq_errsink *s, json_t *root, struct dlq_job_reserve_req *q)
{
    json_t *a = dlq_jd_get(root, "task_names");
    if (!a)
        return;
    if (!json_is_array(a) || json_array_size(a) > DLQ_JOB_TASKNAMES_MAX) {
        dlq_errsink_add(s, "task_names", "must be an array of at most %d task names",
                        DLQ_JOB_TASKNAMES_MAX);
        return;
    }
    size_t n = json_array_size(a);
    if (n == 0)
        return;
    q->task_names = calloc(n, sizeof *q->task_names);
    if (!q->task_names) {
        dlq_errsink_add(s, "task_names", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        size_t len = json_is_string(v) ? json_string_length(v) : 0;
        if (len < 1 || len > DLQ_JOB_TASK_MAX) {
            char path[48];
            snprintf(path, sizeof path, "task_names[%zu]", i);
            dlq_errsink_add(s, path, "must be a string of 1 to %d bytes", DLQ_JOB_TASK_MAX);
            continue;
        }
        if ((q->task_names[q->ntask] = strdup(json_string_value(v))) != NULL)
            q->ntask++;
    }
}

int dlq_job_reserve_req_from_json(const char *text, size_t len, struct dlq_job_reserve_req *out,
                                  struct dlq_errors *errs)
{
    static const char *const allowed[] = {"count",      "wait_ms",   "lease_s",
                                          "task_names", "worker_id", NULL};
    memset(out, 0, sizeof *out);
    out->count = 1;
    snprintf(out->worker_id, sizeof out->worker_id, "worker");
    json_t *root;
    int rc = load_opt(text, len, &root, errs);
    if (rc != DLQ_OK || !root)
        return rc;
    struct dlq_errsink s = {errs, "", 0};
    dlq_jd_unknown_keys(&s, root, allowed);
    int64_t v;
    if (dlq_jd_int(&s, root, "count", 1, DLQ_JOB_RESERVE_MAX, &v) > 0)
        out->count = (int)v;
    if (dlq_jd_int(&s, root, "wait_ms", 0, DLQ_JOB_WAIT_MS_MAX, &v) > 0)
        out->wait_ms = (int)v;
    if (dlq_jd_int(&s, root, "lease_s", 1, 86400, &v) > 0)
        out->lease_s = (int)v;
    const char *w = dlq_jd_str(&s, root, "worker_id", 1, DLQ_JOB_WORKER_MAX);
    if (w)
        snprintf(out->worker_id, sizeof out->worker_id, "%s", w);
    task_names(&s, root, out);
    json_decref(root);
    if (s.bad) {
        dlq_job_reserve_req_clear(out);
        return DLQ_E_UNPROCESSABLE;
    }
    return DLQ_OK;
}

void dlq_job_call_clear(struct dlq_job_call *c)
{
    if (!c)
        return;
    free(c->result);
    free(c->error_json);
    memset(c, 0, sizeof *c);
}

/* lease_token reads the required lease_token into out (40 bytes). */
static void lease_token(struct dlq_errsink *s, json_t *obj, char out[40])
{
    const char *t = dlq_jd_str(s, obj, "lease_token", 1, 39);
    if (t)
        snprintf(out, 40, "%s", t);
    else if (!dlq_jd_get(obj, "lease_token"))
        dlq_errsink_add(s, "lease_token", "is required");
}

/* any_json returns obj[key] as compact JSON text (NULL when absent). */
static char *any_json(struct dlq_errsink *s, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t)
        dlq_errsink_add(s, key, "cannot be encoded");
    return t;
}

/* error_obj reads fail's error {type, message, traceback} as JSON text. */
static char *error_obj(struct dlq_errsink *outer, json_t *obj)
{
    json_t *e = dlq_jd_get(obj, "error");
    if (!e)
        return NULL;
    if (!json_is_object(e)) {
        dlq_errsink_add(outer, "error", "must be an object {type, message, traceback}");
        return NULL;
    }
    struct dlq_errsink s = {outer->errs, "error.", 0};
    static const char *const allowed[] = {"type", "message", "traceback", NULL};
    dlq_jd_unknown_keys(&s, e, allowed);
    dlq_jd_str(&s, e, "type", 0, DLQ_MAX_SHORT);
    dlq_jd_str(&s, e, "message", 0, DLQ_MAX_MESSAGE);
    dlq_jd_str(&s, e, "traceback", 0, 8 * DLQ_MAX_MESSAGE);
    outer->bad += s.bad;
    return s.bad ? NULL : any_json(outer, obj, "error");
}

int dlq_job_call_from_json(const char *text, size_t len, enum dlq_job_call_kind kind,
                           struct dlq_job_call *out, struct dlq_errors *errs)
{
    static const char *const ack_keys[] = {"lease_token", "result", NULL};
    static const char *const fail_keys[] = {"lease_token", "retryable", "reason", "error", NULL};
    static const char *const hb_keys[] = {"lease_token", "extend_s", NULL};
    memset(out, 0, sizeof *out);
    out->retryable = 1;
    json_t *root;
    int rc = load_opt(text, len, &root, errs);
    if (rc != DLQ_OK)
        return rc;
    if (!root) {
        dlq_errors_add(errs, "lease_token", "is required");
        return DLQ_E_UNPROCESSABLE;
    }
    struct dlq_errsink s = {errs, "", 0};
    dlq_jd_unknown_keys(&s, root,
                        kind == DLQ_JOB_CALL_ACK    ? ack_keys
                        : kind == DLQ_JOB_CALL_FAIL ? fail_keys
                                                    : hb_keys);
    lease_token(&s, root, out->lease_token);
    int64_t v;
    if (kind == DLQ_JOB_CALL_ACK) {
        out->result = any_json(&s, root, "result");
    } else if (kind == DLQ_JOB_CALL_HEARTBEAT) {
        if (dlq_jd_int(&s, root, "extend_s", 1, 86400, &v) > 0)
            out->extend_s = (int)v;
    } else {
        int retryable = 1;
        int has_r = dlq_jd_bool(&s, root, "retryable", &retryable);
        const char *reason = dlq_jd_str(&s, root, "reason", 1, 64);
        if (reason) {
            enum dlq_reason rs = dlq_reason_parse(reason);
            if (rs != DLQ_REASON_PERMANENT_FAILURE && rs != DLQ_REASON_JOB_NOT_FOUND &&
                rs != DLQ_REASON_INVALID_ARGUMENTS)
                dlq_errsink_add(&s, "reason",
                                "must be permanent_failure, job_not_found or invalid_arguments");
            else if (has_r > 0 && retryable)
                dlq_errsink_add(&s, "reason",
                                "a reason means the job is not retryable: drop it or set "
                                "retryable to false");
            else {
                out->reason = rs;
                retryable = 0;
            }
        }
        out->retryable = retryable;
        out->error_json = error_obj(&s, root);
    }
    json_decref(root);
    if (s.bad) {
        dlq_job_call_clear(out);
        return DLQ_E_UNPROCESSABLE;
    }
    return DLQ_OK;
}

void dlq_job_acks_free(struct dlq_job_acks *a)
{
    if (!a)
        return;
    for (size_t i = 0; a->result && i < a->n; i++)
        free(a->result[i]);
    free(a->result);
    free(a->job_id);
    free(a->lease_token);
    memset(a, 0, sizeof *a);
}

int dlq_job_acks_from_json(const char *text, size_t len, size_t max, struct dlq_job_acks *out,
                           struct dlq_errors *errs)
{
    memset(out, 0, sizeof *out);
    json_t *root;
    int rc = load_opt(text, len, &root, errs);
    if (rc != DLQ_OK)
        return rc;
    json_t *acks = root ? json_object_get(root, "acks") : NULL;
    if (!json_is_array(acks) || json_object_size(root) != 1 || json_array_size(acks) == 0 ||
        json_array_size(acks) > max) {
        json_decref(root);
        dlq_errors_add(errs, "acks", "must be the only field: an array of 1 to %zu acks", max);
        return DLQ_E_UNPROCESSABLE;
    }
    size_t n = json_array_size(acks);
    out->job_id = calloc(n, sizeof *out->job_id);
    out->lease_token = calloc(n, sizeof *out->lease_token);
    out->result = calloc(n, sizeof *out->result);
    out->n = n;
    if (!out->job_id || !out->lease_token || !out->result) {
        json_decref(root);
        dlq_job_acks_free(out);
        return DLQ_E_NOMEM;
    }
    static const char *const allowed[] = {"job_id", "lease_token", "result", NULL};
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "acks[%zu].", i);
        struct dlq_errsink s = {errs, prefix, 0};
        json_t *a = json_array_get(acks, i);
        if (!json_is_object(a)) {
            dlq_errsink_add(&s, "job_id", "each ack must be an object {job_id, lease_token}");
            bad++;
            continue;
        }
        dlq_jd_unknown_keys(&s, a, allowed);
        const char *id = dlq_jd_str(&s, a, "job_id", 1, 39);
        if (id)
            snprintf(out->job_id[i], 40, "%s", id);
        else if (!dlq_jd_get(a, "job_id"))
            dlq_errsink_add(&s, "job_id", "is required");
        lease_token(&s, a, out->lease_token[i]);
        out->result[i] = any_json(&s, a, "result");
        bad += s.bad;
    }
    json_decref(root);
    if (bad) {
        dlq_job_acks_free(out);
        return DLQ_E_UNPROCESSABLE;
    }
    return DLQ_OK;
}

int dlq_queue_settings_req_from_json(const char *text, size_t len,
                                     struct dlq_queue_settings_req *out, struct dlq_errors *errs)
{
    static const char *const allowed[] = {"replay_target", "webhook_url", "webhook_secret",
                                          "max_replays",   "paused",      NULL};
    memset(out, 0, sizeof *out);
    json_t *root;
    int rc = load_opt(text, len, &root, errs);
    if (rc != DLQ_OK || !root)
        return rc;
    struct dlq_errsink s = {errs, "", 0};
    dlq_jd_unknown_keys(&s, root, allowed);
    const char *t = dlq_jd_str(&s, root, "replay_target", 1, 16);
    if (t && strcmp(t, "native") == 0)
        out->has_target = 1, out->target = DLQ_TARGET_NATIVE;
    else if (t && strcmp(t, "webhook") == 0)
        out->has_target = 1, out->target = DLQ_TARGET_WEBHOOK;
    else if (t)
        dlq_errsink_add(&s, "replay_target", "must be \"native\" or \"webhook\"");
    const char *u = dlq_jd_str(&s, root, "webhook_url", 0, sizeof out->webhook_url - 1);
    if (u && u[0] && strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        dlq_errsink_add(&s, "webhook_url", "must be an http:// or https:// URL");
    else if (u)
        out->has_url = 1, snprintf(out->webhook_url, sizeof out->webhook_url, "%s", u);
    const char *sec = dlq_jd_str(&s, root, "webhook_secret", 0, sizeof out->webhook_secret - 1);
    if (sec)
        out->has_secret = 1, snprintf(out->webhook_secret, sizeof out->webhook_secret, "%s", sec);
    int64_t v;
    if (dlq_jd_int(&s, root, "max_replays", 1, 100, &v) > 0)
        out->has_max_replays = 1, out->max_replays = (int)v;
    if (dlq_jd_bool(&s, root, "paused", &out->paused) > 0)
        out->has_paused = 1;
    json_decref(root);
    if (s.bad) {
        memset(out, 0, sizeof *out);
        return DLQ_E_UNPROCESSABLE;
    }
    return DLQ_OK;
}
