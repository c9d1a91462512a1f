/*
 * sq_audit.c: the append-only audit trail. A record is written inside the
 * write request of the change it describes (act, act_many, bulk and cleanup
 * code call dlq_sq_audit_write on the writer connection), or alone through
 * audit_append. audit_targets indexes which entries a record names, so "the
 * audit of this entry" is an index range and not a scan of JSON arrays; the
 * record keeps at most AUDIT_IDS_KEPT ids in target_ids and the full count
 * in details.target_count. Listing is newest first with a keyset cursor on
 * (at, id).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define AUDIT_IDS_KEPT 1000

static int step_done(struct sq_conn *w, sqlite3_stmt *st, char *err, size_t errlen,
                     const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, what);
    return DLQ_OK;
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

/* dlq_sq_audit_write writes audit on the writer connection (inside the
 * caller's write request). Its target ids are audit->target_ids when set,
 * else ids (n of them, may be 0). An empty audit->id gets a fresh aud_ id,
 * a zero audit->at the time now. */
int dlq_sq_audit_write(struct sq_conn *w, const struct dlq_audit *audit, int64_t now,
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
    char *made = NULL;
    const char *targets = audit->target_ids;
    if (targets == NULL && n > 0) {
        if ((made = ids_json(ids, n)) == NULL)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        targets = made;
    }
    size_t count = audit->target_ids ? 0 : n;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(
        w,
        "INSERT INTO audit(audit_id, at, actor, tenant_id, action, target_ids, filter, reason,"
        " ticket_url, details) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
        " CASE WHEN ?11 > ?12 THEN json_set(coalesce(?10, '{}'), '$.target_count', ?11)"
        " ELSE ?10 END)",
        &st, err, errlen);
    if (code != DLQ_OK)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at);
    dlq_sq_bind_text(st, 3, audit->actor);
    sqlite3_bind_text(st, 4, audit->tenant_id ? audit->tenant_id : "", -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 5, audit->action ? audit->action : "unknown");
    dlq_sq_bind_text(st, 6, targets);
    dlq_sq_bind_text(st, 7, audit->filter);
    dlq_sq_bind_text(st, 8, audit->reason);
    dlq_sq_bind_text(st, 9, audit->ticket_url);
    dlq_sq_bind_text(st, 10, audit->details);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)count);
    sqlite3_bind_int64(st, 12, AUDIT_IDS_KEPT);
    if ((code = step_done(w, st, err, errlen, "insert audit record")) != DLQ_OK)
        goto out;
    sqlite3_int64 rowid = sqlite3_last_insert_rowid(w->db);

    /* Every target is indexed, also those past what target_ids keeps. */
    if (audit->target_ids) {
        code = dlq_sq_stmt_dyn(w,
                               "INSERT INTO audit_targets(audit, dlq_id) SELECT ?1, value"
                               " FROM json_each(?2) WHERE type = 'text'",
                               &st, err, errlen);
        if (code != DLQ_OK)
            goto out;
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_text(st, 2, audit->target_ids, -1, SQLITE_STATIC);
        code = step_done(w, st, err, errlen, "index audit targets");
        goto out;
    }
    code = dlq_sq_stmt_dyn(w, "INSERT INTO audit_targets(audit, dlq_id) VALUES(?1, ?2)", &st, err,
                           errlen);
    for (size_t i = 0; i < n && code == DLQ_OK; i++) {
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
        code = step_done(w, st, err, errlen, "index audit targets");
    }
out:
    free(made);
    return code;
}

struct append_req {
    const struct dlq_audit *audit;
};

static int append_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct append_req *q = arg;
    return dlq_sq_audit_write(w, q->audit, dlq_now_ms(), NULL, 0, err, errlen);
}

/* dlq_sq_audit_append implements audit_append (store.h). */
int dlq_sq_audit_append(struct dlq_store *base, const struct dlq_audit *audit, char *err,
                        size_t errlen)
{
    struct append_req q = {audit};
    return dlq_sq_write((struct sq_store *)base, append_fn, &q, err, errlen);
}

/* parse_cursor reads "<at>.<rowid>" (what audit_list hands out). */
static int parse_cursor(const char *c, int64_t *at, int64_t *rowid)
{
    char *end;
    if (c[0] != 'a')
        return DLQ_E_INVAL;
    long long a = strtoll(c + 1, &end, 10);
    if (end == c + 1 || *end != '.')
        return DLQ_E_INVAL;
    const char *r = end + 1;
    long long id = strtoll(r, &end, 10);
    if (end == r || *end || a < 0 || id < 0)
        return DLQ_E_INVAL;
    *at = a;
    *rowid = id;
    return DLQ_OK;
}

