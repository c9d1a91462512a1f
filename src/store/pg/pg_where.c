/*
 * pg_where.c: the SQL a struct dlq_filter becomes on PostgreSQL, shared by
 * list and export (pg_list.c) and the bulk reads (pg_bulk.c), as sq_where.c
 * is on SQLite. A filter is first normalized ("" strings dropped, statuses
 * unpacked, text that is not UTF-8 matching nothing, as it matches nothing
 * stored), then written as " AND ..." conditions whose every value is a
 * parameter: the SQL text depends only on which filters are set, so each
 * session's prepared statements keep being reused.
 *
 * Full text: q means what it means on SQLite, where every
 * whitespace-separated term becomes a quoted FTS5 phrase (its tokens, in
 * order, adjacent) and the terms are ANDed, so no user text is syntax. Here
 * each term goes through the same letter-or-digit split as the stored `fts`
 * column (pg_schema.c) and becomes phraseto_tsquery('simple', ...): terms
 * without a token are dropped, the rest ANDed. PostgreSQL builds the
 * tsquery from the parts, so hostile text stays text; its textual form is
 * then a parameter of the queries that use it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "pg_where.h"

#define STATUS_BITS 0xFEu /* bits 1..7: every valid status */

void dlq_pg_sql_init(struct pg_sql *q)
{
    q->len = 0;
    q->buf[0] = '\0';
    q->overflow = 0;
    memset(q->slot, 0, sizeof q->slot);
    dlq_pg_p_init(&q->p);
}

void dlq_pg_sql_add(struct pg_sql *q, const char *s)
{
    size_t n = strlen(s);
    if (q->len + n >= sizeof q->buf) {
        q->overflow = 1;
        return;
    }
    memcpy(q->buf + q->len, s, n + 1);
    q->len += n;
}

/* placeholder appends "$n". */
static void placeholder(struct pg_sql *q, int n)
{
    char b[16];
    snprintf(b, sizeof b, "$%d", n);
    dlq_pg_sql_add(q, b);
}

/* dlq_pg_sql_param: 0 (q overflowed) when there is no room. */
int dlq_pg_sql_param(struct pg_sql *q, const char *v, int64_t i)
{
    if (q->p.n >= PG_MAXP - 1) {
        q->overflow = 1;
        return 0;
    }
    if (v)
        dlq_pg_p_text(&q->p, v);
    else
        dlq_pg_p_int(&q->p, i);
    return q->p.n;
}

void dlq_pg_sql_ref(struct pg_sql *q, const char *s, int n)
{
    dlq_pg_sql_add(q, s);
    placeholder(q, n);
}

void dlq_pg_sql_text(struct pg_sql *q, const char *s, const char *v)
{
    dlq_pg_sql_add(q, s);
    placeholder(q, dlq_pg_sql_param(q, v ? v : "", 0));
}

void dlq_pg_sql_int(struct pg_sql *q, const char *s, int64_t v)
{
    dlq_pg_sql_add(q, s);
    placeholder(q, dlq_pg_sql_param(q, NULL, v));
}

/* ref appends s and the parameter of filter value k, sending it (text v,
 * or the integer i when v is NULL) the first time the query refers to it. */
static void ref(struct pg_sql *q, enum pg_key k, const char *s, const char *v, int64_t i)
{
    dlq_pg_sql_add(q, s);
    if (q->slot[k] == 0)
        q->slot[k] = dlq_pg_sql_param(q, v, i);
    placeholder(q, q->slot[k]);
}

int dlq_pg_sql_run(struct pg_conn *c, const struct pg_sql *q, PGresult **res, const char *what,
                   char *err, size_t errlen)
{
    if (res)
        *res = NULL;
    if (q->overflow)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "filter too complex");
    return dlq_pg_exec(c, q->buf, &q->p, res, what, err, errlen);
}

