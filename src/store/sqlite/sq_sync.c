/*
 * sq_sync.c: getting committed groups onto the disk: the syncer thread and
 * the checkpointer thread.
 *
 * Syncer (durability full). SQLite's synchronous=FULL would fsync the WAL
 * inside every COMMIT, and the writer would sit idle for the length of each
 * fsync. Instead the writer commits with synchronous=NORMAL (the WAL frames
 * are written but not synced) and hands the group to the syncer; the syncer
 * runs one fdatasync on the WAL for every group committed so far and only
 * then wakes their submitters, while the writer already runs the next
 * group. An acknowledged write is therefore exactly as durable as with FULL.
 * Crash consistency is unchanged: with NORMAL, SQLite still syncs the WAL
 * before every checkpoint copies from it and the database after, and a WAL
 * frame past the last synced commit fails its checksum at recovery. If
 * fdatasync ever fails, what the kernel kept is unknown: the waiting
 * requests fail and the store takes no further writes.
 *
 * Checkpointer. It copies WAL pages into the database on its own
 * connection, woken by the writer's WAL hook, so most of that work (and its
 * fsyncs) stays off the commit path. But a checkpoint running beside a
 * writer that never pauses never copies the last frames, and SQLite restarts
 * the WAL from its beginning only once every frame is copied: the WAL would
 * grow without bound, and every read and append with it. So when the WAL
 * passes SQ_CKPT_SYNC_FRAMES the writer itself checkpoints between two
 * commits; the checkpointer has already copied nearly everything, so this
 * copies only the tail, and the next transaction restarts the WAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlq/error.h"
#include "sq_int.h"

/* WAL sizes, in pages: past the first (128 MiB) the checkpointer is woken;
 * past the second the writer completes a checkpoint itself. A checkpoint
 * copies each page once however many commits changed it, so the longer
 * the WAL it covers, the fewer pages it writes for random updates: from
 * 8,000 frames to 32,000, a 100,000-entry bulk replay's checkpoints wrote
 * 25% less (600 -> 450 MB) and the replay ran ~6% faster. The writer's
 * journal_size_limit (sq_conn.c, 256 MiB) lets the file keep that size
 * after a restart of the WAL instead of being cut and grown again. */
#define SQ_CKPT_FRAMES      32000
#define SQ_CKPT_SYNC_FRAMES 64000

/* dlq_sq_sync_submit hands a committed group to the syncer, which wakes its
 * submitters once the group is on the disk. list NULL: a commit whose
 * requests were woken at the commit, to be synced all the same. */
void dlq_sq_sync_submit(struct sq_store *s, struct sq_wreq *list)
{
    pthread_mutex_lock(&s->mu);
    if (list == NULL) {
        s->sync_more = 1; /* a commit nobody waits on: sync it all the same */
    } else {
        struct sq_wreq *last = list;
        while (last->next)
            last = last->next;
        if (s->sync_tail)
            s->sync_tail->next = list;
        else
            s->sync_head = list;
        s->sync_tail = last;
    }
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->mu);
}

/* syncer_main is the syncer thread: take every committed group, fdatasync
 * the WAL once, wake them all. On stop it drains what the writer left. */
