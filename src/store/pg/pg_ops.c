/*
 * pg_ops.c: the operations table of the PostgreSQL backend, where bulk
 * operations keep their state and progress so they survive a restart, as
 * SQLite's sq_ops.c keeps it. The runner saves progress after every batch
 * (op_save); succeeded and failed belong to the action code, which bumps
 * them in the same transaction as an outcome (pg_act_apply.c), so a save
 * never writes them. A state other than "running" is final: a late progress
 * save of the runner cannot undo a cancel that won the race.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "dlq/types.h"
#include "pg_int.h"

#define OP_COLS                                                                                    \
    "id, kind, state, tenant_id, actor, filter, params, matched, processed, succeeded, failed,"    \
    " skipped, early_stop_reason, cursor, created_at, updated_at, finished_at"

/* dlq_pg_op_save_in saves op (op_save) inside the caller's transaction. */
int dlq_pg_op_save_in(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    const struct dlq_op *op = ctx;
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, op->id);
    dlq_pg_p_text(&p, op->kind[0] ? op->kind : "replay");
    dlq_pg_p_text(&p, op->state);
    dlq_pg_p_text(&p, op->tenant_id);
    dlq_pg_p_text(&p, op->actor);
    dlq_pg_p_text(&p, op->filter);
    dlq_pg_p_text(&p, op->params);
    dlq_pg_p_int(&p, op->matched);
    dlq_pg_p_int(&p, op->processed);
    dlq_pg_p_int(&p, op->skipped);
    dlq_pg_p_text(&p, op->early_stop_reason[0] ? op->early_stop_reason : NULL);
    dlq_pg_p_text(&p, op->cursor[0] ? op->cursor : NULL);
    dlq_pg_p_int(&p, op->created_at);
    dlq_pg_p_int(&p, op->updated_at);
    dlq_pg_p_int_or_null(&p, op->finished_at);
    return dlq_pg_exec(
        c,
        "INSERT INTO operations AS o (" OP_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, 0,"
        " 0, $10, $11, $12, $13, $14, $15)"
        " ON CONFLICT (id) DO UPDATE SET"
        " state = CASE WHEN o.state = 'running' THEN excluded.state ELSE o.state END,"
        " early_stop_reason = CASE WHEN o.state = 'running'"
        "   THEN excluded.early_stop_reason ELSE o.early_stop_reason END,"
        " finished_at = coalesce(o.finished_at, excluded.finished_at),"
        " matched = excluded.matched, processed = excluded.processed,"
        " skipped = excluded.skipped, cursor = excluded.cursor, updated_at = excluded.updated_at",
        &p, NULL, "save operation", err, errlen);
}

/* dlq_pg_op_save implements op_save (store.h). */
int dlq_pg_op_save(struct dlq_store *s, const struct dlq_op *op, char *err, size_t errlen)
{
    return dlq_pg_tx(PG(s), dlq_pg_op_save_in, (void *)op, err, errlen);
}

struct finish_req {
    const char *id, *tenant, *state, *reason;
    int64_t now;
};

static int op_finish_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct finish_req *q = ctx;
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->id);
    dlq_pg_p_text(&p, q->tenant);
    dlq_pg_p_text(&p, q->state);
    dlq_pg_p_text(&p, q->reason);
    dlq_pg_p_int(&p, q->now);
    int code = dlq_pg_exec(c,
                           "UPDATE operations SET state = $3, early_stop_reason ="
                           " coalesce($4, early_stop_reason), updated_at = $5,"
                           " finished_at = $5 WHERE id = $1 AND state = 'running'"
                           " AND ($2::text IS NULL OR tenant_id = $2)",
                           &p, &r, "finish operation", err, errlen);
    if (code != DLQ_OK)
        return code;
    int changed = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (changed)
        return DLQ_OK;
    /* Say why nothing changed: no such op, or it is already finished. */
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->id);
    dlq_pg_p_text(&p, q->tenant);
    code = dlq_pg_exec(c,
                       "SELECT state FROM operations WHERE id = $1"
                       " AND ($2::text IS NULL OR tenant_id = $2)",
                       &p, &r, "find operation", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) > 0)
        code = dlq_errf(err, errlen, DLQ_E_CONFLICT,
                        "operation %s is %s: only a running operation can be changed", q->id,
                        PQgetvalue(r, 0, 0));
    else
        code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no operation %s", q->id);
    PQclear(r);
    return code;
}

