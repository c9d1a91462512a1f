/*
 * sq_read.c: reading single entries: decoding an entry row (shared with
 * list) and get, which finds an entry by dlq_id or else by original task id,
 * with its history, in one read transaction so the two agree. The first
 * event, "captured", is derived from the entry row; later events are rows of
 * entry_events.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "../store_json.h"
#include "sq_int.h"

/* dlq_sq_entry_from_row fills e (zeroed first) from a row selected with
 * SQ_ENTRY_COLS. The strings are e's (dlq_entry_clear frees them). The
 * stored "" tenant becomes NULL. DLQ_OK or DLQ_E_NOMEM (e then cleared). */
int dlq_sq_entry_from_row(sqlite3_stmt *st, struct dlq_entry *e)
{
    int oom = 0;
    memset(e, 0, sizeof *e);
#define S(col, field) e->field = dlq_sq_col_dup(st, (col), &oom)
#define I(col, field) e->field = sqlite3_column_int(st, (col))
#define L(col, field) e->field = sqlite3_column_int64(st, (col))
    S(SC_DLQ_ID, dlq_id);
    e->status = (enum dlq_status)sqlite3_column_int(st, SC_STATUS);
    L(SC_FAILED_AT, failed_at);
    if (sqlite3_column_bytes(st, SC_TENANT_ID) > 0)
        S(SC_TENANT_ID, tenant_id);
    S(SC_TASK_NAME, task_name);
    S(SC_QUEUE, queue);
    e->reason = (enum dlq_reason)sqlite3_column_int(st, SC_REASON);
    S(SC_EXC_TYPE, exc_type);
    S(SC_FINGERPRINT, fingerprint);
    S(SC_ORIGINAL_TASK_ID, original_task_id);
    S(SC_RETRY_TASK_ID, retry_task_id);
    S(SC_IDEMPOTENCY_KEY, idempotency_key);
    L(SC_PROCESSED_AT, processed_at);
    I(SC_RETRIES_ATTEMPTED, retries_attempted);
    I(SC_RETRY_COUNT, retry_count);
    L(SC_LAST_RETRY_AT, last_retry_at);
    L(SC_RESOLVED_AT, resolved_at);
    I(SC_PRIORITY, priority);
    I(SC_MAX_REPLAYS, max_replays);
    L(SC_EXPIRES_AT, expires_at);
    L(SC_UPDATED_AT, updated_at);
    S(SC_ERROR_CODE, error_code);
    S(SC_RESOLUTION_TYPE, resolution_type);
    S(SC_RESOLVED_BY, resolved_by);
    S(SC_RESOLUTION_NOTES, resolution_notes);
    S(SC_EXC_MESSAGE, exc_message);
    S(SC_TASK_ARGS, task_args);
    S(SC_TASK_KWARGS, task_kwargs);
    S(SC_METADATA, metadata);
    S(SC_CONTEXT, context);
    S(SC_EXC_TRACEBACK, exc_traceback);
#undef S
#undef I
#undef L
    if (oom) {
        dlq_entry_clear(e);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

/* find_row runs one of the two lookups; 1 with *out filled, *rowid set and
 * *captured_by malloc'd (or NULL) when found, 0 when not, or a negative code. */
static int find_row(struct sq_conn *c, enum sq_sid sid, const char *id, const char *tenant,
                    struct dlq_entry *out, sqlite3_int64 *rowid, char **captured_by, char *err,
                    size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt(c, sid, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, tenant);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int oom = 0;
        *rowid = sqlite3_column_int64(st, SC_NCOLS);
        *captured_by = dlq_sq_col_dup(st, SC_NCOLS + 1, &oom);
        code = dlq_sq_entry_from_row(st, out);
        sqlite3_reset(st);
        if (code != DLQ_OK || oom) {
            free(*captured_by);
            *captured_by = NULL;
            dlq_entry_clear(out);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        return 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, "get entry");
    return 0;
}

/* read_history collects the history of entry e (row rowid), oldest first,
 * into a malloc'd array (*hist, *n): the "captured" event, then the rows of
 * entry_events (after the attempts that led to the capture, when a job was
 * dead-lettered). captured_by is taken over by the event. */
static int read_history(struct sq_conn *c, const struct dlq_entry *e, sqlite3_int64 rowid,
                        char *captured_by, struct dlq_event **hist, size_t *n, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    size_t len = 1, cap = 8;
    int oom = 0;
    struct dlq_event *ev = calloc(cap, sizeof *ev);
    if (ev == NULL) {
        free(captured_by);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    ev[0].at = e->processed_at ? e->processed_at : e->failed_at;
    ev[0].event = strdup("captured");
    ev[0].actor = captured_by;
    ev[0].details = dlq_store_captured_details(e, &oom);
    if (ev[0].event == NULL || oom) {
        dlq_events_free(ev, len);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    int code = dlq_sq_stmt(c, SQ_HISTORY, &st, err, errlen);
    if (code != DLQ_OK) {
        dlq_events_free(ev, len);
        return code;
    }
    sqlite3_bind_int64(st, 1, rowid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap * 2;
            struct dlq_event *p = realloc(ev, ncap * sizeof *p);
            if (p == NULL)
                goto oom;
            ev = p;
            cap = ncap;
        }
        struct dlq_event *x = &ev[len++];
        x->at = sqlite3_column_int64(st, 0);
        x->event = dlq_sq_col_dup(st, 1, &oom);
        x->actor = dlq_sq_col_dup(st, 2, &oom);
        x->details = dlq_sq_col_dup(st, 3, &oom);
        if (oom)
            goto oom;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        dlq_events_free(ev, len);
        return dlq_sq_err(c->db, rc, err, errlen, "read history");
    }
    /* A job's failed attempts (dead-lettered by the queue) happened before
     * its capture: the derived event goes after them, in time order. */
    size_t k = 1;
    while (k < len && (ev[k].at < ev[0].at ||
                       (ev[k].at == ev[0].at && strcmp(ev[k].event, "attempt_failed") == 0)))
        k++;
    if (k > 1) {
        struct dlq_event cap0 = ev[0];
        memmove(ev, ev + 1, (k - 1) * sizeof *ev);
        ev[k - 1] = cap0;
    }
    *hist = ev;
    *n = len;
    return DLQ_OK;
oom:
    sqlite3_reset(st);
    dlq_events_free(ev, len);
    return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
}

/* dlq_sq_get implements get (store.h). On error *out is zeroed and *hist NULL. */
int dlq_sq_get(struct dlq_store *base, const char *id, const char *tenant, struct dlq_entry *out,
               struct dlq_event **hist, size_t *nhist, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_int64 rowid = 0;
    char *captured_by = NULL;
    memset(out, 0, sizeof *out);
    if (hist) {
        *hist = NULL;
        *nhist = 0;
    }
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_exec(c, SQ_BEGIN, err, errlen);
    if (code == DLQ_OK)
        code = find_row(c, SQ_GET_BY_DLQ_ID, id, tenant, out, &rowid, &captured_by, err, errlen);
    if (code == 0)
        code = find_row(c, SQ_GET_BY_TASK_ID, id, tenant, out, &rowid, &captured_by, err, errlen);
    if (code == 0)
        code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no entry %.100s", id);
    if (code == 1 && hist) {
        code = read_history(c, out, rowid, captured_by, hist, nhist, err, errlen);
        if (code != DLQ_OK)
            dlq_entry_clear(out);
    } else if (code == 1) {
        free(captured_by);
        code = DLQ_OK;
    }
    dlq_sq_reader_put(s, c); /* ends the read transaction */
    return code;
}
