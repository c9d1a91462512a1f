/*
 * pg_act_apply.c: how one action changes one entry row of the PostgreSQL
 * backend, inside the caller's transaction, on a row already locked
 * (pg_act.c): the state machine's verdict (dlq_state_next), then the new
 * row, its history events (edited, replayed, force_redriven, resolved,
 * discarded, replay_succeeded, replay_failed, expired, archived) and the
 * replay outcome bookkeeping, as SQLite's sq_act_apply.c writes them.
 * Counters and group pending counts follow from the row change by trigger
 * (pg_schema.c), and the text index is a generated column, so neither is
 * written here. Also the two paths where a replay's outcome arrives: a job
 * that finished (dlq_pg_act_replay_outcome) and a failure captured for a
 * replayed task (dlq_pg_capture_replay).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/state.h"
#include "dlq/util.h"
#include "../store_json.h"
#include "pg_act.h"

/* dlq_pg_act_row_clear frees what r holds and zeroes it. */
void dlq_pg_act_row_clear(struct pg_act_row *r)
{
    dlq_entry_clear(&r->e);
    free(r->op_id);
    r->op_id = NULL;
    r->id = 0;
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

static int add_event(struct pg_conn *c, int64_t id, int64_t at, const char *event,
                     const char *actor, const char *details, char *err, size_t errlen)
{
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    dlq_pg_p_int(&p, at);
    dlq_pg_p_text(&p, event);
    dlq_pg_p_text(&p, actor);
    dlq_pg_p_text(&p, details);
    return dlq_pg_exec(
        c, "INSERT INTO entry_events(entry_id, at, event, actor, details) VALUES($1,$2,$3,$4,$5)",
        &p, NULL, "insert history event", err, errlen);
}

/* apply_edit applies an edit-and-replay to r's entry and writes the
 * "edited" event when something changed. */
static int apply_edit(struct pg_conn *c, struct pg_act_row *r, const struct dlq_act *a, char *err,
                      size_t errlen)
{
    char *details = NULL;
    if (dlq_store_edit_apply(&r->e, a->edit, &details) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int code = DLQ_OK;
    if (details)
        code = add_event(c, r->id, a->now, "edited", a->actor, details, err, errlen);
    free(details);
    return code;
}

/* error_fields sets e's exception from error_json ({"type","message",
 * "traceback"}) as SQLite's json_extract reads it; absent fields are NULL. */
static int error_fields(struct pg_conn *c, struct dlq_entry *e, const char *error_json, char *err,
                        size_t errlen)
{
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, error_json);
    int code = dlq_pg_exec(c,
                           "SELECT $1::json->>'type', $1::json->>'message',"
                           " $1::json->>'traceback'",
                           &p, &r, "read replay error", err, errlen);
    if (code != DLQ_OK)
        return code;
    int oom = 0;
    free(e->exc_type);
    free(e->exc_message);
    free(e->exc_traceback);
    e->exc_type = dlq_pg_dup(r, 0, 0, &oom);
    e->exc_message = dlq_pg_dup(r, 0, 1, &oom);
    e->exc_traceback = dlq_pg_dup(r, 0, 2, &oom);
    PQclear(r);
    return oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}

/* update_row writes the columns action a changes (only those: a light row,
 * read without its big text columns, is never written back). Every
 * statement numbers its parameters without holes, as PostgreSQL needs a
 * type for each. */
static int update_row(struct pg_conn *c, const struct pg_act_row *r, const struct dlq_act *a,
                      char *err, size_t errlen)
{
    const struct dlq_entry *e = &r->e;
    struct pg_params p;
    const char *sql;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, r->id);
    dlq_pg_p_int(&p, e->status);
    dlq_pg_p_int_or_null(&p, e->updated_at);
    switch (a->action) {
    case DLQ_ACTION_RETRY:
    case DLQ_ACTION_FORCE_RETRY:
        dlq_pg_p_int(&p, e->retry_count);
        dlq_pg_p_int_or_null(&p, e->last_retry_at);
        dlq_pg_p_text(&p, e->retry_task_id);
        dlq_pg_p_text(&p, r->op_id);
        sql = "UPDATE entries SET status=$2, updated_at=$3, retry_count=$4, last_retry_at=$5,"
              " retry_task_id=$6, op_id=$7 WHERE id=$1";
        if (a->edit) {
            dlq_pg_p_text(&p, e->task_args);
            dlq_pg_p_text(&p, e->task_kwargs);
            dlq_pg_p_text(&p, e->queue);
            sql = "UPDATE entries SET status=$2, updated_at=$3, retry_count=$4, last_retry_at=$5,"
                  " retry_task_id=$6, op_id=$7, task_args=$8, task_kwargs=$9, queue=$10"
                  " WHERE id=$1";
        }
        break;
    case DLQ_ACTION_RESOLVE:
        dlq_pg_p_int_or_null(&p, e->resolved_at);
        dlq_pg_p_text(&p, e->resolution_type);
        dlq_pg_p_text(&p, e->resolved_by);
        dlq_pg_p_text(&p, e->resolution_notes);
        sql = "UPDATE entries SET status=$2, updated_at=$3, resolved_at=$4, resolution_type=$5,"
              " resolved_by=$6, resolution_notes=$7 WHERE id=$1";
        break;
    case DLQ_ACTION_REPLAY_SUCCEEDED:
        dlq_pg_p_int_or_null(&p, e->resolved_at);
        dlq_pg_p_text(&p, e->resolution_type);
        dlq_pg_p_text(&p, e->resolved_by);
        sql = "UPDATE entries SET status=$2, updated_at=$3, resolved_at=$4, resolution_type=$5,"
              " resolved_by=$6 WHERE id=$1";
        break;
    case DLQ_ACTION_REPLAY_FAILED:
        sql = "UPDATE entries SET status=$2, updated_at=$3 WHERE id=$1";
        if (a->error_json) {
            dlq_pg_p_text(&p, e->exc_type);
            dlq_pg_p_text(&p, e->exc_message);
            dlq_pg_p_text(&p, e->exc_traceback);
            sql = "UPDATE entries SET status=$2, updated_at=$3, exc_type=$4, exc_message=$5,"
                  " exc_traceback=$6 WHERE id=$1";
        }
        break;
    default:
        sql = "UPDATE entries SET status=$2, updated_at=$3 WHERE id=$1";
        break;
    }
    return dlq_pg_exec(c, sql, &p, NULL, "update entry", err, errlen);
}

