/*
 * sq_bulk.c: the reads behind bulk operations: the ids a filter matches, in
 * keyset order (failed_at, id) ascending from a stored position, so an
 * operation that stops (shutdown, crash) continues exactly where it was; and
 * the dry-run breakdown of the first matches by task and exception type.
 *
 * The WHERE clause is built from the filter's shape like the list query's
 * (sq_list.c), every value a bound parameter so the statement cache hits.
 * The driving index is named by a fixed priority (the narrowest kind of
 * filter first); each of those indexes is (column, failed_at) plus the
 * rowid, so it serves the keyset condition and the order without a sort.
 * Positions are "<failed_at>:<rowid>" text, opaque to callers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define STATUS_BITS 0xFEu

struct bq {
    char buf[4096];
    size_t len;
    int overflow;
    struct {
        int text;
        int64_t i;
        const char *s;
    } p[32];
    int np;
    char *match; /* malloc'd FTS5 expression, or NULL */
};

static void add(struct bq *q, const char *s)
{
    size_t n = strlen(s);
    if (q->len + n >= sizeof q->buf) {
        q->overflow = 1;
        return;
    }
    memcpy(q->buf + q->len, s, n + 1);
    q->len += n;
}

static void add_param(struct bq *q, const char *s, int text, int64_t i, const char *v)
{
    add(q, s);
    if (q->np == (int)(sizeof q->p / sizeof q->p[0])) {
        q->overflow = 1;
        return;
    }
    q->p[q->np].text = text;
    q->p[q->np].i = i;
    q->p[q->np++].s = v;
}

static void add_int(struct bq *q, const char *s, int64_t v)
{
    add_param(q, s, 0, v, NULL);
}

static void add_text(struct bq *q, const char *s, const char *v)
{
    add_param(q, s, 1, 0, v);
}

/* build_match turns user text into an FTS5 expression of quoted terms ANDed
 * (as sq_list.c does), so no FTS5 syntax gets through. *out NULL when no
 * term has a token. */
static int build_match(const char *text, char **out)
{
    size_t len = strlen(text);
    char *m = malloc(len * 3 + 16), *w = m;
    *out = NULL;
    if (m == NULL)
        return DLQ_E_NOMEM;
    const char *p = text;
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

/* build_from writes "FROM ... WHERE <filter>" for f. *empty is set when f
 * can match nothing (a q without any searchable term, an impossible status). */
static int build_from(struct bq *q, const struct dlq_filter *f, int *empty)
{
    unsigned mask = f->status_mask & STATUS_BITS;
    int nstatus = 0, one = 0;
    *empty = f->status_mask && mask == 0;
    for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
        if (mask & (1u << st)) {
            nstatus++;
            one = st;
        }
    }
    if (nz(f->q)) {
        int code = build_match(f->q, &q->match);
        if (code != DLQ_OK)
            return code;
        if (q->match == NULL)
            *empty = 1;
    }
    if (q->match) {
        add_text(q,
                 " FROM entries_fts CROSS JOIN entries e ON e.id = entries_fts.rowid"
                 " WHERE entries_fts MATCH ?",
                 q->match);
    } else {
        const char *ix = nz(f->fingerprint)      ? "ix_entries_fp"
                         : nz(f->task_name)      ? "ix_entries_task"
                         : nz(f->exception_type) ? "ix_entries_exc"
                         : nz(f->queue)          ? "ix_entries_queue"
                         : f->tenant_id          ? "ix_entries_tenant"
                         : f->reason             ? "ix_entries_reason"
                         : nstatus == 1          ? "ix_entries_status"
                                                 : "ix_entries_failed";
        add(q, " FROM entries e INDEXED BY ");
        add(q, ix);
        add(q, " WHERE 1");
    }
    if (nstatus == 1) {
        add_int(q, " AND e.status = ?", one);
    } else if (nstatus > 1 && mask != STATUS_BITS) {
        add(q, " AND e.status IN (");
        int first = 1;
        for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
            if (mask & (1u << st)) {
                add_int(q, first ? "?" : ", ?", st);
                first = 0;
            }
        }
        add(q, ")");
    }
    if (f->tenant_id)
        add_text(q, " AND e.tenant_id = ?", f->tenant_id);
    if (nz(f->task_name))
        add_text(q, " AND e.task_name = ?", f->task_name);
    if (nz(f->queue))
        add_text(q, " AND e.queue = ?", f->queue);
    if (nz(f->exception_type))
        add_text(q, " AND e.exc_type = ?", f->exception_type);
    if (nz(f->fingerprint))
        add_text(q, " AND e.fingerprint = ?", f->fingerprint);
    if (f->reason)
        add_int(q, " AND e.reason = ?", f->reason);
    if (f->failed_after)
        add_int(q, " AND e.failed_at >= ?", f->failed_after);
    if (f->failed_before)
        add_int(q, " AND e.failed_at < ?", f->failed_before);
    return DLQ_OK;
}

