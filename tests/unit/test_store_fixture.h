/*
 * test_store_fixture.h: what the store unit tests share: a store opened
 * through the interface (dlq_store_open) on a fresh location, removed again
 * afterwards (fx_setup / fx_teardown for cmocka), helpers that build
 * complete entries the way the service layer hands them to capture, and
 * one-value queries on a connection of the test's own (fx_int, fx_exec;
 * on SQLite with the search index file attached as "fts").
 *
 * The backend is a parameter: with DLQ_TEST_STORE set to a postgres:// URL
 * every location is a fresh schema of that database (?schema=ut_<random>,
 * dropped by fx_rm); otherwise it is a SQLite file in a fresh temporary
 * directory. The same tests run on both (CTest's unit-pg/ entries).
 */
#ifndef TEST_STORE_FIXTURE_H
#define TEST_STORE_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "dlq/core.h"
#include "dlq/store.h"

struct fx {
    char dir[64];    /* a fresh temporary directory (both backends) */
    char path[640];  /* the store location: SQLite file, or URL with ?schema= */
    char url[512];   /* PostgreSQL: DLQ_TEST_STORE as given; "" on SQLite */
    char schema[40]; /* PostgreSQL: the schema of this store */
    struct dlq_store *s;
    char err[256];
};

/* fx_pg_url returns the PostgreSQL URL the tests run on, or NULL for SQLite. */
static inline const char *fx_pg_url(void)
{
    const char *u = getenv("DLQ_TEST_STORE");
    return u && strcmp(dlq_store_backend_of(u), "postgres") == 0 ? u : NULL;
}

/* fx_on_pg is 1 when the tests run on PostgreSQL. */
static inline int fx_on_pg(void)
{
    return fx_pg_url() != NULL;
}

/* fx_mkdir makes the temporary directory and names a fresh store
 * location in x->path; 0 on success. */
