/*
 * sq_job_fail.c: failed attempts and the timers. A failed attempt (reported
 * by the worker, or a lease that expired) either schedules the retry after
 * a full-jitter backoff or, with no attempts left or a non-retryable
 * reason, dead-letters the job in the same transaction: a new DLQ entry
 * stored exactly as capture stores one (sq_capture.c), with one
 * "attempt_failed" history event per attempt, or, for a replay job, the
 * replayed entry's REPLAY_FAILED through the entry state machine. The
 * timers (job_tick) find due retries and expired leases through their
 * partial indexes in time order, a bounded batch per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "../store_json.h"
#include "sq_int.h"

/* error_fields reads {"type","message","traceback"} of error_json into e
 * (malloc'd strings; absent fields stay NULL). */
static int error_fields(struct sq_conn *w, const char *error_json, struct dlq_entry *e, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    if (error_json == NULL)
        return DLQ_OK;
    int code = dlq_sq_stmt_dyn(w,
                               "SELECT json_extract(?1,'$.type'), json_extract(?1,'$.message'),"
                               " json_extract(?1,'$.traceback') WHERE json_valid(?1)",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, error_json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        e->exc_type = dlq_sq_col_dup(st, 0, &oom);
        e->exc_message = dlq_sq_col_dup(st, 1, &oom);
        e->exc_traceback = dlq_sq_col_dup(st, 2, &oom);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "read job error");
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

/* full_text reads the job's big columns (args, kwargs, metadata, attempts)
 * into e's task_args, task_kwargs, metadata and *attempts. */
static int full_text(struct sq_conn *w, sqlite3_int64 rowid, struct dlq_entry *e, char **attempts,
                     char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, "SELECT args, kwargs, metadata, attempts FROM jobs WHERE id = ?1",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, rowid);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        e->task_args = dlq_sq_col_dup(st, 0, &oom);
        e->task_kwargs = dlq_sq_col_dup(st, 1, &oom);
        e->metadata = dlq_sq_col_dup(st, 2, &oom);
        *attempts = dlq_sq_col_dup(st, 3, &oom);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return dlq_sq_err(w->db, rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc, err, errlen, "read job");
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

/* attempt_events writes one "attempt_failed" event per failed attempt of
 * the attempts array to the history of the entry at rowid. */
static int attempt_events(struct sq_conn *w, sqlite3_int64 rowid, const char *attempts, char *err,
                          size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(
        w,
        "INSERT INTO entry_events(entry_id, at, event, actor, details)"
        " SELECT ?1, CAST(round((julianday(json_extract(value, '$.finished_at')) - 2440587.5)"
        " * 86400000.0) AS INTEGER), 'attempt_failed', json_extract(value, '$.worker_id'),"
        " json_object('attempt', json_extract(value, '$.attempt'),"
        " 'error', json_extract(value, '$.error'),"
        " 'duration_ms', json_extract(value, '$.duration_ms'),"
        " 'started_at', json_extract(value, '$.started_at'),"
        " 'outcome', json_extract(value, '$.outcome'))"
        " FROM json_each(?2) WHERE json_extract(value, '$.outcome') <> 'succeeded'",
        &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_text(st, 2, attempts ? attempts : "[]", -1, SQLITE_STATIC);
    return dlq_sq_job_step(w, st, err, errlen, "write attempt history");
}

/* dead_letter stores the new entry dlq_id of the dead job j (row rowid) at
 * now. */
static int dead_letter(struct sq_conn *w, const struct dlq_job *j, sqlite3_int64 rowid,
                       enum dlq_reason reason, const char *error_json, int64_t now, char *dlq_id,
                       char *err, size_t errlen)
{
    struct dlq_entry e = {0};
    struct dlq_queue_settings qs;
    char *attempts = NULL, fp[17];
    sqlite3_int64 erow = 0;
    int code = dlq_sq_queue_settings_read(w, j->queue, &qs, err, errlen);
    if (code != DLQ_OK)
        return code;
    if ((code = full_text(w, rowid, &e, &attempts, err, errlen)) != DLQ_OK ||
        (code = error_fields(w, error_json, &e, err, errlen)) != DLQ_OK)
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
    code = dlq_sq_capture_insert(w, &e, "system", &erow, err, errlen);
    if (code == DLQ_OK)
        code = attempt_events(w, erow, attempts, err, errlen);
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

int dlq_sq_job_failed(struct sq_conn *w, const struct dlq_job *j, sqlite3_int64 rowid,
                      int retryable, enum dlq_reason reason, int timeout, const char *error_json,
                      int64_t now, struct sq_jdelta *d, struct dlq_job_result *res, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st;
    int retry = retryable && j->attempt <= j->max_retries;
    int64_t run_at = 0;
    char *attempt = dlq_store_job_attempt(j, now, timeout ? "timeout" : "failed", error_json);
    if (attempt == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    char dlq_id[40] = "";
    if (!retry && !j->replay_of) {
        uint8_t idr[10];
        if (dlq_random(idr, sizeof idr) != DLQ_OK) {
            free(attempt);
            return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
        }
        idr[0] &= 0x7f;
        dlq_id_make("dlq", now, idr, dlq_id, sizeof dlq_id);
    }
    if (retry) {
        uint64_t rnd = 0;
        if (dlq_random(&rnd, sizeof rnd) != DLQ_OK) {
            free(attempt);
            return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
        }
        run_at = now + dlq_backoff_ms(j->backoff_base_ms, j->backoff_factor, j->backoff_max_ms,
                                      j->attempt, rnd);
    }
    int code = dlq_sq_stmt_dyn(
        w,
        retry ? "UPDATE jobs SET state = 2, run_at = ?5, lease_token = NULL,"
                " lease_expires_at = NULL, last_error = ?2, updated_at = ?3, " SQ_JOB_APPEND(
                    "4") " WHERE id = ?1"
              : "UPDATE jobs SET state = 5, finished_at = ?3, lease_token = NULL,"
                " lease_expires_at = NULL, last_error = ?2, updated_at = ?3, dlq_id = "
                "?6, " SQ_JOB_APPEND("4") " WHERE id = ?1",
        &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int64(st, 1, rowid);
        dlq_sq_bind_text(st, 2, error_json);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_text(st, 4, attempt, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, run_at);
        if (!retry)
            sqlite3_bind_text(st, 6, j->replay_of ? j->replay_of : dlq_id, -1, SQLITE_STATIC);
        code = dlq_sq_job_step(w, st, err, errlen, "fail job");
    }
    free(attempt);
    if (code != DLQ_OK)
        return code;
    snprintf(res->job_id, sizeof res->job_id, "%s", j->job_id);
    res->attempt = j->attempt;
    if (retry) {
        dlq_sq_jdelta_move(d, j->queue, j->tenant_id, DLQ_JOB_RUNNING, DLQ_JOB_SCHEDULED);
        res->state = DLQ_JOB_SCHEDULED;
        res->next_run_at = run_at;
        return DLQ_OK;
    }
    dlq_sq_jdelta_move(d, j->queue, j->tenant_id, DLQ_JOB_RUNNING, DLQ_JOB_DEAD);
    res->state = DLQ_JOB_DEAD;
    if (j->replay_of) {
        /* A replay that failed for good returns its entry for review. */
        snprintf(res->dlq_id, sizeof res->dlq_id, "%s", j->replay_of);
        return dlq_sq_act_replay_outcome(w, j->replay_of, j->job_id, 0, error_json,
                                         j->worker_id ? j->worker_id : "system", now, err, errlen);
    }
    if (timeout)
        reason = DLQ_REASON_TIMEOUT;
    else if (retryable)
        reason = DLQ_REASON_MAX_RETRIES_EXCEEDED;
    else if (reason == DLQ_REASON_NONE)
        reason = DLQ_REASON_PERMANENT_FAILURE;
    snprintf(res->dlq_id, sizeof res->dlq_id, "%s", dlq_id);
    return dead_letter(w, j, rowid, reason, error_json, now, dlq_id, err, errlen);
}

/* ---- job_fail ---- */

struct fail_req {
    const struct dlq_job_fail *f;
    struct dlq_job_result *res;
};

static int fail_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct fail_req *q = arg;
    const struct dlq_job_fail *f = q->f;
    struct dlq_job j;
    struct sq_jdelta d = {0};
    sqlite3_int64 rowid;
    memset(q->res, 0, sizeof *q->res);
    int code =
        dlq_sq_job_lease(w, f->job_id, f->lease_token, f->tenant, &j, &rowid, q->res, err, errlen);
    if (code == DLQ_E_NOTFOUND || code == DLQ_E_CONFLICT) {
        dlq_job_clear(&j);
        return dlq_errf(err, errlen, code, "%s", q->res->detail);
    }
    if (code == DLQ_OK)
        code = dlq_sq_job_failed(w, &j, rowid, f->retryable, f->reason, 0, f->error_json, f->now,
                                 &d, q->res, err, errlen);
    dlq_job_clear(&j);
    if (code == DLQ_OK)
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_job_fail implements job_fail (store.h). */
int dlq_sq_job_fail(struct dlq_store *base, const struct dlq_job_fail *f,
                    struct dlq_job_result *res, char *err, size_t errlen)
{
    struct fail_req q = {f, res};
    int code = dlq_sq_write((struct sq_store *)base, fail_fn, &q, err, errlen);
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

/* promote makes due scheduled jobs ready, oldest run_at first. */
static int promote(struct sq_conn *w, struct tick_req *q, struct sq_jdelta *d, char *err,
                   size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "UPDATE jobs SET state = 1, updated_at = ?1 WHERE id IN (SELECT id"
                               " FROM jobs WHERE state = 2 AND run_at <= ?1 ORDER BY run_at"
                               " LIMIT ?2) RETURNING queue, tenant_id",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, q->now);
    sqlite3_bind_int(st, 2, q->limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dlq_sq_jdelta_move(d, (const char *)sqlite3_column_text(st, 0),
                           (const char *)sqlite3_column_text(st, 1), DLQ_JOB_SCHEDULED,
                           DLQ_JOB_QUEUED);
        q->ready++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DLQ_OK : dlq_sq_err(w->db, rc, err, errlen, "promote jobs");
}

/* expire fails the leases that ran out, earliest first. */
static int expire(struct sq_conn *w, struct tick_req *q, struct sq_jdelta *d, char *err,
                  size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "SELECT " SQ_JOB_LEASE " FROM jobs WHERE state = 3"
                               " AND lease_expires_at <= ?1 ORDER BY lease_expires_at LIMIT ?2",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, q->now);
    sqlite3_bind_int(st, 2, q->limit);
    size_t n = 0, cap = 0;
    struct dlq_job *jobs = NULL;
    sqlite3_int64 *rows = NULL;
    int rc;
    while (code == DLQ_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct dlq_job *pj = realloc(jobs, cap * sizeof *pj);
            if (pj)
                jobs = pj;
            sqlite3_int64 *pr = pj ? realloc(rows, cap * sizeof *pr) : NULL;
            if (pr)
                rows = pr;
            if (!pj || !pr) {
                code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
                break;
            }
        }
        rows[n] = sqlite3_column_int64(st, SJ_NCOLS);
        if (dlq_sq_job_from_row(st, &jobs[n]) != DLQ_OK) {
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    sqlite3_reset(st);
    if (code == DLQ_OK && rc != SQLITE_DONE)
        code = dlq_sq_err(w->db, rc, err, errlen, "find expired leases");
    for (size_t i = 0; i < n; i++) {
        if (code == DLQ_OK) {
            struct dlq_job *j = &jobs[i];
            struct dlq_job_result r = {0};
            char e[128];
            long long secs = (j->lease_expires_at - j->started_at + 500) / 1000;
            snprintf(e, sizeof e,
                     "{\"type\":\"timeout\",\"message\":\"lease expired after %lld s\"}", secs);
            code = dlq_sq_job_failed(w, j, rows[i], 1, DLQ_REASON_TIMEOUT, 1, e, q->now, d, &r, err,
                                     errlen);
            q->expired++;
        }
        dlq_job_clear(&jobs[i]);
    }
    free(jobs);
    free(rows);
    return code;
}

/* next_due reads the earliest run_at / lease expiry still ahead. */
static int next_due(struct sq_conn *w, struct tick_req *q, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "SELECT (SELECT min(run_at) FROM jobs WHERE state = 2),"
                               " (SELECT min(lease_expires_at) FROM jobs WHERE state = 3)",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int rc = sqlite3_step(st);
    q->next_due = 0;
    for (int i = 0; rc == SQLITE_ROW && i < 2; i++) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL)
            continue;
        int64_t t = sqlite3_column_int64(st, i);
        if (q->next_due == 0 || t < q->next_due)
            q->next_due = t;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? DLQ_OK : dlq_sq_err(w->db, rc, err, errlen, "next timer");
}

static int tick_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct tick_req *q = arg;
    struct sq_jdelta d = {0};
    q->ready = q->expired = q->next_due = 0;
    int code = promote(w, q, &d, err, errlen);
    if (code == DLQ_OK)
        code = expire(w, q, &d, err, errlen);
    if (code == DLQ_OK)
        code = next_due(w, q, err, errlen);
    if (code == DLQ_OK)
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_job_tick implements job_tick (store.h). */
int dlq_sq_job_tick(struct dlq_store *base, int64_t now, int limit, int64_t *ready,
                    int64_t *expired, int64_t *next_due_out, char *err, size_t errlen)
{
    struct tick_req q = {.now = now, .limit = limit > 0 ? limit : 1000};
    int code = dlq_sq_write((struct sq_store *)base, tick_fn, &q, err, errlen);
    *ready = code == DLQ_OK ? q.ready : 0;
    *expired = code == DLQ_OK ? q.expired : 0;
    *next_due_out = code == DLQ_OK ? q.next_due : 0;
    return code;
}
