/*
 * h_actions.c: the single-entry actions: POST .../entries/{id}/retry,
 * .../resolve, .../outcome and DELETE .../entries/{id} (discard). Bodies are
 * small and optional, so they are decoded here with jansson; every field
 * problem is reported at once, unknown fields included. The service decides
 * the rest (roles beyond the route's, tenancy, the transition) and a refused
 * transition comes back as 409 with the store's detail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define REASON_MAX 1000
#define TICKET_MAX 2000

/* load_body parses an optional JSON object body: *out NULL when the body is
 * empty. DLQ_OK or DLQ_E_INVAL with the problem in r. */
static int load_body(struct dlq_req *r, json_t **out)
{
    *out = NULL;
    size_t i = 0;
    while (i < r->body.len && strchr(" \t\r\n", r->body.data[i]))
        i++;
    if (i == r->body.len)
        return DLQ_OK;
    json_error_t je;
    json_t *v = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (v == NULL)
        return dlq_http_fail(r, DLQ_E_INVAL, "the body is not valid JSON: %s", je.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return dlq_http_fail(r, DLQ_E_INVAL, "the body must be a JSON object");
    }
    *out = v;
    return DLQ_OK;
}

/* opt_str reads an optional string field of at most max bytes (NULL when
 * absent or null); problems go to r->errs. */
static const char *opt_str(struct dlq_req *r, json_t *body, const char *key, size_t min, size_t max)
{
    json_t *v = body ? json_object_get(body, key) : NULL;
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        dlq_errors_add(&r->errs, key, "must be a string");
        return NULL;
    }
    size_t len = json_string_length(v);
    if (len < min || len > max) {
        dlq_errors_add(&r->errs, key, "must be %zu to %zu bytes", min, max);
        return NULL;
    }
    return json_string_value(v);
}

/* json_text reads task_args / task_kwargs like ingest: a JSON value, or a
 * string of JSON text. Returns malloc'd JSON text or NULL (absent or bad). */
static char *json_text(struct dlq_req *r, json_t *body, const char *key, int want_object)
{
    json_t *v = body ? json_object_get(body, key) : NULL;
    if (v == NULL || json_is_null(v))
        return NULL;
    json_t *val = v;
    if (json_is_string(v)) {
        val = json_loadb(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, NULL);
        if (val == NULL) {
            dlq_errors_add(&r->errs, key, "must be JSON text or a JSON value");
            return NULL;
        }
    }
    char *text = NULL;
    if (want_object && !json_is_object(val))
        dlq_errors_add(&r->errs, key, "must be a JSON object (or JSON text of one)");
    else if ((text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
        dlq_errors_add(&r->errs, key, "cannot be encoded");
    if (val != v)
        json_decref(val);
    return text;
}

/* check_keys adds an error for every key of body not in allowed. */
static void check_keys(struct dlq_req *r, json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            dlq_errors_add(&r->errs, key, "unknown field");
    }
}

static const char *query(struct dlq_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* not_found words a missing entry the same way for every action. */
static int act_failed(struct dlq_req *r, int rc, const char *id)
{
    if (rc == DLQ_E_NOTFOUND)
        return dlq_http_fail(r, rc, "no entry with id '%s'", id);
    return rc;
}

int dlq_h_entries_retry(struct dlq_req *r)
{
    static const char *const allowed[] = {"task_args",      "task_kwargs", "queue",
                                          "max_retries",    "reason",      "ticket_url",
                                          "reset_attempts", NULL}; /* issue 4: reset_attempts */
    const char *id = r->params[0];
    struct dlq_retry_req rq = {.max_retries = -1};
    const char *force = query(r, "force");
    if (force && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0))
        rq.force = 1;
    else if (force && strcmp(force, "false") != 0 && strcmp(force, "0") != 0) {
        dlq_errors_add(&r->errs, "force", "must be true or false");
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid query");
    }
    json_t *body;
    int rc = load_body(r, &body);
    if (rc != DLQ_OK)
        return rc;
    char *args = NULL, *kwargs = NULL;
    if (body) {
        check_keys(r, body, allowed);
        args = json_text(r, body, "task_args", 0);
        kwargs = json_text(r, body, "task_kwargs", 1);
        rq.queue = opt_str(r, body, "queue", 1, DLQ_MAX_SHORT);
        rq.reason = opt_str(r, body, "reason", 0, REASON_MAX);
        rq.ticket_url = opt_str(r, body, "ticket_url", 0, TICKET_MAX);
        json_t *mr = json_object_get(body, "max_retries");
        if (mr && !json_is_null(mr)) {
            if (!json_is_integer(mr) || json_integer_value(mr) < 0 || json_integer_value(mr) > 100)
                dlq_errors_add(&r->errs, "max_retries", "must be an integer from 0 to 100");
            else
                rq.max_retries = (int)json_integer_value(mr);
        }
        json_t *ra = json_object_get(body, "reset_attempts"); /* issue 4 */
        if (ra && !json_is_null(ra) && !json_is_boolean(ra))
            dlq_errors_add(&r->errs, "reset_attempts", "must be true or false");
        else if (ra && json_is_false(ra))
            rq.keep_attempts = 1;
    }
    rq.task_args = args;
    rq.task_kwargs = kwargs;
    /* The role comes first: a non-admin learns nothing more about force. */
    if (r->errs.n == 0 && rq.force && r->who.role != DLQ_ROLE_ADMIN) {
        rc = dlq_http_fail(r, DLQ_E_FORBIDDEN, "force=true needs the admin role");
        goto out;
    }
    if (rq.force && (!rq.reason || !rq.reason[0]))
        dlq_errors_add(&r->errs, "reason", "is required with force=true");
    if (r->errs.n > 0) {
        rc = dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid retry request");
        goto out;
    }
    struct dlq_entry e;
    rc = dlq_service_retry(r->h->svc, &r->who, id, &rq, &e, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK) {
        rc = act_failed(r, rc, id);
        goto out;
    }
    json_t *obj =
        json_pack("{s:s, s:s?, s:s, s:s, s:s, s:i}", "original_task_id",
                  e.original_task_id ? e.original_task_id : e.dlq_id, "retry_task_id",
                  e.retry_task_id, "status", dlq_status_name(e.status), "message",
                  "Task queued for retry", "dlq_id", e.dlq_id, "retry_count", e.retry_count);
    dlq_entry_clear(&e);
    rc = dlq_http_reply_json(r, MHD_HTTP_OK, obj, NULL);
out:
    free(args);
    free(kwargs);
    json_decref(body);
    return rc;
}

int dlq_h_entries_resolve(struct dlq_req *r)
{
    static const char *const allowed[] = {"resolution_notes", NULL};
    const char *id = r->params[0];
    json_t *body;
    int rc = load_body(r, &body);
    if (rc != DLQ_OK)
        return rc;
    const char *notes = NULL;
    if (body) {
        check_keys(r, body, allowed);
        notes = opt_str(r, body, "resolution_notes", 0, DLQ_MAX_MESSAGE);
    }
    if (r->errs.n > 0) {
        json_decref(body);
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid resolve request");
    }
    struct dlq_entry e;
    rc = dlq_service_resolve(r->h->svc, &r->who, id, notes, &e, r->detail, sizeof(r->detail));
    json_decref(body);
    if (rc != DLQ_OK)
        return act_failed(r, rc, id);
    char at[DLQ_TIME_MAX];
    dlq_time_format(e.resolved_at, at);
    json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "task_id",
                            e.original_task_id ? e.original_task_id : e.dlq_id, "dlq_id", e.dlq_id,
                            "status", dlq_status_name(e.status), "resolved_at", at,
                            "resolution_notes", e.resolution_notes);
    dlq_entry_clear(&e);
    return dlq_http_reply_json(r, MHD_HTTP_OK, obj, NULL);
}

