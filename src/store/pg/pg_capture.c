/*
 * pg_capture.c: capture, the ingest path of the PostgreSQL backend, and
 * dlq_pg_capture_insert, the same insert for a job being dead-lettered. A
 * batch is one transaction. Per entry, as on SQLite (sq_capture.c): an
 * idempotency lookup when it carries a key, then the failed-replay check
 * (pg_act*.c); the new rows are then inserted by one statement. Counters,
 * hourly counts and failure groups follow by statement trigger
 * (pg_schema.c), so one statement per batch rather than per entry keeps
 * ingest several times faster; the full text is a generated column, so the
 * rows are all this file writes. The "captured" history event is not a
 * row: get derives it from the entry (pg_read.c).
 *
 * Two captures with the same key at once: both miss the lookup, and the
 * second insert waits on the first's unique index entry (ux_entries_idem);
 * ON CONFLICT DO NOTHING then skips it once the first commits, and a second
 * lookup (a fresh snapshot under READ COMMITTED) finds the winner's dlq_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "dlq/util.h"
#include "pg_int.h"

struct capture_req {
    const struct dlq_entry *entries;
    size_t n;
    const char *actor;
    struct dlq_capture_result *res;
    size_t *pend; /* the entries to insert (indexes), npend of them */
    size_t npend;
    long *dup; /* per entry: the earlier entry of the batch with its key, or -1 */
};

/* find_idem looks (tenant, key) up; on a match it fills r as "not created"
 * and returns 1, else 0, or a negative code. Entries inserted earlier in
 * this transaction are visible: a key repeated within one batch matches its
 * first occurrence. */
static int find_idem(struct pg_conn *c, const char *tenant, const char *key,
                     struct dlq_capture_result *r, char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *res = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, tenant);
    dlq_pg_p_text(&p, key);
    int code = dlq_pg_exec(c,
                           "SELECT dlq_id FROM entries WHERE tenant_id = $1"
                           " AND idempotency_key = $2 AND idempotency_key IS NOT NULL",
                           &p, &res, "idempotency lookup", err, errlen);
    if (code != DLQ_OK)
        return code;
    int found = PQntuples(res) > 0;
    if (found) {
        dlq_pg_copy(res, 0, 0, r->dlq_id, sizeof r->dlq_id);
        r->created = 0;
    }
    PQclear(res);
    return found;
}

/* The type of each insert value, in dlq_pg_entry_params order. */
static const char *const col_type[PG_ENTRY_NCOLS + 1] = {
    "text",   "int",  "bigint", "text",   "text",   "text", "int",  "text",
    "text",   "text", "text",   "text",   "bigint", "int",  "int",  "bigint",
    "bigint", "int",  "int",    "bigint", "bigint", "text", "text", "text",
    "text",   "text", "text",   "text",   "text",   "text", "text", "text"};
_Static_assert(PG_ENTRY_NCOLS + 1 == 32, "col_type follows dlq_pg_entry_params");
#define NV (PG_ENTRY_NCOLS + 1)

/* array_elem appends v as an element of an array literal (NULL: NULL). */
static void array_elem(struct dlq_buf *b, const char *v, int first)
{
    if (!first)
        dlq_buf_putc(b, ',');
    if (v == NULL) {
        dlq_buf_puts(b, "NULL");
        return;
    }
    dlq_buf_putc(b, '"');
    while (*v) {
        size_t run = strcspn(v, "\\\"");
        dlq_buf_append(b, v, run);
        v += run;
        if (*v) {
            dlq_buf_putc(b, '\\');
            dlq_buf_putc(b, *v++);
        }
    }
    dlq_buf_putc(b, '"');
}

/* insert_sql writes the statement inserting one row per element of NV
 * arrays ($1..$NV), in order, skipping a row whose idempotency key exists. */
