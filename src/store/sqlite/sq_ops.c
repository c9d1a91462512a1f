/*
 * sq_ops.c: the operations table, where bulk operations keep their state and
 * progress so they survive a restart. The runner saves progress after every
 * batch (op_save); succeeded and failed belong to the action code, which
 * bumps them in the same transaction as an outcome, so a save never writes
 * them. A state other than "running" is final: a late progress save of the
 * runner cannot undo a cancel that won the race.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "sq_int.h"

#define OP_COLS                                                                                    \
    "id, kind, state, tenant_id, actor, filter, params, matched, processed, succeeded, failed,"    \
    " skipped, early_stop_reason, cursor, created_at, updated_at, finished_at"

/* dlq_sq_op_save_in saves op (op_save) inside the caller's write request. */
int dlq_sq_op_save_in(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    const struct dlq_op *op = arg;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(
        w,
        "INSERT INTO operations(" OP_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 0,"
        " ?10, ?11, ?12, ?13, ?14, ?15)"
        " ON CONFLICT(id) DO UPDATE SET"
        " state = CASE WHEN operations.state = 'running' THEN excluded.state"
        "   ELSE operations.state END,"
        " early_stop_reason = CASE WHEN operations.state = 'running'"
        "   THEN excluded.early_stop_reason ELSE operations.early_stop_reason END,"
        " finished_at = coalesce(operations.finished_at, excluded.finished_at),"
        " matched = excluded.matched, processed = excluded.processed,"
        " skipped = excluded.skipped, cursor = excluded.cursor, updated_at = excluded.updated_at",
        &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, op->kind[0] ? op->kind : "replay", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, op->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, op->actor, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 6, op->filter);
    dlq_sq_bind_text(st, 7, op->params);
    sqlite3_bind_int64(st, 8, op->matched);
    sqlite3_bind_int64(st, 9, op->processed);
    sqlite3_bind_int64(st, 10, op->skipped);
    dlq_sq_bind_text(st, 11, op->early_stop_reason[0] ? op->early_stop_reason : NULL);
    dlq_sq_bind_text(st, 12, op->cursor[0] ? op->cursor : NULL);
    sqlite3_bind_int64(st, 13, op->created_at);
    sqlite3_bind_int64(st, 14, op->updated_at);
    dlq_sq_bind_time(st, 15, op->finished_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "save operation");
    return DLQ_OK;
}

/* dlq_sq_op_save implements op_save (store.h). */
int dlq_sq_op_save(struct dlq_store *base, const struct dlq_op *op, char *err, size_t errlen)
{
    return dlq_sq_write((struct sq_store *)base, dlq_sq_op_save_in, (void *)op, err, errlen);
}

struct finish_req {
    const char *id, *tenant, *state, *reason;
    int64_t now;
};

static int op_finish_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct finish_req *r = arg;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "UPDATE operations SET state = ?3, early_stop_reason ="
                               " coalesce(?4, early_stop_reason), updated_at = ?5,"
                               " finished_at = ?5 WHERE id = ?1 AND state = 'running'"
                               " AND (?2 IS NULL OR tenant_id = ?2)",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, r->tenant);
    sqlite3_bind_text(st, 3, r->state, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 4, r->reason);
    sqlite3_bind_int64(st, 5, r->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "finish operation");
    if (sqlite3_changes(w->db) == 1)
        return DLQ_OK;
    /* Say why nothing changed: no such op, or it is already finished. */
    code = dlq_sq_stmt_dyn(w,
                           "SELECT state FROM operations WHERE id = ?1"
                           " AND (?2 IS NULL OR tenant_id = ?2)",
                           &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, r->tenant);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        code = dlq_errf(err, errlen, DLQ_E_CONFLICT,
                        "operation %s is %s: only a running operation can be changed", r->id,
                        (const char *)sqlite3_column_text(st, 0));
    else if (rc == SQLITE_DONE)
        code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no operation %s", r->id);
    else
        code = dlq_sq_err(w->db, rc, err, errlen, "find operation");
    sqlite3_reset(st);
    return code;
}