/* purge_row deletes an archived entry and its history. */
static int purge_row(struct pg_conn *c, const struct pg_act_row *r, char *err, size_t errlen)
{
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, r->id);
    int code = dlq_pg_exec(c, "DELETE FROM entry_events WHERE entry_id = $1", &p, NULL,
                           "delete history", err, errlen);
    if (code == DLQ_OK)
        code = dlq_pg_exec(c, "DELETE FROM entries WHERE id = $1", &p, NULL, "delete entry", err,
                           errlen);
    return code;
}

/* replay_outcome counts a finished replay: on its bulk operation, if any,
 * and in replay_outcomes (the replay failure-rate alert reads it). */
static int replay_outcome(struct pg_conn *c, const struct pg_act_row *r, int64_t now, int ok,
                          char *err, size_t errlen)
{
    struct pg_params p;
    int code;
    if (r->op_id) {
        dlq_pg_p_init(&p);
        dlq_pg_p_text(&p, r->op_id);
        dlq_pg_p_int(&p, now);
        code = dlq_pg_exec(c,
                           ok ? "UPDATE operations SET succeeded = succeeded + 1,"
                                " updated_at = $2 WHERE id = $1"
                              : "UPDATE operations SET failed = failed + 1,"
                                " updated_at = $2 WHERE id = $1",
                           &p, NULL, "count operation outcome", err, errlen);
        if (code != DLQ_OK)
            return code;
    }
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, now);
    dlq_pg_p_text(&p, r->e.dlq_id);
    dlq_pg_p_tenant(&p, r->e.tenant_id);
    dlq_pg_p_text(&p, r->op_id);
    dlq_pg_p_int(&p, ok);
    return dlq_pg_exec(c,
                       "INSERT INTO replay_outcomes(at, dlq_id, tenant_id, op_id, succeeded)"
                       " VALUES($1, $2, $3, $4, $5)",
                       &p, NULL, "record replay outcome", err, errlen);
}

const char *dlq_pg_act_event_name(enum dlq_action a)
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

/* change_fields sets the fields action a changes on r's entry (in memory). */
static int change_fields(struct pg_conn *c, struct pg_act_row *r, const struct dlq_act *a,
                         const char *rtid, char *err, size_t errlen)
{
    struct dlq_entry *e = &r->e;
    int code = DLQ_OK;
    switch (a->action) {
    case DLQ_ACTION_RETRY:
    case DLQ_ACTION_FORCE_RETRY:
        if (a->edit && (code = apply_edit(c, r, a, err, errlen)) != DLQ_OK)
            return code;
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
        if (a->error_json)
            return error_fields(c, e, a->error_json, err, errlen);
        break;
    default:
        break;
    }
    if (code != DLQ_OK)
        return dlq_errf(err, errlen, code, "out of memory");
    return DLQ_OK;
}

int dlq_pg_act_change(struct pg_conn *c, struct pg_act_row *r, const struct dlq_act *a,
                      const char *rtid, char *err, size_t errlen)
{
    struct dlq_entry *e = &r->e;
    struct dlq_state_input in = {e->status, e->retry_count, e->max_replays};
    enum dlq_status to;
    const char *why;
    if (dlq_state_next(&in, a->action, &to, &why) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "entry %s is %s: %s", e->dlq_id,
                        dlq_status_name(e->status), why);
    if (a->action == DLQ_ACTION_PURGE)
        return DLQ_OK; /* the row goes: nothing to change */
    int code = change_fields(c, r, a, rtid, err, errlen);
    if (code != DLQ_OK)
        return code;
    e->status = to;
    e->updated_at = a->now;
    return DLQ_OK;
}

