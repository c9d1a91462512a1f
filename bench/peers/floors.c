/*
 * floors.c: the storage floors bench/run-all measures in the same invocation
 * as dlq, so that dlq's figures can be given as ratios against what this disk
 * and SQLite can do at all (PERFORMANCE.md, "Baselines"):
 *   fsync          one 500-byte append + fdatasync, N times: the durable
 *                  write rate of the disk (the raw durability floor);
 *   sqlite         N rows of ~500 bytes into a plain table (rowid + task +
 *                  500-byte text, no secondary index), WAL, 1,000 rows per
 *                  transaction, synchronous=NORMAL: the SQLite storage floor;
 *   sqlite-single  N rows, one per transaction, WAL, synchronous=FULL.
 * Each mode writes a fresh file under DIR (which must be on the disk being
 * measured) and prints one key=value line: rows=N secs=S rps=R.
 * Usage: floors MODE DIR N
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROW_BYTES 500

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fsync_floor returns the seconds n appends of 500 bytes + fdatasync took, or -1. */
static double fsync_floor(const char *dir, long n)
{
    char path[4096], rec[ROW_BYTES];
    snprintf(path, sizeof path, "%s/fsync-floor.bin", dir);
    memset(rec, 'x', sizeof rec);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0) {
        perror(path);
        return -1;
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec || fdatasync(fd) != 0) {
            perror("write/fdatasync");
            close(fd);
            return -1;
        }
    }
    double secs = now_s() - t0;
    close(fd);
    unlink(path);
    return secs;
}

/* remove_db deletes a database file and its WAL and shared-memory files. */
static void remove_db(const char *path)
{
    static const char *const sufs[] = {"", "-wal", "-shm"};
    char p[4200];
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, sufs[i]);
        unlink(p);
    }
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "floors: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* sqlite_floor returns the seconds n inserts took in transactions of per rows, or -1. */
static double sqlite_floor(const char *dir, long n, long per, const char *sync)
{
    char path[4096], pragma[64], payload[ROW_BYTES + 1];
    static const char *const tasks[] = {"app.tasks.email.send_welcome",
                                        "app.tasks.export.generate_export",
                                        "app.tasks.billing.charge_card", "app.tasks.sync.pull_crm"};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    double secs = -1;
    snprintf(path, sizeof path, "%s/sqlite-floor.db", dir);
    remove_db(path);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "floors: open %s: %s\n", path, sqlite3_errmsg(db));
        goto fail;
    }
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
    if (exec_sql(db, "PRAGMA journal_mode=WAL") || exec_sql(db, pragma) ||
        exec_sql(db, "CREATE TABLE rows(id INTEGER PRIMARY KEY, task TEXT NOT NULL, "
                     "payload TEXT NOT NULL)"))
        goto fail;
    if (sqlite3_prepare_v2(db, "INSERT INTO rows(task, payload) VALUES(?, ?)", -1, &st, NULL) !=
        SQLITE_OK)
        goto fail;
    memset(payload, 'p', ROW_BYTES);
    payload[ROW_BYTES] = '\0';
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (i % per == 0 && exec_sql(db, "BEGIN"))
            goto fail;
        /* vary the payload a little, as real rows do */
        snprintf(payload, 24, "%020ld", i);
        payload[20] = 'p';
        sqlite3_bind_text(st, 1, tasks[i % 4], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, payload, ROW_BYTES, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "floors: insert: %s\n", sqlite3_errmsg(db));
            goto fail;
        }
        sqlite3_reset(st);
        if ((i % per == per - 1 || i == n - 1) && exec_sql(db, "COMMIT"))
            goto fail;
    }
    secs = now_s() - t0;
fail:
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_db(path);
    return secs;
}

int main(int argc, char **argv)
{
    if (argc != 4 || atol(argv[3]) < 1) {
        fprintf(stderr, "usage: floors fsync|sqlite|sqlite-single DIR N\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    long n = atol(argv[3]);
    double secs;
    if (strcmp(mode, "fsync") == 0)
        secs = fsync_floor(dir, n);
    else if (strcmp(mode, "sqlite") == 0)
        secs = sqlite_floor(dir, n, 1000, "NORMAL");
    else if (strcmp(mode, "sqlite-single") == 0)
        secs = sqlite_floor(dir, n, 1, "FULL");
    else {
        fprintf(stderr, "floors: unknown mode %s\n", mode);
        return 2;
    }
    if (secs <= 0)
        return 1;
    printf("rows=%ld secs=%.4f rps=%.1f\n", n, secs, (double)n / secs);
    return 0;
}