int dlq_pg_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3;
        else
            return 0;
        unsigned cp = c & (0x3Fu >> n);
        for (int k = 1; k <= n; k++) {
            if ((p[k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[k] & 0x3Fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* nz drops "" (no filter); *bad is set for text that cannot be UTF-8. */
static const char *nz(const char *s, int *bad)
{
    if (s == NULL || *s == '\0')
        return NULL;
    if (!dlq_pg_utf8_ok(s))
        *bad = 1;
    return s;
}

int dlq_pg_where_init(const struct dlq_filter *f, int use_cursor, struct pg_where *w, char *err,
                      size_t errlen)
{
    int bad = 0;
    memset(w, 0, sizeof *w);
    unsigned mask = f->status_mask & STATUS_BITS;
    if (f->status_mask && mask == 0)
        w->empty = 1;
    if (mask != STATUS_BITS) {
        size_t len = 0;
        w->statuses[len++] = '{';
        for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
            if (mask & (1u << st)) {
                if (w->nstatus)
                    w->statuses[len++] = ',';
                w->statuses[len++] = (char)('0' + st);
                w->status[w->nstatus++] = st;
            }
        }
        w->statuses[len++] = '}';
        w->statuses[len] = '\0';
    }
    w->tenant = f->tenant_id; /* "" is the no-tenant tenant, a real value */
    if (w->tenant && !dlq_pg_utf8_ok(w->tenant))
        bad = 1;
    w->task = nz(f->task_name, &bad);
    w->queue = nz(f->queue, &bad);
    w->exc = nz(f->exception_type, &bad);
    w->fp = nz(f->fingerprint, &bad);
    w->q = nz(f->q, &bad);
    w->reason = f->reason;
    w->after = f->failed_after;
    w->before = f->failed_before;
    w->desc = f->sort != DLQ_SORT_FAILED_ASC;
    if (bad)
        w->empty = 1;
    if (use_cursor && f->has_cursor) {
        char *end;
        w->has_cursor = 1;
        w->cur_at = f->cursor_failed_at;
        w->cur_id = strtoll(f->cursor_id, &end, 10);
        if (end == f->cursor_id || *end != '\0')
            return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed cursor");
    }
    return DLQ_OK;
}

void dlq_pg_where_free(struct pg_where *w)
{
    free(w->match);
    w->match = NULL;
}

/* Each whitespace-separated term (the bytes SQLite's build_match splits
 * on) as a phrase of its letter-or-digit tokens; terms without a token
 * dropped; the rest ANDed and checked by the cast. NULL: no term left. */
static const char match_sql[] =
    "SELECT (string_agg('(' || x::text || ')', ' & '))::tsquery::text FROM (SELECT"
    " phraseto_tsquery('simple', regexp_replace(t, '[^[:alnum:]]+', ' ', 'g')) AS x"
    " FROM regexp_split_to_table($1, '[ \\t\\n\\v\\f\\r]+') AS t) y WHERE numnode(x) > 0";

int dlq_pg_where_match(struct pg_conn *c, struct pg_where *w, char *err, size_t errlen)
{
    if (w->q == NULL || w->match || w->empty)
        return DLQ_OK;
    struct pg_params p;
    PGresult *r = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, w->q);
    int code = dlq_pg_exec(c, match_sql, &p, &r, "parse the search text", err, errlen);
    if (code != DLQ_OK)
        return code;
    int oom = 0;
    if (PQntuples(r) == 1)
        w->match = dlq_pg_dup(r, 0, 0, &oom);
    PQclear(r);
    if (oom)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    if (w->match == NULL)
        w->empty = 1; /* nothing searchable: nothing can match */
    return DLQ_OK;
}

void dlq_pg_where_status(struct pg_sql *q, const struct pg_where *w, const char *col)
{
    if (w->nstatus == 0)
        return;
    dlq_pg_sql_add(q, " AND ");
    dlq_pg_sql_add(q, col);
    if (w->nstatus == 1) {
        ref(q, PK_STATUSES, " = ", NULL, w->status[0]);
    } else {
        ref(q, PK_STATUSES, " = ANY(", w->statuses, 0);
        dlq_pg_sql_add(q, "::int[])");
    }
}

/* cond appends " AND <pfx><col>" and the parameter of filter value k. */
static void cond(struct pg_sql *q, const char *pfx, const char *col, enum pg_key k, const char *v,
                 int64_t i)
{
    dlq_pg_sql_add(q, " AND ");
    dlq_pg_sql_add(q, pfx);
    ref(q, k, col, v, i);
}

void dlq_pg_where_conds(struct pg_sql *q, const struct pg_where *w, unsigned flags)
{
    int cube = (flags & PG_WHERE_CUBE) != 0;
    const char *p = cube ? "" : "e.";
    if (w->tenant)
        cond(q, p, "tenant_id = ", PK_TENANT, w->tenant, 0);
    if (flags & PG_WHERE_STATUS)
        dlq_pg_where_status(q, w, cube ? "status" : "e.status");
    if (w->task)
        cond(q, p, "task_name = ", PK_TASK, w->task, 0);
    if (w->queue)
        cond(q, p, "queue = ", PK_QUEUE, w->queue, 0);
    if (w->exc)
        cond(q, p, "exc_type = ", PK_EXC, w->exc, 0);
    if (w->fp)
        cond(q, p, "fingerprint = ", PK_FP, w->fp, 0);
    if (w->reason)
        cond(q, p, "reason = ", PK_REASON, NULL, w->reason);
    if (w->after)
        cond(q, p, "failed_at >= ", PK_AFTER, NULL, w->after);
    if (w->before)
        cond(q, p, "failed_at < ", PK_BEFORE, NULL, w->before);
    if (w->q && !cube) {
        if (w->match == NULL) {
            q->overflow = 1; /* dlq_pg_where_match was not run: refuse */
        } else {
            cond(q, p, "fts @@ ", PK_MATCH, w->match, 0);
            dlq_pg_sql_add(q, "::tsquery");
        }
    }
    if ((flags & PG_WHERE_CURSOR) && w->has_cursor) {
        ref(q, PK_CUR_AT, w->desc ? " AND (e.failed_at, e.id) < (" : " AND (e.failed_at, e.id) > (",
            NULL, w->cur_at);
        ref(q, PK_CUR_ID, ", ", NULL, w->cur_id);
        dlq_pg_sql_add(q, ")");
    }
}

int dlq_pg_snapshot(struct pg_conn *c, pg_tx_body body, void *ctx, char *err, size_t errlen)
{
    /* Custom plans: the best index for a filter depends on its values (a
     * rare search term or tenant, a common status), which a generic plan of
     * the prepared statement does not know. */
    int code = dlq_pg_exec_simple(c,
                                  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
                                  " SET LOCAL plan_cache_mode = force_custom_plan",
                                  "begin a read", err, errlen);
    if (code != DLQ_OK)
        return code;
    c->in_tx = 1;
    code = body(c, ctx, err, errlen);
    if (code == DLQ_OK) {
        code = dlq_pg_exec_simple(c, "COMMIT", "end a read", err, errlen);
    } else if (!c->broken) {
        char ignore[64];
        dlq_pg_exec_simple(c, "ROLLBACK", "rollback", ignore, sizeof ignore);
    }
    if (PQtransactionStatus(c->pc) == PQTRANS_IDLE)
        c->in_tx = 0;
    return code;
}
