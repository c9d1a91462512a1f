/*
 * sq_list.c: list, one page of entries plus the exact total of the filter.
 *
 * The page query is built from the filter's shape and always names its
 * driving index (INDEXED BY): on skewed data SQLite's planner has been seen
 * to pick an index that costs a thousand times more. Full text (q) drives
 * when given, then a fingerprint; among the other equality filters the one
 * matching the fewest entries drives, as counted exactly by the cube (one
 * filter alone: task_name > exception type > queue > tenant > reason > one
 * status; none: failed_at). Several statuses driving become one ordered,
 * limited scan of (status, failed_at) per status, merged: each scan stops
 * after the rows the page can use. Paging is keyset when a
 * cursor is given ((failed_at, id) beyond the cursor, which the index seeks
 * to), else LIMIT/OFFSET. One row past the page tells whether a next page
 * exists. The total comes from the entry_counts cube when the filter only
 * uses its columns, else from a count over the same WHERE as the page.
 *
 * The filter's FROM and WHERE are the shared filter SQL (sq_where.c): every
 * value is a bound parameter; the SQL text depends only on which filters
 * are set, so the per-connection statement cache keeps hitting.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

/* A list request: the normalized filter, the page and the driving index. */
struct lf {
    struct sq_where w;
    int limit;
    int64_t offset;
    const char *ix; /* driving index; NULL: q drives, or several statuses merge */
};

/* normalize fills lf from f. DLQ_E_INVAL for a malformed cursor id. */
static int normalize(const struct dlq_filter *f, struct lf *lf, char *err, size_t errlen)
{
    memset(lf, 0, sizeof *lf);
    lf->limit = f->limit < 1                    ? DLQ_LIST_LIMIT_DEFAULT
                : f->limit > DLQ_LIST_LIMIT_MAX ? DLQ_LIST_LIMIT_MAX
                                                : f->limit;
    lf->offset = f->offset < 0 ? 0 : f->offset > INT64_MAX / 2 ? INT64_MAX / 2 : f->offset;
    if (f->has_cursor)
        lf->offset = 0;
    return dlq_sq_where_init(f, 1, &lf->w, err, errlen);
}

/* One equality filter column that could drive the page. */
struct dim {
    const char *col;  /* its column in entry_counts */
    const char *text; /* its value, or NULL for an integer (or the status list) */
    int64_t num;
    const char *ix; /* the index it drives by; NULL: several statuses merge */
};

