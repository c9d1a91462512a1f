/*
 * pg_conn.c: PostgreSQL sessions for the backend: opening them set up for
 * the store (durability as synchronous_commit, the schema as search_path),
 * a bounded pool shared by every request thread, statements prepared once
 * per session and found again by their text, the transaction runner that
 * retries what PostgreSQL asks to retry, and the one place where SQLSTATEs
 * become dlq codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq/error.h"
#include "dlq/util.h"
#include "pg_int.h"

#define PG_PREP_MAX   256 /* statements kept prepared per session */
#define PG_TX_RETRIES 8
#define PG_WAIT_S     30 /* how long a request waits for a pooled session */

struct pg_conn *dlq_pg_connect(struct pg_store *s, char *err, size_t errlen)
{
    PGconn *pc = PQconnectdb(s->conninfo);
    if (pc == NULL || PQstatus(pc) != CONNECTION_OK) {
        const char *m = pc ? PQerrorMessage(pc) : "out of memory";
        dlq_errf(err, errlen, DLQ_E_UNAVAILABLE, "cannot connect to PostgreSQL: %.*s",
                 (int)strcspn(m, "\n"), m);
        PQfinish(pc);
        return NULL;
    }
    struct pg_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        PQfinish(pc);
        dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        return NULL;
    }
    c->pc = pc;
    char setup[512];
    /* lock_timeout: a write blocked by a lock fails like SQLite's busy
     * timeout does (the spool takes the ingest) instead of waiting forever */
    int len = snprintf(setup, sizeof setup,
                       "SET synchronous_commit = %s; SET client_min_messages = warning;"
                       " SET lock_timeout = %d;",
                       s->durability == DLQ_DURABILITY_FULL ? "on" : "off", s->lock_timeout_ms);
    if (s->schema) {
        char *ident = PQescapeIdentifier(pc, s->schema, strlen(s->schema));
        if (ident == NULL) {
            dlq_pg_disconnect(c);
            dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            return NULL;
        }
        snprintf(setup + len, sizeof setup - (size_t)len, "SET search_path = %s;", ident);
        PQfreemem(ident);
    }
    if (dlq_pg_exec_simple(c, setup, "set up a session", err, errlen) != DLQ_OK) {
        dlq_pg_disconnect(c);
        return NULL;
    }
    return c;
}

void dlq_pg_disconnect(struct pg_conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nprep; i++)
        free(c->prep[i].sql);
    free(c->prep);
    PQfinish(c->pc);
    free(c);
}

struct pg_conn *dlq_pg_acquire(struct pg_store *s, char *err, size_t errlen)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PG_WAIT_S;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->nidle > 0) {
            struct pg_conn *c = s->idle[--s->nidle];
            pthread_mutex_unlock(&s->mu);
            return c;
        }
        if (s->nopen < (size_t)s->pool_max) {
            s->nopen++;
            pthread_mutex_unlock(&s->mu);
            struct pg_conn *c = dlq_pg_connect(s, err, errlen);
            if (c == NULL) {
                pthread_mutex_lock(&s->mu);
                s->nopen--;
                pthread_cond_signal(&s->cv);
                pthread_mutex_unlock(&s->mu);
            }
            return c;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0) {
            pthread_mutex_unlock(&s->mu);
            dlq_errf(err, errlen, DLQ_E_UNAVAILABLE,
                     "no PostgreSQL session free after %d s (pool of %d)", PG_WAIT_S, s->pool_max);
            return NULL;
        }
    }
}

void dlq_pg_release(struct pg_store *s, struct pg_conn *c)
{
    if (c == NULL)
        return;
    if (!c->broken && (c->in_tx || PQtransactionStatus(c->pc) != PQTRANS_IDLE))
        c->broken = 1; /* a session left in a transaction would leak its locks */
    if (c->broken || PQstatus(c->pc) != CONNECTION_OK) {
        dlq_pg_disconnect(c);
        pthread_mutex_lock(&s->mu);
        s->nopen--;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void dlq_pg_p_init(struct pg_params *p)
{
    p->n = 0;
}

void dlq_pg_p_text(struct pg_params *p, const char *v)
{
    if (p->n < PG_MAXP)
        p->v[p->n++] = v;
}

void dlq_pg_p_tenant(struct pg_params *p, const char *v)
{
    dlq_pg_p_text(p, v ? v : "");
}

void dlq_pg_p_int(struct pg_params *p, int64_t v)
{
    if (p->n >= PG_MAXP)
        return;
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)v);
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

void dlq_pg_p_int_or_null(struct pg_params *p, int64_t v)
{
    if (v == 0)
        dlq_pg_p_text(p, NULL);
    else
        dlq_pg_p_int(p, v);
}

/* code_of maps a failed result to a dlq code and writes err. */
static int code_of(struct pg_conn *c, const PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pc);
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(c->pc);
    int code = DLQ_E_INTERNAL;
    if (PQstatus(c->pc) != CONNECTION_OK || state == NULL) {
        c->broken = 1;
        code = DLQ_E_UNAVAILABLE;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        code = DLQ_E_BUSY;
    } else if (strcmp(state, "55P03") == 0) {
        code = DLQ_E_UNAVAILABLE; /* lock_timeout: the store is locked */
    } else if (strcmp(state, "23505") == 0) {
        code = DLQ_E_CONFLICT;
    } else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
               strncmp(state, "53", 2) == 0) {
        /* connection exceptions, shutdowns, out of resources (disk full) */
        c->broken = strncmp(state, "53", 2) != 0;
        code = DLQ_E_UNAVAILABLE;
    }
    return dlq_errf(err, errlen, code, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* prepared finds or prepares sql on c; the statement name, or NULL (err
 * set) when preparing failed, or "" when the cache is full (run unnamed). */
static const char *prepared(struct pg_conn *c, const char *sql, int nparams, const char *what,
                            int *code, char *err, size_t errlen)
{
    uint64_t h = hash_sql(sql);
    for (size_t i = 0; i < c->nprep; i++)
        if (c->prep[i].hash == h && strcmp(c->prep[i].sql, sql) == 0)
            return c->prep[i].name;
    if (c->nprep == PG_PREP_MAX)
        return "";
    if (c->nprep == c->capprep) {
        size_t cap = c->capprep ? c->capprep * 2 : 16;
        struct pg_prep *np = realloc(c->prep, cap * sizeof *np);
        if (np == NULL) {
            *code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            return NULL;
        }
        c->prep = np;
        c->capprep = cap;
    }
    struct pg_prep *p = &c->prep[c->nprep];
    snprintf(p->name, sizeof p->name, "d%u", c->next_name++);
    PGresult *r = PQprepare(c->pc, p->name, sql, nparams, NULL);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        *code = code_of(c, r, what, err, errlen);
        PQclear(r);
        return NULL;
    }
    PQclear(r);
    p->sql = strdup(sql);
    if (p->sql == NULL) {
        /* prepared but not remembered: run it by name once, never found again */
        return p->name;
    }
    p->hash = h;
    c->nprep++;
    return p->name;
}