static inline int fx_mkdir(struct fx *x)
{
    memset(x, 0, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/dlq-store-test-XXXXXX");
    if (mkdtemp(x->dir) == NULL)
        return -1;
    const char *url = fx_pg_url();
    if (url == NULL) {
        snprintf(x->path, sizeof x->path, "%s/dlq.db", x->dir);
        return 0;
    }
    /* the directory name is random already; its suffix names the schema */
    snprintf(x->url, sizeof x->url, "%s", url);
    snprintf(x->schema, sizeof x->schema, "ut_%s", strrchr(x->dir, '-') + 1);
    for (char *c = x->schema; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    snprintf(x->path, sizeof x->path, "%s%cschema=%s", url, strchr(url, '?') ? '&' : '?',
             x->schema);
    return 0;
}

/* fx_open opens the store at x->path; returns the dlq code. */
static inline int fx_open(struct fx *x, enum dlq_durability d, int migrate)
{
    struct dlq_store_config cfg = {
        .path = x->path, .durability = d, .busy_timeout_ms = 5000, .migrate = migrate};
    x->err[0] = '\0';
    return dlq_store_open(dlq_store_backend_of(x->path), &cfg, &x->s, x->err, sizeof x->err);
}

/* fx_pg_conn connects to the test database with search_path set to the
 * store's schema; the caller PQfinish()es it. Fails the test on error. */
static inline PGconn *fx_pg_conn(const struct fx *x)
{
    PGconn *c = PQconnectdb(x->url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", x->url, PQerrorMessage(c));
    char *ident = PQescapeIdentifier(c, x->schema, strlen(x->schema));
    char sql[160];
    snprintf(sql, sizeof sql, "SET client_min_messages TO warning; SET search_path TO %s", ident);
    PQfreemem(ident);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return c;
}

/* fx_attach_index attaches SQLite's search index file (<db>.fts, see
 * src/store/sqlite/sq_fts.c) as "fts" when it exists. */
static inline void fx_attach_index(const struct fx *x, sqlite3 *db)
{
    char sql[700];
    snprintf(sql, sizeof sql, "%s.fts", x->path);
    if (access(sql, F_OK) != 0)
        return;
    snprintf(sql, sizeof sql, "ATTACH '%s.fts' AS fts", x->path);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

/* fx_exec runs sql (statements, no result) on a connection of its own:
 * sqlite_sql on SQLite, pg_sql on PostgreSQL (NULL: the same text).
 * Returns 0, or -1 when the statements failed. */
static inline int fx_exec(const struct fx *x, const char *sqlite_sql, const char *pg_sql)
{
    if (fx_on_pg()) {
        PGconn *c = fx_pg_conn(x);
        PGresult *r = PQexec(c, pg_sql ? pg_sql : sqlite_sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            fprintf(stderr, "fx_exec: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return ok ? 0 : -1;
    }
    sqlite3 *db;
    if (sqlite3_open(x->path, &db) != SQLITE_OK)
        fail_msg("open %s", x->path);
    sqlite3_busy_timeout(db, 5000);
    fx_attach_index(x, db);
    int rc = sqlite3_exec(db, sqlite_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "fx_exec: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* fx_int runs a one-value query on a read-only connection of its own and
 * returns the value (NULL reads as 0): sqlite_sql on SQLite, pg_sql on
 * PostgreSQL (NULL: the same text). Fails the test on error. */
static inline int64_t fx_int(const struct fx *x, const char *sqlite_sql, const char *pg_sql)
{
    int64_t v = 0;
    if (fx_on_pg()) {
        PGconn *c = fx_pg_conn(x);
        const char *sql = pg_sql ? pg_sql : sqlite_sql;
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    if (sqlite_sql == NULL)
        fail_msg("fx_int: no SQLite query given");
    const char *sql = sqlite_sql ? sqlite_sql : "";
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(x->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    fx_attach_index(x, db);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* fx_rm closes the store and removes what fx_mkdir made: the directory
 * and what is in it, and on PostgreSQL the schema. */
static inline void fx_rm(struct fx *x)
{
    dlq_store_close(x->s);
    x->s = NULL;
    if (x->schema[0]) {
        PGconn *c = PQconnectdb(x->url);
        char *ident = PQescapeIdentifier(c, x->schema, strlen(x->schema));
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS %s CASCADE",
                 ident ? ident : "\"\"");
        PQfreemem(ident);
        PQclear(PQexec(c, sql));
        PQfinish(c);
    }
    DIR *d = opendir(x->dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", x->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(x->dir);
}

/* fx_setup is a cmocka setup: *state becomes a malloc'd struct fx whose
 * store is open (durability normal, migrated) at a fresh location.
 * 0, or -1 with nothing left behind. */
static inline int fx_setup(void **state)
{
    struct fx *x = malloc(sizeof *x);
    if (x == NULL || fx_mkdir(x) != 0) {
        free(x);
        return -1;
    }
    if (fx_open(x, DLQ_DURABILITY_NORMAL, 1) != DLQ_OK) {
        fprintf(stderr, "open: %s\n", x->err);
        fx_rm(x);
        free(x);
        return -1;
    }
    *state = x;
    return 0;
}

/* fx_teardown is the cmocka teardown that undoes fx_setup. */
static inline int fx_teardown(void **state)
{
    struct fx *x = *state;
    fx_rm(x);
    free(x);
    return 0;
}

/* fset replaces a malloc'd string field with a copy of v (NULL allowed). */
static inline void fset(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}

/* mk_entry fills e as the service would: ids, status pending_review,
 * processed_at, fingerprint and defaults. Free with dlq_entry_clear. */
static inline void mk_entry(struct dlq_entry *e, const char *dlq_id, const char *task,
                            int64_t failed_at)
{
    memset(e, 0, sizeof *e);
    fset(&e->dlq_id, dlq_id);
    fset(&e->task_name, task);
    fset(&e->task_args, "[]");
    fset(&e->task_kwargs, "{}");
    fset(&e->queue, "default");
    fset(&e->exc_type, "ValueError");
    fset(&e->exc_message, "something went wrong");
    fset(&e->fingerprint, "0123456789abcdef");
    e->failed_at = failed_at;
    e->processed_at = failed_at + 7;
    e->status = DLQ_STATUS_PENDING_REVIEW;
    e->reason = DLQ_REASON_EXTERNAL;
    e->max_replays = 3;
}

#endif
