/*
 * pg_job_fail.c: failed attempts and the timers on PostgreSQL, ported from
 * SQLite's sq_job_fail.c with the same answers. A failed attempt (reported
 * by the worker, or a lease that expired) either schedules the retry after
 * a full-jitter backoff or, with no attempts left or a non-retryable
 * reason, dead-letters the job in the same transaction: a new DLQ entry
 * stored as capture stores one (dlq_pg_capture_insert), with one
 * "attempt_failed" history event per attempt, or, for a replay job, the
 * replayed entry's REPLAY_FAILED (dlq_pg_act_replay_outcome). The timers
 * and the purge take their batches with FOR UPDATE SKIP LOCKED, so nodes
 * ticking at once share the work instead of queueing behind each other.
 * The JSON of an error and of the attempts is read here with jansson, so
 * that details come out as compact as SQLite's json_object writes them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "dlq/util.h"
#include "../store_json.h"
#include "pg_job_int.h"

/* json_text returns what SQLite's json_extract gives for v, as text:
 * strings as they are, true/false as 1/0, null or absent as NULL, anything
 * else as compact JSON. malloc'd; *oom set when a copy fails. */
static char *json_text(const json_t *v, int *oom)
{
    char *s = NULL;
    if (v == NULL || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        s = strdup(json_string_value(v));
    else if (json_is_true(v))
        s = strdup("1");
    else if (json_is_false(v))
        s = strdup("0");
    else
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        *oom = 1;
    return s;
}

/* error_fields reads {"type","message","traceback"} of error_json into e
 * (malloc'd strings; absent fields, or text that is not JSON, stay NULL). */
static int error_fields(const char *error_json, struct dlq_entry *e, char *err, size_t errlen)
{
    if (error_json == NULL)
        return DLQ_OK;
    json_t *root = json_loads(error_json, JSON_DECODE_ANY, NULL);
    int oom = 0;
    if (root && json_is_object(root)) {
        e->exc_type = json_text(json_object_get(root, "type"), &oom);
        e->exc_message = json_text(json_object_get(root, "message"), &oom);
        e->exc_traceback = json_text(json_object_get(root, "traceback"), &oom);
    }
    json_decref(root);
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

/* full_text reads the job's big columns (args, kwargs, metadata, attempts)
 * into e's task_args, task_kwargs, metadata and *attempts. */
static int full_text(struct pg_conn *c, int64_t id, struct dlq_entry *e, char **attempts, char *err,
                     size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    int oom = 0;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    int code = dlq_pg_exec(c, "SELECT args, kwargs, metadata, attempts FROM jobs WHERE id = $1", &p,
                           &r, "read job", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "read job: the job is gone");
    }
    e->task_args = dlq_pg_dup(r, 0, 0, &oom);
    e->task_kwargs = dlq_pg_dup(r, 0, 1, &oom);
    e->metadata = dlq_pg_dup(r, 0, 2, &oom);
    *attempts = dlq_pg_dup(r, 0, 3, &oom);
    PQclear(r);
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

/* attempt_event writes the "attempt_failed" event of attempt a (one object
 * of the attempts array) to the history of the entry eid. */
static int attempt_event(struct pg_conn *c, int64_t eid, json_t *a, char *err, size_t errlen)
{
    const char *const keys[] = {"attempt", "error", "duration_ms", "started_at", "outcome"};
    int64_t at = 0;
    const char *fin = json_string_value(json_object_get(a, "finished_at"));
    if (fin == NULL || dlq_time_parse(fin, &at) != DLQ_OK)
        return DLQ_OK; /* not an attempt this store wrote */
    json_t *d = json_object();
    int oom = d == NULL;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !oom; k++) {
        json_t *v = json_object_get(a, keys[k]);
        oom = json_object_set_new(d, keys[k], v ? json_incref(v) : json_null()) != 0;
    }
    char *details = oom ? NULL : json_dumps(d, JSON_COMPACT);
    json_decref(d);
    int worker_oom = 0;
    char *actor = json_text(json_object_get(a, "worker_id"), &worker_oom);
    if (details == NULL || worker_oom) {
        free(details);
        free(actor);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, eid);
    dlq_pg_p_int(&p, at);
    dlq_pg_p_text(&p, actor);
    dlq_pg_p_text(&p, details);
    int code = dlq_pg_exec(c,
                           "INSERT INTO entry_events(entry_id, at, event, actor, details)"
                           " VALUES($1, $2, 'attempt_failed', $3, $4)",
                           &p, NULL, "write attempt history", err, errlen);
    free(details);
    free(actor);
    return code;
}

/* attempt_events writes one "attempt_failed" event per failed attempt of
 * the attempts array to the history of the entry eid. */
static int attempt_events(struct pg_conn *c, int64_t eid, const char *attempts, char *err,
                          size_t errlen)
{
    json_t *arr = attempts ? json_loads(attempts, 0, NULL) : NULL;
    int code = DLQ_OK;
    size_t i;
    json_t *a;
    if (arr && json_is_array(arr))
        json_array_foreach(arr, i, a)
        {
            const char *outcome = json_string_value(json_object_get(a, "outcome"));
            if (outcome == NULL || strcmp(outcome, "succeeded") == 0)
                continue;
            if ((code = attempt_event(c, eid, a, err, errlen)) != DLQ_OK)
                break;
        }
    json_decref(arr);
    return code;
}

/* dead_letter stores the new entry dlq_id of the dead job j (row id) at now. */
static int dead_letter(struct pg_conn *c, const struct dlq_job *j, int64_t id,
                       enum dlq_reason reason, const char *error_json, int64_t now, char *dlq_id,
                       char *err, size_t errlen)
{
    struct dlq_entry e = {0};
    struct dlq_queue_settings qs;
    char *attempts = NULL, fp[17];
    int64_t eid = 0;
    int code = dlq_pg_queue_settings_read(c, j->queue, &qs, err, errlen);
    if (code != DLQ_OK)
        return code;
    if ((code = full_text(c, id, &e, &attempts, err, errlen)) != DLQ_OK ||
        (code = error_fields(error_json, &e, err, errlen)) != DLQ_OK)
        goto done;
    dlq_fingerprint(j->task_name, e.exc_type, e.exc_message, fp);
    /* Borrowed strings: cleared by hand below, not by dlq_entry_clear. */
    e.dlq_id = dlq_id;
    e.original_task_id = (char *)j->job_id;
    e.task_name = j->task_name;
    e.tenant_id = j->tenant_id;
    e.queue = j->queue;
    e.fingerprint = fp;
    e.retries_attempted = j->attempt;
    e.failed_at = e.processed_at = e.updated_at = now;
    e.status = DLQ_STATUS_PENDING_REVIEW;
    e.priority = j->priority;
    e.reason = reason;
    e.max_replays = qs.max_replays >= 0 ? qs.max_replays : 3;
    code = dlq_pg_capture_insert(c, &e, "system", &eid, err, errlen);
    if (code == DLQ_OK)
        code = attempt_events(c, eid, attempts, err, errlen);
done:
    free(e.task_args);
    free(e.task_kwargs);
    free(e.metadata);
    free(e.exc_type);
    free(e.exc_message);
    free(e.exc_traceback);
    free(attempts);
    return code;
}

/* The statements of a failed attempt: $1 id, $2 error, $3 now, $4 the
 * attempt record, $5 the retry's run_at or the dead job's entry. */
static const char retry_sql[] = "UPDATE jobs SET state = 2, run_at = $5, lease_token = NULL,"
                                " lease_expires_at = NULL, last_error = $2, updated_at = $3,"
                                " " PG_JOB_APPEND("4") " WHERE id = $1";
static const char dead_sql[] = "UPDATE jobs SET state = 5, finished_at = $3, lease_token = NULL,"
                               " lease_expires_at = NULL, last_error = $2, updated_at = $3,"
                               " dlq_id = $5, " PG_JOB_APPEND("4") " WHERE id = $1";

int dlq_pg_job_failed(struct pg_conn *c, const struct dlq_job *j, int64_t id, int retryable,
                      enum dlq_reason reason, int timeout, const char *error_json, int64_t now,
                      struct pg_qnotify *qn, struct dlq_job_result *res, char *err, size_t errlen)
{
    int retry = retryable && j->attempt <= j->max_retries;
    int64_t run_at = 0;
    char dlq_id[40] = "";
    if (!retry && !j->replay_of) {
        uint8_t idr[10];
        if (dlq_random(idr, sizeof idr) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
        idr[0] &= 0x7f;
        dlq_id_make("dlq", now, idr, dlq_id, sizeof dlq_id);
    }
    if (retry) {
        uint64_t rnd = 0;
        if (dlq_random(&rnd, sizeof rnd) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
        run_at = now + dlq_backoff_ms(j->backoff_base_ms, j->backoff_factor, j->backoff_max_ms,
                                      j->attempt, rnd);
    }
    char *attempt = dlq_store_job_attempt(j, now, timeout ? "timeout" : "failed", error_json);
    if (attempt == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    dlq_pg_p_text(&p, error_json);
    dlq_pg_p_int(&p, now);
    dlq_pg_p_text(&p, attempt);
    if (retry)
        dlq_pg_p_int(&p, run_at);
    else
        dlq_pg_p_text(&p, j->replay_of ? j->replay_of : dlq_id);
    int code = DLQ_OK;
    if (!retry && j->replay_of) {
        /* A replay that failed for good returns its entry for review: the
         * entry before the job, the order every transaction that changes
         * both keeps (pg_job_run.c ack), so counter locks cannot deadlock. */
        code = dlq_pg_act_replay_outcome(c, j->replay_of, j->job_id, 0, error_json,
                                         j->worker_id ? j->worker_id : "system", now, err, errlen);
    }
    if (code == DLQ_OK)
        code = dlq_pg_exec(c, retry ? retry_sql : dead_sql, &p, NULL, "fail job", err, errlen);
    free(attempt);
    if (code != DLQ_OK)
        return code;
    snprintf(res->job_id, sizeof res->job_id, "%s", j->job_id);
    res->attempt = j->attempt;
    if (retry) {
        res->state = DLQ_JOB_SCHEDULED;
        res->next_run_at = run_at;
        /* a retry due at once (the jitter can draw 0) is ready at the next
         * tick: tell waiting long polls to look again */
        return run_at <= now ? dlq_pg_job_notify(c, qn, j->queue, err, errlen) : DLQ_OK;
    }
    res->state = DLQ_JOB_DEAD;
    if (j->replay_of) {
        snprintf(res->dlq_id, sizeof res->dlq_id, "%s", j->replay_of);
        return DLQ_OK;
    }
    if (timeout)
        reason = DLQ_REASON_TIMEOUT;
    else if (retryable)
        reason = DLQ_REASON_MAX_RETRIES_EXCEEDED;
    else if (reason == DLQ_REASON_NONE)
        reason = DLQ_REASON_PERMANENT_FAILURE;
    snprintf(res->dlq_id, sizeof res->dlq_id, "%s", dlq_id);
    return dead_letter(c, j, id, reason, error_json, now, dlq_id, err, errlen);
}

/* ---- job_fail ---- */

struct fail_req {
    const struct dlq_job_fail *f;
    struct dlq_job_result *res;
};

static int fail_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct fail_req *q = ctx;
    const struct dlq_job_fail *f = q->f;
    struct pg_qnotify qn = {.n = 0};
    struct dlq_job j;
    int64_t id = 0;
    memset(q->res, 0, sizeof *q->res);
    int code =
        dlq_pg_job_lease(c, f->job_id, f->lease_token, f->tenant, &j, &id, q->res, err, errlen);
    if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", q->res->detail);
    }
    if (code == DLQ_OK)
        code = dlq_pg_job_failed(c, &j, id, f->retryable, f->reason, 0, f->error_json, f->now, &qn,
                                 q->res, err, errlen);
    dlq_job_clear(&j);
    return code;
}

int dlq_pg_job_fail(struct dlq_store *s, const struct dlq_job_fail *f, struct dlq_job_result *res,
                    char *err, size_t errlen)
{
    struct fail_req q = {f, res};
    int code = dlq_pg_tx(PG(s), fail_body, &q, err, errlen);
    res->code = code;
    if (code != DLQ_OK && res->detail[0] == '\0')
        snprintf(res->detail, sizeof res->detail, "%s", err ? err : "");
    return code;
}

/* ---- the timers ---- */

struct tick_req {
    int64_t now;
    int limit;
    int64_t ready, expired, next_due;
};

/* promote makes due scheduled jobs ready, oldest run_at first, and tells
 * each queue's listeners. */
static int promote(struct pg_conn *c, struct tick_req *q, struct pg_qnotify *qn, char *err,
                   size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, q->now);
    dlq_pg_p_int(&p, q->limit);
    int code = dlq_pg_exec(c,
                           "WITH due AS (UPDATE jobs SET state = 1, updated_at = $1 WHERE id IN"
                           " (SELECT id FROM jobs WHERE state = 2 AND run_at <= $1"
                           " ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING queue)"
                           " SELECT queue, count(*) FROM due GROUP BY queue",
                           &p, &r, "promote jobs", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r) && code == DLQ_OK; i++) {
        q->ready += dlq_pg_i64(r, i, 1);
        code = dlq_pg_job_notify(c, qn, PQgetvalue(r, i, 0), err, errlen);
    }
    PQclear(r);
    return code;
}

