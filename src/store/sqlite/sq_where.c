/*
 * sq_where.c: the SQL text and parameters a struct dlq_filter becomes, shared
 * by the queries that select entries by filter: list (sq_list.c), the bulk
 * reads (sq_bulk.c) and export (sq_export.c). A filter is first normalized
 * ("" strings dropped, statuses unpacked, q turned into an FTS5 expression
 * that cannot contain FTS5 syntax), then written as FROM and " AND ..."
 * conditions into a buffer that keeps every value as a bound parameter: the
 * SQL text depends only on which filters are set, so the per-connection
 * statement cache keeps hitting. Each caller still picks its own driving
 * index, keyset direction and order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define STATUS_BITS 0xFEu /* bits 1..7: every valid status */

/* dlq_sq_sql_add appends s to q's text; past the buffer q->overflow is set
 * and the query is refused at prepare. */
void dlq_sq_sql_add(struct sq_sql *q, const char *s)
{
    size_t n = strlen(s);
    if (q->len + n >= sizeof q->buf) {
        q->overflow = 1;
        return;
    }
    memcpy(q->buf + q->len, s, n + 1);
    q->len += n;
}

/* param appends s, which holds one "?", and records its value. */
static void param(struct sq_sql *q, const char *s, int text, int64_t i, const char *v)
{
    dlq_sq_sql_add(q, s);
    if (q->np == (int)(sizeof q->p / sizeof q->p[0])) {
        q->overflow = 1;
        return;
    }
    q->p[q->np].text = text;
    q->p[q->np].i = i;
    q->p[q->np++].s = v;
}

/* dlq_sq_sql_int appends s (with one "?") bound to the integer v. */
void dlq_sq_sql_int(struct sq_sql *q, const char *s, int64_t v)
{
    param(q, s, 0, v, NULL);
}

/* dlq_sq_sql_text appends s (with one "?") bound to the text v, which must
 * outlive the statement's use (bound SQLITE_STATIC). */
void dlq_sq_sql_text(struct sq_sql *q, const char *s, const char *v)
{
    param(q, s, 1, 0, v);
}

/* dlq_sq_sql_prepare fetches c's cached statement for q's text and binds q's
 * parameters. DLQ_E_INVAL when q overflowed, else as dlq_sq_stmt_dyn. */
