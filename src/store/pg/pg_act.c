/*
 * pg_act.c: actions on entries of the PostgreSQL backend (retry, force
 * redrive, resolve, discard, replay outcomes, expiry, archiving, purge), one
 * (act) or many in one transaction (act_many). Each action reads its entry
 * row with SELECT ... FOR UPDATE inside the transaction, so of two
 * concurrent actions on one entry the second waits for the first to commit,
 * then reads the new status and is refused by the state machine: exactly
 * one wins, as with SQLite's single writer. act_many locks all its rows in
 * one statement ordered by entries.id, so bulk calls over overlapping sets
 * take their locks in the same order and do not deadlock. The change itself
 * is pg_act_apply.c's; the replay job (RETRY, FORCE_RETRY) and the audit
 * record are written in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/util.h"
#include "../store_json.h"
#include "pg_act.h"

#define SEL_COLS "SELECT " PG_ENTRY_COLS ", e.id, e.op_id FROM entries e "
/* The row without its big text columns (exception message and traceback,
 * args, kwargs, metadata, context: NULL in their places), for the actions
 * that neither change nor return them; the update then sets only the
 * columns the action changes, so the NULLs are never written back. */
#define SEL_LIGHT                                                                                  \
    "SELECT e.dlq_id, e.status, e.failed_at, e.tenant_id, e.task_name, e.queue, e.reason,"         \
    " e.exc_type, e.fingerprint, e.original_task_id, e.retry_task_id, e.idempotency_key,"          \
    " e.processed_at, e.retries_attempted, e.retry_count, e.last_retry_at, e.resolved_at,"         \
    " e.priority, e.max_replays, e.expires_at, e.updated_at, e.error_code, e.resolution_type,"     \
    " e.resolved_by, e.resolution_notes, NULL, NULL, NULL, NULL, NULL, NULL, e.id, e.op_id"        \
    " FROM entries e "

static const char *const find_sql[] = {
    [PG_FIND_DLQ_ID] = SEL_COLS "WHERE e.dlq_id = $1 AND ($2::text IS NULL OR e.tenant_id = $2)"
                                " FOR UPDATE",
    [PG_FIND_DLQ_ID_LIGHT] =
        SEL_LIGHT "WHERE e.dlq_id = $1 AND ($2::text IS NULL OR e.tenant_id = $2) FOR UPDATE",
    [PG_FIND_TASK_ID] = SEL_COLS "WHERE e.original_task_id = $1 AND ($2::text IS NULL OR"
                                 " e.tenant_id = $2) ORDER BY e.failed_at DESC, e.id DESC LIMIT 1"
                                 " FOR UPDATE",
    [PG_FIND_RETRY_ID] = SEL_COLS "WHERE e.retry_task_id = $1 AND e.tenant_id = $2"
                                  " ORDER BY e.id DESC LIMIT 1 FOR UPDATE",
};

