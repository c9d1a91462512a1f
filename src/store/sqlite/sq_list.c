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
 * Every value is a bound parameter; the SQL text depends only on which
 * filters are set, so the per-connection statement cache keeps hitting.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define STATUS_BITS 0xFEu /* bits 1..7: every valid status */

/* A normalized filter: "" strings dropped, statuses unpacked, q turned into
 * an FTS5 expression that cannot contain FTS5 syntax. */
struct lf {
    int status[DLQ_STATUS_COUNT];
    int nstatus; /* 0: any */
    int empty;   /* the filter can match nothing: skip the queries */
    const char *tenant, *task, *queue, *exc, *fp;
    char *match; /* malloc'd */
    int reason;
    int64_t after, before;
    int desc;
    int has_cursor;
    int64_t cur_at, cur_id;
    int limit;
    int64_t offset;
    const char *ix; /* driving index; NULL: q drives, or several statuses merge */
};

enum pkind { P_INT, P_TEXT };
struct sql {
    char buf[8192];
    size_t len;
    int overflow;
    struct {
        enum pkind kind;
        int64_t i;
        const char *s;
    } p[48];
    int np;
};

static void add(struct sql *q, const char *s)
{
    size_t n = strlen(s);
    if (q->len + n >= sizeof q->buf) {
        q->overflow = 1;
        return;
    }
    memcpy(q->buf + q->len, s, n + 1);
    q->len += n;
}

static void add_int(struct sql *q, const char *s, int64_t v)
{
    add(q, s);
    if (q->np == (int)(sizeof q->p / sizeof q->p[0])) {
        q->overflow = 1;
        return;
    }
    q->p[q->np].kind = P_INT;
    q->p[q->np++].i = v;
}

static void add_text(struct sql *q, const char *s, const char *v)
{
    add(q, s);
    if (q->np == (int)(sizeof q->p / sizeof q->p[0])) {
        q->overflow = 1;
        return;
    }
    q->p[q->np].kind = P_TEXT;
    q->p[q->np++].s = v;
}

/* searchable says whether FTS5's unicode61 tokenizer would find a token in
 * the n bytes at t: an ASCII letter or digit, or any non-ASCII byte. */
static int searchable(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
            return 1;
    }
    return 0;
}

/* build_match turns user text into an FTS5 expression: every
 * whitespace-separated term becomes a quoted string (quotes doubled) and the
 * terms are ANDed, so operators, column filters and stars are just text.
 * Terms without a token are dropped. *out is malloc'd, or NULL when no term
 * is left. */
static int build_match(const char *q, char **out)
{
    size_t len = strlen(q);
    char *m = malloc(len * 3 + 16), *w = m;
    *out = NULL;
    if (m == NULL)
        return DLQ_E_NOMEM;
    const char *p = q;
    while (*p) {
        while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            p++;
        const char *t = p;
        while (*p && *p != ' ' && !(*p >= '\t' && *p <= '\r'))
            p++;
        if (p == t || !searchable(t, (size_t)(p - t)))
            continue;
        if (w != m) {
            memcpy(w, " AND ", 5);
            w += 5;
        }
        *w++ = '"';
        for (const char *c = t; c < p; c++) {
            if (*c == '"')
                *w++ = '"';
            *w++ = *c;
        }
        *w++ = '"';
    }
    *w = '\0';
    if (w == m)
        free(m);
    else
        *out = m;
    return DLQ_OK;
}

