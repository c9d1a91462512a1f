/*
 * sq_conn.c: SQLite connections for the backend: opening them with the
 * pragmas their role needs (the one writer, many read-only readers), the
 * per-connection caches of prepared statements (the fixed SQL below, and
 * dynamically built list SQL keyed by its text), the pool of idle readers,
 * and the one place where SQLite result codes become dlq codes.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "sq_int.h"

static const char *const fixed_sql[SQ_NSTMT] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT w",
    [SQ_RELEASE] = "RELEASE w",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO w",
    /* The partial unique index answers this without touching the table. */
    [SQ_IDEM_FIND] = "SELECT dlq_id FROM entries INDEXED BY ux_entries_idem"
                     " WHERE tenant_id = ?1 AND idempotency_key = ?2",
    /* Column order is enum sq_col's: ?N is column N-1. Prepared only as
     * the template of the multi-row inserts (dlq_sq_stmt_rows). */
    [SQ_ENTRY_INSERT] =
        "INSERT INTO entries(dlq_id, status, failed_at, tenant_id, task_name, queue, reason,"
        " exc_type, fingerprint, original_task_id, retry_task_id, idempotency_key, processed_at,"
        " retries_attempted, retry_count, last_retry_at, resolved_at, priority, max_replays,"
        " expires_at, updated_at, error_code, resolution_type, resolved_by, resolution_notes,"
        " exc_message, task_args, task_kwargs, metadata, context, exc_traceback, captured_by,"
        " id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)",
    /* The writer adds up a group's changes per key (sq_cube.c) first. */
    [SQ_COUNT_ADD] = "INSERT INTO entry_counts(tenant_id, status, queue, task_name, reason,"
                     " exc_type, n) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                     " ON CONFLICT(tenant_id, status, queue, task_name, reason, exc_type)"
                     " DO UPDATE SET n = n + excluded.n",
    [SQ_GET_BY_DLQ_ID] = "SELECT " SQ_ENTRY_COLS ", e.id, e.captured_by FROM entries e"
                         " WHERE e.dlq_id = ?1 AND (?2 IS NULL OR e.tenant_id = ?2)",
    [SQ_GET_BY_TASK_ID] =
        "SELECT " SQ_ENTRY_COLS ", e.id, e.captured_by FROM entries e INDEXED BY ix_entries_orig"
        " WHERE e.original_task_id = ?1 AND (?2 IS NULL OR e.tenant_id = ?2)"
        " ORDER BY e.failed_at DESC, e.id DESC LIMIT 1",
    [SQ_HISTORY] = "SELECT at, event, actor, details FROM entry_events"
                   " WHERE entry_id = ?1 ORDER BY at, rowid",
    [SQ_TOKEN_INSERT] = "INSERT INTO tokens(id, name, role, tenant_id, secret_hash, created_at,"
                        " last_used_at, revoked_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_TOKEN_BY_HASH] = "SELECT id, name, role, tenant_id, secret_hash, created_at,"
                         " last_used_at, revoked_at FROM tokens WHERE secret_hash = ?1",
    [SQ_TOKEN_LIST] = "SELECT id, name, role, tenant_id, secret_hash, created_at, last_used_at,"
                      " revoked_at FROM tokens ORDER BY created_at DESC, id DESC",
    [SQ_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    [SQ_TOKEN_REVOKED_AT] = "SELECT revoked_at FROM tokens WHERE id = ?1",
    [SQ_TOKEN_TOUCH] = "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"
                       " AND (last_used_at IS NULL OR last_used_at < ?2)",
    [SQ_PING] = "SELECT version FROM schema_version",
};

/* dlq_sq_err turns an SQLite result code into a dlq code, with what failed and
 * SQLite's message (from db when given) as detail. Never returns DLQ_OK. */
int dlq_sq_err(sqlite3 *db, int rc, char *err, size_t errlen, const char *what)
{
    int code;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
        /* Transient or environmental: the caller may spool and retry. */
        code = DLQ_E_UNAVAILABLE;
        break;
    case SQLITE_CONSTRAINT:
        code = DLQ_E_CONFLICT;
        break;
    case SQLITE_NOMEM:
        code = DLQ_E_NOMEM;
        break;
    default:
        code = DLQ_E_STORE;
        break;
    }
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return dlq_errf(err, errlen, code, "%s: %s", what, msg);
}

/* pragma runs one pragma statement, stepping through any rows it returns. */
static int pragma(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = dlq_errf(err, errlen, rc == SQLITE_BUSY ? DLQ_E_UNAVAILABLE : DLQ_E_STORE,
                            "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return code;
    }
    return DLQ_OK;
}

/* set_wal switches the database to WAL and checks that it took (a database
 * on a file system without shared memory cannot use it). */
static int set_wal(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int code = dlq_sq_err(db, rc, err, errlen, "PRAGMA journal_mode=WAL");
        sqlite3_finalize(st);
        return code;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    int ok = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!ok)
        return dlq_errf(err, errlen, DLQ_E_STORE, "cannot switch the database to WAL mode");
    return DLQ_OK;
}