static void *syncer_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_setname_np(pthread_self(), "dlq-sync");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->sync_head && !s->sync_more && !s->sync_stop)
            pthread_cond_wait(&s->sync_cv, &s->mu);
        struct sq_wreq *list = s->sync_head;
        int more = s->sync_more;
        s->sync_head = s->sync_tail = NULL;
        s->sync_more = 0;
        if (list == NULL && !more)
            break; /* stopping, and nothing left */
        pthread_mutex_unlock(&s->mu);

        int failed = fdatasync(s->wal_fd) != 0 ? errno : 0;
        if (failed) {
            for (struct sq_wreq *r = list; r; r = r->next) {
                if (r->rc == DLQ_OK)
                    r->rc = dlq_errf(r->err, r->errlen, DLQ_E_UNAVAILABLE,
                                     "cannot sync the write-ahead log: %s", strerror(failed));
            }
        }
        if (failed) {
            pthread_mutex_lock(&s->mu);
            s->broken = 1;
            pthread_mutex_unlock(&s->mu);
        }
        dlq_sq_wake(s, list);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* wal_hook runs on the writer thread after each commit with the WAL's size
 * in pages: it wakes the checkpointer once the WAL is large, and finishes a
 * checkpoint itself once it is too large (see the top of the file). A
 * checkpoint the checkpointer is running makes the writer's return BUSY at
 * once; it tries again after the next commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int nframes)
{
    struct sq_store *s = arg;
    (void)name;
    if (nframes >= SQ_CKPT_SYNC_FRAMES) {
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (nframes >= SQ_CKPT_FRAMES) {
        pthread_mutex_lock(&s->ck_mu);
        if (!s->ck_wanted) {
            s->ck_wanted = 1;
            pthread_cond_signal(&s->ck_cv);
        }
        pthread_mutex_unlock(&s->ck_mu);
    }
    return SQLITE_OK;
}

/* ckpt_main is the checkpointer thread. PASSIVE never blocks the writer or
 * readers; it copies what no reader still needs. */
static void *ckpt_main(void *arg)
{
    struct sq_store *s = arg;
    pthread_setname_np(pthread_self(), "dlq-checkpoint");
    pthread_mutex_lock(&s->ck_mu);
    for (;;) {
        while (!s->ck_wanted && !s->ck_stop)
            pthread_cond_wait(&s->ck_cv, &s->ck_mu);
        if (s->ck_stop)
            break;
        s->ck_wanted = 0;
        pthread_mutex_unlock(&s->ck_mu);
        sqlite3_wal_checkpoint_v2(s->ck_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

/* start_syncer opens the WAL for fdatasync, turns the writer's own syncing
 * down to NORMAL and starts the syncer. Without the WAL file (it exists once
 * the database has been read in WAL mode) the writer keeps synchronous=FULL
 * and acknowledges after its own commit: slower, equally durable. */
static int start_syncer(struct sq_store *s, char *err, size_t errlen)
{
    char wal[4096];
    if (snprintf(wal, sizeof wal, "%s-wal", s->path) >= (int)sizeof wal)
        return DLQ_OK;
    s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (s->wal_fd < 0)
        return DLQ_OK;
    char *msg = NULL;
    if (sqlite3_exec(s->w->db, "PRAGMA synchronous=NORMAL", NULL, NULL, &msg) != SQLITE_OK) {
        int code = dlq_errf(err, errlen, DLQ_E_STORE, "PRAGMA synchronous: %s", msg ? msg : "");
        sqlite3_free(msg);
        return code;
    }
    if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the syncer thread");
    s->sync_started = 1;
    return DLQ_OK;
}

/* dlq_sq_sync_start opens the checkpointer's connection and starts the
 * checkpointer and (durability full) the syncer. s->w must be open and
 * migrated. On error dlq_sq_sync_stop cleans up what started. */
int dlq_sq_sync_start(struct sq_store *s, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(s->path, &s->ck_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(s->ck_db, rc, err, errlen, "open checkpointer connection");
    sqlite3_busy_timeout(s->ck_db, s->busy_timeout_ms);
    rc = sqlite3_exec(s->ck_db,
                      s->durability == DLQ_DURABILITY_FULL ? "PRAGMA synchronous=FULL"
                                                           : "PRAGMA synchronous=NORMAL",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(s->ck_db, rc, err, errlen, "checkpointer pragma");
    if (pthread_create(&s->ckpt, NULL, ckpt_main, s) != 0)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the checkpointer thread");
    s->ck_started = 1;
    /* Replaces SQLite's own auto-checkpoint, which would run on the writer. */
    sqlite3_wal_hook(s->w->db, wal_hook, s);
    if (s->durability == DLQ_DURABILITY_FULL)
        return start_syncer(s, err, errlen);
    return DLQ_OK;
}

/* dlq_sq_sync_stop acknowledges what the syncer still holds and stops both
 * threads; call it after the writer has stopped. */
void dlq_sq_sync_stop(struct sq_store *s)
{
    if (s->sync_started) {
        pthread_mutex_lock(&s->mu);
        s->sync_stop = 1;
        pthread_cond_signal(&s->sync_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->syncer, NULL);
        s->sync_started = 0;
    }
    if (s->ck_started) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_stop = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
        pthread_join(s->ckpt, NULL);
        s->ck_started = 0;
    }
    if (s->w)
        sqlite3_wal_hook(s->w->db, NULL, NULL);
    sqlite3_close(s->ck_db);
    s->ck_db = NULL;
    if (s->wal_fd >= 0)
        close(s->wal_fd);
    s->wal_fd = -1;
}
