/*
 * pg_list.c: list, export_page and count_entries on PostgreSQL, ported
 * from sq_list.c and sq_export.c with the same answers: pages in
 * (failed_at, id) order, newest or oldest first, keyset beyond a cursor or
 * LIMIT/OFFSET, one row past the page telling whether a next page exists,
 * the same cursor text (the id part is entries.id), and list's exact total.
 *
 * The planner picks the index (each of ix_entries_* is (column, failed_at,
 * id), so an equality filter walks one in page order), with one exception
 * kept from SQLite: several statuses with no full text become one ordered,
 * limited scan of (status, failed_at, id) per status, merged, since a single
 * scan could not yield the order without sorting every match. The total is
 * a sum over entry_counts when the filter only uses its columns, else a
 * count over the page's conditions; page and total come from one snapshot.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "pg_where.h"

#define EXPORT_PAGE_MAX 1000

struct list_req {
    struct pg_sql q; /* the query being run */
    struct pg_where w;
    int limit;
    int64_t offset;
    struct dlq_page *out;
    int more;
    int64_t last_id;
};

/* order appends " ORDER BY <a>failed_at DIR, <a>id DIR". */
static void order(struct pg_sql *q, const char *a, int desc)
{
    char b[96];
    const char *dir = desc ? " DESC" : " ASC";
    snprintf(b, sizeof b, " ORDER BY %sfailed_at%s, %sid%s", a, dir, a, dir);
    dlq_pg_sql_add(q, b);
}

/* build_page writes the page query: limit+1 rows from offset. */
static void build_page(struct pg_sql *q, const struct list_req *l)
{
    const struct pg_where *w = &l->w;
    if (w->q || w->nstatus < 2) {
        dlq_pg_sql_add(q, "SELECT " PG_ENTRY_COLS ", e.id FROM entries e WHERE true");
        dlq_pg_where_conds(q, w, PG_WHERE_STATUS | PG_WHERE_CURSOR);
        order(q, "e.", w->desc);
        dlq_pg_sql_int(q, " LIMIT ", l->limit + 1);
        dlq_pg_sql_int(q, " OFFSET ", l->offset);
        return;
    }
    /* One ordered, limited index scan per status, merged; the page's rows
     * are then fetched by id. */
    int need = dlq_pg_sql_param(q, NULL, l->offset + l->limit + 1);
    dlq_pg_sql_add(q, "SELECT " PG_ENTRY_COLS ", e.id FROM (");
    for (int i = 0; i < w->nstatus; i++) {
        dlq_pg_sql_add(q, i ? " UNION ALL " : "");
        dlq_pg_sql_int(q,
                       "(SELECT e.id, e.failed_at FROM entries e WHERE e.status = ", w->status[i]);
        dlq_pg_where_conds(q, w, PG_WHERE_CURSOR);
        order(q, "e.", w->desc);
        dlq_pg_sql_ref(q, " LIMIT ", need);
        dlq_pg_sql_add(q, ")");
    }
    order(q, "", w->desc);
    dlq_pg_sql_int(q, " LIMIT ", l->limit + 1);
    dlq_pg_sql_int(q, " OFFSET ", l->offset);
    dlq_pg_sql_add(q, ") AS k JOIN entries e ON e.id = k.id");
    order(q, "k.", w->desc);
}

/* build_count writes the query for the exact total of the filter. */
static void build_count(struct pg_sql *q, const struct pg_where *w)
{
    if (!w->q && !w->fp && !w->after && !w->before) {
        /* Only counter columns: sum the counters. */
        dlq_pg_sql_add(q, "SELECT coalesce(sum(n), 0) FROM entry_counts WHERE true");
        dlq_pg_where_conds(q, w, PG_WHERE_STATUS | PG_WHERE_CUBE);
        return;
    }
    dlq_pg_sql_add(q, "SELECT count(*) FROM entries e WHERE true");
    dlq_pg_where_conds(q, w, PG_WHERE_STATUS);
}

/* read_rows decodes up to max entry rows of r (id after the entry's
 * columns) into out->items; *last_id gets the last one's id. */
static int read_rows(const PGresult *r, int max, struct dlq_page *out, int64_t *last_id, char *err,
                     size_t errlen)
{
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < max; i++) {
        if (dlq_pg_entry_from_row(r, i, 0, &out->items[out->n]) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        *last_id = dlq_pg_i64(r, i, PG_ENTRY_NCOLS);
        out->n++;
    }
    return DLQ_OK;
}

static int list_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct list_req *l = ctx;
    struct dlq_page *out = l->out;
    PGresult *r = NULL;
    int code = dlq_pg_where_match(c, &l->w, err, errlen);
    if (code != DLQ_OK || l->w.empty)
        return code;
    dlq_pg_sql_init(&l->q);
    build_page(&l->q, l);
    if ((code = dlq_pg_sql_run(c, &l->q, &r, "list entries", err, errlen)) != DLQ_OK)
        return code;
    out->items = calloc((size_t)l->limit, sizeof *out->items);
    if (out->items == NULL) {
        PQclear(r);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    l->more = PQntuples(r) > l->limit;
    code = read_rows(r, l->limit, out, &l->last_id, err, errlen);
    PQclear(r);
    if (code != DLQ_OK)
        return code;
    /* A short page from a known position already tells the total. */
    if (!l->w.has_cursor && !l->more && (out->n > 0 || l->offset == 0)) {
        out->total = l->offset + (int64_t)out->n;
        return DLQ_OK;
    }
    dlq_pg_sql_init(&l->q);
    build_count(&l->q, &l->w);
    if ((code = dlq_pg_sql_run(c, &l->q, &r, "count entries", err, errlen)) != DLQ_OK)
        return code;
    out->total = dlq_pg_i64(r, 0, 0);
    PQclear(r);
    return DLQ_OK;
}

