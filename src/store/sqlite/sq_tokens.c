/*
 * sq_tokens.c: API tokens. Creating and revoking go through the writer;
 * lookups by secret hash (every authenticated request makes one) run on a
 * reader with a cached statement. A token's last use is recorded without a
 * commit of its own (dlq_sq_touch), and reads show a pending touch before
 * it reaches the database.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "sq_int.h"

/* token_from_row fills t from a row of SQ_TOKEN_BY_HASH / SQ_TOKEN_LIST. */
static void token_from_row(struct sq_store *s, sqlite3_stmt *st, struct dlq_token *t)
{
    memset(t, 0, sizeof *t);
    dlq_sq_col_copy(st, 0, t->id, sizeof t->id);
    dlq_sq_col_copy(st, 1, t->name, sizeof t->name);
    t->role = (enum dlq_role)sqlite3_column_int(st, 2);
    dlq_sq_col_copy(st, 3, t->tenant_id, sizeof t->tenant_id);
    dlq_sq_col_copy(st, 4, t->secret_hash, sizeof t->secret_hash);
    t->created_at = sqlite3_column_int64(st, 5);
    t->last_used_at = sqlite3_column_int64(st, 6);
    t->revoked_at = sqlite3_column_int64(st, 7);
    int64_t pending = dlq_sq_touch_pending(s, t->id);
    if (pending > t->last_used_at)
        t->last_used_at = pending;
}

static int token_insert_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    const struct dlq_token *t = arg;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt(w, SQ_TOKEN_INSERT, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, t->role);
    sqlite3_bind_text(st, 4, t->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->secret_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, t->created_at);
    dlq_sq_bind_time(st, 7, t->last_used_at);
    dlq_sq_bind_time(st, 8, t->revoked_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "a token with this id or secret exists");
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "create token");
    return DLQ_OK;
}

/* dlq_sq_token_create stores t. DLQ_E_CONFLICT when its id or hash exists. */
int dlq_sq_token_create(struct dlq_store *base, const struct dlq_token *t, char *err, size_t errlen)
{
    return dlq_sq_write((struct sq_store *)base, token_insert_fn, (void *)t, err, errlen);
}

/* dlq_sq_token_by_hash finds the token whose secret hashes to hash_hex,
 * active or revoked. DLQ_E_NOTFOUND when there is none. */
int dlq_sq_token_by_hash(struct dlq_store *base, const char *hash_hex, struct dlq_token *out,
                         char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    if ((code = dlq_sq_stmt(c, SQ_TOKEN_BY_HASH, &st, err, errlen)) == DLQ_OK) {
        sqlite3_bind_text(st, 1, hash_hex, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            token_from_row(s, st, out);
        else if (rc == SQLITE_DONE)
            code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no such token");
        else
            code = dlq_sq_err(c->db, rc, err, errlen, "find token");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    return code;
}

/* dlq_sq_token_list returns every token, newest first, in a malloc'd array
 * (caller frees; NULL when there are none). */
int dlq_sq_token_list(struct dlq_store *base, struct dlq_token **out, size_t *n, char *err,
                      size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    struct dlq_token *v = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    *n = 0;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    if ((code = dlq_sq_stmt(c, SQ_TOKEN_LIST, &st, err, errlen)) == DLQ_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (len == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct dlq_token *p = realloc(v, ncap * sizeof *p);
                if (p == NULL) {
                    code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
                    break;
                }
                v = p;
                cap = ncap;
            }
            token_from_row(s, st, &v[len++]);
        }
        if (code == DLQ_OK && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "list tokens");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK) {
        free(v);
        return code;
    }
    *out = v;
    *n = len;
    return DLQ_OK;
}

struct revoke_req {
    const char *id;
    int64_t now;
};

static int token_revoke_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct revoke_req *r = arg;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt(w, SQ_TOKEN_REVOKE, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "revoke token");
    if (sqlite3_changes(w->db) == 1)
        return DLQ_OK;
    /* Nothing changed: tell a missing token from a revoked one. */
    if ((code = dlq_sq_stmt(w, SQ_TOKEN_REVOKED_AT, &st, err, errlen)) != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "token %.64s is already revoked", r->id);
    if (rc == SQLITE_DONE)
        return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no token %.64s", r->id);
    return dlq_sq_err(w->db, rc, err, errlen, "revoke token");
}

/* dlq_sq_token_revoke sets the token's revoked_at to now. DLQ_E_NOTFOUND
 * when there is no such token, DLQ_E_CONFLICT when it is already revoked. */
int dlq_sq_token_revoke(struct dlq_store *base, const char *id, int64_t now, char *err,
                        size_t errlen)
{
    struct revoke_req r = {id, now};
    return dlq_sq_write((struct sq_store *)base, token_revoke_fn, &r, err, errlen);
}

/* dlq_sq_token_touch records a use of token id at now, deferred: it is
 * written with the next group commit (or within SQ_TOUCH_DELAY_MS). */
int dlq_sq_token_touch(struct dlq_store *base, const char *id, int64_t now, char *err,
                       size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    (void)err;
    (void)errlen;
    dlq_sq_touch(s, id, now);
    return DLQ_OK;
}
