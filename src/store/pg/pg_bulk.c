/*
 * pg_bulk.c: the reads behind bulk operations on PostgreSQL (sq_bulk.c's
 * twin): the ids a filter matches in keyset order (failed_at, id) ascending
 * from a stored position, so an operation that stops (shutdown, crash)
 * continues exactly where it was; and the dry-run preview of the first
 * matches, counted and broken down by task and exception type from one
 * snapshot. Positions are "<failed_at>:<id>" text, opaque to callers. The
 * conditions are the shared filter SQL (pg_where.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "pg_where.h"

/* parse_pos reads "<failed_at>:<id>"; 0 when fine. */
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

/* A bulk read: its query, the normalized filter and the answers. */
struct bulk_req {
    struct pg_sql q;
    struct pg_where w;
    const char *skip_op;
    int64_t max;
    char (*ids)[40];
    size_t *n;
    char *next;
    struct dlq_bulk_preview *out;
};

/* start writes "FROM entries e WHERE <filter>", keyset beyond the cursor
 * when w has one, oldest first, after head (the select list). */
static void start(struct bulk_req *b, const char *head)
{
    dlq_pg_sql_init(&b->q);
    dlq_pg_sql_add(&b->q, head);
    dlq_pg_sql_add(&b->q, " FROM entries e WHERE true");
    dlq_pg_where_conds(&b->q, &b->w, PG_WHERE_STATUS | PG_WHERE_CURSOR);
}

static int select_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct bulk_req *b = ctx;
    PGresult *r = NULL;
    int code = dlq_pg_where_match(c, &b->w, err, errlen);
    if (code != DLQ_OK || b->w.empty)
        return code;
    start(b, "SELECT e.dlq_id, e.failed_at, e.id");
    if (b->skip_op) {
        dlq_pg_sql_text(&b->q, " AND (e.op_id IS NULL OR e.op_id <> ", b->skip_op);
        dlq_pg_sql_add(&b->q, ")");
    }
    dlq_pg_sql_int(&b->q, " ORDER BY e.failed_at, e.id LIMIT ", b->max);
    if ((code = dlq_pg_sql_run(c, &b->q, &r, "select bulk entries", err, errlen)) != DLQ_OK)
        return code;
    int rows = PQntuples(r);
    for (int i = 0; i < rows && *b->n < (size_t)b->max; i++) {
        dlq_pg_copy(r, i, 0, b->ids[*b->n], 40);
        snprintf(b->next, 128, "%" PRId64 ":%" PRId64, dlq_pg_i64(r, i, 1), dlq_pg_i64(r, i, 2));
        (*b->n)++;
    }
    PQclear(r);
    return DLQ_OK;
}

static int select_read(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    return dlq_pg_snapshot(c, select_body, ctx, err, errlen);
}

int dlq_pg_bulk_select(struct dlq_store *s, const struct dlq_filter *f, const char *after,
                       const char *skip_op, size_t max, char (*ids)[40], size_t *n, char next[128],
                       char *err, size_t errlen)
{
    int64_t at = 0, rid = 0;
    *n = 0;
    if (next != after) /* callers may pass one buffer for both */
        snprintf(next, 128, "%s", after ? after : "");
    if (after && *after && parse_pos(after, &at, &rid) != 0)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "malformed bulk position '%s'", after);
    if (max == 0)
        return DLQ_OK;
    struct bulk_req *b = calloc(1, sizeof *b); /* a query buffer is big for a stack */
    if (b == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    b->skip_op = skip_op;
    b->max = max > INT64_MAX ? INT64_MAX : (int64_t)max;
    b->ids = ids;
    b->n = n;
    b->next = next;
    int code = dlq_pg_where_init(f, 0, &b->w, err, errlen);
    if (code == DLQ_OK && !b->w.empty) {
        b->w.desc = 0;
        b->w.has_cursor = after && *after;
        b->w.cur_at = at;
        b->w.cur_id = rid;
        code = dlq_pg_read(PG(s), select_read, b, err, errlen);
    }
    dlq_pg_where_free(&b->w);
    free(b);
    return code;
}