static int list_read(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    return dlq_pg_snapshot(c, list_body, ctx, err, errlen);
}

int dlq_pg_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                size_t errlen)
{
    struct list_req *l = calloc(1, sizeof *l); /* a query buffer is big for a stack */
    if (l == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    memset(out, 0, sizeof *out);
    l->out = out;
    l->limit = f->limit < 1                    ? DLQ_LIST_LIMIT_DEFAULT
               : f->limit > DLQ_LIST_LIMIT_MAX ? DLQ_LIST_LIMIT_MAX
                                               : f->limit;
    l->offset = f->offset < 0 ? 0 : f->offset > INT64_MAX / 2 ? INT64_MAX / 2 : f->offset;
    if (f->has_cursor)
        l->offset = 0;
    int code = dlq_pg_where_init(f, 1, &l->w, err, errlen);
    if (code == DLQ_OK && !l->w.empty)
        code = dlq_pg_read(PG(s), list_read, l, err, errlen);
    if (code == DLQ_OK && l->more) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)l->last_id);
        dlq_cursor_encode(l->w.desc ? DLQ_SORT_FAILED_DESC : DLQ_SORT_FAILED_ASC,
                          out->items[out->n - 1].failed_at, id, out->next_cursor,
                          sizeof out->next_cursor);
    }
    dlq_pg_where_free(&l->w);
    free(l);
    if (code != DLQ_OK) {
        dlq_page_free(out);
        memset(out, 0, sizeof *out);
    }
    return code;
}

struct export_req {
    struct pg_sql q;
    struct pg_where w;
    int limit;
    struct dlq_page *out;
    int64_t last_id;
};

static int export_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct export_req *x = ctx;
    struct pg_sql *q = &x->q;
    PGresult *r = NULL;
    int code = dlq_pg_where_match(c, &x->w, err, errlen);
    if (code != DLQ_OK || x->w.empty)
        return code;
    dlq_pg_sql_init(q);
    dlq_pg_sql_add(q, "SELECT " PG_ENTRY_COLS ", e.id FROM entries e WHERE true");
    dlq_pg_where_conds(q, &x->w, PG_WHERE_STATUS | PG_WHERE_CURSOR);
    order(q, "e.", x->w.desc);
    dlq_pg_sql_int(q, " LIMIT ", x->limit);
    code = dlq_pg_sql_run(c, q, &r, "export entries", err, errlen);
    if (code != DLQ_OK)
        return code;
    code = read_rows(r, x->limit, x->out, &x->last_id, err, errlen);
    PQclear(r);
    return code;
}

static int export_read(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    return dlq_pg_snapshot(c, export_body, ctx, err, errlen);
}

int dlq_pg_export_page(struct dlq_store *s, const struct dlq_filter *f, int limit,
                       struct dlq_page *out, char *err, size_t errlen)
{
    struct export_req *x = calloc(1, sizeof *x); /* a query buffer is big for a stack */
    memset(out, 0, sizeof *out);
    out->total = -1;
    if (x == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    if (limit < 1 || limit > EXPORT_PAGE_MAX)
        limit = limit < 1 ? 1 : EXPORT_PAGE_MAX;
    x->limit = limit;
    x->out = out;
    int code = dlq_pg_where_init(f, 1, &x->w, err, errlen);
    if (code != DLQ_OK || x->w.empty)
        goto done; /* nothing searchable, or no valid status: nothing matches */
    out->items = calloc((size_t)limit, sizeof *out->items);
    if (out->items == NULL) {
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        goto done;
    }
    code = dlq_pg_read(PG(s), export_read, x, err, errlen);
    if (code == DLQ_OK && out->n == (size_t)limit) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)x->last_id);
        dlq_cursor_encode(f->sort, out->items[out->n - 1].failed_at, id, out->next_cursor,
                          sizeof out->next_cursor);
    }
done:
    dlq_pg_where_free(&x->w);
    free(x);
    if (code != DLQ_OK) {
        dlq_page_free(out);
        memset(out, 0, sizeof *out);
    }
    return code;
}

static int count_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int code = dlq_pg_exec(c, "SELECT coalesce(sum(n), 0) FROM entry_counts", NULL, &r,
                           "count entries", err, errlen);
    if (code == DLQ_OK) {
        *(int64_t *)ctx = dlq_pg_i64(r, 0, 0);
        PQclear(r);
    }
    return code;
}

int dlq_pg_count_entries(struct dlq_store *s, int64_t *n, char *err, size_t errlen)
{
    *n = 0;
    return dlq_pg_read(PG(s), count_body, n, err, errlen);
}
