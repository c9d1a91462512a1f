/*
 * sq_act.c: actions on entries (retry, force redrive, resolve, discard,
 * replay outcomes, expiry, archiving, purge), one or many per write request.
 * Each action finds the entry on the writer connection, applies it
 * (sq_act_apply.c: the state machine's verdict, then row, history, counters,
 * group and outcome bookkeeping) and writes the audit record, all inside the
 * one write request: the writer serializes requests, so of two concurrent
 * actions on one entry exactly one finds the status it expected and the
 * other is refused.
 *
 * Capture uses the same path for a failed replay reported by ingest
 * (replay_of, or an original_task_id equal to an entry's retry_task_id): the
 * entry it replays is updated instead of a new one being stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "../store_json.h"
#include "sq_int.h"

#define SEL_COLS "SELECT " SQ_ENTRY_COLS ", e.id, e.op_id FROM entries e "

static const char *const sql_by_dlq_id =
    SEL_COLS "WHERE e.dlq_id = ?1 AND (?2 IS NULL OR e.tenant_id = ?2)";
/* The same lookup without the big text columns (exception message and
 * traceback, args, kwargs, metadata, context: NULL in their places), for the
 * actions that neither change nor return them: the state machine, counters,
 * group and history need only the small columns, and a bulk replay reads
 * thousands of rows per request. The row's update then sets only the columns
 * the action changes (sq_act_apply.c), so the NULLs are never written. */
static const char *const sql_light_by_dlq_id =
    "SELECT " SQ_ENTRY_SMALL_COLS ", NULL, NULL, NULL, NULL, NULL, NULL, e.id, e.op_id"
    " FROM entries e WHERE e.dlq_id = ?1 AND (?2 IS NULL OR e.tenant_id = ?2)";
static const char *const sql_by_task_id =
    SEL_COLS "INDEXED BY ix_entries_orig WHERE e.original_task_id = ?1"
             " AND (?2 IS NULL OR e.tenant_id = ?2) ORDER BY e.failed_at DESC, e.id DESC LIMIT 1";
static const char *const sql_by_retry_id =
    SEL_COLS "WHERE e.retry_task_id = ?1 AND e.tenant_id = ?2 ORDER BY e.id DESC LIMIT 1";

/* find_row runs one lookup (key bound to ?1, tenant to ?2); 1 with *out
 * filled when found, 0 when not, or a negative code. */
static int find_row(struct sq_conn *w, const char *sql, const char *key, const char *tenant,
                    struct sq_act_row *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, sql, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, tenant);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        code = dlq_sq_act_row_read(st, out);
        sqlite3_reset(st);
        if (code != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        return 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "find entry");
    return 0;
}

/* is_replay: RETRY and FORCE_RETRY create the replay job (issue 4). */
static int is_replay(const struct dlq_act *a)
{
    return a->action == DLQ_ACTION_RETRY || a->action == DLQ_ACTION_FORCE_RETRY;
}

/* ---- act: one entry ---- */

struct act_req {
    const char *id;
    const struct dlq_act *a;
    const char *rtid;
    const struct dlq_audit *audit;
    struct sq_act_row row;
};

static int act_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct act_req *q = arg;
    /* The writer may run a request twice (its group is retried safely after
     * another request failed): start from nothing each time. */
    dlq_sq_act_row_clear(&q->row);
    int code = find_row(w, sql_by_dlq_id, q->id, q->a->tenant, &q->row, err, errlen);
    if (code == 0)
        code = find_row(w, sql_by_task_id, q->id, q->a->tenant, &q->row, err, errlen);
    if (code == 0)
        return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no entry with id '%.100s'", q->id);
    if (code < 0)
        return code;
    if ((code = dlq_sq_act_apply(w, &q->row, q->a, q->rtid, err, errlen)) != DLQ_OK)
        return code;
    struct sq_jdelta d = {0}; /* issue 4: the replay is a job */
    if (is_replay(q->a) && q->rtid)
        code = dlq_sq_job_from_entry(w, &q->row, q->rtid, q->a, &d, err, errlen);
    if (code == DLQ_OK && q->audit) {
        const char *ids[1] = {q->row.e.dlq_id};
        code = dlq_sq_audit_write(w, q->audit, q->a->now, ids, 1, err, errlen);
    }
    if (code == DLQ_OK) /* last: the job depths count only if the request stands */
        return dlq_sq_jdelta_flush(w, &d, err, errlen);
    dlq_sq_jdelta_free(&d);
    return code;
}

