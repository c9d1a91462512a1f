/*
 * sq_bulk.c: the reads behind bulk operations: the ids a filter matches, in
 * keyset order (failed_at, id) ascending from a stored position, so an
 * operation that stops (shutdown, crash) continues exactly where it was; and
 * the dry-run breakdown of the first matches by task and exception type.
 *
 * The WHERE clause is the shared filter SQL (sq_where.c), as in list
 * (sq_list.c): every value a bound parameter so the statement cache hits.
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

/* A bulk read: its query and the normalized filter the query binds. */
struct bq {
    struct sq_sql q;
    struct sq_where w;
};

/* build_from writes "FROM ... WHERE <filter>" for f, with the keyset
 * condition (failed_at, id) > (at, rid) when keyset is set. *empty is set
 * when f can match nothing (a q without any searchable term, an impossible
 * status). The caller frees b->w. */
static int build_from(struct bq *b, const struct dlq_filter *f, int keyset, int64_t at, int64_t rid,
                      int *empty, char *err, size_t errlen)
{
    int code = dlq_sq_where_init(f, 0, &b->w, err, errlen);
    *empty = b->w.empty;
    if (code != DLQ_OK)
        return code;
    b->w.desc = 0;
    b->w.has_cursor = keyset;
    b->w.cur_at = at;
    b->w.cur_id = rid;
    /* Several statuses: the failed_at index still yields the order. */
    const char *ix = dlq_sq_where_index(&b->w);
    dlq_sq_where_from(&b->q, &b->w, ix ? ix : "ix_entries_failed");
    dlq_sq_where_conds(&b->q, &b->w, SQ_WHERE_STATUS | SQ_WHERE_CURSOR);
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

/* The columns a bulk replay's select reads ahead for the writer
 * (sq_preread.c): the small ones and the job's args, kwargs and metadata. */
#define PRE_COLS                                                                                   \
    "SELECT " SQ_ENTRY_SMALL_COLS ", NULL, e.task_args, e.task_kwargs, e.metadata, NULL, NULL,"    \
    " e.id, e.op_id"

/* pre_add reads the row st is on into p's row i, within the byte budget
 * *left; a row that does not fit, or out of memory, is left unread (the
 * writer then reads it itself). */
static void pre_add(sqlite3_stmt *st, struct sq_pre *p, size_t i, size_t *left)
{
    size_t bytes = (size_t)sqlite3_column_bytes(st, SC_TASK_ARGS) +
                   (size_t)sqlite3_column_bytes(st, SC_TASK_KWARGS) +
                   (size_t)sqlite3_column_bytes(st, SC_METADATA);
    if (p->rows == NULL || bytes > *left)
        return;
    if (dlq_sq_act_row_read(st, &p->rows[i]) != DLQ_OK)
        return;
    p->rows[i].payload = 1;
    *left -= bytes;
}

/* dlq_sq_bulk_select implements bulk_select (store.h). For a replay op
 * (skip_op set) the rows are read ahead for the writer as well. */
int dlq_sq_bulk_select(struct dlq_store *base, const struct dlq_filter *f, const char *after,
                       const char *skip_op, size_t max, char (*ids)[40], size_t *n, char next[128],
                       char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct bq b;
    struct sq_conn *c = NULL;
    sqlite3_stmt *st;
    int empty = 0;
    int64_t at = 0, rid = 0;
    memset(&b, 0, sizeof b);
    *n = 0;
    if (next != after) /* callers may pass one buffer for both */
        snprintf(next, 128, "%s", after ? after : "");
    if (after && *after && parse_pos(after, &at, &rid) != 0)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed bulk position '%s'", after);
    struct sq_pre pre = {0};
    int ahead = skip_op && dlq_sq_pre_enabled(s);
    size_t left = SQ_PRE_BYTES;
    if (ahead)
        dlq_sq_sql_add(&b.q, PRE_COLS);
    else
        dlq_sq_sql_add(&b.q, "SELECT e.dlq_id, e.failed_at, e.id");
    int icol = ahead ? SC_NCOLS : 2, acol = ahead ? SC_FAILED_AT : 1;
    int code = build_from(&b, f, after && *after, at, rid, &empty, err, errlen);
    if (code != DLQ_OK || empty)
        goto done;
    if (b.w.match && (code = dlq_sq_fts_ready(s, err, errlen)) != DLQ_OK)
        goto done;
    if (skip_op)
        dlq_sq_sql_text(&b.q, " AND (e.op_id IS NULL OR e.op_id <> ?)", skip_op);
    dlq_sq_sql_int(&b.q, " ORDER BY e.failed_at, e.id LIMIT ?", (int64_t)max);
    if ((code = dlq_sq_reader_get(s, &c, err, errlen)) != DLQ_OK)
        goto done;
    if ((code = dlq_sq_sql_prepare(c, &b.q, &st, err, errlen)) == DLQ_OK) {
        int rc;
        if (ahead) { /* before the read begins: see sq_preread.c */
            pre.seq = dlq_sq_pre_snapshot(s);
            pre.rows = calloc(max, sizeof *pre.rows);
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            dlq_sq_col_copy(st, 0, ids[*n], 40);
            snprintf(next, 128, "%" PRId64 ":%" PRId64, (int64_t)sqlite3_column_int64(st, acol),
                     (int64_t)sqlite3_column_int64(st, icol));
            if (ahead)
                pre_add(st, &pre, *n, &left);
            (*n)++;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "select bulk entries");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    pre.n = *n;
    if (code == DLQ_OK && pre.rows && pre.n > 0)
        dlq_sq_pre_put(s, &pre);
    dlq_sq_pre_free(&pre);
done:
    dlq_sq_where_free(&b.w);
    return code;
}

/* breakdown runs "SELECT col, count(*) over the first max matches GROUP BY
 * col" into a malloc'd array, largest first. */
static int breakdown(struct sq_conn *c, const struct dlq_filter *f, int64_t max, const char *col,
                     struct dlq_name_count **out, size_t *nout, char *err, size_t errlen)
{
    struct bq b;
    sqlite3_stmt *st;
    int empty = 0;
    memset(&b, 0, sizeof b);
    dlq_sq_sql_add(&b.q, "SELECT k, count(*) FROM (SELECT coalesce(");
    dlq_sq_sql_add(&b.q, col);
    dlq_sq_sql_add(&b.q, ", '') AS k");
    int code = build_from(&b, f, 0, 0, 0, &empty, err, errlen);
    dlq_sq_sql_int(&b.q, " ORDER BY e.failed_at, e.id LIMIT ?) GROUP BY k ORDER BY 2 DESC, 1", max);
    if (code == DLQ_OK && !empty &&
        (code = dlq_sq_sql_prepare(c, &b.q, &st, err, errlen)) == DLQ_OK) {
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
    dlq_sq_where_free(&b.w);
    return code;
}

/* preview_count counts the first max matches and copies the first ids. */
static int preview_count(struct sq_conn *c, const struct dlq_filter *f, int64_t max,
                         struct dlq_bulk_preview *out, char *err, size_t errlen)
{
    struct bq b;
    sqlite3_stmt *st;
    int empty = 0;
    memset(&b, 0, sizeof b);
    dlq_sq_sql_add(&b.q, "SELECT e.dlq_id");
    int code = build_from(&b, f, 0, 0, 0, &empty, err, errlen);
    dlq_sq_sql_int(&b.q, " ORDER BY e.failed_at, e.id LIMIT ?", max);
    if (code == DLQ_OK && !empty &&
        (code = dlq_sq_sql_prepare(c, &b.q, &st, err, errlen)) == DLQ_OK) {
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
    dlq_sq_where_free(&b.w);
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
    int code = f->q && *f->q ? dlq_sq_fts_ready(s, err, errlen) : DLQ_OK;
    if (code == DLQ_OK)
        code = dlq_sq_reader_get(s, &c, err, errlen);
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
