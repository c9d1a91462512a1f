/*
 * pg_audit.c: the append-only audit trail of the PostgreSQL backend, as
 * SQLite's sq_audit.c keeps it. A record is written inside the transaction
 * of the change it describes (actions, bulk and cleanup code call
 * dlq_pg_audit_write on their connection), or alone through audit_append.
 * audit_targets indexes which entries a record names, so "the audit of this
 * entry" is an index range and not a scan of JSON arrays; the record keeps
 * at most AUDIT_IDS_KEPT ids in target_ids and the full count in
 * details.target_count. Listing is newest first with a keyset cursor
 * "a<at>.<id>" on (at, id), the same text SQLite hands out.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/util.h"
#include "pg_act.h"

#define AUDIT_IDS_KEPT 1000

char *dlq_pg_text_array(const char *const *v, size_t n)
{
    struct dlq_buf b = {0};
    dlq_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        if (v[i] == NULL) {
            dlq_buf_puts(&b, "NULL");
            continue;
        }
        dlq_buf_putc(&b, '"');
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                dlq_buf_putc(&b, '\\');
            dlq_buf_putc(&b, *s);
        }
        dlq_buf_putc(&b, '"');
    }
    dlq_buf_putc(&b, '}');
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}

/* ids_json returns a JSON array of the first AUDIT_IDS_KEPT ids (malloc'd),
 * or NULL when out of memory. */
static char *ids_json(const char *const *ids, size_t n)
{
    struct dlq_buf b = {0};
    dlq_buf_putc(&b, '[');
    for (size_t i = 0; i < n && i < AUDIT_IDS_KEPT; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        dlq_buf_json_string(&b, ids[i], strlen(ids[i]));
    }
    dlq_buf_putc(&b, ']');
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}

/* with_count returns details (a JSON object, or NULL for {}) with
 * "target_count": count added as its last member, as SQLite's json_set
 * does (malloc'd); NULL when out of memory. */
static char *with_count(const char *details, size_t count)
{
    struct dlq_buf b = {0};
    const char *d = details ? details : "{}";
    size_t len = strlen(d);
    while (len > 0 && strchr(" \t\r\n", d[len - 1]))
        len--;
    if (len > 0 && d[len - 1] == '}')
        len--;
    dlq_buf_append(&b, d, len);
    /* an empty object gets no comma before its first member */
    size_t k = len;
    while (k > 0 && strchr(" \t\r\n", d[k - 1]))
        k--;
    int empty = k > 0 && d[k - 1] == '{';
    dlq_buf_printf(&b, "%s\"target_count\":%zu}", empty ? "" : ",", count);
    if (b.oom) {
        dlq_buf_free(&b);
        return NULL;
    }
    return dlq_buf_steal(&b);
}

static int write_targets(struct pg_conn *c, const char *audit_row, const struct dlq_audit *audit,
                         const char *const *ids, size_t n, char *err, size_t errlen)
{
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, audit_row);
    /* Every target is indexed, also those past what target_ids keeps. */
    if (audit->target_ids) {
        dlq_pg_p_text(&p, audit->target_ids);
        return dlq_pg_exec(c,
                           "INSERT INTO audit_targets(audit, dlq_id) SELECT $1, x #>> '{}'"
                           " FROM json_array_elements(CASE WHEN json_typeof($2::json) = 'array'"
                           " THEN $2::json ELSE '[]'::json END) x WHERE json_typeof(x) = 'string'",
                           &p, NULL, "index audit targets", err, errlen);
    }
    if (n == 0)
        return DLQ_OK;
    char *arr = dlq_pg_text_array(ids, n);
    if (arr == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    dlq_pg_p_text(&p, arr);
    int code =
        dlq_pg_exec(c, "INSERT INTO audit_targets(audit, dlq_id) SELECT $1, unnest($2::text[])", &p,
                    NULL, "index audit targets", err, errlen);
    free(arr);
    return code;
}

/* dlq_pg_audit_write writes audit on c (inside the caller's transaction).
 * Its target ids are audit->target_ids when set, else ids (n of them, may
 * be 0). An empty audit->id gets a fresh aud_ id, a zero audit->at the time
 * now. */