int dlq_h_entries_discard(struct dlq_req *r)
{
    const char *id = r->params[0];
    const char *reason = query(r, "reason");
    if (reason && strlen(reason) > REASON_MAX) {
        dlq_errors_add(&r->errs, "reason", "must be at most %d bytes", REASON_MAX);
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid query");
    }
    struct dlq_entry e;
    int rc = dlq_service_discard(r->h->svc, &r->who, id, reason, &e, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return act_failed(r, rc, id);
    json_t *obj = json_pack("{s:s, s:s}", "dlq_id", e.dlq_id, "status", dlq_status_name(e.status));
    dlq_entry_clear(&e);
    return dlq_http_reply_json(r, MHD_HTTP_OK, obj, NULL);
}

/* outcome_error checks {type, message, traceback} (strings, all optional)
 * and returns it as compact JSON text (malloc'd), or NULL. */
static char *outcome_error(struct dlq_req *r, json_t *err)
{
    static const char *const keys[] = {"type", "message", "traceback", NULL};
    static const size_t max[] = {DLQ_MAX_SHORT, DLQ_MAX_MESSAGE, 8 * DLQ_MAX_MESSAGE};
    if (err == NULL || json_is_null(err))
        return NULL;
    if (!json_is_object(err)) {
        dlq_errors_add(&r->errs, "error", "must be an object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(err, key, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key) != 0)
            i++;
        if (!keys[i])
            dlq_errors_add(&r->errs, "error", "unknown field '%s'", key);
        else if (!json_is_string(v) && !json_is_null(v))
            dlq_errors_add(&r->errs, "error", "%s must be a string", key);
        else if (json_is_string(v) && json_string_length(v) > max[i])
            dlq_errors_add(&r->errs, "error", "%s must be at most %zu bytes", key, max[i]);
    }
    return r->errs.n ? NULL : json_dumps(err, JSON_COMPACT);
}

int dlq_h_entries_outcome(struct dlq_req *r)
{
    static const char *const allowed[] = {"succeeded", "error", NULL};
    const char *id = r->params[0];
    json_t *body;
    int rc = load_body(r, &body);
    if (rc != DLQ_OK)
        return rc;
    if (body == NULL)
        return dlq_http_fail(r, DLQ_E_INVAL, "a body {\"succeeded\": bool} is required");
    check_keys(r, body, allowed);
    json_t *ok = json_object_get(body, "succeeded");
    if (!json_is_boolean(ok))
        dlq_errors_add(&r->errs, "succeeded", "is required and must be true or false");
    char *error_json = outcome_error(r, json_object_get(body, "error"));
    int succeeded = json_is_true(ok);
    json_decref(body);
    if (r->errs.n > 0) {
        free(error_json);
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid outcome");
    }
    struct dlq_entry e;
    rc = dlq_service_outcome(r->h->svc, &r->who, id, succeeded, error_json, &e, r->detail,
                             sizeof(r->detail));
    free(error_json);
    if (rc != DLQ_OK)
        return act_failed(r, rc, id);
    json_t *obj = json_pack("{s:s, s:s}", "dlq_id", e.dlq_id, "status", dlq_status_name(e.status));
    dlq_entry_clear(&e);
    return dlq_http_reply_json(r, MHD_HTTP_OK, obj, NULL);
}
