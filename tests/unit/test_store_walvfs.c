/*
 * test_store_walvfs.c: the writer's WAL write gathering (sq_vfs.c) against
 * real SQLite files. A connection through the shim writes; a connection of
 * the default VFS (as the server's readers and checkpointer are) must see
 * every commit the moment it returns, whole, and so must a process that
 * opens the file after the writer died without closing. Transactions are
 * made larger than the writer's cache so SQLite spills pages mid-way and
 * later rewrites them in place (the writes that do not continue the last
 * one), and the WAL is restarted so its header is written again.
 *
 * SQLite only; the unit-pg/ run of this binary repeats the same checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "dlq/store.h"
#include "store/sqlite/sq_int.h"

struct tdir {
    char dir[64];
    char db[128];
};

static void tdir_make(struct tdir *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/dlq-walvfs-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/w.db", t->dir);
}

static void tdir_rm(struct tdir *t)
{
    const char *sfx[] = {"", "-wal", "-shm", ".fts", ".fts-wal", ".fts-shm", ".spool"};
    char p[160];
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        snprintf(p, sizeof p, "%s%s", t->db, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
}

static int64_t one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* open_writer opens db through the shim as the server's writer does: WAL,
 * synchronous NORMAL, and a cache of 16 pages so large transactions spill. */
static sqlite3 *open_writer(const char *path)
{
    const char *vfs = dlq_sq_wal_vfs();
    assert_non_null(vfs);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    sqlite3_vfs *used = NULL;
    assert_int_equal(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &used), SQLITE_OK);
    assert_non_null(used);
    assert_string_equal(used->zName, DLQ_SQ_WAL_VFS);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=16;"
             " PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=1048576;"
             " CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, txn INTEGER, v BLOB);");
    return db;
}

static sqlite3 *open_reader(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

/* txn writes transaction k: `rows` new rows of 300-byte blobs, each
 * beginning with its id so a torn or misplaced page shows in the check.
 * With rewrite, it then changes the first of them, whose page has long
 * left the 16-page cache: SQLite rewrites that spilled frame in place and,
 * at the commit, reads back and rewrites the checksums of the frames after
 * it (writes that do not continue the last one, and reads of the WAL). */
static void txn(sqlite3 *db, int k, int rows, int rewrite)
{
    char sql[320];
    exec(db, "BEGIN");
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO t(id, txn, v) SELECT %d * 100000 + i, %d,"
             " CAST(printf('%%d:', %d * 100000 + i) AS BLOB) || randomblob(300) FROM n",
             rows, k, k, k);
    exec(db, sql);
    if (rewrite) {
        snprintf(sql, sizeof sql, "UPDATE t SET v = v || x'00' WHERE id = %d * 100000 + 1", k);
        exec(db, sql);
    }
    exec(db, "COMMIT");
}

/* check asserts, on a connection of the default VFS, that transactions
 * 1..k are there whole (total rows in all) and nothing else. */