/* dlq_sq_op_finish implements op_finish (store.h). */
int dlq_sq_op_finish(struct dlq_store *base, const char *id, const char *tenant, const char *state,
                     const char *reason, int64_t now, char *err, size_t errlen)
{
    struct finish_req r = {id, tenant, state, reason, now};
    return dlq_sq_write((struct sq_store *)base, op_finish_fn, &r, err, errlen);
}

/* op_from_row fills op from a row of OP_COLS; -1 when out of memory. */
static int op_from_row(sqlite3_stmt *st, struct dlq_op *op)
{
    int oom = 0;
    memset(op, 0, sizeof *op);
    dlq_sq_col_copy(st, 0, op->id, sizeof op->id);
    dlq_sq_col_copy(st, 1, op->kind, sizeof op->kind);
    dlq_sq_col_copy(st, 2, op->state, sizeof op->state);
    dlq_sq_col_copy(st, 3, op->tenant_id, sizeof op->tenant_id);
    dlq_sq_col_copy(st, 4, op->actor, sizeof op->actor);
    op->filter = dlq_sq_col_dup(st, 5, &oom);
    op->params = dlq_sq_col_dup(st, 6, &oom);
    op->matched = sqlite3_column_int64(st, 7);
    op->processed = sqlite3_column_int64(st, 8);
    op->succeeded = sqlite3_column_int64(st, 9);
    op->failed = sqlite3_column_int64(st, 10);
    op->skipped = sqlite3_column_int64(st, 11);
    dlq_sq_col_copy(st, 12, op->early_stop_reason, sizeof op->early_stop_reason);
    dlq_sq_col_copy(st, 13, op->cursor, sizeof op->cursor);
    op->created_at = sqlite3_column_int64(st, 14);
    op->updated_at = sqlite3_column_int64(st, 15);
    op->finished_at = sqlite3_column_int64(st, 16);
    if (oom) {
        dlq_op_clear(op);
        return -1;
    }
    return 0;
}

/* dlq_sq_op_get implements op_get (store.h). */
int dlq_sq_op_get(struct dlq_store *base, const char *id, const char *tenant, struct dlq_op *out,
                  char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_stmt_dyn(c,
                           "SELECT " OP_COLS " FROM operations WHERE id = ?1"
                           " AND (?2 IS NULL OR tenant_id = ?2)",
                           &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        dlq_sq_bind_text(st, 2, tenant);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (op_from_row(st, out) != 0)
                code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        } else if (rc == SQLITE_DONE) {
            code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no operation %s", id);
        } else {
            code = dlq_sq_err(c->db, rc, err, errlen, "read operation");
        }
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    return code;
}

/* dlq_sq_op_list implements op_list (store.h). */
int dlq_sq_op_list(struct dlq_store *base, const char *tenant, const char *state, int limit,
                   struct dlq_op **out, size_t *n, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    struct dlq_op *v = calloc((size_t)limit, sizeof *v);
    if (v == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK) {
        free(v);
        return code;
    }
    code = dlq_sq_stmt_dyn(c,
                           state ? "SELECT " OP_COLS " FROM operations WHERE state = ?3"
                                   " AND (?1 IS NULL OR tenant_id = ?1)"
                                   " ORDER BY created_at, id LIMIT ?2"
                                 : "SELECT " OP_COLS " FROM operations"
                                   " WHERE (?1 IS NULL OR tenant_id = ?1)"
                                   " ORDER BY created_at DESC, id DESC LIMIT ?2",
                           &st, err, errlen);
    size_t len = 0;
    if (code == DLQ_OK) {
        dlq_sq_bind_text(st, 1, tenant);
        sqlite3_bind_int(st, 2, limit);
        if (state)
            sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && len < (size_t)limit) {
            if (op_from_row(st, &v[len]) != 0) {
                code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
                break;
            }
            len++;
        }
        if (code == DLQ_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "list operations");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK) {
        for (size_t i = 0; i < len; i++)
            dlq_op_clear(&v[i]);
        free(v);
        return code;
    }
    *out = v;
    *n = len;
    return DLQ_OK;
}
