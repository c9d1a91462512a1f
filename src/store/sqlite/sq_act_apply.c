/*
 * sq_act_apply.c: how one action changes one entry row, on the writer
 * connection inside the caller's write request: the state machine's verdict
 * (dlq_state_next), then the new row, its history events (edited, replayed,
 * force_redriven, resolved, discarded, replay_succeeded, replay_failed,
 * expired, archived), the search index's log when the exception changes, the
 * counter moves (-1 old key, +1 new key), the group's pending count, and the
 * replay outcome bookkeeping. sq_act.c finds the rows and writes the audit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "../store_json.h"
#include "sq_int.h"

/* dlq_sq_act_row_clear frees what r holds and zeroes it. */
void dlq_sq_act_row_clear(struct sq_act_row *r)
{
    dlq_entry_clear(&r->e);
    free(r->op_id);
    r->op_id = NULL;
    r->rowid = 0;
    r->payload = 0;
}

/* dlq_sq_act_row_read fills out from the row st is on (the columns of
 * SQ_ENTRY_COLS, then e.id and e.op_id); DLQ_E_NOMEM leaves it empty. */
int dlq_sq_act_row_read(sqlite3_stmt *st, struct sq_act_row *out)
{
    int oom = 0;
    out->rowid = sqlite3_column_int64(st, SC_NCOLS);
    out->op_id = dlq_sq_col_dup(st, SC_NCOLS + 1, &oom);
    if (dlq_sq_entry_from_row(st, &out->e) != DLQ_OK || oom) {
        dlq_sq_act_row_clear(out);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

static int step_done(struct sq_conn *w, sqlite3_stmt *st, char *err, size_t errlen,
                     const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, what);
    return DLQ_OK;
}

/* replace sets *field to a copy of v (NULL clears it); DLQ_E_NOMEM on failure. */
static int replace(char **field, const char *v)
{
    char *p = NULL;
    if (v && (p = strdup(v)) == NULL)
        return DLQ_E_NOMEM;
    free(*field);
    *field = p;
    return DLQ_OK;
}

static int add_event(struct sq_conn *w, sqlite3_int64 rowid, int64_t at, const char *event,
                     const char *actor, const char *details, char *err, size_t errlen)
{
    if (w->evbuf) /* a bulk action inserts its events together (sq_act_rows.c) */
        return dlq_sq_evbuf_add(w->evbuf, rowid, at, event, actor, details) == DLQ_OK
                   ? DLQ_OK
                   : dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(
        w, "INSERT INTO entry_events(entry_id, at, event, actor, details) VALUES(?1,?2,?3,?4,?5)",
        &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_int64(st, 2, at);
    dlq_sq_bind_text(st, 3, event);
    dlq_sq_bind_text(st, 4, actor);
    dlq_sq_bind_text(st, 5, details);
    return step_done(w, st, err, errlen, "insert history event");
}

/* apply_edit applies an edit-and-replay to e and writes the "edited" event
 * when something changed. */
static int apply_edit(struct sq_conn *w, struct sq_act_row *r, const struct dlq_act *a, char *err,
                      size_t errlen)
{
    char *details = NULL;
    if (dlq_store_edit_apply(&r->e, a->edit, &details) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int code = DLQ_OK;
    if (details)
        code = add_event(w, r->rowid, a->now, "edited", a->actor, details, err, errlen);
    free(details);
    return code;
}

/* error_fields sets e's exception from error_json ({"type","message",
 * "traceback"}) with SQLite's JSON functions; fields absent stay NULL. */
static int error_fields(struct sq_conn *w, struct dlq_entry *e, const char *error_json, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "SELECT json_extract(?1,'$.type'), json_extract(?1,'$.message'),"
                               " json_extract(?1,'$.traceback')",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, error_json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), oom = 0;
    if (rc == SQLITE_ROW) {
        free(e->exc_type);
        free(e->exc_message);
        free(e->exc_traceback);
        e->exc_type = dlq_sq_col_dup(st, 0, &oom);
        e->exc_message = dlq_sq_col_dup(st, 1, &oom);
        e->exc_traceback = dlq_sq_col_dup(st, 2, &oom);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return dlq_sq_err(w->db, rc, err, errlen, "read replay error");
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

/* update_sql is the UPDATE for action a: it sets only the columns the
 * action changes, so indexes on the others (queue, exc_type, ...) are left
 * alone and a light row (sq_act.c: big columns not read) is never written
 * back. The ?N numbers are update_row's binds; unused ones are holes. */
static const char *update_sql(const struct dlq_act *a)
{
    switch (a->action) {
    case DLQ_ACTION_RETRY:
    case DLQ_ACTION_FORCE_RETRY:
        if (a->edit)
            return "UPDATE entries SET status=?2, retry_count=?3, last_retry_at=?4,"
                   " retry_task_id=?5, op_id=?6, task_args=?7, task_kwargs=?8, queue=?9,"
                   " updated_at=?17 WHERE id=?1";
        return "UPDATE entries SET status=?2, retry_count=?3, last_retry_at=?4,"
               " retry_task_id=?5, op_id=?6, updated_at=?17 WHERE id=?1";
    case DLQ_ACTION_RESOLVE:
        return "UPDATE entries SET status=?2, resolved_at=?10, resolution_type=?11,"
               " resolved_by=?12, resolution_notes=?13, updated_at=?17 WHERE id=?1";
    case DLQ_ACTION_REPLAY_SUCCEEDED:
        return "UPDATE entries SET status=?2, resolved_at=?10, resolution_type=?11,"
               " resolved_by=?12, updated_at=?17 WHERE id=?1";
    case DLQ_ACTION_REPLAY_FAILED:
        if (a->error_json)
            return "UPDATE entries SET status=?2, exc_type=?14, exc_message=?15,"
                   " exc_traceback=?16, updated_at=?17 WHERE id=?1";
        return "UPDATE entries SET status=?2, updated_at=?17 WHERE id=?1";
    default:
        return "UPDATE entries SET status=?2, updated_at=?17 WHERE id=?1";
    }
}

static int update_row(struct sq_conn *w, const struct sq_act_row *r, const struct dlq_act *a,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, update_sql(a), &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    const struct dlq_entry *e = &r->e;
    sqlite3_bind_int64(st, 1, r->rowid);
    sqlite3_bind_int(st, 2, e->status);
    sqlite3_bind_int(st, 3, e->retry_count);
    dlq_sq_bind_time(st, 4, e->last_retry_at);
    dlq_sq_bind_text(st, 5, e->retry_task_id);
    dlq_sq_bind_text(st, 6, r->op_id);
    dlq_sq_bind_text(st, 7, e->task_args);
    dlq_sq_bind_text(st, 8, e->task_kwargs);
    dlq_sq_bind_text(st, 9, e->queue);
    dlq_sq_bind_time(st, 10, e->resolved_at);
    dlq_sq_bind_text(st, 11, e->resolution_type);
    dlq_sq_bind_text(st, 12, e->resolved_by);
    dlq_sq_bind_text(st, 13, e->resolution_notes);
    dlq_sq_bind_text(st, 14, e->exc_type);
    dlq_sq_bind_text(st, 15, e->exc_message);
    dlq_sq_bind_text(st, 16, e->exc_traceback);
    dlq_sq_bind_time(st, 17, e->updated_at);
    return step_done(w, st, err, errlen, "update entry");
}

/* purge_row deletes an archived entry, its text row and its history. */
static int purge_row(struct sq_conn *w, const struct sq_act_row *r, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_fts_log(w, r->rowid, 1, err, errlen);
    if (code == DLQ_OK)
        code = dlq_sq_stmt_dyn(w, "DELETE FROM entry_events WHERE entry_id = ?1", &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int64(st, 1, r->rowid);
        code = step_done(w, st, err, errlen, "delete history");
    }
    if (code == DLQ_OK)
        code = dlq_sq_stmt_dyn(w, "DELETE FROM entries WHERE id = ?1", &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int64(st, 1, r->rowid);
        code = step_done(w, st, err, errlen, "delete entry");
    }
    return code;
}

/* replay_outcome counts a finished replay: on its bulk operation, if any,
 * and in replay_outcomes (the replay failure-rate alert reads it). */
static int replay_outcome(struct sq_conn *w, const struct sq_act_row *r, int64_t now, int ok,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code;
    if (r->op_id) {
        code = dlq_sq_stmt_dyn(w,
                               ok ? "UPDATE operations SET succeeded = succeeded + 1,"
                                    " updated_at = ?2 WHERE id = ?1"
                                  : "UPDATE operations SET failed = failed + 1,"
                                    " updated_at = ?2 WHERE id = ?1",
                               &st, err, errlen);
        if (code != DLQ_OK)
            return code;
        sqlite3_bind_text(st, 1, r->op_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        if ((code = step_done(w, st, err, errlen, "count operation outcome")) != DLQ_OK)
            return code;
    }
    code = dlq_sq_stmt_dyn(w,
                           "INSERT INTO replay_outcomes(at, dlq_id, tenant_id, op_id, succeeded)"
                           " VALUES(?1, ?2, ?3, ?4, ?5)",
                           &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, now);
    dlq_sq_bind_text(st, 2, r->e.dlq_id);
    sqlite3_bind_text(st, 3, r->e.tenant_id ? r->e.tenant_id : "", -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 4, r->op_id);
    sqlite3_bind_int(st, 5, ok);
    return step_done(w, st, err, errlen, "record replay outcome");
}

static int is_pending(enum dlq_status s)
{
    return s == DLQ_STATUS_PENDING_REVIEW || s == DLQ_STATUS_REQUIRES_REVIEW;
}

static const char *event_name(enum dlq_action a)
{
    switch (a) {
    case DLQ_ACTION_RETRY:
        return "replayed";
    case DLQ_ACTION_FORCE_RETRY:
        return "force_redriven";
    case DLQ_ACTION_REPLAY_SUCCEEDED:
        return "replay_succeeded";
    case DLQ_ACTION_REPLAY_FAILED:
        return "replay_failed";
    case DLQ_ACTION_RESOLVE:
        return "resolved";
    case DLQ_ACTION_DISCARD:
        return "discarded";
    case DLQ_ACTION_EXPIRE:
        return "expired";
    case DLQ_ACTION_ARCHIVE:
        return "archived";
    default:
        return "changed";
    }
}

/* dlq_sq_act_apply acts on the row r holds: refuses (DLQ_E_CONFLICT with
 * "entry <id> is <status>: <rule>" in err) or writes the change, its history,
 * counters, group pending count and replay outcome. r->e then holds the entry
 * as written. The audit record is the caller's. */
int dlq_sq_act_apply(struct sq_conn *w, struct sq_act_row *r, const struct dlq_act *a,
                     const char *rtid, char *err, size_t errlen)
{
    struct dlq_entry *e = &r->e;
    struct dlq_state_input in = {e->status, e->retry_count, e->max_replays};
    enum dlq_status to;
    const char *why;
    if (dlq_state_next(&in, a->action, &to, &why) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "entry %s is %s: %s", e->dlq_id,
                        dlq_status_name(e->status), why);

    enum dlq_status from = e->status;
    const char *tenant = e->tenant_id ? e->tenant_id : "";
    /* The old counter key; the strings stay alive until the row is freed. */
    char *old_queue = e->queue ? strdup(e->queue) : NULL;
    char *old_exc = e->exc_type ? strdup(e->exc_type) : NULL;
    int code = DLQ_OK, oom = (e->queue && !old_queue) || (e->exc_type && !old_exc);
    if (oom) {
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        goto done;
    }

    if (a->action == DLQ_ACTION_PURGE) {
        code = purge_row(w, r, err, errlen);
    } else {
        switch (a->action) {
        case DLQ_ACTION_RETRY:
        case DLQ_ACTION_FORCE_RETRY:
            if (a->edit && (code = apply_edit(w, r, a, err, errlen)) != DLQ_OK)
                goto done;
            e->retry_count = a->action == DLQ_ACTION_FORCE_RETRY ? 1 : e->retry_count + 1;
            e->last_retry_at = a->now;
            code = replace(&e->retry_task_id, rtid);
            if (code == DLQ_OK)
                code = replace(&r->op_id, a->op_id);
            break;
        case DLQ_ACTION_RESOLVE:
        case DLQ_ACTION_REPLAY_SUCCEEDED:
            e->resolved_at = a->now;
            code = replace(&e->resolution_type, a->action == DLQ_ACTION_REPLAY_SUCCEEDED
                                                    ? "replay_succeeded"
                                                : a->resolution_type ? a->resolution_type
                                                                     : "manual");
            if (code == DLQ_OK)
                code = replace(&e->resolved_by, a->actor);
            if (code == DLQ_OK && a->action == DLQ_ACTION_RESOLVE)
                code = replace(&e->resolution_notes, a->notes);
            break;
        case DLQ_ACTION_REPLAY_FAILED:
            if (a->error_json) {
                /* The search index learns of the new text from the log. */
                if ((code = dlq_sq_fts_log(w, r->rowid, 0, err, errlen)) != DLQ_OK)
                    goto done;
                if ((code = error_fields(w, e, a->error_json, err, errlen)) != DLQ_OK)
                    goto done;
            }
            break;
        default:
            break;
        }
        if (code != DLQ_OK) {
            code = dlq_errf(err, errlen, code, "out of memory");
            goto done;
        }
        e->status = to;
        e->updated_at = a->now;
        if ((code = update_row(w, r, a, err, errlen)) != DLQ_OK)
            goto done;
        char *details = dlq_store_event_details(&r->e, a, &oom);
        if (oom) {
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            goto done;
        }
        code =
            add_event(w, r->rowid, a->now, event_name(a->action), a->actor, details, err, errlen);
        free(details);
        if (code != DLQ_OK)
            goto done;
    }

    /* Counters: the entry leaves its old key and (unless purged) joins the new one. */
    if (dlq_sq_cube_add(w->cube, tenant, from, old_queue, e->task_name, e->reason, old_exc, -1) !=
            DLQ_OK ||
        (to != DLQ_STATUS_NONE && dlq_sq_cube_add(w->cube, tenant, to, e->queue, e->task_name,
                                                  e->reason, e->exc_type, 1) != DLQ_OK)) {
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        goto done;
    }
    if (is_pending(from) != is_pending(to) && e->fingerprint) {
        code =
            dlq_sq_groups_pending(w, e->fingerprint, tenant, is_pending(to) ? 1 : -1, err, errlen);
        if (code != DLQ_OK)
            goto done;
    }
    if (a->action == DLQ_ACTION_REPLAY_SUCCEEDED || a->action == DLQ_ACTION_REPLAY_FAILED)
        code = replay_outcome(w, r, a->now, a->action == DLQ_ACTION_REPLAY_SUCCEEDED, err, errlen);
done:
    free(old_queue);
    free(old_exc);
    return code;
}