static void insert_sql(char *sql, size_t len)
{
    const char *vals = strstr(dlq_pg_entry_insert_sql, " VALUES");
    size_t n = (size_t)snprintf(sql, len, "%.*s SELECT", (int)(vals - dlq_pg_entry_insert_sql),
                                dlq_pg_entry_insert_sql);
    for (int k = 0; k < NV && n < len; k++)
        n += (size_t)snprintf(sql + n, len - n, "%s c%d", k ? "," : "", k);
    n += (size_t)snprintf(sql + n, n < len ? len - n : 0, " FROM unnest(");
    for (int k = 0; k < NV && n < len; k++)
        n += (size_t)snprintf(sql + n, len - n, "%s$%d::%s[]", k ? ", " : "", k + 1, col_type[k]);
    n += (size_t)snprintf(sql + n, n < len ? len - n : 0, ") WITH ORDINALITY AS u(");
    for (int k = 0; k < NV && n < len; k++)
        n += (size_t)snprintf(sql + n, len - n, "c%d, ", k);
    snprintf(sql + n, n < len ? len - n : 0,
             "ord) ORDER BY ord ON CONFLICT (tenant_id, idempotency_key)"
             " WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING dlq_id");
}

/* insert_many inserts the npend entries waiting in q->pend with one
 * statement (the counter triggers then run once for the batch, not once
 * per entry) and fills their results. An entry skipped because a
 * concurrent capture committed its key first gets that entry's dlq_id. */
static int insert_many(struct pg_conn *c, struct capture_req *q, char *err, size_t errlen)
{
    struct dlq_buf arr[NV];
    struct pg_params p, row;
    PGresult *res = NULL;
    char sql[4096]; /* about 1800 bytes */
    int code = DLQ_OK;
    memset(arr, 0, sizeof arr);
    for (int k = 0; k < NV; k++)
        dlq_buf_putc(&arr[k], '{');
    for (size_t j = 0; j < q->npend; j++) {
        dlq_pg_p_init(&row);
        dlq_pg_entry_params(&row, &q->entries[q->pend[j]], q->actor);
        for (int k = 0; k < NV; k++)
            array_elem(&arr[k], row.v[k], j == 0);
    }
    dlq_pg_p_init(&p);
    for (int k = 0; k < NV; k++) {
        dlq_buf_putc(&arr[k], '}');
        if (arr[k].oom)
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        dlq_pg_p_text(&p, arr[k].data);
    }
    if (code == DLQ_OK) {
        insert_sql(sql, sizeof sql);
        code = dlq_pg_exec(c, sql, &p, &res, "insert entries", err, errlen);
    }
    for (int k = 0; k < NV; k++)
        dlq_buf_free(&arr[k]);
    if (code != DLQ_OK)
        return code;
    /* the rows come back in insert order; a skipped one is missing */
    size_t j = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        size_t from = j;
        while (j < q->npend && strcmp(q->entries[q->pend[j]].dlq_id, id) != 0)
            j++;
        if (j == q->npend) /* not in order after all: look from the start */
            for (j = 0; j < from && strcmp(q->entries[q->pend[j]].dlq_id, id) != 0; j++)
                ;
        if (j < q->npend) {
            struct dlq_capture_result *r = &q->res[q->pend[j]];
            snprintf(r->dlq_id, sizeof r->dlq_id, "%s", id);
            r->created = 1;
            j++;
        }
    }
    PQclear(res);
    for (j = 0; j < q->npend && code == DLQ_OK; j++) {
        const struct dlq_entry *e = &q->entries[q->pend[j]];
        struct dlq_capture_result *r = &q->res[q->pend[j]];
        if (r->created || e->idempotency_key == NULL)
            continue;
        /* a concurrent capture committed this key first */
        code = find_idem(c, e->tenant_id ? e->tenant_id : "", e->idempotency_key, r, err, errlen);
        if (code == 0) /* ... and it is gone again: start over */
            code = dlq_errf(err, errlen, DLQ_E_BUSY, "idempotency key raced");
        else if (code == 1)
            code = DLQ_OK;
    }
    return code;
}

/* pending_key finds an entry of this batch waiting to be inserted with
 * e's tenant and idempotency key: its index, or -1. */