/* breakdown counts the first max matches by col into a malloc'd array,
 * largest first, then by name. */
static int breakdown(struct pg_conn *c, struct bulk_req *b, const char *col,
                     struct dlq_name_count **out, size_t *nout, char *err, size_t errlen)
{
    char head[96];
    PGresult *r = NULL;
    snprintf(head, sizeof head, "SELECT k, count(*) FROM (SELECT coalesce(%s, '') AS k", col);
    start(b, head);
    dlq_pg_sql_int(&b->q, " ORDER BY e.failed_at, e.id LIMIT ", b->max);
    dlq_pg_sql_add(&b->q, ") s GROUP BY k ORDER BY count(*) DESC, k COLLATE \"C\"");
    int code = dlq_pg_sql_run(c, &b->q, &r, "bulk breakdown", err, errlen);
    if (code != DLQ_OK)
        return code;
    int rows = PQntuples(r), oom = 0;
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof **out)) == NULL)
        oom = 1;
    for (int i = 0; i < rows && !oom; i++) {
        (*out)[i].name = dlq_pg_dup(r, i, 0, &oom);
        (*out)[i].n = dlq_pg_i64(r, i, 1);
        (*nout)++;
    }
    PQclear(r);
    if (oom)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return DLQ_OK;
}

static int preview_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct bulk_req *b = ctx;
    struct dlq_bulk_preview *out = b->out;
    PGresult *r = NULL;
    int code = dlq_pg_where_match(c, &b->w, err, errlen);
    if (code != DLQ_OK || b->w.empty)
        return code;
    /* how many of the first max match, then the first few of them */
    start(b, "SELECT count(*) FROM (SELECT 1");
    dlq_pg_sql_int(&b->q, " ORDER BY e.failed_at, e.id LIMIT ", b->max);
    dlq_pg_sql_add(&b->q, ") s");
    if ((code = dlq_pg_sql_run(c, &b->q, &r, "bulk count", err, errlen)) != DLQ_OK)
        return code;
    out->matched = dlq_pg_i64(r, 0, 0);
    PQclear(r);
    if (out->matched == 0)
        return DLQ_OK;
    size_t nsample = sizeof out->sample_ids / sizeof out->sample_ids[0];
    start(b, "SELECT e.dlq_id");
    dlq_pg_sql_int(&b->q, " ORDER BY e.failed_at, e.id LIMIT ",
                   b->max < (int64_t)nsample ? b->max : (int64_t)nsample);
    if ((code = dlq_pg_sql_run(c, &b->q, &r, "bulk sample", err, errlen)) != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r) && out->nsample < nsample; i++)
        dlq_pg_copy(r, i, 0, out->sample_ids[out->nsample++], 40);
    PQclear(r);
    code = breakdown(c, b, "e.task_name", &out->by_task, &out->ntask, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, b, "e.exc_type", &out->by_exc, &out->nexc, err, errlen);
    return code;
}

static int preview_read(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    return dlq_pg_snapshot(c, preview_body, ctx, err, errlen);
}

int dlq_pg_bulk_preview(struct dlq_store *s, const struct dlq_filter *f, int64_t max,
                        struct dlq_bulk_preview *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (max == 0)
        return DLQ_OK;
    if (max < 0)
        max = INT64_MAX; /* as SQLite's LIMIT -1: no limit */
    struct bulk_req *b = calloc(1, sizeof *b);
    if (b == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    b->max = max;
    b->out = out;
    int code = dlq_pg_where_init(f, 0, &b->w, err, errlen);
    if (code == DLQ_OK && !b->w.empty) {
        b->w.desc = 0;
        code = dlq_pg_read(PG(s), preview_read, b, err, errlen);
    }
    dlq_pg_where_free(&b->w);
    free(b);
    if (code != DLQ_OK)
        dlq_bulk_preview_clear(out);
    return code;
}
