/*
 * test_store_vfs.c: "dlq-frames", the VFS the SQLite writer opens the
 * database with (src/store/sqlite/sq_vfs.c). It writes each WAL frame's
 * header and page with one call instead of two. What must hold is that
 * nobody can tell: another connection (default VFS) sees every commit at
 * once and finds its pages intact; a transaction larger than the cache (its
 * pages spilled and rewritten before the commit) comes out whole; and the
 * database and WAL as they lie on disk at any moment recover, on the
 * default VFS, to exactly what was committed.
 *
 * These tests use SQLite directly, not a store, so they run the same under
 * unit-pg/ as under unit/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

/* src/store/sqlite/sq_vfs.c */
const char *dlq_sq_frames_vfs(void);

struct vx {
    char dir[64];
    char path[128];
    sqlite3 *w; /* through dlq-frames */
    sqlite3 *r; /* default VFS */
    int64_t rows, ksum;
};

static void run(sqlite3 *db, const char *sql)
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

static const char *text1(sqlite3 *db, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static int setup(void **state)
{
    struct vx *x = calloc(1, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/dlq-vfs-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->path, sizeof x->path, "%s/v.db", x->dir);
    const char *vfs = dlq_sq_frames_vfs();
    assert_non_null(vfs);
    assert_int_equal(
        sqlite3_open_v2(x->path, &x->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
        SQLITE_OK);
    /* A tiny cache makes big transactions spill pages into the WAL before
     * their commit, and rewrite some of those frames in place. */
    run(x->w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=8;"
              " PRAGMA wal_autocheckpoint=0;"
              " CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v BLOB);"
              " CREATE INDEX ix_t_k ON t(k);");
    assert_int_equal(sqlite3_open_v2(x->path, &x->r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct vx *x = *state;
    sqlite3_close(x->r);
    sqlite3_close(x->w);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
    assert_int_equal(system(cmd), 0);
    free(x);
    return 0;
}

/* commit_rows inserts n rows (keys from seed) and rewrites every 7th row so
 * far, in one transaction, and keeps the expected count and key sum. */
static void commit_rows(struct vx *x, int n, unsigned seed)
{
    run(x->w, "BEGIN");
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(x->w, "INSERT INTO t(k, v) VALUES(?1, randomblob(300))", -1, &st, NULL),
        SQLITE_OK);
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        int64_t k = (int64_t)(seed >> 8) % 100000;
        sqlite3_bind_int64(st, 1, k);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
        x->ksum += k;
    }
    sqlite3_finalize(st);
    run(x->w, "UPDATE t SET v = randomblob(310) WHERE id % 7 = 0");
    run(x->w, "COMMIT");
    x->rows += n;
}

/* assert_seen checks that the other connection sees exactly what was
 * committed, with every b-tree page it reads intact. */
static void assert_seen(struct vx *x, sqlite3 *db)
{
    char ok[64];
    assert_int_equal(one(db, "SELECT count(*) FROM t"), x->rows);
    assert_int_equal(one(db, "SELECT coalesce(sum(k), 0) FROM t"), x->ksum);
    assert_int_equal(one(db, "SELECT count(*) FROM t INDEXED BY ix_t_k WHERE k >= 0"), x->rows);
    assert_string_equal(text1(db, "PRAGMA quick_check", ok, sizeof ok), "ok");
}

static void test_writer_connection_uses_it(void **state)
{
    struct vx *x = *state;
    sqlite3_vfs *v = NULL;
    assert_int_equal(sqlite3_file_control(x->w, "main", SQLITE_FCNTL_VFS_POINTER, &v), SQLITE_OK);
    assert_non_null(v);
    assert_string_equal(v->zName, "dlq-frames");
    assert_int_equal(sqlite3_file_control(x->r, "main", SQLITE_FCNTL_VFS_POINTER, &v), SQLITE_OK);
    assert_string_not_equal(v->zName, "dlq-frames");
}

static void test_every_commit_seen_whole(void **state)
{
    struct vx *x = *state;
    for (int i = 0; i < 25; i++) {
        commit_rows(x, 150 + 37 * i, (unsigned)i + 1);
        assert_seen(x, x->r);
        if (i == 12) /* the writer's own checkpoint reads its frames back */
            run(x->w, "PRAGMA wal_checkpoint(PASSIVE)");
    }
    /* Far larger than the cache: spilled and rewritten frames. */
    commit_rows(x, 20000, 99);
    assert_seen(x, x->r);
    run(x->w, "PRAGMA wal_checkpoint(TRUNCATE)");
    commit_rows(x, 500, 7); /* a fresh WAL after the truncate */
    assert_seen(x, x->r);
}

static void test_rolled_back_work_leaves_no_trace(void **state)
{
    struct vx *x = *state;
    commit_rows(x, 300, 3);
    run(x->w, "BEGIN");
    run(x->w, "INSERT INTO t(k, v) SELECT k + 1, randomblob(400) FROM t"); /* spills */
    run(x->w, "ROLLBACK");
    assert_seen(x, x->r);
    commit_rows(x, 300, 4);
    assert_seen(x, x->r);
}

/* copy_file copies from to to byte for byte. */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void test_files_on_disk_recover_to_the_commits(void **state)
{
    struct vx *x = *state;
    for (int i = 0; i < 6; i++)
        commit_rows(x, 2000, (unsigned)i + 50);
    /* The files as a crash would leave them right after a COMMIT: the
     * database and the WAL (nothing checkpointed), copied while the writer
     * still has them open; the copy's WAL index is rebuilt from the frames
     * alone. The last commit spilled pages, so SQLite rewrote its frame
     * headers at the commit: none of them may be left unwritten. */
    char db[160], wal[170], src[140];
    snprintf(db, sizeof db, "%s/copy.db", x->dir);
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(src, sizeof src, "%s-wal", x->path);
    copy_file(x->path, db);
    copy_file(src, wal);
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char ok[64];
    assert_string_equal(text1(c, "PRAGMA integrity_check", ok, sizeof ok), "ok");
    assert_seen(x, c);
    sqlite3_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writer_connection_uses_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_commit_seen_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_work_leaves_no_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_on_disk_recover_to_the_commits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