/* count_query runs q, a query for one count, into *n. */
static int count_query(struct sq_conn *c, const struct sq_sql *q, int64_t *n, char *err,
                       size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_sql_prepare(c, q, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return dlq_sq_err(c->db, rc, err, errlen, "count entries");
    return DLQ_OK;
}

/* dim_count sets *n to how many entries the cube counts for one filter
 * column alone (status: any of the filter's statuses). */
static int dim_count(struct sq_conn *c, const struct sq_where *f, const struct dim *d, int64_t *n,
                     char *err, size_t errlen)
{
    struct sq_sql q = {0};
    dlq_sq_sql_add(&q, "SELECT coalesce(sum(n), 0) FROM entry_counts WHERE 1");
    if (strcmp(d->col, "status") == 0) {
        dlq_sq_where_status(&q, f, "status");
    } else {
        dlq_sq_sql_add(&q, " AND ");
        dlq_sq_sql_add(&q, d->col);
        if (d->text)
            dlq_sq_sql_text(&q, " = ?", d->text);
        else
            dlq_sq_sql_int(&q, " = ?", d->num);
    }
    return count_query(c, &q, n, err, errlen);
}

/* choose_driver sets lf->ix. With one indexed filter (or q, or a
 * fingerprint, which is always narrow) the fixed priority decides. With
 * several, the cube tells exactly how many entries each matches alone, and
 * the page walks the index of the narrowest: fewer rows to skip past. */
static int choose_driver(struct sq_conn *c, struct lf *lf, char *err, size_t errlen)
{
    const struct sq_where *f = &lf->w;
    struct dim d[6];
    int nd = 0;
    lf->ix = dlq_sq_where_index(f);
    if (f->match || f->fp)
        return DLQ_OK;
    if (f->task)
        d[nd++] = (struct dim){"task_name", f->task, 0, "ix_entries_task"};
    if (f->exc)
        d[nd++] = (struct dim){"exc_type", f->exc, 0, "ix_entries_exc"};
    if (f->queue)
        d[nd++] = (struct dim){"queue", f->queue, 0, "ix_entries_queue"};
    if (f->tenant)
        d[nd++] = (struct dim){"tenant_id", f->tenant, 0, "ix_entries_tenant"};
    if (f->reason)
        d[nd++] = (struct dim){"reason", NULL, f->reason, "ix_entries_reason"};
    if (f->nstatus)
        d[nd++] = (struct dim){"status", NULL, 0, f->nstatus == 1 ? "ix_entries_status" : NULL};
    if (nd < 2)
        return DLQ_OK;
    int64_t best = -1;
    for (int i = 0; i < nd; i++) {
        int64_t n = 0;
        int code = dim_count(c, f, &d[i], &n, err, errlen);
        if (code != DLQ_OK)
            return code;
        if (best < 0 || n < best) {
            best = n;
            lf->ix = d[i].ix;
        }
    }
    return DLQ_OK;
}

/* build_page writes the page query: limit+1 rows from offset. */
static void build_page(struct sq_sql *q, const struct lf *lf)
{
    const struct sq_where *f = &lf->w;
    const char *dir = f->desc ? " DESC" : " ASC";
    char order[96];
    snprintf(order, sizeof order, " ORDER BY e.failed_at%s, e.id%s", dir, dir);
    if (lf->ix || f->match) {
        dlq_sq_sql_add(q, "SELECT " SQ_ENTRY_COLS ", e.id");
        dlq_sq_where_from(q, f, lf->ix);
        dlq_sq_where_conds(q, f, SQ_WHERE_STATUS | SQ_WHERE_CURSOR);
        dlq_sq_sql_add(q, order);
        dlq_sq_sql_int(q, " LIMIT ?", lf->limit + 1);
        dlq_sq_sql_int(q, " OFFSET ?", lf->offset);
        return;
    }
    /* One ordered, limited index scan per status, merged; the page's rows
     * are then fetched by rowid. */
    int64_t need = lf->offset + lf->limit + 1;
    dlq_sq_sql_add(q, "SELECT " SQ_ENTRY_COLS ", e.id FROM (");
    for (int i = 0; i < f->nstatus; i++) {
        dlq_sq_sql_add(q, i ? " UNION ALL " : "");
        dlq_sq_sql_add(q, "SELECT id, failed_at FROM (SELECT e.id AS id, e.failed_at AS failed_at"
                          " FROM entries e INDEXED BY ix_entries_status WHERE 1");
        dlq_sq_sql_int(q, " AND e.status = ?", f->status[i]);
        dlq_sq_where_conds(q, f, SQ_WHERE_CURSOR);
        dlq_sq_sql_add(q, order);
        dlq_sq_sql_int(q, " LIMIT ?)", need);
    }
    snprintf(order, sizeof order, " ORDER BY failed_at%s, id%s", dir, dir);
    dlq_sq_sql_add(q, order);
    dlq_sq_sql_int(q, " LIMIT ?", lf->limit + 1);
    dlq_sq_sql_int(q, " OFFSET ?)", lf->offset);
    snprintf(order, sizeof order, " ORDER BY k.failed_at%s, k.id%s", dir, dir);
    dlq_sq_sql_add(q, " AS k CROSS JOIN entries e ON e.id = k.id");
    dlq_sq_sql_add(q, order);
}

/* build_count writes the query for the exact total of the filter. */
static void build_count(struct sq_sql *q, const struct lf *lf)
{
    const struct sq_where *f = &lf->w;
    if (!f->match && !f->fp && !f->after && !f->before) {
        /* Only cube columns: sum the counters. */
        dlq_sq_sql_add(q, "SELECT coalesce(sum(n), 0) FROM entry_counts WHERE 1");
        dlq_sq_where_conds(q, f, SQ_WHERE_STATUS | SQ_WHERE_CUBE);
        return;
    }
    int others = f->tenant || f->nstatus || f->task || f->queue || f->exc || f->fp || f->reason ||
                 f->after || f->before;
    if (f->match && !others) {
        dlq_sq_sql_text(q, "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?", f->match);
        return;
    }
    dlq_sq_sql_add(q, "SELECT count(*)");
    dlq_sq_where_from(q, f, lf->ix ? lf->ix : "ix_entries_status");
    dlq_sq_where_conds(q, f, SQ_WHERE_STATUS);
}

/* read_page runs the page query into out; *more is set when a row past the
 * page exists, *last_id to the rowid of the page's last row. */
static int read_page(struct sq_conn *c, const struct lf *f, struct dlq_page *out, int *more,
                     int64_t *last_id, char *err, size_t errlen)
{
    struct sq_sql q = {0};
    sqlite3_stmt *st;
    build_page(&q, f);
    int code = dlq_sq_sql_prepare(c, &q, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    out->items = calloc((size_t)f->limit, sizeof *out->items);
    if (out->items == NULL) {
        sqlite3_reset(st);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == (size_t)f->limit) {
            *more = 1;
            break;
        }
        *last_id = sqlite3_column_int64(st, SC_NCOLS);
        if (dlq_sq_entry_from_row(st, &out->items[out->n]) != DLQ_OK) {
            sqlite3_reset(st);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        out->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, "list entries");
    return DLQ_OK;
}

/* read_total sets *total to the exact count of the filter. */
static int read_total(struct sq_conn *c, const struct lf *f, int64_t *total, char *err,
                      size_t errlen)
{
    struct sq_sql q = {0};
    build_count(&q, f);
    return count_query(c, &q, total, err, errlen);
}

/* dlq_sq_list implements list (store.h). On DLQ_OK out is filled (caller
 * frees with dlq_page_free); on error out is empty. */
int dlq_sq_list(struct dlq_store *base, const struct dlq_filter *f, struct dlq_page *out, char *err,
                size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct lf lf;
    struct sq_conn *c = NULL;
    int more = 0;
    int64_t last_id = 0;
    memset(out, 0, sizeof *out);
    int code = normalize(f, &lf, err, errlen);
    if (code != DLQ_OK || lf.w.empty)
        goto done;
    if (lf.w.match && (code = dlq_sq_fts_ready(s, err, errlen)) != DLQ_OK)
        goto done;
    if ((code = dlq_sq_reader_get(s, &c, err, errlen)) != DLQ_OK)
        goto done;
    /* One read transaction: the page and its total see the same snapshot. */
    code = dlq_sq_exec(c, SQ_BEGIN, err, errlen);
    if (code == DLQ_OK)
        code = choose_driver(c, &lf, err, errlen);
    if (code == DLQ_OK)
        code = read_page(c, &lf, out, &more, &last_id, err, errlen);
    if (code == DLQ_OK) {
        /* A short page from a known position already tells the total. */
        if (!lf.w.has_cursor && !more && (out->n > 0 || lf.offset == 0))
            out->total = lf.offset + (int64_t)out->n;
        else
            code = read_total(c, &lf, &out->total, err, errlen);
    }
    dlq_sq_reader_put(s, c);
    if (code == DLQ_OK && more) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)last_id);
        dlq_cursor_encode(lf.w.desc ? DLQ_SORT_FAILED_DESC : DLQ_SORT_FAILED_ASC,
                          out->items[out->n - 1].failed_at, id, out->next_cursor,
                          sizeof out->next_cursor);
    }
done:
    dlq_sq_where_free(&lf.w);
    if (code != DLQ_OK) {
        dlq_page_free(out);
        memset(out, 0, sizeof *out);
    }
    return code;
}
