/*
 * sq_writer.c: the writer thread and its queue (group commit).
 *
 * Every write goes through one thread that owns the read-write connection.
 * Request threads queue a request and sleep; the writer takes every request
 * pending, opens one transaction, runs the requests (a failing request
 * undoes only itself, see run_group), applies the group's counter changes
 * and commits once. That one commit is one fsync for the whole group, which
 * is what lets durable single-entry ingest scale with the number of
 * concurrent callers.
 *
 * Token touches (a record of a token's last use) do not queue requests: they
 * wait in a small table and ride along with the next group, or are written on
 * their own after SQ_TOUCH_DELAY_MS when no write comes, so reading with a
 * token costs no commit.
 *
 * What happens after the commit (the fsync that makes the group durable,
 * the checkpoints) is in sq_sync.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq/error.h"
#include "sq_int.h"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* fail_rest gives code and msg to every request of list that has not failed
 * on its own: their work was not committed. */
static void fail_rest(struct sq_wreq *list, int code, const char *msg)
{
    for (struct sq_wreq *r = list; r; r = r->next) {
        if (r->rc == DLQ_OK)
            r->rc = dlq_errf(r->err, r->errlen, code, "%s", msg);
    }
}

/* abort_group rolls back what is left of the group's transaction and fails
 * every request that had not failed yet. */
static void abort_group(struct sq_store *s, struct sq_wreq *list, int code, const char *msg)
{
    if (!sqlite3_get_autocommit(s->w->db))
        dlq_sq_exec(s->w, SQ_ROLLBACK, NULL, 0);
    dlq_sq_cube_reset(s->w->cube);
    dlq_sq_jdelta_free(&s->w->jd); /* issue 4 */
    fail_rest(list, code, msg);
}

/* write_touches records pending token uses. Best effort: a failure is
 * ignored (the next use records it again). */