/* normalize fills lf from f. DLQ_E_INVAL for a malformed cursor id. */
static int normalize(const struct dlq_filter *f, struct lf *lf, char *err, size_t errlen)
{
    memset(lf, 0, sizeof *lf);
    unsigned mask = f->status_mask & STATUS_BITS;
    if (f->status_mask && mask == 0)
        lf->empty = 1;
    if (mask != STATUS_BITS) {
        for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
            if (mask & (1u << st))
                lf->status[lf->nstatus++] = st;
        }
    }
    lf->tenant = f->tenant_id; /* "" is the no-tenant tenant, a real value */
    lf->task = f->task_name && *f->task_name ? f->task_name : NULL;
    lf->queue = f->queue && *f->queue ? f->queue : NULL;
    lf->exc = f->exception_type && *f->exception_type ? f->exception_type : NULL;
    lf->fp = f->fingerprint && *f->fingerprint ? f->fingerprint : NULL;
    lf->reason = f->reason;
    lf->after = f->failed_after;
    lf->before = f->failed_before;
    lf->desc = f->sort != DLQ_SORT_FAILED_ASC;
    lf->limit = f->limit < 1                    ? DLQ_LIST_LIMIT_DEFAULT
                : f->limit > DLQ_LIST_LIMIT_MAX ? DLQ_LIST_LIMIT_MAX
                                                : f->limit;
    lf->offset = f->offset < 0 ? 0 : f->offset > INT64_MAX / 2 ? INT64_MAX / 2 : f->offset;
    if (f->has_cursor) {
        char *end;
        lf->has_cursor = 1;
        lf->offset = 0;
        lf->cur_at = f->cursor_failed_at;
        lf->cur_id = strtoll(f->cursor_id, &end, 10);
        if (end == f->cursor_id || *end != '\0')
            return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed cursor");
    }
    if (f->q && *f->q) {
        if (build_match(f->q, &lf->match) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        if (lf->match == NULL)
            lf->empty = 1; /* nothing searchable: nothing can match */
    }
    return DLQ_OK;
}

/* add_conds appends " AND ..." for every filter but q; the status test
 * only with with_status, the keyset condition only with with_cursor. */
static void add_conds(struct sql *q, const struct lf *f, int with_status, int with_cursor)
{
    if (f->tenant)
        add_text(q, " AND e.tenant_id = ?", f->tenant);
    if (with_status && f->nstatus == 1)
        add_int(q, " AND e.status = ?", f->status[0]);
    if (with_status && f->nstatus > 1) {
        add(q, " AND e.status IN (");
        for (int i = 0; i < f->nstatus; i++)
            add_int(q, i ? ", ?" : "?", f->status[i]);
        add(q, ")");
    }
    if (f->task)
        add_text(q, " AND e.task_name = ?", f->task);
    if (f->queue)
        add_text(q, " AND e.queue = ?", f->queue);
    if (f->exc)
        add_text(q, " AND e.exc_type = ?", f->exc);
    if (f->fp)
        add_text(q, " AND e.fingerprint = ?", f->fp);
    if (f->reason)
        add_int(q, " AND e.reason = ?", f->reason);
    if (f->after)
        add_int(q, " AND e.failed_at >= ?", f->after);
    if (f->before)
        add_int(q, " AND e.failed_at < ?", f->before);
    if (with_cursor && f->has_cursor) {
        add_int(q, f->desc ? " AND (e.failed_at, e.id) < (?" : " AND (e.failed_at, e.id) > (?",
                f->cur_at);
        add_int(q, ", ?)", f->cur_id);
    }
}

/* driving_index names the index a page with this filter walks by fixed
 * priority, or NULL when q drives or several statuses are merged. */
static const char *driving_index(const struct lf *f)
{
    if (f->match)
        return NULL;
    if (f->fp)
        return "ix_entries_fp";
    if (f->task)
        return "ix_entries_task";
    if (f->exc)
        return "ix_entries_exc";
    if (f->queue)
        return "ix_entries_queue";
    if (f->tenant)
        return "ix_entries_tenant";
    if (f->reason)
        return "ix_entries_reason";
    if (f->nstatus == 1)
        return "ix_entries_status";
    if (f->nstatus > 1)
        return NULL;
    return "ix_entries_failed";
}

static int prepare_bound(struct sq_conn *c, const struct sql *q, sqlite3_stmt **st, char *err,
                         size_t errlen);