int dlq_pg_act_row_fill(const PGresult *r, int row, struct pg_act_row *out)
{
    memset(out, 0, sizeof *out);
    int oom = 0;
    if (dlq_pg_entry_from_row(r, row, 0, &out->e) != DLQ_OK)
        return DLQ_E_NOMEM;
    out->id = dlq_pg_i64(r, row, PG_ENTRY_NCOLS);
    out->op_id = dlq_pg_dup(r, row, PG_ENTRY_NCOLS + 1, &oom);
    if (oom) {
        dlq_pg_act_row_clear(out);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

int dlq_pg_act_find(struct pg_conn *c, enum pg_find by, const char *key, const char *tenant,
                    struct pg_act_row *out, char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, key);
    dlq_pg_p_text(&p, tenant);
    int code = dlq_pg_exec(c, find_sql[by], &p, &r, "find entry", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    code = dlq_pg_act_row_fill(r, 0, out);
    PQclear(r);
    if (code != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return 1;
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
    struct pg_act_row row;
};

static int act_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct act_req *q = ctx;
    dlq_pg_act_row_clear(&q->row); /* a retried transaction starts from nothing */
    int code = dlq_pg_act_find(c, PG_FIND_DLQ_ID, q->id, q->a->tenant, &q->row, err, errlen);
    if (code == 0)
        code = dlq_pg_act_find(c, PG_FIND_TASK_ID, q->id, q->a->tenant, &q->row, err, errlen);
    if (code == 0)
        return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no entry with id '%.100s'", q->id);
    if (code < 0)
        return code;
    if ((code = dlq_pg_act_apply(c, &q->row, q->a, q->rtid, err, errlen)) != DLQ_OK)
        return code;
    if (is_replay(q->a) && q->rtid)
        code = dlq_pg_job_from_entry(c, &q->row, q->rtid, q->a, err, errlen);
    if (code == DLQ_OK && q->audit) {
        const char *ids[1] = {q->row.e.dlq_id};
        code = dlq_pg_audit_write(c, q->audit, q->a->now, ids, 1, err, errlen);
    }
    return code;
}

/* dlq_pg_act implements act (store.h). */
int dlq_pg_act(struct dlq_store *s, const char *id, const struct dlq_act *a,
               const char *retry_task_id, const struct dlq_audit *audit, struct dlq_entry *after,
               char *err, size_t errlen)
{
    struct act_req q = {.id = id, .a = a, .rtid = retry_task_id, .audit = audit};
    if (after)
        memset(after, 0, sizeof *after);
    int code = dlq_pg_tx(PG(s), act_body, &q, err, errlen);
    if (code == DLQ_OK && after) {
        *after = q.row.e;
        memset(&q.row.e, 0, sizeof q.row.e);
    }
    dlq_pg_act_row_clear(&q.row);
    return code;
}

/* ---- act_many: n entries by dlq_id, one commit ---- */

struct many_req {
    const char *const *ids;
    size_t n;
    const struct dlq_act *a;
    const char *const *rtids;
    const struct dlq_audit *audit;
    struct dlq_act_result *res;
};

static int by_dlq_id(const void *x, const void *y)
{
    return strcmp(((const struct pg_act_row *)x)->e.dlq_id,
                  ((const struct pg_act_row *)y)->e.dlq_id);
}

/* lock_rows reads and locks every entry of q's ids that exists (of the
 * tenant, when the action has one), in entries.id order. *rows (m of them)
 * is sorted by dlq_id for lookups. */
static int lock_rows(struct pg_conn *c, const struct many_req *q, struct pg_act_row **rows,
                     size_t *m, char *err, size_t errlen)
{
    /* Edits need the arguments as they were for the history; the rest read
     * the light row. */
    static const char *const sql_full =
        SEL_COLS "WHERE e.dlq_id = ANY($1::text[]) AND ($2::text IS NULL OR e.tenant_id = $2)"
                 " ORDER BY e.id FOR UPDATE";
    static const char *const sql_light =
        SEL_LIGHT "WHERE e.dlq_id = ANY($1::text[]) AND ($2::text IS NULL OR e.tenant_id = $2)"
                  " ORDER BY e.id FOR UPDATE";
    *rows = NULL;
    *m = 0;
    char *arr = dlq_pg_text_array(q->ids, q->n);
    if (arr == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, arr);
    dlq_pg_p_text(&p, q->a->tenant);
    int code =
        dlq_pg_exec(c, q->a->edit ? sql_full : sql_light, &p, &r, "find entries", err, errlen);
    free(arr);
    if (code != DLQ_OK)
        return code;
    size_t nt = (size_t)PQntuples(r);
    struct pg_act_row *v = calloc(nt ? nt : 1, sizeof *v);
    if (v == NULL) {
        PQclear(r);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nt; i++)
        if (dlq_pg_act_row_fill(r, (int)i, &v[i]) != DLQ_OK) {
            for (size_t j = 0; j < i; j++)
                dlq_pg_act_row_clear(&v[j]);
            free(v);
            PQclear(r);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
    PQclear(r);
    qsort(v, nt, sizeof *v, by_dlq_id);
    *rows = v;
    *m = nt;
    return DLQ_OK;
}

/* What a batchable action (dlq_pg_act_batchable) leaves to write after its
 * rows are changed in memory: the rows (each once), their history events
 * and their replay jobs, in the caller's order. */
struct pending {
    struct pg_act_row **rows;
    char *marked; /* by index into the locked rows */
    size_t nrows;
    int64_t *ev_row;
    char **ev_det;
    size_t nev;
    struct pg_act_row **jrow;
    const char **jrt;
    size_t nj;
};

static void pending_free(struct pending *w)
{
    for (size_t i = 0; w->ev_det && i < w->nev; i++)
        free(w->ev_det[i]);
    free(w->rows);
    free(w->marked);
    free(w->ev_row);
    free(w->ev_det);
    free(w->jrow);
    free(w->jrt);
}

static int pending_alloc(struct pending *w, size_t n, size_t m)
{
    memset(w, 0, sizeof *w);
    n = n ? n : 1;
    w->rows = calloc(n, sizeof *w->rows);
    w->marked = calloc(m ? m : 1, 1);
    w->ev_row = calloc(n, sizeof *w->ev_row);
    w->ev_det = calloc(n, sizeof *w->ev_det);
    w->jrow = calloc(n, sizeof *w->jrow);
    w->jrt = calloc(n, sizeof *w->jrt);
    if (!w->rows || !w->marked || !w->ev_row || !w->ev_det || !w->jrow || !w->jrt)
        return DLQ_E_NOMEM;
    return DLQ_OK;
}

/* change_one changes row in memory for a batchable action and notes what
 * to write; DLQ_E_CONFLICT when the state machine refused (detail in err). */
static int change_one(struct pg_conn *c, struct pending *w, struct pg_act_row *rows,
                      struct pg_act_row *row, const struct dlq_act *a, const char *rtid, char *err,
                      size_t errlen)
{
    int code = dlq_pg_act_change(c, row, a, rtid, err, errlen);
    if (code != DLQ_OK)
        return code;
    int oom = 0;
    char *details = dlq_store_event_details(&row->e, a, &oom);
    if (oom)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    if (!w->marked[row - rows]) {
        w->marked[row - rows] = 1;
        w->rows[w->nrows++] = row;
    }
    w->ev_row[w->nev] = row->id;
    w->ev_det[w->nev++] = details;
    if (is_replay(a) && rtid) {
        w->jrow[w->nj] = row;
        w->jrt[w->nj++] = rtid;
    }
    return DLQ_OK;
}

static int many_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct many_req *q = ctx;
    for (size_t i = 0; i < q->n; i++) /* a retried transaction starts from nothing */
        memset(&q->res[i], 0, sizeof q->res[i]);
    struct pg_act_row *rows;
    struct pending w = {0};
    size_t m, ndone = 0;
    int batch = dlq_pg_act_batchable(q->a);
    int code = lock_rows(c, q, &rows, &m, err, errlen);
    if (code != DLQ_OK)
        return code;
    const char **done = calloc(q->n ? q->n : 1, sizeof *done);
    if (done == NULL || pending_alloc(&w, q->n, m) != DLQ_OK)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    /* In the caller's order: an id given twice meets the row as the first
     * action left it, as it would reading it again. */
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++) {
        struct dlq_act_result *r = &q->res[i];
        struct pg_act_row key = {.e = {.dlq_id = (char *)q->ids[i]}};
        struct pg_act_row *row = bsearch(&key, rows, m, sizeof *rows, by_dlq_id);
        if (row == NULL) {
            r->code = DLQ_E_NOTFOUND;
            snprintf(r->detail, sizeof r->detail, "no entry with id '%.100s'", q->ids[i]);
            continue;
        }
        const char *rtid = q->rtids ? q->rtids[i] : NULL;
        code = batch ? change_one(c, &w, rows, row, q->a, rtid, r->detail, sizeof r->detail)
                     : dlq_pg_act_apply(c, row, q->a, rtid, r->detail, sizeof r->detail);
        if (code == DLQ_E_CONFLICT && PQtransactionStatus(c->pc) != PQTRANS_INERROR) {
            r->code = code; /* the state machine refused: the others go on */
            code = DLQ_OK;
        } else if (code == DLQ_OK) {
            r->status = row->e.status;
            done[ndone++] = q->ids[i];
            if (!batch && is_replay(q->a) && rtid)
                code = dlq_pg_job_from_entry(c, row, rtid, q->a, err, errlen);
        } else {
            snprintf(err, errlen, "%s", r->detail);
        }
    }
    if (code == DLQ_OK && batch)
        code =
            dlq_pg_act_write_many(c, w.rows, w.nrows, q->a, w.ev_row, w.ev_det, w.nev, err, errlen);
    for (size_t j = 0; code == DLQ_OK && batch && j < w.nj; j++)
        code = dlq_pg_job_from_entry(c, w.jrow[j], w.jrt[j], q->a, err, errlen);
    if (code == DLQ_OK && q->audit)
        code = dlq_pg_audit_write(c, q->audit, q->a->now, done, ndone, err, errlen);
    if (code == DLQ_OK && q->a->progress) {
        struct dlq_op op = *q->a->progress; /* shallow: saved, never freed here */
        op.processed += (int64_t)q->n;
        op.skipped += (int64_t)(q->n - ndone);
        code = dlq_pg_op_save_in(c, &op, err, errlen);
    }
    for (size_t j = 0; j < m; j++)
        dlq_pg_act_row_clear(&rows[j]);
    free(rows);
    free(done);
    pending_free(&w);
    return code;
}

/* dlq_pg_act_many implements act_many (store.h). */
int dlq_pg_act_many(struct dlq_store *s, const char *const *ids, size_t n, const struct dlq_act *a,
                    const char *const *retry_task_ids, const struct dlq_audit *audit,
                    struct dlq_act_result *res, char *err, size_t errlen)
{
    struct many_req q = {ids, n, a, retry_task_ids, audit, res};
    int code = dlq_pg_tx(PG(s), many_body, &q, err, errlen);
    if (code != DLQ_OK)
        for (size_t i = 0; i < n; i++) {
            res[i].code = code;
            snprintf(res[i].detail, sizeof res[i].detail, "%s", err ? err : "");
        }
    return code;
}
