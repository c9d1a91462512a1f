/*
 * sq_vfs.c: a VFS shim that gathers the writer's WAL appends into large
 * writes.
 *
 * SQLite appends each WAL frame as two writes, its 24-byte header and then
 * its page, so a frame never lines up with the file system's 4 KiB pages:
 * a bulk replay made four pwrite calls per entry, and the kernel's per-call,
 * per-page write path (ext4 write_begin/write_end on two pages per call) was
 * a quarter of the writer thread's time. Here appends that follow each other
 * are kept in a buffer and written as one call when the buffer fills, and
 * always before anything could depend on them being in the file:
 *
 * - at the end of the frame that commits a transaction (its header carries
 *   the database size, nonzero only on a commit frame), before SQLite
 *   publishes the commit in the WAL index, so every other connection, the
 *   syncer's fdatasync and a crash all see exactly what they saw before;
 * - before any read, sync, truncate, size query, file control or close of
 *   the WAL;
 * - before a write that does not continue the last one (a frame rewritten
 *   in place, checksums rewritten, the WAL header after a restart), which
 *   then goes straight to the file.
 *
 * An error of a deferred write is returned by the call that flushed it, so
 * it fails the transaction still open, as the write itself would have.
 * Database files and every other file are opened by the default VFS
 * unchanged; only the writer's connection (sq_conn.c) names this VFS.
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "sq_int.h"

/* The default VFS writes at most 128 KiB - 1 per call (it masks the
 * length with 0x1ffff and reports a shorter write as a full disk), so one
 * flush must stay below that. */
#define WAL_BUF_CAP   (120 * 1024)
#define WAL_FRAME_HDR 24

/* A WAL opened through the shim; the default VFS's file object follows it
 * in the same allocation (szOsFile). */
struct wal_file {
    sqlite3_file base;
    sqlite3_file *real;
    unsigned char *buf;
    int len;
    sqlite3_int64 off;  /* file offset of buf[0] */
    sqlite3_int64 next; /* where the last write ended */
    int commit_next;    /* the last write was a commit frame's header */
};

static sqlite3_vfs shim_vfs;
static sqlite3_vfs *base_vfs;

#define REAL(f) (((struct wal_file *)(f))->real)

static int flush(struct wal_file *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, f->len, f->off);
    f->len = 0; /* a failed flush fails the transaction; never retried later */
    return rc;
}

static int wal_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 ofst)
{
    struct wal_file *f = (struct wal_file *)file;
    int commit = f->commit_next;
    int rc = SQLITE_OK;
    f->commit_next = amt == WAL_FRAME_HDR &&
                     ((const unsigned char *)data)[4] | ((const unsigned char *)data)[5] |
                         ((const unsigned char *)data)[6] | ((const unsigned char *)data)[7];
    int append = ofst == f->next;
    f->next = ofst + amt;
    if (f->len > 0 && (!append || f->len + amt > WAL_BUF_CAP) && (rc = flush(f)) != SQLITE_OK)
        return rc;
    if (!append || amt > WAL_BUF_CAP)
        return f->real->pMethods->xWrite(f->real, data, amt, ofst);
    if (f->buf == NULL && (f->buf = sqlite3_malloc(WAL_BUF_CAP)) == NULL)
        return f->real->pMethods->xWrite(f->real, data, amt, ofst);
    if (f->len == 0)
        f->off = ofst;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += amt;
    /* The page after a commit frame's header ends the transaction. */
    return commit ? flush(f) : SQLITE_OK;
}

static int wal_close(sqlite3_file *file)
{
    struct wal_file *f = (struct wal_file *)file;
    int rc = flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 ofst)
{
    int rc = flush((struct wal_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xRead(REAL(file), data, amt, ofst);
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int rc = flush((struct wal_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
    int rc = flush((struct wal_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xSync(REAL(file), flags);
}

static int wal_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int rc = flush((struct wal_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int wal_lock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xLock(REAL(file), lock);
}

static int wal_unlock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xUnlock(REAL(file), lock);
}

static int wal_reserved(sqlite3_file *file, int *out)
{
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int wal_fcntl(sqlite3_file *file, int op, void *arg)
{
    int rc = flush((struct wal_file *)file);
    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int wal_sector(sqlite3_file *file)
{
    return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int wal_device(sqlite3_file *file)
{
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

/* Version 1: a WAL is never memory-mapped and has no shared memory. */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_reserved,
    .xFileControl = wal_fcntl,
    .xSectorSize = wal_sector,
    .xDeviceCharacteristics = wal_device,
};

static size_t real_offset(void)
{
    return (sizeof(struct wal_file) + 15) & ~(size_t)15;
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                     int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
    struct wal_file *f = (struct wal_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)((char *)file + real_offset());
    f->next = -1;
    int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    f->base.pMethods = rc == SQLITE_OK ? &wal_methods : NULL;
    return rc;
}

/* The rest of the VFS is the default one's. */
static int shim_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return base_vfs->xDelete(base_vfs, n, sync);
}
static int shim_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, n, flags, out);
}
static int shim_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, n, len, out);
}
static void *shim_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return base_vfs->xDlOpen(base_vfs, n);
}
static void shim_dlerror(sqlite3_vfs *v, int len, char *out)
{
    (void)v;
    base_vfs->xDlError(base_vfs, len, out);
}
static void (*shim_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return base_vfs->xDlSym(base_vfs, h, sym);
}
static void shim_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    base_vfs->xDlClose(base_vfs, h);
}
static int shim_random(sqlite3_vfs *v, int len, char *out)
{
    (void)v;
    return base_vfs->xRandomness(base_vfs, len, out);
}
static int shim_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base_vfs->xSleep(base_vfs, us);
}
static int shim_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base_vfs->xCurrentTime(base_vfs, out);
}
static int shim_lasterr(sqlite3_vfs *v, int len, char *out)
{
    (void)v;
    return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, len, out) : 0;
}
static int shim_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered = SQLITE_ERROR;

static void shim_register(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (base_vfs == NULL || base_vfs->iVersion < 2 || base_vfs->xCurrentTimeInt64 == NULL)
        return;
    shim_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(real_offset() + (size_t)base_vfs->szOsFile),
        .mxPathname = base_vfs->mxPathname,
        .zName = DLQ_SQ_WAL_VFS,
        .xOpen = shim_open,
        .xDelete = shim_delete,
        .xAccess = shim_access,
        .xFullPathname = shim_full,
        .xDlOpen = shim_dlopen,
        .xDlError = shim_dlerror,
        .xDlSym = shim_dlsym,
        .xDlClose = shim_dlclose,
        .xRandomness = shim_random,
        .xSleep = shim_sleep,
        .xCurrentTime = shim_time,
        .xGetLastError = shim_lasterr,
        .xCurrentTimeInt64 = shim_time64,
    };
    registered = sqlite3_vfs_register(&shim_vfs, 0);
}

/* dlq_sq_wal_vfs registers the shim once and returns its name, or NULL
 * (the default VFS) when it cannot be registered. */
const char *dlq_sq_wal_vfs(void)
{
    pthread_once(&once, shim_register);
    return registered == SQLITE_OK ? DLQ_SQ_WAL_VFS : NULL;
}