static int prepare(struct sq_conn *c, const struct bq *q, sqlite3_stmt **st, char *err,
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

/* parse_pos reads "<failed_at>:<rowid>"; 0 when fine. */
static int parse_pos(const char *s, int64_t *at, int64_t *id)
{
    char *end;
    long long a = strtoll(s, &end, 10);
    if (end == s || *end != ':')
        return -1;
    const char *t = end + 1;
    long long b = strtoll(t, &end, 10);
    if (end == t || *end != '\0')
        return -1;
    *at = a;
    *id = b;
    return 0;
}

/* dlq_sq_bulk_select implements bulk_select (store.h). */
int dlq_sq_bulk_select(struct dlq_store *base, const struct dlq_filter *f, const char *after,
                       const char *skip_op, size_t max, char (*ids)[40], size_t *n, char next[128],
                       char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct bq q;
    struct sq_conn *c = NULL;
    sqlite3_stmt *st;
    int empty = 0;
    int64_t at = 0, rid = 0;
    memset(&q, 0, sizeof q);
    *n = 0;
    if (next != after) /* callers may pass one buffer for both */
        snprintf(next, 128, "%s", after ? after : "");
    if (after && *after && parse_pos(after, &at, &rid) != 0)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed bulk position '%s'", after);
    add(&q, "SELECT e.dlq_id, e.failed_at, e.id");
    int code = build_from(&q, f, &empty);
    if (code != DLQ_OK || empty)
        goto done;
    if (after && *after) {
        add_int(&q, " AND (e.failed_at, e.id) > (?", at);
        add_int(&q, ", ?)", rid);
    }
    if (skip_op)
        add_text(&q, " AND (e.op_id IS NULL OR e.op_id <> ?)", skip_op);
    add_int(&q, " ORDER BY e.failed_at, e.id LIMIT ?", (int64_t)max);
    if ((code = dlq_sq_reader_get(s, &c, err, errlen)) != DLQ_OK)
        goto done;
    if ((code = prepare(c, &q, &st, err, errlen)) == DLQ_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            dlq_sq_col_copy(st, 0, ids[*n], 40);
            snprintf(next, 128, "%" PRId64 ":%" PRId64, (int64_t)sqlite3_column_int64(st, 1),
                     (int64_t)sqlite3_column_int64(st, 2));
            (*n)++;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "select bulk entries");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
done:
    free(q.match);
    return code;
}

/* breakdown runs "SELECT col, count(*) over the first max matches GROUP BY
 * col" into a malloc'd array, largest first. */
static int breakdown(struct sq_conn *c, const struct dlq_filter *f, int64_t max, const char *col,
                     struct dlq_name_count **out, size_t *nout, char *err, size_t errlen)
{
    struct bq q;
    sqlite3_stmt *st;
    int empty = 0;
    memset(&q, 0, sizeof q);
    add(&q, "SELECT k, count(*) FROM (SELECT coalesce(");
    add(&q, col);
    add(&q, ", '') AS k");
    int code = build_from(&q, f, &empty);
    add_int(&q, " ORDER BY e.failed_at, e.id LIMIT ?) GROUP BY k ORDER BY 2 DESC, 1", max);
    if (code == DLQ_OK && !empty && (code = prepare(c, &q, &st, err, errlen)) == DLQ_OK) {
        int rc, oom = 0;
        size_t cap = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (*nout == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct dlq_name_count *v = realloc(*out, ncap * sizeof *v);
                if (v == NULL) {
                    oom = 1;
                    break;
                }
                *out = v;
                cap = ncap;
            }
            (*out)[*nout].name = dlq_sq_col_dup(st, 0, &oom);
            (*out)[*nout].n = sqlite3_column_int64(st, 1);
            (*nout)++;
            if (oom)
                break;
        }
        if (oom)
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        else if (rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "bulk breakdown");
        sqlite3_reset(st);
    }
    free(q.match);
    return code;
}

/* preview_count counts the first max matches and copies the first ids. */
static int preview_count(struct sq_conn *c, const struct dlq_filter *f, int64_t max,
                         struct dlq_bulk_preview *out, char *err, size_t errlen)
{
    struct bq q;
    sqlite3_stmt *st;
    int empty = 0;
    memset(&q, 0, sizeof q);
    add(&q, "SELECT e.dlq_id");
    int code = build_from(&q, f, &empty);
    add_int(&q, " ORDER BY e.failed_at, e.id LIMIT ?", max);
    if (code == DLQ_OK && !empty && (code = prepare(c, &q, &st, err, errlen)) == DLQ_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (out->nsample < sizeof out->sample_ids / sizeof out->sample_ids[0])
                dlq_sq_col_copy(st, 0, out->sample_ids[out->nsample++], 40);
            out->matched++;
        }
        if (rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "bulk count");
        sqlite3_reset(st);
    }
    free(q.match);
    return code;
}

/* dlq_sq_bulk_preview implements bulk_preview (store.h): all of it from one
 * read snapshot. On error out is empty. */
int dlq_sq_bulk_preview(struct dlq_store *base, const struct dlq_filter *f, int64_t max,
                        struct dlq_bulk_preview *out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c = NULL;
    memset(out, 0, sizeof *out);
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_exec(c, SQ_BEGIN, err, errlen);
    if (code == DLQ_OK)
        code = preview_count(c, f, max, out, err, errlen);
    if (code == DLQ_OK && out->matched > 0)
        code = breakdown(c, f, max, "e.task_name", &out->by_task, &out->ntask, err, errlen);
    if (code == DLQ_OK && out->matched > 0)
        code = breakdown(c, f, max, "e.exc_type", &out->by_exc, &out->nexc, err, errlen);
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK)
        dlq_bulk_preview_clear(out);
    return code;
}