/* dlq_pg_op_finish implements op_finish (store.h). */
int dlq_pg_op_finish(struct dlq_store *s, const char *id, const char *tenant, const char *state,
                     const char *reason, int64_t now, char *err, size_t errlen)
{
    struct finish_req q = {id, tenant, state, reason, now};
    return dlq_pg_tx(PG(s), op_finish_body, &q, err, errlen);
}

/* op_from_row fills op from row i of OP_COLS; -1 when out of memory. */
static int op_from_row(const PGresult *r, int i, struct dlq_op *op)
{
    int oom = 0;
    memset(op, 0, sizeof *op);
    dlq_pg_copy(r, i, 0, op->id, sizeof op->id);
    dlq_pg_copy(r, i, 1, op->kind, sizeof op->kind);
    dlq_pg_copy(r, i, 2, op->state, sizeof op->state);
    dlq_pg_copy(r, i, 3, op->tenant_id, sizeof op->tenant_id);
    dlq_pg_copy(r, i, 4, op->actor, sizeof op->actor);
    op->filter = dlq_pg_dup(r, i, 5, &oom);
    op->params = dlq_pg_dup(r, i, 6, &oom);
    op->matched = dlq_pg_i64(r, i, 7);
    op->processed = dlq_pg_i64(r, i, 8);
    op->succeeded = dlq_pg_i64(r, i, 9);
    op->failed = dlq_pg_i64(r, i, 10);
    op->skipped = dlq_pg_i64(r, i, 11);
    dlq_pg_copy(r, i, 12, op->early_stop_reason, sizeof op->early_stop_reason);
    dlq_pg_copy(r, i, 13, op->cursor, sizeof op->cursor);
    op->created_at = dlq_pg_i64(r, i, 14);
    op->updated_at = dlq_pg_i64(r, i, 15);
    op->finished_at = dlq_pg_i64(r, i, 16);
    if (oom) {
        dlq_op_clear(op);
        return -1;
    }
    return 0;
}

struct read_req {
    const char *sql;
    struct pg_params p;
    PGresult *r;
};

static int read_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct read_req *q = ctx;
    return dlq_pg_exec(c, q->sql, &q->p, &q->r, "read operations", err, errlen);
}

/* dlq_pg_op_get implements op_get (store.h). */
int dlq_pg_op_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_op *out,
                  char *err, size_t errlen)
{
    struct read_req q = {.sql = "SELECT " OP_COLS " FROM operations WHERE id = $1"
                                " AND ($2::text IS NULL OR tenant_id = $2)"};
    memset(out, 0, sizeof *out);
    dlq_pg_p_init(&q.p);
    dlq_pg_p_text(&q.p, id);
    dlq_pg_p_text(&q.p, tenant);
    int code = dlq_pg_read(PG(s), read_body, &q, err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(q.r) == 0)
        code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no operation %s", id);
    else if (op_from_row(q.r, 0, out) != 0)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    PQclear(q.r);
    return code;
}

/* dlq_pg_op_list implements op_list (store.h). */
int dlq_pg_op_list(struct dlq_store *s, const char *tenant, const char *state, int limit,
                   struct dlq_op **out, size_t *n, char *err, size_t errlen)
{
    struct read_req q = {.sql = state ? "SELECT " OP_COLS " FROM operations WHERE state = $3"
                                        " AND ($1::text IS NULL OR tenant_id = $1)"
                                        " ORDER BY created_at, id LIMIT $2"
                                      : "SELECT " OP_COLS " FROM operations"
                                        " WHERE ($1::text IS NULL OR tenant_id = $1)"
                                        " ORDER BY created_at DESC, id DESC LIMIT $2"};
    *out = NULL;
    *n = 0;
    if (limit < 0) /* PostgreSQL refuses a negative LIMIT */
        limit = 0;
    dlq_pg_p_init(&q.p);
    dlq_pg_p_text(&q.p, tenant);
    dlq_pg_p_int(&q.p, limit);
    if (state)
        dlq_pg_p_text(&q.p, state);
    int code = dlq_pg_read(PG(s), read_body, &q, err, errlen);
    if (code != DLQ_OK)
        return code;
    size_t rows = (size_t)PQntuples(q.r), len = 0;
    struct dlq_op *v = calloc(rows ? rows : 1, sizeof *v);
    if (v == NULL)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    for (; code == DLQ_OK && len < rows && len < (size_t)limit; len++)
        if (op_from_row(q.r, (int)len, &v[len]) != 0)
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    PQclear(q.r);
    if (code != DLQ_OK) {
        for (size_t i = 0; v && i + 1 < len; i++)
            dlq_op_clear(&v[i]);
        free(v);
        return code;
    }
    *out = v;
    *n = len;
    return DLQ_OK;
}
