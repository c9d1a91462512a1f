/*
 * sq_capture.c: capture, the ingest hot path. A batch of entries is one
 * write request, so it commits once (with whatever other requests share the
 * group). Per entry: an idempotency lookup when it carries a key, then the
 * row, and a counter change that the writer adds up and applies once per key
 * (sq_cube.c). Rows are written up to 64 per INSERT statement, prepared once
 * on the writer connection with text bound without copies: one statement
 * keeps the table's and indexes' cursors open from row to row, which saves
 * a third of the writer's work per entry against one statement per row. The "captured"
 * history event is not a row of its own: get derives it from the entry
 * (processed_at, reason, queue and the captured_by column).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sq_int.h"

struct capture_req {
    const struct dlq_entry *entries;
    size_t n;
    const char *actor;
    struct dlq_capture_result *res;
};

/* step_done steps a statement that returns no rows and resets it. */
static int step_done(struct sq_conn *w, sqlite3_stmt *st, char *err, size_t errlen,
                     const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, what);
    return DLQ_OK;
}

/* find_idem looks (tenant, key) up; on a match it fills r as "not created"
 * and returns 1, else 0, or a negative code on error. Entries inserted earlier
 * in this transaction are visible, so a key repeated within one batch
 * matches its first occurrence. */
static int find_idem(struct sq_conn *w, const char *tenant, const char *key,
                     struct dlq_capture_result *r, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt(w, SQ_IDEM_FIND, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        dlq_sq_col_copy(st, 0, r->dlq_id, sizeof r->dlq_id);
        r->created = 0;
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "idempotency lookup");
    return 0;
}

/* bind_entry binds every column of e to the insert statement, in enum
 * sq_col order; tenant is e's tenant with "" for none. */
static void bind_entry(sqlite3_stmt *st, int base, const struct dlq_entry *e, const char *tenant)
{
#define T(col, v)  dlq_sq_bind_text(st, base + (col) + 1, (v))
#define I(col, v)  sqlite3_bind_int64(st, base + (col) + 1, (v))
#define TM(col, v) dlq_sq_bind_time(st, base + (col) + 1, (v))
    T(SC_DLQ_ID, e->dlq_id);
    I(SC_STATUS, e->status);
    I(SC_FAILED_AT, e->failed_at);
    T(SC_TENANT_ID, tenant);
    T(SC_TASK_NAME, e->task_name);
    T(SC_QUEUE, e->queue);
    I(SC_REASON, e->reason);
    T(SC_EXC_TYPE, e->exc_type);
    T(SC_FINGERPRINT, e->fingerprint);
    T(SC_ORIGINAL_TASK_ID, e->original_task_id);
    T(SC_RETRY_TASK_ID, e->retry_task_id);
    T(SC_IDEMPOTENCY_KEY, e->idempotency_key);
    I(SC_PROCESSED_AT, e->processed_at);
    I(SC_RETRIES_ATTEMPTED, e->retries_attempted);
    I(SC_RETRY_COUNT, e->retry_count);
    TM(SC_LAST_RETRY_AT, e->last_retry_at);
    TM(SC_RESOLVED_AT, e->resolved_at);
    I(SC_PRIORITY, e->priority);
    I(SC_MAX_REPLAYS, e->max_replays);
    TM(SC_EXPIRES_AT, e->expires_at);
    TM(SC_UPDATED_AT, e->updated_at);
    T(SC_ERROR_CODE, e->error_code);
    T(SC_RESOLUTION_TYPE, e->resolution_type);
    T(SC_RESOLVED_BY, e->resolved_by);
    T(SC_RESOLUTION_NOTES, e->resolution_notes);
    T(SC_EXC_MESSAGE, e->exc_message);
    T(SC_TASK_ARGS, e->task_args);
    T(SC_TASK_KWARGS, e->task_kwargs);
    T(SC_METADATA, e->metadata);
    T(SC_CONTEXT, e->context);
    T(SC_EXC_TRACEBACK, e->exc_traceback);
#undef T
#undef I
#undef TM
}