/* One equality filter column that could drive the page. */
struct dim {
    const char *col;  /* its column in entry_counts */
    const char *text; /* its value, or NULL for an integer (or the status list) */
    int64_t num;
    const char *ix; /* the index it drives by; NULL: several statuses merge */
};

/* dim_count sets *n to how many entries the cube counts for one filter
 * column alone (status: any of the filter's statuses). */
static int dim_count(struct sq_conn *c, const struct lf *f, const struct dim *d, int64_t *n,
                     char *err, size_t errlen)
{
    struct sql q = {0};
    sqlite3_stmt *st;
    add(&q, "SELECT coalesce(sum(n), 0) FROM entry_counts WHERE ");
    add(&q, d->col);
    if (strcmp(d->col, "status") == 0) {
        add(&q, " IN (");
        for (int i = 0; i < f->nstatus; i++)
            add_int(&q, i ? ", ?" : "?", f->status[i]);
        add(&q, ")");
    } else if (d->text) {
        add_text(&q, " = ?", d->text);
    } else {
        add_int(&q, " = ?", d->num);
    }
    int code = prepare_bound(c, &q, &st, err, errlen);
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

/* choose_driver sets f->ix. With one indexed filter (or q, or a
 * fingerprint, which is always narrow) the fixed priority decides. With
 * several, the cube tells exactly how many entries each matches alone, and
 * the page walks the index of the narrowest: fewer rows to skip past. */
static int choose_driver(struct sq_conn *c, struct lf *f, char *err, size_t errlen)
{
    struct dim d[6];
    int nd = 0;
    f->ix = driving_index(f);
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
            f->ix = d[i].ix;
        }
    }
    return DLQ_OK;
}

/* add_from appends FROM and the start of WHERE for the FTS or index plan. */
static void add_from(struct sql *q, const struct lf *f, const char *ix)
{
    if (f->match) {
        /* CROSS JOIN keeps the FTS match as the outer loop. */
        add_text(q,
                 " FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid"
                 " WHERE entries_fts MATCH ?",
                 f->match);
    } else {
        add(q, " FROM entries e INDEXED BY ");
        add(q, ix);
        add(q, " WHERE 1");
    }
}

/* build_page writes the page query: limit+1 rows from offset. */
static void build_page(struct sql *q, const struct lf *f)
{
    const char *dir = f->desc ? " DESC" : " ASC";
    char order[96];
    const char *ix = f->ix;
    if (ix || f->match) {
        snprintf(order, sizeof order, " ORDER BY e.failed_at%s, e.id%s", dir, dir);
        add(q, "SELECT " SQ_ENTRY_COLS ", e.id");
        add_from(q, f, ix);
        add_conds(q, f, 1, 1);
        add(q, order);
    } else {
        /* One ordered, limited index scan per status, merged; the page's
         * rows are then fetched by rowid. */
        int64_t need = f->offset + f->limit + 1;
        snprintf(order, sizeof order, " ORDER BY e.failed_at%s, e.id%s", dir, dir);
        add(q, "SELECT " SQ_ENTRY_COLS ", e.id FROM (");
        for (int i = 0; i < f->nstatus; i++) {
            add(q, i ? " UNION ALL " : "");
            add(q, "SELECT id, failed_at FROM (SELECT e.id AS id, e.failed_at AS failed_at"
                   " FROM entries e INDEXED BY ix_entries_status WHERE 1");
            add_int(q, " AND e.status = ?", f->status[i]);
            add_conds(q, f, 0, 1);
            add(q, order);
            add_int(q, " LIMIT ?)", need);
        }
        snprintf(order, sizeof order, " ORDER BY failed_at%s, id%s", dir, dir);
        add(q, order);
        add_int(q, " LIMIT ?", f->limit + 1);
        add_int(q, " OFFSET ?)", f->offset);
        snprintf(order, sizeof order, " ORDER BY k.failed_at%s, k.id%s", dir, dir);
        add(q, " AS k CROSS JOIN entries e ON e.id = k.id");
        add(q, order);
        return;
    }
    add_int(q, " LIMIT ?", f->limit + 1);
    add_int(q, " OFFSET ?", f->offset);
}

