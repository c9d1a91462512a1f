/*
 * pg_tokens.c: API tokens on PostgreSQL, as sq_tokens.c on SQLite. Every
 * method is one statement run on a pooled session in autocommit (a single
 * statement is its own transaction), except revoke, which tells a missing
 * token from a revoked one in the same transaction. A token's last use is
 * written at once (SQLite defers it to its next group commit); the UPDATE
 * only ever moves it forward, so concurrent touches from several nodes
 * settle on the latest.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "pg_int.h"

#define TOKEN_COLS "id, name, role, tenant_id, secret_hash, created_at, last_used_at, revoked_at"

/* token_from_row fills t from a row of TOKEN_COLS. */
static void token_from_row(const PGresult *r, int row, struct dlq_token *t)
{
    memset(t, 0, sizeof *t);
    dlq_pg_copy(r, row, 0, t->id, sizeof t->id);
    dlq_pg_copy(r, row, 1, t->name, sizeof t->name);
    t->role = (enum dlq_role)dlq_pg_i64(r, row, 2);
    dlq_pg_copy(r, row, 3, t->tenant_id, sizeof t->tenant_id);
    dlq_pg_copy(r, row, 4, t->secret_hash, sizeof t->secret_hash);
    t->created_at = dlq_pg_i64(r, row, 5);
    t->last_used_at = dlq_pg_i64(r, row, 6);
    t->revoked_at = dlq_pg_i64(r, row, 7);
}

static int create_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    const struct dlq_token *t = ctx;
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, t->id);
    dlq_pg_p_text(&p, t->name);
    dlq_pg_p_int(&p, t->role);
    dlq_pg_p_text(&p, t->tenant_id);
    dlq_pg_p_text(&p, t->secret_hash);
    dlq_pg_p_int(&p, t->created_at);
    dlq_pg_p_int_or_null(&p, t->last_used_at);
    dlq_pg_p_int_or_null(&p, t->revoked_at);
    int code = dlq_pg_exec(c,
                           "INSERT INTO tokens(" TOKEN_COLS ")"
                           " VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
                           &p, NULL, "create token", err, errlen);
    if (code == DLQ_E_CONFLICT)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "a token with this id or secret exists");
    return code;
}

/* dlq_pg_token_create stores t. DLQ_E_CONFLICT when its id or hash exists. */
int dlq_pg_token_create(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen)
{
    return dlq_pg_read(PG(s), create_body, (void *)t, err, errlen);
}

struct by_hash {
    const char *hash;
    struct dlq_token *out;
};

static int by_hash_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct by_hash *q = ctx;
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->hash);
    int code = dlq_pg_exec(c, "SELECT " TOKEN_COLS " FROM tokens WHERE secret_hash = $1", &p, &r,
                           "find token", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) == 0)
        code = dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no such token");
    else
        token_from_row(r, 0, q->out);
    PQclear(r);
    return code;
}

/* dlq_pg_token_by_hash finds the token whose secret hashes to hash_hex,
 * active or revoked. DLQ_E_NOTFOUND when there is none. */
int dlq_pg_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                         char *err, size_t errlen)
{
    struct by_hash q = {hash_hex, out};
    return dlq_pg_read(PG(s), by_hash_body, &q, err, errlen);
}

struct list_req {
    struct dlq_token *v;
    size_t n;
};

static int list_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct list_req *q = ctx;
    PGresult *r;
    int code = dlq_pg_exec(c, "SELECT " TOKEN_COLS " FROM tokens ORDER BY created_at DESC, id DESC",
                           NULL, &r, "list tokens", err, errlen);
    if (code != DLQ_OK)
        return code;
    int rows = PQntuples(r);
    if (rows > 0) {
        q->v = calloc((size_t)rows, sizeof *q->v);
        if (q->v == NULL) {
            PQclear(r);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        for (int i = 0; i < rows; i++)
            token_from_row(r, i, &q->v[i]);
        q->n = (size_t)rows;
    }
    PQclear(r);
    return DLQ_OK;
}

/* dlq_pg_token_list returns every token, newest first, in a malloc'd array
 * (caller frees; NULL when there are none). */
int dlq_pg_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                      size_t errlen)
{
    struct list_req q = {NULL, 0};
    *out = NULL;
    *n = 0;
    int code = dlq_pg_read(PG(s), list_body, &q, err, errlen);
    if (code != DLQ_OK)
        return code;
    *out = q.v;
    *n = q.n;
    return DLQ_OK;
}

struct revoke_req {
    const char *id;
    int64_t now;
};

static int revoke_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct revoke_req *q = ctx;
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->id);
    dlq_pg_p_int(&p, q->now);
    int code =
        dlq_pg_exec(c, "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &p,
                    &r, "revoke token", err, errlen);
    if (code != DLQ_OK)
        return code;
    int changed = atoi(PQcmdTuples(r));
    PQclear(r);
    if (changed == 1)
        return DLQ_OK;
    /* Nothing changed: tell a missing token from a revoked one. */
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->id);
    code = dlq_pg_exec(c, "SELECT revoked_at FROM tokens WHERE id = $1", &p, &r, "revoke token",
                       err, errlen);
    if (code != DLQ_OK)
        return code;
    int found = PQntuples(r) > 0;
    PQclear(r);
    if (found)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "token %.64s is already revoked", q->id);
    return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no token %.64s", q->id);
}

/* dlq_pg_token_revoke sets the token's revoked_at to now. DLQ_E_NOTFOUND
 * when there is no such token, DLQ_E_CONFLICT when it is already revoked. */
int dlq_pg_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen)
{
    struct revoke_req q = {id, now};
    return dlq_pg_tx(PG(s), revoke_body, &q, err, errlen);
}

static int touch_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct revoke_req *q = ctx;
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->id);
    dlq_pg_p_int(&p, q->now);
    return dlq_pg_exec(c,
                       "UPDATE tokens SET last_used_at = $2 WHERE id = $1"
                       " AND (last_used_at IS NULL OR last_used_at < $2)",
                       &p, NULL, "record token use", err, errlen);
}

/* dlq_pg_token_touch records a use of token id at now (never moving
 * last_used_at back). */
int dlq_pg_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen)
{
    struct revoke_req q = {id, now};
    return dlq_pg_read(PG(s), touch_body, &q, err, errlen);
}