/* Rows of a batch waiting for their insert: they are written a few dozen at
 * a time by flush_rows. Their ids, counters and results are settled when
 * they join, so only the statement is deferred. */
#define ROWS_MAX 64
struct rows {
    const struct dlq_entry *e[ROWS_MAX];
    const char *tenant[ROWS_MAX];
    int64_t id[ROWS_MAX];
    size_t n;
    int retry_ids; /* a waiting row carries a retry_task_id */
};

/* flush_rows inserts the waiting rows, in order, in the fewest statements
 * of dlq_sq_rows_sizes. */
static int flush_rows(struct sq_conn *w, struct rows *p, const char *actor, char *err,
                      size_t errlen)
{
    size_t i = 0;
    while (i < p->n) {
        int size = 0;
        while ((size_t)dlq_sq_rows_sizes[size] > p->n - i)
            size++;
        sqlite3_stmt *st;
        int code = dlq_sq_stmt_rows(w, size, &st, err, errlen);
        if (code != DLQ_OK)
            return code;
        for (int r = 0; r < dlq_sq_rows_sizes[size]; r++, i++) {
            int base = r * SQ_ROW_PARAMS;
            bind_entry(st, base, p->e[i], p->tenant[i]);
            dlq_sq_bind_text(st, base + SC_NCOLS + 1, actor);
            sqlite3_bind_int64(st, base + SC_NCOLS + 2, p->id[i]);
        }
        if ((code = step_done(w, st, err, errlen, "insert entries")) != DLQ_OK)
            return code;
    }
    p->n = 0;
    p->retry_ids = 0;
    return DLQ_OK;
}

/* waiting_idem looks (tenant, key) up among the waiting rows, as find_idem
 * does in the table: 1 with r filled on a match, else 0. */
static int waiting_idem(const struct rows *p, const char *tenant, const char *key,
                        struct dlq_capture_result *r)
{
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->e[i]->idempotency_key;
        if (k && strcmp(k, key) == 0 && strcmp(p->tenant[i], tenant) == 0) {
            snprintf(r->dlq_id, sizeof r->dlq_id, "%s", p->e[i]->dlq_id);
            r->created = 0;
            return 1;
        }
    }
    return 0;
}

/* add_row settles e's id, counters and result and puts it among the
 * waiting rows, flushing them when full. */
static int add_row(struct sq_conn *w, struct rows *p, const struct dlq_entry *e, const char *tenant,
                   const char *actor, struct dlq_capture_result *r, char *err, size_t errlen)
{
    /* The counters are updated once per distinct key, before the commit. */
    int code = dlq_sq_cube_add(w->cube, tenant, e->status, e->queue, e->task_name, e->reason,
                               e->exc_type, 1);
    if (code != DLQ_OK)
        return dlq_errf(err, errlen, code, "out of memory");
    /* slice C1: hourly and failure-group counters, same transaction. */
    if ((code = dlq_sq_capture_extras(w, e, err, errlen)) != DLQ_OK)
        return code;
    p->e[p->n] = e;
    p->tenant[p->n] = tenant;
    /* Above every id ever given; its text is indexed by the indexer (sq_fts.c). */
    p->id[p->n] = w->next_id++;
    p->retry_ids |= e->retry_task_id != NULL;
    p->n++;
    snprintf(r->dlq_id, sizeof r->dlq_id, "%s", e->dlq_id);
    r->created = 1;
    return p->n == ROWS_MAX ? flush_rows(w, p, actor, err, errlen) : DLQ_OK;
}

/* capture_fn is the write request: every entry of the batch, in order. Any
 * failure fails the whole request (its savepoint is rolled back). */