/* build_count writes the query for the exact total of the filter. */
static void build_count(struct sql *q, const struct lf *f)
{
    if (!f->match && !f->fp && !f->after && !f->before) {
        /* Only cube columns: sum the counters. */
        add(q, "SELECT coalesce(sum(n), 0) FROM entry_counts WHERE 1");
        if (f->tenant)
            add_text(q, " AND tenant_id = ?", f->tenant);
        if (f->nstatus == 1)
            add_int(q, " AND status = ?", f->status[0]);
        if (f->nstatus > 1) {
            add(q, " AND status IN (");
            for (int i = 0; i < f->nstatus; i++)
                add_int(q, i ? ", ?" : "?", f->status[i]);
            add(q, ")");
        }
        if (f->queue)
            add_text(q, " AND queue = ?", f->queue);
        if (f->task)
            add_text(q, " AND task_name = ?", f->task);
        if (f->reason)
            add_int(q, " AND reason = ?", f->reason);
        if (f->exc)
            add_text(q, " AND exc_type = ?", f->exc);
        return;
    }
    const char *ix = f->ix;
    int others = f->tenant || f->nstatus || f->task || f->queue || f->exc || f->fp || f->reason ||
                 f->after || f->before;
    if (f->match && !others) {
        add_text(q, "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?", f->match);
        return;
    }
    add(q, "SELECT count(*)");
    add_from(q, f, ix ? ix : "ix_entries_status");
    add_conds(q, f, 1, 0);
}

/* prepare_bound fetches the cached statement for q's text and binds q's
 * parameters. */
static int prepare_bound(struct sq_conn *c, const struct sql *q, sqlite3_stmt **st, char *err,
                         size_t errlen)
{
    if (q->overflow)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "filter too complex");
    int code = dlq_sq_stmt_dyn(c, q->buf, st, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < q->np; i++) {
        if (q->p[i].kind == P_INT)
            sqlite3_bind_int64(*st, i + 1, q->p[i].i);
        else
            sqlite3_bind_text(*st, i + 1, q->p[i].s, -1, SQLITE_STATIC);
    }
    return DLQ_OK;
}

/* read_page runs the page query into out; *more is set when a row past the
 * page exists, *last_id to the rowid of the page's last row. */
static int read_page(struct sq_conn *c, const struct lf *f, struct dlq_page *out, int *more,
                     int64_t *last_id, char *err, size_t errlen)
{
    struct sql q = {0};
    sqlite3_stmt *st;
    build_page(&q, f);
    int code = prepare_bound(c, &q, &st, err, errlen);
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

static int read_total(struct sq_conn *c, const struct lf *f, int64_t *total, char *err,
                      size_t errlen)
{
    struct sql q = {0};
    sqlite3_stmt *st;
    build_count(&q, f);
    int code = prepare_bound(c, &q, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *total = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return dlq_sq_err(c->db, rc, err, errlen, "count entries");
    return DLQ_OK;
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
    if (code != DLQ_OK || lf.empty)
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
        if (!lf.has_cursor && !more && (out->n > 0 || lf.offset == 0))
            out->total = lf.offset + (int64_t)out->n;
        else
            code = read_total(c, &lf, &out->total, err, errlen);
    }
    dlq_sq_reader_put(s, c);
    if (code == DLQ_OK && more) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)last_id);
        dlq_cursor_encode(lf.desc ? DLQ_SORT_FAILED_DESC : DLQ_SORT_FAILED_ASC,
                          out->items[out->n - 1].failed_at, id, out->next_cursor,
                          sizeof out->next_cursor);
    }
done:
    free(lf.match);
    if (code != DLQ_OK) {
        dlq_page_free(out);
        memset(out, 0, sizeof *out);
    }
    return code;
}