static void check(sqlite3 *r, int k, int64_t total)
{
    assert_int_equal(one(r, "SELECT count(*) FROM t"), total);
    assert_int_equal(one(r, "SELECT count(DISTINCT txn) FROM t"), k);
    assert_int_equal(one(r, "SELECT count(*) FROM t WHERE CAST(substr(v, 1, instr(v, ':') - 1)"
                            " AS INTEGER) <> id"),
                     0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

static void test_commits_seen_at_once_by_others(void **state)
{
    (void)state;
    struct tdir t;
    tdir_make(&t);
    sqlite3 *w = open_writer(t.db);
    sqlite3 *r = open_reader(t.db);
    /* Sizes around the 120 KiB buffer: a frame, a few, many buffers. */
    const int rows[] = {1, 5, 40, 400, 3000, 2};
    int k = 0;
    int64_t total = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        txn(w, ++k, rows[i], (int)(i % 2));
        /* A fresh read transaction of the other connection sees it all. */
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE txn = %d", k);
        assert_int_equal(one(r, sql), rows[i]);
        total += rows[i];
        check(r, k, total);
    }
    sqlite3_close(r);
    sqlite3_close(w);
    tdir_rm(&t);
}

static void test_wal_restarts_and_truncates(void **state)
{
    (void)state;
    struct tdir t;
    tdir_make(&t);
    sqlite3 *w = open_writer(t.db);
    sqlite3 *r = open_reader(t.db);
    int k = 0;
    for (int round = 0; round < 4; round++) {
        txn(w, ++k, 700, 1);
        txn(w, ++k, 3, 0);
        /* A full checkpoint, then the next commit starts the WAL again
         * from its header (and journal_size_limit cuts the file). */
        assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL,
                                                   round % 2 ? SQLITE_CHECKPOINT_TRUNCATE
                                                             : SQLITE_CHECKPOINT_RESTART,
                                                   NULL, NULL),
                         SQLITE_OK);
        check(r, k, (int64_t)(round + 1) * 703);
    }
    sqlite3_close(r);
    sqlite3_close(w);
    tdir_rm(&t);
}

/* dead_writer: a child process commits six transactions through the shim
 * and dies without closing (with `spill`, in the middle of a seventh that
 * has spilled frames into the WAL); a new connection then finds exactly
 * the six. */
static void dead_writer(int spill)
{
    struct tdir t;
    tdir_make(&t);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *w = open_writer(t.db);
        for (int k = 1; k <= 6; k++)
            txn(w, k, 600, k == 3);
        if (spill)
            exec(w, "BEGIN; INSERT INTO t(txn, v) SELECT 7, randomblob(300)"
                    " FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                    " WHERE i < 2000) SELECT i FROM n)");
        _exit(0); /* no close, no checkpoint: as if killed */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sqlite3 *r;
    assert_int_equal(sqlite3_open_v2(t.db, &r, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    check(r, 6, 6 * 600);
    sqlite3_close(r);
    tdir_rm(&t);
}

static void test_dead_writer_keeps_every_commit(void **state)
{
    (void)state;
    dead_writer(0);
}

static void test_dead_writer_drops_the_open_transaction(void **state)
{
    (void)state;
    dead_writer(1);
}

/* The server's store writes through the shim: its writer connection names
 * it, and the readers keep the default VFS. */
static void test_store_writer_uses_the_shim(void **state)
{
    (void)state;
    struct tdir t;
    tdir_make(&t);
    struct dlq_store_config cfg = {
        .path = t.db, .durability = DLQ_DURABILITY_FULL, .busy_timeout_ms = 5000, .migrate = 1};
    struct dlq_store *base = NULL;
    char err[256] = "";
    assert_int_equal(dlq_store_open("sqlite", &cfg, &base, err, sizeof err), DLQ_OK);
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_vfs *used = NULL;
    assert_int_equal(sqlite3_file_control(s->w->db, "main", SQLITE_FCNTL_VFS_POINTER, &used),
                     SQLITE_OK);
    assert_string_equal(used->zName, DLQ_SQ_WAL_VFS);
    struct sq_conn *r = NULL;
    assert_int_equal(dlq_sq_reader_get(s, &r, err, sizeof err), DLQ_OK);
    assert_int_equal(sqlite3_file_control(r->db, "main", SQLITE_FCNTL_VFS_POINTER, &used),
                     SQLITE_OK);
    assert_ptr_equal(used, sqlite3_vfs_find(NULL));
    dlq_sq_reader_put(s, r);
    dlq_store_close(base);
    tdir_rm(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commits_seen_at_once_by_others),
        cmocka_unit_test(test_wal_restarts_and_truncates),
        cmocka_unit_test(test_dead_writer_keeps_every_commit),
        cmocka_unit_test(test_dead_writer_drops_the_open_transaction),
        cmocka_unit_test(test_store_writer_uses_the_shim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