static void write_touches(struct sq_store *s, const struct sq_touch *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        if (dlq_sq_stmt(s->w, SQ_TOKEN_TOUCH, &st, NULL, 0) != DLQ_OK)
            return;
        sqlite3_bind_text(st, 1, t[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, t[i].at);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
}

/* run_pass runs every request of list on the open transaction. Optimistic
 * (safe 0): no savepoints; the first failure stops the pass and returns 1,
 * and the caller rolls back and runs the group again safely. Safe: each
 * request in its own savepoint, a failure undoes only its own work
 * (counters included). Returns 0, 1, or -1 when the transaction itself is
 * gone (every request has been failed then). */
static int run_pass(struct sq_store *s, struct sq_wreq *list, int safe)
{
    struct sq_conn *w = s->w;
    char e[512];
    int code;
    for (struct sq_wreq *r = list; r; r = r->next) {
        size_t mark = dlq_sq_cube_mark(w->cube);
        if (safe && (code = dlq_sq_exec(w, SQ_SAVEPOINT, e, sizeof e)) != DLQ_OK) {
            abort_group(s, list, code, e);
            return -1;
        }
        r->rc = r->fn(w, r->arg, r->err, r->errlen);
        if (sqlite3_get_autocommit(w->db)) {
            /* SQLite rolled the whole transaction back (an I/O error, a full
             * disk): the work of every request so far is gone. */
            abort_group(s, list, r->rc != DLQ_OK ? r->rc : DLQ_E_STORE,
                        "transaction rolled back by the database");
            return -1;
        }
        if (!safe) {
            if (r->rc != DLQ_OK)
                return 1;
            continue;
        }
        code = DLQ_OK;
        if (r->rc != DLQ_OK) {
            dlq_sq_cube_undo(w->cube, mark);
            code = dlq_sq_exec(w, SQ_ROLLBACK_TO, e, sizeof e);
        }
        if (code == DLQ_OK)
            code = dlq_sq_exec(w, SQ_RELEASE, e, sizeof e);
        if (code != DLQ_OK) {
            abort_group(s, list, code, e);
            return -1;
        }
    }
    return 0;
}

/* begin opens the group's transaction and writes the pending touches. */
static int begin(struct sq_store *s, struct sq_wreq *list, const struct sq_touch *t, size_t nt)
{
    char e[512];
    int code = dlq_sq_exec(s->w, SQ_BEGIN_IMMEDIATE, e, sizeof e);
    if (code != DLQ_OK) {
        fail_rest(list, code, e);
        return code;
    }
    write_touches(s, t, nt);
    return DLQ_OK;
}

/* run_group runs one group of requests (possibly none, for touches alone)
 * in one transaction, leaving each request's rc and err set, and returns 1
 * when it committed (so some request may await durability), else 0. Requests rarely
 * fail, so the group first runs without savepoints (each costs a copy of
 * every page it touches); if one fails, the group is rolled back and run
 * again with a savepoint per request, so only the failed one is undone. A
 * lone request needs no second run: its failure is the group's. */
static int run_group(struct sq_store *s, struct sq_wreq *list, const struct sq_touch *t, size_t nt)
{
    struct sq_conn *w = s->w;
    char e[512];
    if (begin(s, list, t, nt) != DLQ_OK)
        return 0;
    int res = run_pass(s, list, 0);
    if (res == 1) {
        dlq_sq_exec(w, SQ_ROLLBACK, NULL, 0);
        dlq_sq_cube_reset(w->cube);
        dlq_sq_jdelta_free(&w->jd); /* issue 4 */
        if (!list->next)
            return 0;
        for (struct sq_wreq *r = list; r; r = r->next)
            r->rc = DLQ_OK;
        if (begin(s, list, t, nt) != DLQ_OK)
            return 0;
        res = run_pass(s, list, 1);
    }
    if (res < 0)
        return 0;
    int code = dlq_sq_jdelta_apply(w, e, sizeof e); /* issue 4: job depths */
    if (code == DLQ_OK)
        code = dlq_sq_cube_flush(w, w->cube, e, sizeof e);
    if (code == DLQ_OK) {
        int64_t t0 = mono_ns(); /* slice C1: commit-duration histogram */
        code = dlq_sq_exec(w, SQ_COMMIT, e, sizeof e);
        dlq_sq_commit_observe((double)(mono_ns() - t0) / 1e9);
    }
    if (code != DLQ_OK) {
        abort_group(s, list, code, e);
        return 0;
    }
    return 1;
}

/* split_at_commit moves the requests of list that asked to be woken at the
 * commit to *now, keeping the order of both, and returns the rest. */
static struct sq_wreq *split_at_commit(struct sq_wreq *list, struct sq_wreq **now)
{
    struct sq_wreq *rest = NULL, **rt = &rest, **nt = now;
    for (struct sq_wreq *r = list, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->at_commit) {
            *nt = r;
            nt = &r->next;
        } else {
            *rt = r;
            rt = &r->next;
        }
    }
    return rest;
}

/* writer_main is the writer thread: wait for requests (or for touches to
 * come due), run them as one group, wake their submitters; on close, drain
 * the queue and exit. */