/* dlq_sq_act implements act (store.h). */
int dlq_sq_act(struct dlq_store *base, const char *id, const struct dlq_act *a,
               const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
               char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct act_req q = {.id = id, .a = a, .rtid = retry_task_id, .audit = audit};
    if (after)
        memset(after, 0, sizeof *after);
    int code = dlq_sq_write(s, act_fn, &q, err, errlen);
    if (code == DLQ_OK && after) {
        *after = q.row.e;
        memset(&q.row.e, 0, sizeof q.row.e);
    }
    dlq_sq_act_row_clear(&q.row);
    return code;
}

/* ---- act_many: n entries by dlq_id, one commit ---- */

struct many_req {
    struct sq_store *s;
    const char *const *ids;
    size_t n;
    const struct dlq_act *a;
    const char *const *rtids;
    const struct dlq_audit *audit;
    struct dlq_act_result *res;
};

static int many_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct many_req *q = arg;
    const char **done = calloc(q->n ? q->n : 1, sizeof *done);
    /* The rows live until the end: the jobs kept in jb point into them. */
    struct sq_act_row *rows = calloc(q->n ? q->n : 1, sizeof *rows);
    struct sq_jdelta jd = {0}; /* issue 4: depths of the replay jobs */
    size_t ndone = 0;
    int code = DLQ_OK;
    if (done == NULL || rows == NULL) {
        free(done);
        free(rows);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    /* Edits and purges need the big columns (history before/after, the
     * full-text delete); the rest read the light row. */
    int full =
        q->a->edit || q->a->action == DLQ_ACTION_REPLAY_FAILED || q->a->action == DLQ_ACTION_PURGE;
    const char *sql = full ? sql_by_dlq_id : sql_light_by_dlq_id;
    /* A bulk replay's chunk may have been read ahead (sq_preread.c). */
    struct sq_pre pre = {0};
    if (!full && q->a->progress)
        dlq_sq_pre_take(q->s, w, q->ids, q->n, &pre);
    /* History events and the jobs of rows read ahead go in together at the
     * end (sq_act_rows.c), in the order they came. */
    struct sq_evbuf ev = {0};
    struct sq_jobbuf jb = {0};
    if (!full)
        w->evbuf = &ev;
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        struct dlq_act_result *r = &q->res[i];
        struct sq_act_row *row = &rows[i];
        memset(r, 0, sizeof *r);
        if (dlq_sq_pre_row(q->s, &pre, i, q->ids[i], row))
            code = q->a->tenant && strcmp(row->e.tenant_id ? row->e.tenant_id : "", q->a->tenant)
                       ? 0 /* as find_row: another tenant's entry is not found */
                       : 1;
        else
            code = find_row(w, sql, q->ids[i], q->a->tenant, row, err, errlen);
        if (code < 0)
            break;
        if (code == 0) {
            dlq_sq_act_row_clear(row);
            r->code = DLQ_E_NOTFOUND;
            snprintf(r->detail, sizeof r->detail, "no entry with id '%.100s'", q->ids[i]);
            code = DLQ_OK;
            continue;
        }
        code = dlq_sq_act_apply(w, row, q->a, q->rtids ? q->rtids[i] : NULL, r->detail,
                                sizeof r->detail);
        if (code == DLQ_E_CONFLICT) {
            r->code = code;
            code = DLQ_OK;
        } else if (code == DLQ_OK) {
            r->status = row->e.status;
            done[ndone++] = q->ids[i];
            if (is_replay(q->a) && q->rtids && q->rtids[i]) {
                if (row->payload) {
                    if (dlq_sq_jobbuf_add(&jb, row, q->rtids[i]) != DLQ_OK)
                        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
                } else { /* the jobs kept first, so they keep their order */
                    code = dlq_sq_jobbuf_flush(w, &jb, q->a, &jd, err, errlen);
                    if (code == DLQ_OK)
                        code = dlq_sq_job_from_entry(w, row, q->rtids[i], q->a, &jd, err, errlen);
                }
            }
        } else {
            snprintf(err, errlen, "%s", r->detail);
        }
    }
    w->evbuf = NULL;
    if (code == DLQ_OK)
        code = dlq_sq_evbuf_flush(w, &ev, err, errlen);
    if (code == DLQ_OK)
        code = dlq_sq_jobbuf_flush(w, &jb, q->a, &jd, err, errlen);
    if (code == DLQ_OK && q->audit)
        code = dlq_sq_audit_write(w, q->audit, q->a->now, done, ndone, err, errlen);
    if (code == DLQ_OK && q->a->progress) {
        struct dlq_op op = *q->a->progress; /* shallow: saved, never freed here */
        op.processed += (int64_t)q->n;
        op.skipped += (int64_t)(q->n - ndone);
        code = dlq_sq_op_save_in(w, &op, err, errlen);
    }
    if (code == DLQ_OK) /* last: the job depths count only if the request stands */
        code = dlq_sq_jdelta_flush(w, &jd, err, errlen);
    dlq_sq_jdelta_free(&jd);
    dlq_sq_evbuf_free(&ev);
    dlq_sq_jobbuf_free(&jb);
    for (size_t i = 0; i < q->n; i++)
        dlq_sq_act_row_clear(&rows[i]);
    free(rows);
    dlq_sq_pre_free(&pre);
    free(done);
    return code;
}