/* expire fails the leases that ran out, earliest first. */
static int expire(struct pg_conn *c, struct tick_req *q, struct pg_qnotify *qn, char *err,
                  size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, q->now);
    dlq_pg_p_int(&p, q->limit);
    int code = dlq_pg_exec(c,
                           "SELECT " PG_JOB_LEASE " FROM jobs WHERE state = 3"
                           " AND lease_expires_at <= $1 ORDER BY lease_expires_at LIMIT $2"
                           " FOR UPDATE SKIP LOCKED",
                           &p, &r, "find expired leases", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r) && code == DLQ_OK; i++) {
        struct dlq_job j;
        struct dlq_job_result res = {0};
        char e[128];
        if (dlq_pg_job_from_row(r, i, 0, &j) != DLQ_OK) {
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            break;
        }
        long long secs = (j.lease_expires_at - j.started_at + 500) / 1000;
        snprintf(e, sizeof e, "{\"type\":\"timeout\",\"message\":\"lease expired after %lld s\"}",
                 secs);
        code = dlq_pg_job_failed(c, &j, dlq_pg_i64(r, i, PJ_NCOLS), 1, DLQ_REASON_TIMEOUT, 1, e,
                                 q->now, qn, &res, err, errlen);
        q->expired++;
        dlq_job_clear(&j);
    }
    PQclear(r);
    return code;
}

