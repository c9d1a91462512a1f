/*
 * sq_export.c: export_page, the store's side of GET /api/v1/dlq/export. It
 * reads one keyset page of up to 1000 entries in the list order
 * ((failed_at, id), newest or oldest first) and, unlike list, computes no
 * total: an export walks every page once, so a count per page would turn a
 * linear walk into a quadratic one. The caller keeps only one page in memory
 * at a time, which is what keeps an export of any size in constant memory.
 *
 * The query is the shared filter SQL (sq_where.c; values are bound), so the
 * per-connection statement cache keeps hitting. A full-text q drives through
 * the FTS index, as in list. Several statuses with no other equality filter
 * walk ix_entries_failed, which yields the page order without a sort; with
 * an equality filter, SQLite picks that column's (col, failed_at) index,
 * which does the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define PAGE_MAX 1000

/* build writes the page query for w into q: limit rows beyond the cursor. */
static void build(struct sq_sql *q, const struct sq_where *w, int limit)
{
    /* With no equality filter, ix_entries_failed yields the page order
     * without a sort; with one, SQLite picks that column's index. */
    const char *ix = dlq_sq_where_index(w);
    ix = ix == NULL || strcmp(ix, "ix_entries_failed") == 0 ? "ix_entries_failed" : NULL;
    dlq_sq_sql_add(q, "SELECT " SQ_ENTRY_COLS ", e.id");
    dlq_sq_where_from(q, w, ix);
    dlq_sq_where_conds(q, w, SQ_WHERE_STATUS | SQ_WHERE_CURSOR);
    dlq_sq_sql_add(q, w->desc ? " ORDER BY e.failed_at DESC, e.id DESC"
                              : " ORDER BY e.failed_at ASC, e.id ASC");
    dlq_sq_sql_int(q, " LIMIT ?", limit);
}

/* read_page runs q into out (items has room for limit). */
static int read_page(struct sq_conn *c, const struct sq_sql *q, int limit, struct dlq_page *out,
                     int64_t *last_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_sql_prepare(c, q, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int rc = SQLITE_DONE;
    while (out->n < (size_t)limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *last_id = sqlite3_column_int64(st, SC_NCOLS);
        if (dlq_sq_entry_from_row(st, &out->items[out->n]) != DLQ_OK) {
            sqlite3_reset(st);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        out->n++;
    }
    if (out->n < (size_t)limit && rc != SQLITE_DONE) {
        sqlite3_reset(st);
        return dlq_sq_err(c->db, rc, err, errlen, "export entries");
    }
    sqlite3_reset(st);
    return DLQ_OK;
}

/* dlq_sq_export_page implements export_page (store.h). On error out is
 * empty. */
int dlq_sq_export_page(struct dlq_store *base, const struct dlq_filter *f, int limit,
                       struct dlq_page *out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c = NULL;
    struct sq_sql q;
    struct sq_where w;
    int64_t last_id = 0;
    memset(out, 0, sizeof *out);
    out->total = -1;
    if (limit < 1 || limit > PAGE_MAX)
        limit = limit < 1 ? 1 : PAGE_MAX;
    int code = dlq_sq_where_init(f, 1, &w, err, errlen);
    if (code != DLQ_OK) {
        dlq_sq_where_free(&w);
        return code;
    }
    if (w.empty)
        goto done; /* nothing searchable, or no valid status: nothing matches */
    if (w.match && (code = dlq_sq_fts_ready(s, err, errlen)) != DLQ_OK)
        goto done;
    memset(&q, 0, sizeof q);
    build(&q, &w, limit);
    out->items = calloc((size_t)limit, sizeof *out->items);
    if (out->items == NULL) {
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        goto done;
    }
    if ((code = dlq_sq_reader_get(s, &c, err, errlen)) != DLQ_OK)
        goto done;
    code = read_page(c, &q, limit, out, &last_id, err, errlen);
    dlq_sq_reader_put(s, c);
    if (code == DLQ_OK && out->n == (size_t)limit) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)last_id);
        dlq_cursor_encode(f->sort, out->items[out->n - 1].failed_at, id, out->next_cursor,
                          sizeof out->next_cursor);
    }
done:
    dlq_sq_where_free(&w);
    if (code != DLQ_OK) {
        dlq_page_free(out);
        memset(out, 0, sizeof *out);
    }
    return code;
}
