/*
 * sq_vfs.c: "dlq-frames", a thin VFS over SQLite's default one that the
 * writer connection opens the database with. SQLite appends each WAL frame
 * with two writes, its 24-byte header and then its page at the next offset:
 * two system calls per page a commit changes. A bulk replay on a large
 * database dirties two or three random pages per entry, and those calls
 * were a large share of the writer's kernel time. This VFS holds a frame
 * header back until the page that follows it arrives, and writes both with
 * one call.
 *
 * Nothing else is deferred. A header is held only from its write to its
 * page's write, which SQLite makes back to back (walWriteOneFrame); any
 * other call on the file first writes a held header out on its own and
 * returns that write's error if it fails. So every commit, sync, read,
 * truncate and close sees the file exactly as without this VFS, and an
 * error reaches SQLite on the write or call that would have met it anyway.
 * Files other than WALs are opened by the default VFS itself, with its own
 * methods: they do not go through this file at all.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sq_int.h"

#define FRAME_HDR 24

struct frames_file {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    int held;           /* a frame header waits in hdr for its page */
    sqlite3_int64 held_at;
    sqlite3_int64 end; /* where the last call, a write, ended; -1 after any other */
    unsigned char hdr[FRAME_HDR];
    unsigned char *buf; /* header + page, written as one */
    size_t cap;
};

static sqlite3_vfs frames_vfs;
static sqlite3_vfs *real_vfs;

/* release writes a held header out on its own. */
static int release(struct frames_file *f)
{
    f->end = -1;
    if (!f->held)
        return SQLITE_OK;
    f->held = 0;
    return f->real->pMethods->xWrite(f->real, f->hdr, FRAME_HDR, f->held_at);
}

static int f_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 at)
{
    struct frames_file *f = (struct frames_file *)p;
    if (f->held && at == f->held_at + FRAME_HDR && n > 0) {
        size_t need = FRAME_HDR + (size_t)n;
        if (need > f->cap) {
            unsigned char *b = realloc(f->buf, need);
            if (b == NULL) { /* no room to join them: two writes, as SQLite made them */
                int rc = release(f);
                return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, data, n, at);
            }
            f->buf = b;
            f->cap = need;
        }
        memcpy(f->buf, f->hdr, FRAME_HDR);
        memcpy(f->buf + FRAME_HDR, data, (size_t)n);
        f->held = 0;
        int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)need, f->held_at);
        f->end = rc == SQLITE_OK ? at + n : -1;
        return rc;
    }
    /* Only a header appended right after the previous frame is held: SQLite
     * also rewrites the headers of frames already written (new checksums at
     * commit, each after reading its frame back), and nothing follows the
     * last of those. */
    int append = n == FRAME_HDR && !f->held && f->end == at;
    int rc = release(f);
    if (rc != SQLITE_OK)
        return rc;
    if (append) {
        memcpy(f->hdr, data, FRAME_HDR);
        f->held_at = at;
        f->held = 1;
        return SQLITE_OK;
    }
    rc = f->real->pMethods->xWrite(f->real, data, n, at);
    f->end = rc == SQLITE_OK ? at + n : -1;
    return rc;
}

static int f_close(sqlite3_file *p)
{
    struct frames_file *f = (struct frames_file *)p;
    int rc = release(f);
    int rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

/* The rest pass through, after any held header is written. */
#define REAL(p) (((struct frames_file *)(p))->real)
#define RELEASE_OR_RETURN(p)                                                                       \
    do {                                                                                           \
        int rc_ = release((struct frames_file *)(p));                                              \
        if (rc_ != SQLITE_OK)                                                                      \
            return rc_;                                                                            \
    } while (0)

static int f_read(sqlite3_file *p, void *data, int n, sqlite3_int64 at)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xRead(REAL(p), data, n, at);
}

static int f_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xTruncate(REAL(p), size);
}

static int f_sync(sqlite3_file *p, int flags)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xSync(REAL(p), flags);
}

static int f_size(sqlite3_file *p, sqlite3_int64 *size)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xFileSize(REAL(p), size);
}

static int f_lock(sqlite3_file *p, int level)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xLock(REAL(p), level);
}

static int f_unlock(sqlite3_file *p, int level)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xUnlock(REAL(p), level);
}

static int f_reserved(sqlite3_file *p, int *out)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xCheckReservedLock(REAL(p), out);
}

static int f_control(sqlite3_file *p, int op, void *arg)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xFileControl(REAL(p), op, arg);
}

static int f_sector(sqlite3_file *p)
{
    return REAL(p)->pMethods->xSectorSize(REAL(p));
}

static int f_caps(sqlite3_file *p)
{
    return REAL(p)->pMethods->xDeviceCharacteristics(REAL(p));
}

/* A WAL file has no shared memory of its own and is never mapped, but the
 * methods are forwarded all the same rather than assumed unused. */
static int f_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **out)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xShmMap(REAL(p), pg, pgsz, extend, out);
}

static int f_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xShmLock(REAL(p), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *p)
{
    (void)release((struct frames_file *)p); /* never holds one here: see the top */
    REAL(p)->pMethods->xShmBarrier(REAL(p));
}

static int f_shm_unmap(sqlite3_file *p, int del)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xShmUnmap(REAL(p), del);
}

static int f_fetch(sqlite3_file *p, sqlite3_int64 at, int n, void **out)
{
    RELEASE_OR_RETURN(p);
    return REAL(p)->pMethods->xFetch(REAL(p), at, n, out);
}

static int f_unfetch(sqlite3_file *p, sqlite3_int64 at, void *ptr)
{
    return REAL(p)->pMethods->xUnfetch(REAL(p), at, ptr);
}

static const sqlite3_io_methods frames_methods = {
    3,          f_close,       f_read,      f_write,   f_truncate, f_sync, f_size,
    f_lock,     f_unlock,      f_reserved,  f_control, f_sector,   f_caps, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch,   f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs->xOpen(real_vfs, name, p, flags, out_flags);
    struct frames_file *f = (struct frames_file *)p;
    memset(f, 0, sizeof *f);
    f->end = -1;
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return rc;
    }
    if (f->real->pMethods->iVersion < 3) { /* not a VFS this file knows how to wrap */
        f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    f->base.pMethods = &frames_methods;
    return SQLITE_OK;
}

/* The VFS-level methods are the default VFS's own. */
static int v_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return real_vfs->xDelete(real_vfs, n, sync);
}

static int v_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return real_vfs->xAccess(real_vfs, n, flags, out);
}

static int v_full(sqlite3_vfs *v, const char *n, int size, char *out)
{
    (void)v;
    return real_vfs->xFullPathname(real_vfs, n, size, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return real_vfs->xDlOpen(real_vfs, n);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int registered = SQLITE_ERROR;

static void register_once(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL || real_vfs->iVersion < 2 || real_vfs->xCurrentTimeInt64 == NULL)
        return;
    frames_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct frames_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = SQ_FRAMES_VFS,
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    registered = sqlite3_vfs_register(&frames_vfs, 0);
}

/* dlq_sq_frames_vfs registers the VFS once and returns its name, or NULL
 * when the default VFS cannot be wrapped (the caller then opens with the
 * default). */
const char *dlq_sq_frames_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_once);
    return registered == SQLITE_OK ? SQ_FRAMES_VFS : NULL;
}