static long pending_key(const struct capture_req *q, const struct dlq_entry *e)
{
    const char *tenant = e->tenant_id ? e->tenant_id : "";
    for (size_t j = 0; j < q->npend; j++) {
        const struct dlq_entry *x = &q->entries[q->pend[j]];
        if (x->idempotency_key && strcmp(x->idempotency_key, e->idempotency_key) == 0 &&
            strcmp(x->tenant_id ? x->tenant_id : "", tenant) == 0)
            return (long)q->pend[j];
    }
    return -1;
}

/* capture_body is the transaction: every entry of the batch, in order. New
 * entries are inserted together at the end: nothing in between can see
 * them (an idempotency key repeated in the batch is matched here, and a
 * failed replay only ever updates a retried entry, never a new one). Any
 * failure fails the whole batch (rolled back); it may run again, so it
 * starts from clean results. */
static int capture_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct capture_req *q = ctx;
    q->npend = 0;
    for (size_t i = 0; i < q->n; i++) {
        memset(&q->res[i], 0, sizeof q->res[i]);
        q->dup[i] = -1;
    }
    for (size_t i = 0; i < q->n; i++) {
        const struct dlq_entry *e = &q->entries[i];
        struct dlq_capture_result *r = &q->res[i];
        const char *tenant = e->tenant_id ? e->tenant_id : "";
        int code;
        if (e->idempotency_key) {
            if ((q->dup[i] = pending_key(q, e)) >= 0)
                continue;
            code = find_idem(c, tenant, e->idempotency_key, r, err, errlen);
            if (code < 0)
                return code;
            if (code == 1)
                continue;
        }
        /* a failed replay updates the entry it replays instead */
        if (e->replay_of || e->original_task_id) {
            code = dlq_pg_capture_replay(c, e, tenant, q->actor, e->processed_at, r, err, errlen);
            if (code < 0)
                return code;
            if (code == 1)
                continue;
        }
        q->pend[q->npend++] = i;
    }
    if (q->npend > 0) {
        int code = insert_many(c, q, err, errlen);
        if (code != DLQ_OK)
            return code;
    }
    /* a key repeated in the batch answers with its first occurrence's entry */
    for (size_t i = 0; i < q->n; i++) {
        if (q->dup[i] >= 0) {
            memcpy(q->res[i].dlq_id, q->res[q->dup[i]].dlq_id, sizeof q->res[i].dlq_id);
            q->res[i].created = 0;
        }
    }
    return DLQ_OK;
}

int dlq_pg_capture_insert(struct pg_conn *c, const struct dlq_entry *e, const char *actor,
                          int64_t *id, char *err, size_t errlen)
{
    char sql[2048];
    struct pg_params p;
    PGresult *res = NULL;
    snprintf(sql, sizeof sql, "%s RETURNING id", dlq_pg_entry_insert_sql);
    dlq_pg_p_init(&p);
    dlq_pg_entry_params(&p, e, actor);
    int code = dlq_pg_exec(c, sql, &p, &res, "insert entry", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (id)
        *id = PQntuples(res) > 0 ? dlq_pg_i64(res, 0, 0) : 0;
    PQclear(res);
    return DLQ_OK;
}

int dlq_pg_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                   const char *actor, struct dlq_capture_result *res, char *err, size_t errlen)
{
    struct capture_req q = {.entries = entries, .n = n, .actor = actor, .res = res};
    for (size_t i = 0; i < n; i++)
        memset(&res[i], 0, sizeof res[i]);
    if (n == 0)
        return DLQ_OK;
    q.pend = malloc(n * sizeof *q.pend);
    q.dup = malloc(n * sizeof *q.dup);
    int code = q.pend && q.dup ? dlq_pg_tx(PG(s), capture_body, &q, err, errlen)
                               : dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    free(q.pend);
    free(q.dup);
    if (code != DLQ_OK) {
        for (size_t i = 0; i < n; i++) {
            res[i].code = code;
            res[i].created = 0;
            res[i].dlq_id[0] = '\0';
            res[i].updated = 0;
        }
    }
    return code;
}