static void *writer_main(void *arg)
{
    struct sq_store *s = arg;
    struct sq_touch t[SQ_TOUCH_SLOTS];

    pthread_setname_np(pthread_self(), "dlq-writer");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) {
            /* Idle: wait for work or for pending touches to come due. */
            int64_t due = INT64_MAX;
            if (s->ntouch)
                due = s->touch_since_ns + (int64_t)SQ_TOUCH_DELAY_MS * 1000000;
            if (due == INT64_MAX) {
                pthread_cond_wait(&s->work_cv, &s->mu);
                continue;
            }
            if (mono_ns() >= due)
                break;
            struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
            pthread_cond_timedwait(&s->work_cv, &s->mu, &ts);
        }
        struct sq_wreq *list = s->head;
        s->head = s->tail = NULL;
        s->queued = 0;
        size_t nt = s->ntouch;
        memcpy(t, s->touch, nt * sizeof t[0]);
        s->ntouch = 0;
        if (list == NULL && nt == 0 && s->stopping)
            break;
        pthread_mutex_unlock(&s->mu);

        int committed = run_group(s, list, t, nt);
        dlq_sq_pre_txn_done(s); /* before any waiter can read again */
        if (list && committed && s->sync_started) {
            /* Durable once the syncer's fdatasync covers it; those that
             * asked are woken now, the rest then. */
            struct sq_wreq *now = NULL;
            list = split_at_commit(list, &now);
            dlq_sq_sync_submit(s, list);
            list = now;
        }

        dlq_sq_wake(s, list);
        pthread_mutex_lock(&s->mu);
    }
    s->running = 0;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* dlq_sq_wake completes the requests of list, each with its rc set: a
 * waiting submitter is woken (under the mutex, so it cannot return and
 * free its request before we are done with it); a request submitted
 * without waiting is finished after the mutex is released. */
void dlq_sq_wake(struct sq_store *s, struct sq_wreq *list)
{
    struct sq_wreq *unwaited = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct sq_wreq *r = list, *next; r; r = next) {
        next = r->next;
        if (r->finish) {
            r->next = unwaited;
            unwaited = r;
            continue;
        }
        r->done = 1;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&s->mu);
    for (struct sq_wreq *r = unwaited, *next; r; r = next) {
        next = r->next;
        r->finish(r);
    }
}

/* enqueue_locked queues r for the next group, or refuses it (with r->err
 * set): DLQ_E_BUSY when the queue is full, DLQ_E_UNAVAILABLE when the
 * store is closing or broken. Call with s->mu held. */
static int enqueue_locked(struct sq_store *s, struct sq_wreq *r)
{
    if (s->stopping || !s->running)
        return dlq_errf(r->err, r->errlen, DLQ_E_UNAVAILABLE, "the store is closed");
    if (s->broken)
        return dlq_errf(r->err, r->errlen, DLQ_E_UNAVAILABLE,
                        "the write-ahead log could not be synced; restart the server");
    if (s->queued >= SQ_QUEUE_MAX)
        return dlq_errf(r->err, r->errlen, DLQ_E_BUSY, "write queue full");
    r->next = NULL;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->queued++;
    pthread_cond_signal(&s->work_cv);
    return DLQ_OK;
}

static int write_wait(struct sq_store *s, sq_write_fn *fn, void *arg, char *err, size_t errlen,
                      int at_commit)
{
    struct sq_wreq r = {
        .fn = fn, .arg = arg, .err = err, .errlen = errlen, .rc = DLQ_OK, .at_commit = at_commit};
    pthread_cond_init(&r.cv, NULL);
    pthread_mutex_lock(&s->mu);
    int rc = enqueue_locked(s, &r);
    if (rc == DLQ_OK) {
        while (!r.done)
            pthread_cond_wait(&r.cv, &s->mu);
        rc = r.rc;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&r.cv);
    return rc;
}

/* dlq_sq_write runs fn(arg) on the writer connection in the next group
 * commit and returns its result once committed and (durability full)
 * synced: DLQ_OK means durable as the durability setting defines it.
 * DLQ_E_BUSY when the queue is full, DLQ_E_UNAVAILABLE when the store is
 * closing. */
int dlq_sq_write(struct sq_store *s, sq_write_fn *fn, void *arg, char *err, size_t errlen)
{
    return write_wait(s, fn, arg, err, errlen, 0);
}

/* dlq_sq_write_at_commit is dlq_sq_write returning once committed, before
 * the fsync (which the syncer still does): for work nobody outside the
 * store acknowledges, whose durability the next durable write brings. */
int dlq_sq_write_at_commit(struct sq_store *s, sq_write_fn *fn, void *arg, char *err, size_t errlen)
{
    return write_wait(s, fn, arg, err, errlen, 1);
}