/* next_due reads the earliest run_at / lease expiry still ahead. */
static int next_due(struct pg_conn *c, struct tick_req *q, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int code = dlq_pg_exec(c,
                           "SELECT (SELECT min(run_at) FROM jobs WHERE state = 2),"
                           " (SELECT min(lease_expires_at) FROM jobs WHERE state = 3)",
                           NULL, &r, "next timer", err, errlen);
    if (code != DLQ_OK)
        return code;
    q->next_due = 0;
    for (int i = 0; PQntuples(r) > 0 && i < 2; i++) {
        if (dlq_pg_isnull(r, 0, i))
            continue;
        int64_t t = dlq_pg_i64(r, 0, i);
        if (q->next_due == 0 || t < q->next_due)
            q->next_due = t;
    }
    PQclear(r);
    return DLQ_OK;
}

static int tick_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct tick_req *q = ctx;
    struct pg_qnotify qn = {.n = 0};
    q->ready = q->expired = q->next_due = 0;
    int code = promote(c, q, &qn, err, errlen);
    if (code == DLQ_OK)
        code = expire(c, q, &qn, err, errlen);
    if (code == DLQ_OK)
        code = next_due(c, q, err, errlen);
    return code;
}

int dlq_pg_job_tick(struct dlq_store *s, int64_t now, int limit, int64_t *ready, int64_t *expired,
                    int64_t *next_due_out, char *err, size_t errlen)
{
    struct tick_req q = {.now = now, .limit = limit > 0 ? limit : 1000};
    int code = dlq_pg_tx(PG(s), tick_body, &q, err, errlen);
    *ready = code == DLQ_OK ? q.ready : 0;
    *expired = code == DLQ_OK ? q.expired : 0;
    *next_due_out = code == DLQ_OK ? q.next_due : 0;
    return code;
}

/* ---- purge ---- */

struct purge_req {
    int64_t cutoff;
    int limit;
    int64_t n;
};

static int purge_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct purge_req *q = ctx;
    struct pg_params p;
    PGresult *r = NULL;
    q->n = 0;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, q->cutoff);
    dlq_pg_p_int(&p, q->limit);
    int code = dlq_pg_exec(c,
                           "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state >= 4"
                           " AND finished_at < $1 ORDER BY finished_at LIMIT $2"
                           " FOR UPDATE SKIP LOCKED)",
                           &p, &r, "purge jobs", err, errlen);
    if (code != DLQ_OK)
        return code;
    q->n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DLQ_OK;
}

int dlq_pg_job_purge(struct dlq_store *s, int64_t cutoff, int limit, int64_t *n, char *err,
                     size_t errlen)
{
    struct purge_req q = {cutoff, limit > 0 ? limit : 1000, 0};
    int code = dlq_pg_tx(PG(s), purge_body, &q, err, errlen);
    *n = code == DLQ_OK ? q.n : 0;
    return code;
}