/* dlq_sq_conn_open opens a connection to s->path: the read-write writer
 * connection (creating the file, WAL, the durability's synchronous mode, a
 * larger cache) or a read-only reader. On DLQ_OK *out is owned by the caller
 * (dlq_sq_conn_close); on error *out is NULL. */
int dlq_sq_conn_open(struct sq_store *s, int writer, struct sq_conn **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sq_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    int rc = sqlite3_open_v2(s->path, &c->db, flags, writer ? dlq_sq_wal_vfs() : NULL);
    int code;
    if (rc != SQLITE_OK) {
        code = dlq_sq_err(c->db, rc, err, errlen, s->path);
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, s->busy_timeout_ms);
    if (writer && (c->cube = dlq_sq_cube_new()) == NULL) {
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        goto fail;
    }
    if (writer) {
        /* journal_size_limit: the WAL's size at its checkpoint thresholds
         * (sq_sync.c), so a restarted WAL is reused, not cut and regrown. */
        char sync[64];
        snprintf(sync, sizeof sync, "PRAGMA synchronous=%s",
                 s->durability == DLQ_DURABILITY_FULL ? "FULL" : "NORMAL");
        if ((code = set_wal(c->db, err, errlen)) != DLQ_OK ||
            (code = pragma(c->db, sync, err, errlen)) != DLQ_OK ||
            (code = pragma(c->db,
                           "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384;"
                           " PRAGMA journal_size_limit=268435456; PRAGMA foreign_keys=OFF",
                           err, errlen)) != DLQ_OK)
            goto fail;
    } else {
        /* No mmap: mapped pages would count in the server's RSS, and a
         * 4 MiB cache per reader (SQ_READERS_MAX of them) keeps list pages
         * fast enough. */
        if ((code = pragma(c->db, "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-4096", err,
                           errlen)) != DLQ_OK ||
            (code = dlq_sq_fts_attach(s, c->db, err, errlen)) != DLQ_OK)
            goto fail;
    }
    *out = c;
    return DLQ_OK;
fail:
    dlq_sq_conn_close(c);
    return code;
}

/* dlq_sq_conn_close finalizes every cached statement and closes c. NULL is a no-op. */
void dlq_sq_conn_close(struct sq_conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < SQ_NSTMT; i++)
        sqlite3_finalize(c->st[i]);
    for (int i = 0; i < SQ_ROWS_NSIZES; i++)
        sqlite3_finalize(c->rows[i]);
    for (int i = 0; i < SQ_DYN_SLOTS; i++) {
        sqlite3_finalize(c->dyn[i].st);
        free(c->dyn[i].sql);
    }
    dlq_sq_cube_free(c->cube);
    sqlite3_close(c->db);
    free(c);
}

/* dlq_sq_stmt returns in *out the fixed statement id of c, prepared on first
 * use and reset. Borrowed: the caller resets it when done, so no statement
 * holds a read snapshot open between calls. */
int dlq_sq_stmt(struct sq_conn *c, enum sq_sid id, sqlite3_stmt **out, char *err, size_t errlen)
{
    assert((unsigned)id < SQ_NSTMT && fixed_sql[id]);
    if (c->st[id] == NULL) {
        int rc = sqlite3_prepare_v3(c->db, fixed_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            *out = NULL;
            return dlq_sq_err(c->db, rc, err, errlen, "prepare");
        }
    } else {
        sqlite3_reset(c->st[id]);
    }
    *out = c->st[id];
    return DLQ_OK;
}

const int dlq_sq_rows_sizes[SQ_ROWS_NSIZES] = {64, 16, 4, 1};

/* rows_sql returns SQ_ENTRY_INSERT for k rows (malloc'd), NULL when out of
 * memory. */
static char *rows_sql(int k)
{
    const char *one = fixed_sql[SQ_ENTRY_INSERT];
    const char *values = strstr(one, " VALUES(");
    assert(values);
    size_t head = (size_t)(values - one), cap = head + 16 + (size_t)k * SQ_ROW_PARAMS * 8;
    char *sql = malloc(cap);
    if (sql == NULL)
        return NULL;
    memcpy(sql, one, head);
    size_t len = head + (size_t)snprintf(sql + head, cap - head, " VALUES");
    for (int r = 0; r < k; r++) {
        for (int i = 0; i < SQ_ROW_PARAMS; i++)
            len += (size_t)snprintf(sql + len, cap - len, "%s?%d", i ? "," : (r ? "),(" : "("),
                                    r * SQ_ROW_PARAMS + i + 1);
    }
    snprintf(sql + len, cap - len, ")");
    return sql;
}

/* dlq_sq_stmt_rows returns in *out the insert of dlq_sq_rows_sizes[size]
 * entries (parameters as SQ_ENTRY_INSERT's, row r's from r * SQ_ROW_PARAMS
 * + 1), prepared on first use and reset. Borrowed, as for dlq_sq_stmt. */