/* dlq_sq_write_submit queues r (fn, arg, err and finish set) without
 * waiting: DLQ_OK, and r->finish(r) runs once r is durable or failed; or
 * the refusal of enqueue_locked, and r stays the caller's. */
int dlq_sq_write_submit(struct sq_store *s, struct sq_wreq *r)
{
    r->rc = DLQ_OK;
    r->done = 0;
    pthread_mutex_lock(&s->mu);
    int rc = enqueue_locked(s, r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* dlq_sq_touch notes that token id was used at `at` (ms); the writer records
 * it with its next group. Never blocks on I/O. When the table of pending
 * touches is full the touch is dropped and the table flushed soon. */
void dlq_sq_touch(struct sq_store *s, const char *id, int64_t at)
{
    pthread_mutex_lock(&s->mu);
    size_t i;
    for (i = 0; i < s->ntouch; i++) {
        if (strcmp(s->touch[i].id, id) == 0)
            break;
    }
    if (i < s->ntouch) {
        if (at > s->touch[i].at)
            s->touch[i].at = at;
    } else if (s->ntouch < SQ_TOUCH_SLOTS && strlen(id) < sizeof s->touch[0].id) {
        if (s->ntouch == 0) {
            s->touch_since_ns = mono_ns();
            pthread_cond_signal(&s->work_cv); /* start the writer's timer */
        }
        strcpy(s->touch[s->ntouch].id, id);
        s->touch[s->ntouch].at = at;
        s->ntouch++;
    } else {
        s->touch_since_ns = 0; /* due now */
        pthread_cond_signal(&s->work_cv);
    }
    pthread_mutex_unlock(&s->mu);
}

/* dlq_sq_touch_pending returns the not yet written last use of token id, or
 * 0, so reads can show it before it reaches the database. */
int64_t dlq_sq_touch_pending(struct sq_store *s, const char *id)
{
    int64_t at = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ntouch; i++) {
        if (strcmp(s->touch[i].id, id) == 0) {
            at = s->touch[i].at;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return at;
}

/* dlq_sq_writer_alive returns 1 while the writer thread takes requests. */
int dlq_sq_writer_alive(struct sq_store *s)
{
    pthread_mutex_lock(&s->mu);
    int alive = s->running && !s->stopping && !s->broken;
    pthread_mutex_unlock(&s->mu);
    return alive;
}

/* load_next_id sets the writer's next entry id above every id ever given
 * (id_floor.hw remembers those of deleted entries; see sq_fts.c). */
static int load_next_id(struct sq_conn *w, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(w->db,
                                "SELECT max(coalesce((SELECT max(id) FROM entries), 0),"
                                " coalesce((SELECT hw FROM id_floor WHERE k = 1), 0))",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        w->next_id = sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DLQ_OK : dlq_sq_err(w->db, rc, err, errlen, "read the id floor");
}

/* dlq_sq_writer_start starts the syncer and checkpointer (sq_sync.c), the
 * writer thread, then the search indexer (sq_fts.c), which writes through
 * it. s->w must be open and migrated. On error nothing is left running
 * (dlq_sq_writer_stop is still safe to call). */
int dlq_sq_writer_start(struct sq_store *s, char *err, size_t errlen)
{
    int code = load_next_id(s->w, err, errlen);
    if (code == DLQ_OK)
        code = dlq_sq_sync_start(s, err, errlen);
    if (code == DLQ_OK)
        dlq_sq_pre_attach(s);
    if (code != DLQ_OK)
        return code;
    s->running = 1;
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        s->running = 0;
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the writer thread");
    }
    s->started = 1;
    return dlq_sq_fts_start(s, err, errlen);
}

/* dlq_sq_writer_stop refuses new writes, lets the writer drain and commit
 * the queue, lets the syncer acknowledge it, and joins every thread. */
void dlq_sq_writer_stop(struct sq_store *s)
{
    dlq_sq_fts_stop(s);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started) {
        pthread_join(s->writer, NULL);
        s->started = 0;
    }
    dlq_sq_sync_stop(s);
}