/* dlq_sq_act_many implements act_many (store.h). */
int dlq_sq_act_many(struct dlq_store *base, const char *const *ids, size_t n,
                    const struct dlq_act *a, const char *const *retry_task_ids,
                    const struct dlq_audit *audit, struct dlq_act_result *res, char *err,
                    size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct many_req q = {s, ids, n, a, retry_task_ids, audit, res};
    /* A chunk of a bulk op does not wait for its fsync (store.h, progress). */
    int code = a->progress ? dlq_sq_write_at_commit(s, many_fn, &q, err, errlen)
                           : dlq_sq_write(s, many_fn, &q, err, errlen);
    if (code != DLQ_OK)
        for (size_t i = 0; i < n; i++) {
            res[i].code = code;
            snprintf(res[i].detail, sizeof res[i].detail, "%s", err ? err : "");
        }
    return code;
}

/* ---- issue 4: the outcome of a replay job ---- */

/* dlq_sq_act_replay_outcome: see sq_int.h. The full row is read for a
 * failure (its text index row is rewritten with the new error). */
int dlq_sq_act_replay_outcome(struct sq_conn *w, const char *dlq_id, const char *job_id, int ok,
                              const char *error_json, const char *actor, int64_t now, char *err,
                              size_t errlen)
{
    struct sq_act_row row = {0};
    int code =
        find_row(w, ok ? sql_light_by_dlq_id : sql_by_dlq_id, dlq_id, NULL, &row, err, errlen);
    if (code <= 0)
        return code;
    code = DLQ_OK;
    if (row.e.status == DLQ_STATUS_RETRIED && row.e.retry_task_id &&
        strcmp(row.e.retry_task_id, job_id) == 0) {
        struct dlq_act a = {.action = ok ? DLQ_ACTION_REPLAY_SUCCEEDED : DLQ_ACTION_REPLAY_FAILED,
                            .now = now,
                            .actor = actor,
                            .error_json = error_json};
        code = dlq_sq_act_apply(w, &row, &a, NULL, err, errlen);
        if (code == DLQ_E_CONFLICT) /* the state machine refused: left as it is */
            code = DLQ_OK;
    }
    dlq_sq_act_row_clear(&row);
    return code;
}

/* ---- capture: a failure that is a failed replay ---- */

/* dlq_sq_capture_replay is called by capture before inserting e: when e
 * names replay_of, or its original_task_id is the retry_task_id of an entry
 * of the same tenant, and that entry is retried, the entry is updated as a
 * failed replay (REPLAY_FAILED, history carries the new error) and r says so
 * (created 0, updated 1): returns 1. Returns 0 when e is a new failure (also
 * when the entry it names is not awaiting a replay outcome: the failure is
 * then kept as an entry of its own rather than lost), or a negative code. */
int dlq_sq_capture_replay(struct sq_conn *w, const struct dlq_entry *e, const char *tenant,
                          const char *actor, int64_t now, struct dlq_capture_result *r, char *err,
                          size_t errlen)
{
    struct sq_act_row row = {0};
    int code = 0;
    if (e->replay_of)
        code = find_row(w, sql_by_dlq_id, e->replay_of, tenant, &row, err, errlen);
    if (code == 0 && e->original_task_id)
        code = find_row(w, sql_by_retry_id, e->original_task_id, tenant, &row, err, errlen);
    if (code <= 0)
        return code;
    if (row.e.status != DLQ_STATUS_RETRIED) {
        dlq_sq_act_row_clear(&row);
        return 0;
    }
    char *ejson = dlq_store_error_json(e);
    if (ejson == NULL) {
        dlq_sq_act_row_clear(&row);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct dlq_act a = {.action = DLQ_ACTION_REPLAY_FAILED,
                        .now = now,
                        .actor = actor,
                        .tenant = tenant,
                        .error_json = ejson};
    code = dlq_sq_act_apply(w, &row, &a, NULL, err, errlen);
    free(ejson);
    if (code == DLQ_OK) {
        snprintf(r->dlq_id, sizeof r->dlq_id, "%s", row.e.dlq_id);
        r->created = 0;
        r->updated = 1;
        code = 1;
    }
    dlq_sq_act_row_clear(&row);
    return code;
}