int dlq_sq_sql_prepare(struct sq_conn *c, const struct sq_sql *q, sqlite3_stmt **st, char *err,
                       size_t errlen)
{
    if (q->overflow)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "filter too complex");
    int code = dlq_sq_stmt_dyn(c, q->buf, st, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < q->np; i++) {
        if (q->p[i].text)
            sqlite3_bind_text(*st, i + 1, q->p[i].s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(*st, i + 1, q->p[i].i);
    }
    return DLQ_OK;
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

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* dlq_sq_where_init fills w from f; the cursor only with use_cursor. On
 * DLQ_OK the caller frees w with dlq_sq_where_free (also after an error).
 * DLQ_E_INVAL for a malformed cursor id, DLQ_E_NOMEM. */
int dlq_sq_where_init(const struct dlq_filter *f, int use_cursor, struct sq_where *w, char *err,
                      size_t errlen)
{
    memset(w, 0, sizeof *w);
    unsigned mask = f->status_mask & STATUS_BITS;
    if (f->status_mask && mask == 0)
        w->empty = 1;
    if (mask != STATUS_BITS) {
        for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
            if (mask & (1u << st))
                w->status[w->nstatus++] = st;
        }
    }
    w->tenant = f->tenant_id; /* "" is the no-tenant tenant, a real value */
    w->task = nz(f->task_name);
    w->queue = nz(f->queue);
    w->exc = nz(f->exception_type);
    w->fp = nz(f->fingerprint);
    w->reason = f->reason;
    w->after = f->failed_after;
    w->before = f->failed_before;
    w->desc = f->sort != DLQ_SORT_FAILED_ASC;
    if (use_cursor && f->has_cursor) {
        char *end;
        w->has_cursor = 1;
        w->cur_at = f->cursor_failed_at;
        w->cur_id = strtoll(f->cursor_id, &end, 10);
        if (end == f->cursor_id || *end != '\0')
            return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed cursor");
    }
    if (nz(f->q)) {
        if (build_match(f->q, &w->match) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        if (w->match == NULL)
            w->empty = 1; /* nothing searchable: nothing can match */
    }
    return DLQ_OK;
}

/* dlq_sq_where_free frees what w owns (its FTS expression). */
void dlq_sq_where_free(struct sq_where *w)
{
    free(w->match);
    w->match = NULL;
}

/* dlq_sq_where_index names the index a scan with this filter walks by
 * fixed priority, the narrowest kind of filter first (each is (column,
 * failed_at) plus the rowid, so it yields the keyset order without a sort);
 * NULL when q drives or several statuses are wanted. */
const char *dlq_sq_where_index(const struct sq_where *w)
{
    if (w->match)
        return NULL;
    if (w->fp)
        return "ix_entries_fp";
    if (w->task)
        return "ix_entries_task";
    if (w->exc)
        return "ix_entries_exc";
    if (w->queue)
        return "ix_entries_queue";
    if (w->tenant)
        return "ix_entries_tenant";
    if (w->reason)
        return "ix_entries_reason";
    if (w->nstatus == 1)
        return "ix_entries_status";
    if (w->nstatus > 1)
        return NULL;
    return "ix_entries_failed";
}

/* dlq_sq_where_from appends FROM and the start of WHERE: through the FTS
 * index when q is set (the match as the outer loop), else over entries e
 * INDEXED BY ix, or with no index named when ix is NULL. */
void dlq_sq_where_from(struct sq_sql *q, const struct sq_where *w, const char *ix)
{
    if (w->match) {
        /* CROSS JOIN keeps the FTS match as the outer loop. */
        dlq_sq_sql_text(q,
                        " FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid"
                        " WHERE entries_fts MATCH ?",
                        w->match);
    } else if (ix) {
        dlq_sq_sql_add(q, " FROM entries e INDEXED BY ");
        dlq_sq_sql_add(q, ix);
        dlq_sq_sql_add(q, " WHERE 1");
    } else {
        dlq_sq_sql_add(q, " FROM entries e WHERE 1");
    }
}

/* cond appends " AND <pfx><rest>", rest holding one "?" bound to text s or,
 * when s is NULL, to the integer i. */
static void cond(struct sq_sql *q, const char *pfx, const char *rest, const char *s, int64_t i)
{
    dlq_sq_sql_add(q, " AND ");
    dlq_sq_sql_add(q, pfx);
    if (s)
        dlq_sq_sql_text(q, rest, s);
    else
        dlq_sq_sql_int(q, rest, i);
}

/* dlq_sq_where_status appends the test of w's statuses on column col
 * (nothing when any status will do). */
void dlq_sq_where_status(struct sq_sql *q, const struct sq_where *w, const char *col)
{
    if (w->nstatus == 0)
        return;
    dlq_sq_sql_add(q, " AND ");
    dlq_sq_sql_add(q, col);
    if (w->nstatus == 1) {
        dlq_sq_sql_int(q, " = ?", w->status[0]);
        return;
    }
    dlq_sq_sql_add(q, " IN (");
    for (int i = 0; i < w->nstatus; i++)
        dlq_sq_sql_int(q, i ? ", ?" : "?", w->status[i]);
    dlq_sq_sql_add(q, ")");
}

/* dlq_sq_where_conds appends " AND ..." for every filter of w but q: the
 * status test with SQ_WHERE_STATUS, the keyset condition beyond the cursor
 * (in w's direction) with SQ_WHERE_CURSOR. With SQ_WHERE_CUBE the columns are
 * entry_counts' (no alias): the caller makes sure w uses only those. */
void dlq_sq_where_conds(struct sq_sql *q, const struct sq_where *w, unsigned flags)
{
    const char *p = flags & SQ_WHERE_CUBE ? "" : "e.";
    if (w->tenant)
        cond(q, p, "tenant_id = ?", w->tenant, 0);
    if (flags & SQ_WHERE_STATUS)
        dlq_sq_where_status(q, w, flags & SQ_WHERE_CUBE ? "status" : "e.status");
    if (w->task)
        cond(q, p, "task_name = ?", w->task, 0);
    if (w->queue)
        cond(q, p, "queue = ?", w->queue, 0);
    if (w->exc)
        cond(q, p, "exc_type = ?", w->exc, 0);
    if (w->fp)
        cond(q, p, "fingerprint = ?", w->fp, 0);
    if (w->reason)
        cond(q, p, "reason = ?", NULL, w->reason);
    if (w->after)
        cond(q, p, "failed_at >= ?", NULL, w->after);
    if (w->before)
        cond(q, p, "failed_at < ?", NULL, w->before);
    if ((flags & SQ_WHERE_CURSOR) && w->has_cursor) {
        dlq_sq_sql_int(q,
                       w->desc ? " AND (e.failed_at, e.id) < (?" : " AND (e.failed_at, e.id) > (?",
                       w->cur_at);
        dlq_sq_sql_int(q, ", ?)", w->cur_id);
    }
}