int dlq_pg_audit_write(struct pg_conn *c, const struct dlq_audit *audit, int64_t now,
                       const char *const *ids, size_t n, char *err, size_t errlen)
{
    char id[40];
    int64_t at = audit->at ? audit->at : now;
    if (audit->id[0]) {
        snprintf(id, sizeof id, "%s", audit->id);
    } else {
        uint8_t rnd[10];
        if (dlq_random(rnd, sizeof rnd) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
        dlq_id_make("aud", at, rnd, id, sizeof id);
    }
    char *made = NULL, *details = NULL;
    const char *targets = audit->target_ids;
    if (targets == NULL && n > 0) {
        if ((made = ids_json(ids, n)) == NULL)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        targets = made;
    }
    size_t count = audit->target_ids ? 0 : n;
    if (count > AUDIT_IDS_KEPT && (details = with_count(audit->details, count)) == NULL) {
        free(made);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, id);
    dlq_pg_p_int(&p, at);
    dlq_pg_p_text(&p, audit->actor);
    dlq_pg_p_tenant(&p, audit->tenant_id);
    dlq_pg_p_text(&p, audit->action ? audit->action : "unknown");
    dlq_pg_p_text(&p, targets);
    dlq_pg_p_text(&p, audit->filter);
    dlq_pg_p_text(&p, audit->reason);
    dlq_pg_p_text(&p, audit->ticket_url);
    dlq_pg_p_text(&p, details ? details : audit->details);
    int code = dlq_pg_exec(c,
                           "INSERT INTO audit(audit_id, at, actor, tenant_id, action, target_ids,"
                           " filter, reason, ticket_url, details) VALUES($1, $2, $3, $4, $5, $6,"
                           " $7, $8, $9, $10) RETURNING id",
                           &p, &r, "insert audit record", err, errlen);
    free(made);
    free(details);
    if (code != DLQ_OK)
        return code;
    char row[24];
    dlq_pg_copy(r, 0, 0, row, sizeof row);
    PQclear(r);
    return write_targets(c, row, audit, ids, n, err, errlen);
}

static int append_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    return dlq_pg_audit_write(c, ctx, dlq_now_ms(), NULL, 0, err, errlen);
}

/* dlq_pg_audit_append implements audit_append (store.h). */
int dlq_pg_audit_append(struct dlq_store *s, const struct dlq_audit *audit, char *err,
                        size_t errlen)
{
    return dlq_pg_tx(PG(s), append_body, (void *)audit, err, errlen);
}

/* parse_cursor reads "a<at>.<id>" (what audit_list hands out). */
static int parse_cursor(const char *c, int64_t *at, int64_t *id)
{
    char *end;
    if (c[0] != 'a')
        return DLQ_E_INVAL;
    long long a = strtoll(c + 1, &end, 10);
    if (end == c + 1 || *end != '.')
        return DLQ_E_INVAL;
    const char *r = end + 1;
    long long v = strtoll(r, &end, 10);
    if (end == r || *end || a < 0 || v < 0)
        return DLQ_E_INVAL;
    *at = a;
    *id = v;
    return DLQ_OK;
}