int dlq_sq_stmt_rows(struct sq_conn *c, int size, sqlite3_stmt **out, char *err, size_t errlen)
{
    assert(size >= 0 && size < SQ_ROWS_NSIZES);
    *out = NULL;
    if (c->rows[size] == NULL) {
        char *sql = rows_sql(dlq_sq_rows_sizes[size]);
        if (sql == NULL)
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        int rc =
            sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->rows[size], NULL);
        free(sql);
        if (rc != SQLITE_OK)
            return dlq_sq_err(c->db, rc, err, errlen, "prepare");
    } else {
        sqlite3_reset(c->rows[size]);
    }
    *out = c->rows[size];
    return DLQ_OK;
}

/* dlq_sq_stmt_dyn is dlq_sq_stmt for SQL built at run time: statements are
 * cached per connection by their text (the least recently prepared slot is
 * replaced when the cache is full). Borrowed, as for dlq_sq_stmt. */
int dlq_sq_stmt_dyn(struct sq_conn *c, const char *sql, sqlite3_stmt **out, char *err,
                    size_t errlen)
{
    /* Most callers pass a string literal, the same pointer every time: a
     * slot that matched that pointer before is checked first, so the usual
     * lookup is one compare rather than one per slot. The text is always
     * compared, since a caller's buffer may hold other SQL at that address. */
    int hit = -1;
    for (int i = 0; i < SQ_DYN_SLOTS && hit < 0; i++)
        if (c->dyn[i].key == sql && c->dyn[i].sql && strcmp(c->dyn[i].sql, sql) == 0)
            hit = i;
    for (int i = 0; i < SQ_DYN_SLOTS && hit < 0; i++)
        if (c->dyn[i].sql && strcmp(c->dyn[i].sql, sql) == 0)
            hit = i;
    if (hit >= 0) {
        c->dyn[hit].key = sql;
        sqlite3_reset(c->dyn[hit].st);
        sqlite3_clear_bindings(c->dyn[hit].st);
        *out = c->dyn[hit].st;
        return DLQ_OK;
    }
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(c->db, rc, err, errlen, "prepare");
    char *copy = strdup(sql);
    if (copy == NULL) {
        sqlite3_finalize(st);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct sq_dyn *d = &c->dyn[c->dyn_next];
    c->dyn_next = (c->dyn_next + 1) % SQ_DYN_SLOTS;
    sqlite3_finalize(d->st);
    free(d->sql);
    d->sql = copy;
    d->key = sql;
    d->st = st;
    *out = st;
    return DLQ_OK;
}

/* dlq_sq_exec runs a fixed statement that returns no rows (BEGIN, COMMIT...). */
int dlq_sq_exec(struct sq_conn *c, enum sq_sid id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt(c, id, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, fixed_sql[id]);
    return DLQ_OK;
}

/* dlq_sq_reader_get takes an idle reader from the pool, opens one while
 * fewer than SQ_READERS_MAX exist, or else waits for one to come back. The
 * caller owns *out until dlq_sq_reader_put. */
int dlq_sq_reader_get(struct sq_store *s, struct sq_conn **out, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->pool_mu);
    while (s->pool == NULL && s->nreaders >= SQ_READERS_MAX)
        pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    struct sq_conn *c = s->pool;
    if (c)
        s->pool = c->next;
    else
        s->nreaders++; /* a slot for the connection opened below */
    pthread_mutex_unlock(&s->pool_mu);
    if (c) {
        c->next = NULL;
        *out = c;
        return DLQ_OK;
    }
    int code = dlq_sq_conn_open(s, 0, out, err, errlen);
    if (code != DLQ_OK) {
        pthread_mutex_lock(&s->pool_mu);
        s->nreaders--;
        pthread_cond_signal(&s->pool_cv);
        pthread_mutex_unlock(&s->pool_mu);
    }
    return code;
}

/* dlq_sq_reader_put returns c to the pool, first ending any read transaction
 * a failed call left open. */
void dlq_sq_reader_put(struct sq_store *s, struct sq_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        dlq_sq_exec(c, SQ_ROLLBACK, NULL, 0);
    pthread_mutex_lock(&s->pool_mu);
    c->next = s->pool;
    s->pool = c;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

/* dlq_sq_bind_text binds v (NULL binds NULL). v is not copied: it must stay
 * valid until the statement is reset. */
void dlq_sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* dlq_sq_bind_time binds a time in ms, 0 (no time) as NULL. */
void dlq_sq_bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms)
        sqlite3_bind_int64(st, i, ms);
    else
        sqlite3_bind_null(st, i);
}

/* dlq_sq_col_dup returns a malloc'd copy of text column i (caller frees),
 * NULL for SQL NULL; on allocation failure NULL with *oom set. */
char *dlq_sq_col_dup(sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    if (v == NULL)
        return NULL;
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *p = malloc(n + 1);
    if (p == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(p, v, n);
    p[n] = '\0';
    return p;
}

/* dlq_sq_col_copy copies text column i into out (outlen bytes, truncating);
 * SQL NULL gives "". */
void dlq_sq_col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    size_t n = v ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= outlen)
        n = outlen - 1;
    if (n)
        memcpy(out, v, n);
    out[n] = '\0';
}
