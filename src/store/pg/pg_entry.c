/*
 * pg_entry.c: an entry row as PostgreSQL holds it: reading one into a
 * struct dlq_entry, and the values and statement that insert one. Every
 * slice that reads or writes entries goes through these, so the column
 * order is written down once (PG_ENTRY_COLS in pg_int.h).
 */
#include <string.h>

#include "pg_int.h"

enum {
    C_DLQ_ID,
    C_STATUS,
    C_FAILED_AT,
    C_TENANT_ID,
    C_TASK_NAME,
    C_QUEUE,
    C_REASON,
    C_EXC_TYPE,
    C_FINGERPRINT,
    C_ORIGINAL_TASK_ID,
    C_RETRY_TASK_ID,
    C_IDEMPOTENCY_KEY,
    C_PROCESSED_AT,
    C_RETRIES_ATTEMPTED,
    C_RETRY_COUNT,
    C_LAST_RETRY_AT,
    C_RESOLVED_AT,
    C_PRIORITY,
    C_MAX_REPLAYS,
    C_EXPIRES_AT,
    C_UPDATED_AT,
    C_ERROR_CODE,
    C_RESOLUTION_TYPE,
    C_RESOLVED_BY,
    C_RESOLUTION_NOTES,
    C_EXC_MESSAGE,
    C_TASK_ARGS,
    C_TASK_KWARGS,
    C_METADATA,
    C_CONTEXT,
    C_EXC_TRACEBACK,
    C_N
};

_Static_assert(C_N == PG_ENTRY_NCOLS, "PG_ENTRY_NCOLS matches the column list");

const char dlq_pg_entry_insert_sql[] =
    "INSERT INTO entries(dlq_id, status, failed_at, tenant_id, task_name, queue, reason,"
    " exc_type, fingerprint, original_task_id, retry_task_id, idempotency_key, processed_at,"
    " retries_attempted, retry_count, last_retry_at, resolved_at, priority, max_replays,"
    " expires_at, updated_at, error_code, resolution_type, resolved_by, resolution_notes,"
    " exc_message, task_args, task_kwargs, metadata, context, exc_traceback, captured_by)"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
    " $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)";

int dlq_pg_entry_from_row(const PGresult *r, int row, int col0, struct dlq_entry *e)
{
    int oom = 0;
    memset(e, 0, sizeof *e);
#define S(col, field) e->field = dlq_pg_dup(r, row, col0 + (col), &oom)
#define I(col, field) e->field = (int)dlq_pg_i64(r, row, col0 + (col))
#define L(col, field) e->field = dlq_pg_i64(r, row, col0 + (col))
    S(C_DLQ_ID, dlq_id);
    e->status = (enum dlq_status)dlq_pg_i64(r, row, col0 + C_STATUS);
    L(C_FAILED_AT, failed_at);
    if (PQgetlength(r, row, col0 + C_TENANT_ID) > 0)
        S(C_TENANT_ID, tenant_id);
    S(C_TASK_NAME, task_name);
    S(C_QUEUE, queue);
    e->reason = (enum dlq_reason)dlq_pg_i64(r, row, col0 + C_REASON);
    S(C_EXC_TYPE, exc_type);
    S(C_FINGERPRINT, fingerprint);
    S(C_ORIGINAL_TASK_ID, original_task_id);
    S(C_RETRY_TASK_ID, retry_task_id);
    S(C_IDEMPOTENCY_KEY, idempotency_key);
    L(C_PROCESSED_AT, processed_at);
    I(C_RETRIES_ATTEMPTED, retries_attempted);
    I(C_RETRY_COUNT, retry_count);
    L(C_LAST_RETRY_AT, last_retry_at);
    L(C_RESOLVED_AT, resolved_at);
    I(C_PRIORITY, priority);
    I(C_MAX_REPLAYS, max_replays);
    L(C_EXPIRES_AT, expires_at);
    L(C_UPDATED_AT, updated_at);
    S(C_ERROR_CODE, error_code);
    S(C_RESOLUTION_TYPE, resolution_type);
    S(C_RESOLVED_BY, resolved_by);
    S(C_RESOLUTION_NOTES, resolution_notes);
    S(C_EXC_MESSAGE, exc_message);
    S(C_TASK_ARGS, task_args);
    S(C_TASK_KWARGS, task_kwargs);
    S(C_METADATA, metadata);
    S(C_CONTEXT, context);
    S(C_EXC_TRACEBACK, exc_traceback);
#undef S
#undef I
#undef L
    if (oom) {
        dlq_entry_clear(e);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

void dlq_pg_entry_params(struct pg_params *p, const struct dlq_entry *e, const char *captured_by)
{
#define T(v)  dlq_pg_p_text(p, (v))
#define I(v)  dlq_pg_p_int(p, (v))
#define TM(v) dlq_pg_p_int_or_null(p, (v))
    T(e->dlq_id);
    I(e->status);
    I(e->failed_at);
    dlq_pg_p_tenant(p, e->tenant_id);
    T(e->task_name);
    T(e->queue);
    I(e->reason);
    T(e->exc_type);
    T(e->fingerprint);
    T(e->original_task_id);
    T(e->retry_task_id);
    T(e->idempotency_key);
    I(e->processed_at);
    I(e->retries_attempted);
    I(e->retry_count);
    TM(e->last_retry_at);
    TM(e->resolved_at);
    I(e->priority);
    I(e->max_replays);
    TM(e->expires_at);
    TM(e->updated_at);
    T(e->error_code);
    T(e->resolution_type);
    T(e->resolved_by);
    T(e->resolution_notes);
    T(e->exc_message);
    T(e->task_args);
    T(e->task_kwargs);
    T(e->metadata);
    T(e->context);
    T(e->exc_traceback);
    T(captured_by);
#undef T
#undef I
#undef TM
}