int dlq_pg_exec(struct pg_conn *c, const char *sql, const struct pg_params *p, PGresult **res,
                const char *what, char *err, size_t errlen)
{
    if (res)
        *res = NULL;
    if (p && p->n >= PG_MAXP)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "%s: too many parameters", what);
    int n = p ? p->n : 0;
    const char *const *vals = p ? p->v : NULL;
    int code = DLQ_OK;
    const char *name = prepared(c, sql, n, what, &code, err, errlen);
    if (name == NULL)
        return code;
    PGresult *r = name[0] ? PQexecPrepared(c->pc, name, n, vals, NULL, NULL, 0)
                          : PQexecParams(c->pc, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        code = code_of(c, r, what, err, errlen);
        PQclear(r);
        return code;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return DLQ_OK;
}

int dlq_pg_exec_simple(struct pg_conn *c, const char *sql, const char *what, char *err,
                       size_t errlen)
{
    PGresult *r = PQexec(c->pc, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int code = DLQ_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        code = code_of(c, r, what, err, errlen);
    PQclear(r);
    return code;
}

static void observe_commit(struct pg_store *s, int64_t t0)
{
    double secs = (double)(dlq_mono_ns() - t0) / 1e9;
    pthread_mutex_lock(&s->hist_mu);
    dlq_hist_observe(&s->hist, secs);
    pthread_mutex_unlock(&s->hist_mu);
}

int dlq_pg_tx(struct pg_store *s, pg_tx_body body, void *ctx, char *err, size_t errlen)
{
    int code = DLQ_OK;
    for (int attempt = 0; attempt < PG_TX_RETRIES; attempt++) {
        struct pg_conn *c = dlq_pg_acquire(s, err, errlen);
        if (c == NULL)
            return DLQ_E_UNAVAILABLE;
        code = dlq_pg_exec_simple(c, "BEGIN", "begin", err, errlen);
        if (code == DLQ_OK) {
            c->in_tx = 1;
            code = body(c, ctx, err, errlen);
        }
        if (code == DLQ_OK) {
            int64_t t0 = dlq_mono_ns();
            code = dlq_pg_exec_simple(c, "COMMIT", "commit", err, errlen);
            if (code == DLQ_OK)
                observe_commit(s, t0);
        } else if (!c->broken) {
            char ignore[64];
            dlq_pg_exec_simple(c, "ROLLBACK", "rollback", ignore, sizeof ignore);
        }
        if (PQtransactionStatus(c->pc) == PQTRANS_IDLE)
            c->in_tx = 0;
        dlq_pg_release(s, c);
        if (code != DLQ_E_BUSY)
            return code;
        /* a deadlock or serialization failure: back off a little, run it again */
        struct timespec ts = {0, (long)(1000000L * (1 + attempt * 3))};
        nanosleep(&ts, NULL);
    }
    return code;
}

int dlq_pg_read(struct pg_store *s, pg_tx_body body, void *ctx, char *err, size_t errlen)
{
    struct pg_conn *c = dlq_pg_acquire(s, err, errlen);
    if (c == NULL)
        return DLQ_E_UNAVAILABLE;
    int code = body(c, ctx, err, errlen);
    dlq_pg_release(s, c);
    return code;
}

char *dlq_pg_dup(const PGresult *r, int row, int col, int *oom)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    char *v = strdup(PQgetvalue(r, row, col));
    if (v == NULL && oom)
        *oom = 1;
    return v;
}

int64_t dlq_pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int dlq_pg_isnull(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

void dlq_pg_copy(const PGresult *r, int row, int col, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (PQgetisnull(r, row, col)) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%s", PQgetvalue(r, row, col));
}