/* read_record fills a from row i of the list query. */
static int read_record(const PGresult *r, int i, struct dlq_audit *a)
{
    int oom = 0;
    memset(a, 0, sizeof *a);
    dlq_pg_copy(r, i, 1, a->id, sizeof a->id);
    a->at = dlq_pg_i64(r, i, 2);
    a->actor = dlq_pg_dup(r, i, 3, &oom);
    if (PQgetlength(r, i, 4) > 0)
        a->tenant_id = dlq_pg_dup(r, i, 4, &oom);
    a->action = dlq_pg_dup(r, i, 5, &oom);
    a->target_ids = dlq_pg_dup(r, i, 6, &oom);
    a->filter = dlq_pg_dup(r, i, 7, &oom);
    a->reason = dlq_pg_dup(r, i, 8, &oom);
    a->ticket_url = dlq_pg_dup(r, i, 9, &oom);
    a->details = dlq_pg_dup(r, i, 10, &oom);
    if (oom) {
        dlq_audit_clear(a);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

/* cond appends " AND <lhs>$N<rhs>" to b with v as parameter N, the next. */
static void cond(struct dlq_buf *b, struct pg_params *p, const char *lhs, const char *rhs,
                 const char *v)
{
    dlq_pg_p_text(p, v);
    dlq_buf_printf(b, " AND %s$%d%s", lhs, p->n, rhs);
}

struct list_req {
    const char *sql;
    struct pg_params *p;
    PGresult *r;
};

static int list_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct list_req *q = ctx;
    return dlq_pg_exec(c, q->sql, q->p, &q->r, "list audit", err, errlen);
}

/* dlq_pg_audit_list implements audit_list (store.h). The statement names
 * only the filters that are set, so each shape gets a plan that uses its
 * index. */
int dlq_pg_audit_list(struct dlq_store *s, const struct dlq_audit_filter *f, struct dlq_audit **out,
                      size_t *n, char next_cursor[128], char *err, size_t errlen)
{
    int limit = f->limit >= 1 && f->limit <= 100 ? f->limit : 50;
    int64_t cat = 0, cid = 0;
    char num[4][24];
    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    int has_cursor = f->cursor && f->cursor[0];
    if (has_cursor && parse_cursor(f->cursor, &cat, &cid) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "invalid cursor");
    struct dlq_buf b = {0};
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_buf_puts(&b, "SELECT a.id, a.audit_id, a.at, a.actor, a.tenant_id, a.action, a.target_ids,"
                     " a.filter, a.reason, a.ticket_url, a.details FROM audit a WHERE true");
    if (f->actor)
        cond(&b, &p, "a.actor = ", "", f->actor);
    if (f->action)
        cond(&b, &p, "a.action = ", "", f->action);
    if (f->target)
        cond(&b, &p, "a.id IN (SELECT t.audit FROM audit_targets t WHERE t.dlq_id = ", ")",
             f->target);
    if (f->tenant)
        cond(&b, &p, "a.tenant_id = ", "", f->tenant);
    if (f->since) {
        snprintf(num[0], sizeof num[0], "%" PRId64, f->since);
        cond(&b, &p, "a.at >= ", "::bigint", num[0]);
    }
    if (f->until) {
        snprintf(num[1], sizeof num[1], "%" PRId64, f->until);
        cond(&b, &p, "a.at < ", "::bigint", num[1]);
    }
    if (has_cursor && cat != 0) {
        snprintf(num[2], sizeof num[2], "%" PRId64, cat);
        snprintf(num[3], sizeof num[3], "%" PRId64, cid);
        dlq_pg_p_text(&p, num[2]);
        dlq_pg_p_text(&p, num[3]);
        dlq_buf_printf(&b, " AND (a.at, a.id) < ($%d::bigint, $%d::bigint)", p.n - 1, p.n);
    }
    dlq_buf_printf(&b, " ORDER BY a.at DESC, a.id DESC LIMIT %d", limit + 1);
    if (b.oom) {
        dlq_buf_free(&b);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct list_req q = {b.data, &p, NULL};
    int code = dlq_pg_read(PG(s), list_body, &q, err, errlen);
    dlq_buf_free(&b);
    if (code != DLQ_OK)
        return code;
    int rows = PQntuples(q.r);
    size_t k = 0;
    struct dlq_audit *v = calloc((size_t)limit + 1, sizeof *v);
    if (v == NULL)
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    for (int i = 0; code == DLQ_OK && i < rows && i < limit; i++) {
        if (read_record(q.r, i, &v[k]) != DLQ_OK)
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        else
            k++;
    }
    if (code == DLQ_OK && rows > limit)
        snprintf(next_cursor, 128, "a%" PRId64 ".%" PRId64, v[limit - 1].at,
                 dlq_pg_i64(q.r, limit - 1, 0));
    PQclear(q.r);
    if (code != DLQ_OK) {
        for (size_t i = 0; v && i < k; i++)
            dlq_audit_clear(&v[i]);
        free(v);
        return code;
    }
    *out = v;
    *n = k;
    return DLQ_OK;
}
