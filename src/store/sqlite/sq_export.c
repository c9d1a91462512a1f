/*
 * sq_export.c: export_page, the store's side of GET /api/v1/dlq/export. It
 * reads one keyset page of up to 1000 entries in the list order
 * ((failed_at, id), newest or oldest first) and, unlike list, computes no
 * total: an export walks every page once, so a count per page would turn a
 * linear walk into a quadratic one. The caller keeps only one page in memory
 * at a time, which is what keeps an export of any size in constant memory.
 *
 * The query is built from the filter's shape (values are bound), so the
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

#define STATUS_BITS 0xFEu
#define PAGE_MAX    1000

enum pkind { P_INT, P_TEXT };
struct q {
    char buf[4096];
    size_t len;
    int overflow;
    struct {
        enum pkind kind;
        int64_t i;
        const char *s;
    } p[32];
    int np;
};

static void add(struct q *q, const char *s)
{
    size_t n = strlen(s);
    if (q->len + n >= sizeof q->buf) {
        q->overflow = 1;
        return;
    }
    memcpy(q->buf + q->len, s, n + 1);
    q->len += n;
}

static void add_param(struct q *q, const char *s, enum pkind kind, int64_t i, const char *t)
{
    add(q, s);
    if (q->np == (int)(sizeof q->p / sizeof q->p[0])) {
        q->overflow = 1;
        return;
    }
    q->p[q->np].kind = kind;
    q->p[q->np].i = i;
    q->p[q->np++].s = t;
}

/* fts_match turns user text into an FTS5 expression of quoted terms ANDed
 * together, so FTS5 syntax in q is just text (the same rule as list).
 * Returns a malloc'd string, "" when no term has a token, NULL on OOM. */
static char *fts_match(const char *q)
{
    size_t len = strlen(q);
    char *m = malloc(len * 3 + 16), *w = m;
    if (m == NULL)
        return NULL;
    const char *p = q;
    while (*p) {
        while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
            p++;
        const char *t = p;
        int tok = 0;
        while (*p && *p != ' ' && !(*p >= '\t' && *p <= '\r')) {
            unsigned char c = (unsigned char)*p;
            if (c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
                tok = 1;
            p++;
        }
        if (!tok)
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
    return m;
}

/* build writes the page query for f into q; match is the FTS expression or
 * NULL. Returns 0, or 1 when the filter can match nothing. */
static int build(struct q *q, const struct dlq_filter *f, const char *match, int64_t cur_id,
                 int limit)
{
    unsigned mask = f->status_mask & STATUS_BITS;
    int desc = f->sort != DLQ_SORT_FAILED_ASC;
    const char *task = f->task_name && *f->task_name ? f->task_name : NULL;
    const char *queue = f->queue && *f->queue ? f->queue : NULL;
    const char *exc = f->exception_type && *f->exception_type ? f->exception_type : NULL;
    const char *fp = f->fingerprint && *f->fingerprint ? f->fingerprint : NULL;
    int nstatus = 0;
    if (f->status_mask && mask == 0)
        return 1;
    if (mask == STATUS_BITS)
        mask = 0;
    for (int st = 1; st < DLQ_STATUS_COUNT; st++)
        nstatus += (mask >> st) & 1;
    int equality = task || queue || exc || fp || f->tenant_id || f->reason || nstatus == 1;

    add(q, "SELECT " SQ_ENTRY_COLS ", e.id");
    if (match)
        add_param(q,
                  " FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid"
                  " WHERE entries_fts MATCH ?",
                  P_TEXT, 0, match);
    else if (!equality)
        add(q, " FROM entries e INDEXED BY ix_entries_failed WHERE 1");
    else
        add(q, " FROM entries e WHERE 1");
    if (f->tenant_id)
        add_param(q, " AND e.tenant_id = ?", P_TEXT, 0, f->tenant_id);
    if (nstatus == 1) {
        for (int st = 1; st < DLQ_STATUS_COUNT; st++)
            if (mask & (1u << st))
                add_param(q, " AND e.status = ?", P_INT, st, NULL);
    } else if (nstatus > 1) {
        add(q, " AND e.status IN (");
        int first = 1;
        for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
            if (!(mask & (1u << st)))
                continue;
            add_param(q, first ? "?" : ", ?", P_INT, st, NULL);
            first = 0;
        }
        add(q, ")");
    }
    if (task)
        add_param(q, " AND e.task_name = ?", P_TEXT, 0, task);
    if (queue)
        add_param(q, " AND e.queue = ?", P_TEXT, 0, queue);
    if (exc)
        add_param(q, " AND e.exc_type = ?", P_TEXT, 0, exc);
    if (fp)
        add_param(q, " AND e.fingerprint = ?", P_TEXT, 0, fp);
    if (f->reason)
        add_param(q, " AND e.reason = ?", P_INT, f->reason, NULL);
    if (f->failed_after)
        add_param(q, " AND e.failed_at >= ?", P_INT, f->failed_after, NULL);
    if (f->failed_before)
        add_param(q, " AND e.failed_at < ?", P_INT, f->failed_before, NULL);
    if (f->has_cursor) {
        add_param(q, desc ? " AND (e.failed_at, e.id) < (?" : " AND (e.failed_at, e.id) > (?",
                  P_INT, f->cursor_failed_at, NULL);
        add_param(q, ", ?)", P_INT, cur_id, NULL);
    }
    add(q, desc ? " ORDER BY e.failed_at DESC, e.id DESC" : " ORDER BY e.failed_at ASC, e.id ASC");
    add_param(q, " LIMIT ?", P_INT, limit, NULL);
    return 0;
}

/* read_page runs q into out (items has room for limit). */
static int read_page(struct sq_conn *c, const struct q *q, int limit, struct dlq_page *out,
                     int64_t *last_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (q->overflow)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "filter too complex");
    int code = dlq_sq_stmt_dyn(c, q->buf, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < q->np; i++) {
        if (q->p[i].kind == P_INT)
            sqlite3_bind_int64(st, i + 1, q->p[i].i);
        else
            sqlite3_bind_text(st, i + 1, q->p[i].s, -1, SQLITE_STATIC);
    }
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
    struct q q;
    char *match = NULL;
    int64_t cur_id = 0, last_id = 0;
    int code = DLQ_OK;
    memset(out, 0, sizeof *out);
    out->total = -1;
    if (limit < 1 || limit > PAGE_MAX)
        limit = limit < 1 ? 1 : PAGE_MAX;
    if (f->has_cursor) {
        char *end;
        cur_id = strtoll(f->cursor_id, &end, 10);
        if (end == f->cursor_id || *end != '\0')
            return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed cursor");
    }
    if (f->q && *f->q) {
        if ((match = fts_match(f->q)) == NULL)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        if (*match == '\0')
            goto done; /* nothing searchable: nothing matches */
    }
    memset(&q, 0, sizeof q);
    if (build(&q, f, match, cur_id, limit))
        goto done;
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
    free(match);
    if (code != DLQ_OK) {
        dlq_page_free(out);
        memset(out, 0, sizeof *out);
    }
    return code;
}