/* read_record fills a from the row of the list query. */
static int read_record(sqlite3_stmt *st, struct dlq_audit *a)
{
    int oom = 0;
    memset(a, 0, sizeof *a);
    dlq_sq_col_copy(st, 1, a->id, sizeof a->id);
    a->at = sqlite3_column_int64(st, 2);
    a->actor = dlq_sq_col_dup(st, 3, &oom);
    if (sqlite3_column_bytes(st, 4) > 0)
        a->tenant_id = dlq_sq_col_dup(st, 4, &oom);
    a->action = dlq_sq_col_dup(st, 5, &oom);
    a->target_ids = dlq_sq_col_dup(st, 6, &oom);
    a->filter = dlq_sq_col_dup(st, 7, &oom);
    a->reason = dlq_sq_col_dup(st, 8, &oom);
    a->ticket_url = dlq_sq_col_dup(st, 9, &oom);
    a->details = dlq_sq_col_dup(st, 10, &oom);
    if (oom) {
        dlq_audit_clear(a);
        return DLQ_E_NOMEM;
    }
    return DLQ_OK;
}

static void free_records(struct dlq_audit *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dlq_audit_clear(&v[i]);
    free(v);
}

/* dlq_sq_audit_list implements audit_list (store.h). NULL filters match
 * anything; the SQL text does not depend on which are set, so one prepared
 * statement serves every call. */
int dlq_sq_audit_list(struct dlq_store *base, const struct dlq_audit_filter *f,
                      struct dlq_audit **out, size_t *n, char next_cursor[128], char *err,
                      size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    int limit = f->limit >= 1 && f->limit <= 100 ? f->limit : 50;
    int64_t cat = 0, cid = 0;
    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    if (f->cursor && f->cursor[0] && parse_cursor(f->cursor, &cat, &cid) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "invalid cursor");
    struct dlq_audit *v = calloc((size_t)limit + 1, sizeof *v);
    if (v == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK) {
        free(v);
        return code;
    }
    sqlite3_stmt *st;
    code = dlq_sq_stmt_dyn(
        c,
        "SELECT a.id, a.audit_id, a.at, a.actor, a.tenant_id, a.action, a.target_ids, a.filter,"
        " a.reason, a.ticket_url, a.details FROM audit a"
        " WHERE (?1 IS NULL OR a.actor = ?1) AND (?2 IS NULL OR a.action = ?2)"
        " AND (?3 IS NULL OR a.id IN (SELECT t.audit FROM audit_targets t WHERE t.dlq_id = ?3))"
        " AND (?4 IS NULL OR a.tenant_id = ?4) AND (?5 = 0 OR a.at >= ?5)"
        " AND (?6 = 0 OR a.at < ?6) AND (?7 = 0 OR a.at < ?7 OR (a.at = ?7 AND a.id < ?8))"
        " ORDER BY a.at DESC, a.id DESC LIMIT ?9",
        &st, err, errlen);
    size_t k = 0;
    int rc = SQLITE_DONE;
    int64_t last_at = 0, last_id = 0;
    if (code == DLQ_OK) {
        dlq_sq_bind_text(st, 1, f->actor);
        dlq_sq_bind_text(st, 2, f->action);
        dlq_sq_bind_text(st, 3, f->target);
        dlq_sq_bind_text(st, 4, f->tenant);
        sqlite3_bind_int64(st, 5, f->since);
        sqlite3_bind_int64(st, 6, f->until);
        sqlite3_bind_int64(st, 7, f->cursor && f->cursor[0] ? cat : 0);
        sqlite3_bind_int64(st, 8, cid);
        sqlite3_bind_int(st, 9, limit + 1);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (k == (size_t)limit) {
                snprintf(next_cursor, 128, "a%" PRId64 ".%" PRId64, last_at, last_id);
                continue;
            }
            if (read_record(st, &v[k]) != DLQ_OK) {
                code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
                break;
            }
            last_at = v[k].at;
            last_id = sqlite3_column_int64(st, 0);
            k++;
        }
        sqlite3_reset(st);
        if (code == DLQ_OK && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "list audit");
    }
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK) {
        free_records(v, k);
        next_cursor[0] = '\0';
        return code;
    }
    *out = v;
    *n = k;
    return DLQ_OK;
}