/* dlq_pg_act_apply acts on the locked row r holds: refuses (DLQ_E_CONFLICT
 * with "entry <id> is <status>: <rule>" in err, before any statement runs)
 * or writes the change, its history and replay outcome. r->e then holds the
 * entry as written. The audit record and the replay job are the caller's. */
int dlq_pg_act_apply(struct pg_conn *c, struct pg_act_row *r, const struct dlq_act *a,
                     const char *rtid, char *err, size_t errlen)
{
    int code = dlq_pg_act_change(c, r, a, rtid, err, errlen);
    if (code != DLQ_OK)
        return code;
    if (a->action == DLQ_ACTION_PURGE)
        return purge_row(c, r, err, errlen);
    if ((code = update_row(c, r, a, err, errlen)) != DLQ_OK)
        return code;
    int oom = 0;
    char *details = dlq_store_event_details(&r->e, a, &oom);
    if (oom)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    code = add_event(c, r->id, a->now, dlq_pg_act_event_name(a->action), a->actor, details, err,
                     errlen);
    free(details);
    if (code == DLQ_OK &&
        (a->action == DLQ_ACTION_REPLAY_SUCCEEDED || a->action == DLQ_ACTION_REPLAY_FAILED))
        code = replay_outcome(c, r, a->now, a->action == DLQ_ACTION_REPLAY_SUCCEEDED, err, errlen);
    return code;
}

/* ---- the outcome of a replay job ---- */

/* dlq_pg_act_replay_outcome: see pg_int.h. The light row will do: the
 * failure's exception is written from error_json. */
int dlq_pg_act_replay_outcome(struct pg_conn *c, const char *dlq_id, const char *job_id, int ok,
                              const char *error_json, const char *actor, int64_t now, char *err,
                              size_t errlen)
{
    struct pg_act_row row = {0};
    int code = dlq_pg_act_find(c, PG_FIND_DLQ_ID_LIGHT, dlq_id, NULL, &row, err, errlen);
    if (code <= 0)
        return code;
    code = DLQ_OK;
    if (row.e.status == DLQ_STATUS_RETRIED && row.e.retry_task_id &&
        strcmp(row.e.retry_task_id, job_id) == 0) {
        struct dlq_act a = {.action = ok ? DLQ_ACTION_REPLAY_SUCCEEDED : DLQ_ACTION_REPLAY_FAILED,
                            .now = now,
                            .actor = actor,
                            .error_json = error_json};
        code = dlq_pg_act_apply(c, &row, &a, NULL, err, errlen);
        if (code == DLQ_E_CONFLICT) /* the state machine refused: left as it is */
            code = DLQ_OK;
    }
    dlq_pg_act_row_clear(&row);
    return code;
}

/* ---- capture: a failure that is a failed replay ---- */

/* dlq_pg_capture_replay is called by capture before inserting e: when e
 * names replay_of, or its original_task_id is the retry_task_id of an entry
 * of the same tenant, and that entry is retried, the entry is updated as a
 * failed replay (REPLAY_FAILED, history carries the new error) and r says so
 * (created 0, updated 1): returns 1. Returns 0 when e is a new failure (also
 * when the entry it names is not awaiting a replay outcome: the failure is
 * then kept as an entry of its own rather than lost), or a negative code. */
int dlq_pg_capture_replay(struct pg_conn *c, const struct dlq_entry *e, const char *tenant,
                          const char *actor, int64_t now, struct dlq_capture_result *r, char *err,
                          size_t errlen)
{
    struct pg_act_row row = {0};
    int code = 0;
    if (tenant == NULL) /* "no tenant" is a tenant of its own here, as on SQLite */
        tenant = "";
    if (e->replay_of)
        code = dlq_pg_act_find(c, PG_FIND_DLQ_ID_LIGHT, e->replay_of, tenant, &row, err, errlen);
    if (code == 0 && e->original_task_id)
        code = dlq_pg_act_find(c, PG_FIND_RETRY_ID, e->original_task_id, tenant, &row, err, errlen);
    if (code <= 0)
        return code;
    if (row.e.status != DLQ_STATUS_RETRIED) {
        dlq_pg_act_row_clear(&row);
        return 0;
    }
    char *ejson = dlq_store_error_json(e);
    if (ejson == NULL) {
        dlq_pg_act_row_clear(&row);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct dlq_act a = {.action = DLQ_ACTION_REPLAY_FAILED,
                        .now = now,
                        .actor = actor,
                        .tenant = tenant,
                        .error_json = ejson};
    code = dlq_pg_act_apply(c, &row, &a, NULL, err, errlen);
    free(ejson);
    if (code == DLQ_OK) {
        snprintf(r->dlq_id, sizeof r->dlq_id, "%s", row.e.dlq_id);
        r->created = 0;
        r->updated = 1;
        code = 1;
    }
    dlq_pg_act_row_clear(&row);
    return code;
}