static int capture_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct capture_req *c = arg;
    struct rows p = {.n = 0};
    for (size_t i = 0; i < c->n; i++) {
        const struct dlq_entry *e = &c->entries[i];
        struct dlq_capture_result *r = &c->res[i];
        const char *tenant = e->tenant_id ? e->tenant_id : "";
        int code;
        if (e->idempotency_key) {
            code = waiting_idem(&p, tenant, e->idempotency_key, r);
            if (code == 0)
                code = find_idem(w, tenant, e->idempotency_key, r, err, errlen);
            if (code < 0)
                return code;
            if (code == 1)
                continue;
        }
        /* slice A: a failed replay updates the entry it replays instead. A
         * waiting row could be that entry only if it names it, so those
         * are written first. */
        if (e->replay_of || e->original_task_id) {
            if ((e->replay_of || p.retry_ids) &&
                (code = flush_rows(w, &p, c->actor, err, errlen)) != DLQ_OK)
                return code;
            code = dlq_sq_capture_replay(w, e, tenant, c->actor, e->processed_at, r, err, errlen);
            if (code < 0)
                return code;
            if (code == 1)
                continue;
        }
        if ((code = add_row(w, &p, e, tenant, c->actor, r, err, errlen)) != DLQ_OK)
            return code;
    }
    return flush_rows(w, &p, c->actor, err, errlen);
}

/* dlq_sq_capture_insert (issue 4: a job dead-lettering) stores one new
 * entry inside the caller's write request exactly as capture_fn does for a
 * new entry: row, text index, counters, hourly and group counts. */
int dlq_sq_capture_insert(struct sq_conn *w, const struct dlq_entry *e, const char *actor,
                          sqlite3_int64 *rowid, char *err, size_t errlen)
{
    struct rows p = {.n = 0};
    struct dlq_capture_result r;
    int code = add_row(w, &p, e, e->tenant_id ? e->tenant_id : "", actor, &r, err, errlen);
    if (code == DLQ_OK && rowid)
        *rowid = p.id[0];
    return code == DLQ_OK ? flush_rows(w, &p, actor, err, errlen) : code;
}

/* fail_results gives every result the error code: nothing was stored. */
static void fail_results(struct dlq_capture_result *res, size_t n, int code)
{
    for (size_t i = 0; i < n; i++) {
        res[i].code = code;
        res[i].created = 0;
        res[i].dlq_id[0] = '\0';
    }
}

/* dlq_sq_capture stores n entries in one commit (store.h). On error no entry
 * is stored and every result carries the error. */
int dlq_sq_capture(struct dlq_store *base, const struct dlq_entry *entries, size_t n,
                   const char *actor, struct dlq_capture_result *res, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct capture_req c = {.entries = entries, .n = n, .actor = actor, .res = res};
    memset(res, 0, n * sizeof *res);
    int code = dlq_sq_write(s, capture_fn, &c, err, errlen);
    if (code != DLQ_OK)
        fail_results(res, n, code);
    return code;
}

/* A capture submitted without waiting: the write request first, so the
 * writer's request is the whole. */
struct capture_submitted {
    struct sq_wreq w;
    struct capture_req c;
    void (*done)(void *arg, int rc);
    void *arg;
};

static void capture_finish(struct sq_wreq *w)
{
    struct capture_submitted *cs = (struct capture_submitted *)w;
    if (w->rc != DLQ_OK)
        fail_results(cs->c.res, cs->c.n, w->rc);
    cs->done(cs->arg, w->rc);
    free(cs);
}

/* dlq_sq_capture_submit is dlq_sq_capture without waiting (store.h,
 * capture_submit): the request threads of a busy server go on serving
 * while their captures wait for the group commit and its fsync. */
int dlq_sq_capture_submit(struct dlq_store *base, const struct dlq_entry *entries, size_t n,
                          const char *actor, struct dlq_capture_result *res, char *err,
                          size_t errlen, void (*done)(void *arg, int rc), void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    struct capture_submitted *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    memset(res, 0, n * sizeof *res);
    cs->c = (struct capture_req){.entries = entries, .n = n, .actor = actor, .res = res};
    cs->w = (struct sq_wreq){
        .fn = capture_fn, .arg = &cs->c, .err = err, .errlen = errlen, .finish = capture_finish};
    cs->done = done;
    cs->arg = arg;
    int code = dlq_sq_write_submit(s, &cs->w);
    if (code != DLQ_OK)
        free(cs);
    return code;
}
