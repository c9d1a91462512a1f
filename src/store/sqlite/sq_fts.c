/*
 * sq_fts.c: the full-text index, in a database file of its own, kept by a
 * thread of its own.
 *
 * Why a second file. FTS5 indexing (tokenising, then writing and merging
 * segments) cost about 40% of the writer's time per entry, and SQLite has
 * one writer per database file: as long as the index lived in dlq.db, every
 * bit of that work waited in line with the ingests. In <db>.fts the index
 * has its own write lock, so the indexer runs on the other core beside the
 * writer, and an ingest's commit no longer carries any text indexing.
 *
 * What is where:
 * - <db>.fts holds entries_fts, a contentless FTS5 table (the text lives
 *   once, in dlq.db) whose rowid is entries.id, and fts_state: upto, the
 *   highest entries.id indexed; logseq, the last fts_log record applied;
 *   ident, the dlq.db it belongs to. Index and state commit together.
 * - dlq.db holds fts_log: the writer appends the old text of every entry
 *   whose text changes or which is deleted, in the same transaction as the
 *   change. A contentless FTS5 row can only be removed with its old text,
 *   and the log is what keeps it.
 * - The writer gives entries ids above every id ever used (id_floor.hw), so
 *   an id at or below upto always names a row the index has seen.
 *
 * One indexing round, in one read snapshot of dlq.db:
 * 1. for each entry with log records in (logseq, maxseq] and id <= upto, the
 *    first such record holds the text the index has (every later record was
 *    written after it): 'delete' with it, then index the entry's current
 *    text if it still exists;
 * 2. index the entries above upto (SQ_FTS_STEP at most per round);
 * 3. store upto and logseq. Applied log records are then deleted from
 *    dlq.db through the writer.
 *
 * A search never misses a committed entry for this: dlq_sq_fts_ready reads
 * the newest id and log record and waits until the indexer has passed both.
 * Readers attach <db>.fts as "fts", so entries_fts joins entries directly.
 * If <db>.fts is missing or belongs to another state of dlq.db (a restored
 * backup), it is rebuilt from dlq.db in the background.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq/error.h"
#include "dlq/util.h"
#include "sq_int.h"

#define SQ_FTS_STEP     5000  /* new entries indexed per round */
#define SQ_FTS_POLL_MS  50    /* the indexer looks for new entries this often */
#define SQ_FTS_RETRY_MS 1000  /* after a failed round */
#define SQ_FTS_WAIT_MS  10000 /* longest a search waits for the index */

static const char fts_schema[] =
    "CREATE TABLE IF NOT EXISTS fts_state(k INTEGER PRIMARY KEY CHECK (k = 1),"
    " upto INTEGER NOT NULL, logseq INTEGER NOT NULL, ident TEXT NOT NULL);"
    /* columnsize=0: nothing ranks. automerge=8 merges less often than the
     * default 4: less rewriting for a few more segments per query. */
    "CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(task_name, exc_type, exc_message,"
    " exc_traceback, content='', columnsize=0);";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return DLQ_OK;
    int code = dlq_sq_err(db, rc, err, errlen, "full-text index");
    if (msg)
        code = dlq_errf(err, errlen, code, "full-text index: %s", msg);
    sqlite3_free(msg);
    return code;
}

/* query runs sql on db with up to three integer binds and reads up to three
 * integers of its first row (NULL reads as 0). */
static int query(sqlite3 *db, const char *sql, const int64_t *in, int nin, int64_t *out, int nout,
                 char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(db, rc, err, errlen, "full-text index");
    for (int i = 0; i < nin; i++)
        sqlite3_bind_int64(st, i + 1, in[i]);
    rc = sqlite3_step(st);
    for (int i = 0; i < nout; i++)
        out[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dlq_sq_err(db, rc, err, errlen, "full-text index");
    return DLQ_OK;
}

/* main_marks reads, on the indexer's connection, how far dlq.db reaches:
 * the newest entry id, the newest log record, and the highest id ever used. */
static int main_marks(sqlite3 *db, int64_t *maxid, int64_t *maxseq, int64_t *hw, char *err,
                      size_t errlen)
{
    int64_t v[3] = {0};
    int code = query(db,
                     "SELECT (SELECT max(id) FROM m.entries),"
                     " (SELECT seq FROM m.sqlite_sequence WHERE name = 'fts_log'),"
                     " (SELECT hw FROM m.id_floor WHERE k = 1)",
                     NULL, 0, v, 3, err, errlen);
    *maxid = v[0];
    *maxseq = v[1];
    *hw = v[2] > v[0] ? v[2] : v[0];
    return code;
}

/* open_index opens <db>.fts with dlq.db attached as m, creates its schema,
 * and rebuilds it when its state does not belong to dlq.db as it is. */
static int open_index(struct sq_store *s, char *err, size_t errlen)
{
    int rc =
        sqlite3_open_v2(s->fts_path, &s->fts_db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(s->fts_db, rc, err, errlen, s->fts_path);
    sqlite3_busy_timeout(s->fts_db, s->busy_timeout_ms);
    /* The index can be rebuilt from dlq.db: no fsync per round. */
    int code = exec(s->fts_db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err, errlen);
    if (code == DLQ_OK)
        code = exec(s->fts_db, fts_schema, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(s->fts_db, "ATTACH ?1 AS m", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->path, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        return dlq_sq_err(s->fts_db, rc, err, errlen, "attach the database to its index");

    int64_t maxid, maxseq, hw, state[3] = {0};
    if ((code = exec(s->fts_db, "BEGIN", err, errlen)) != DLQ_OK)
        return code;
    code = main_marks(s->fts_db, &maxid, &maxseq, &hw, err, errlen);
    if (code == DLQ_OK)
        code = query(s->fts_db,
                     "SELECT upto, logseq, ident = (SELECT ident FROM m.id_floor) FROM fts_state",
                     NULL, 0, state, 3, err, errlen);
    if (code == DLQ_OK && !(state[2] == 1 && state[0] <= hw && state[1] <= maxseq)) {
        if (state[2] == 1 || state[0] || state[1])
            dlq_log(DLQ_LOG_WARN, "%s does not match the database: rebuilding the search index",
                    s->fts_path);
        /* Everything logged so far is older than the text read from now on. */
        int64_t in[1] = {maxseq};
        code = exec(s->fts_db,
                    "INSERT INTO entries_fts(entries_fts) VALUES('delete-all');"
                    "INSERT INTO entries_fts(entries_fts, rank) VALUES('automerge', 8);"
                    "DELETE FROM fts_state;",
                    err, errlen);
        if (code == DLQ_OK)
            code = query(s->fts_db,
                         "INSERT INTO fts_state(k, upto, logseq, ident)"
                         " SELECT 1, 0, ?1, ident FROM m.id_floor",
                         in, 1, NULL, 0, err, errlen);
        state[0] = 0;
        state[1] = maxseq;
    }
    if (code == DLQ_OK)
        code = exec(s->fts_db, "COMMIT", err, errlen);
    else
        sqlite3_exec(s->fts_db, "ROLLBACK", NULL, NULL, NULL);
    s->fts_upto = state[0];
    s->fts_logseq = state[1];
    return code;
}

/* apply_log is step 1 of a round (top of the file) for log records in
 * (from, to]. */
static int apply_log(sqlite3 *db, int64_t upto, int64_t from, int64_t to, char *err, size_t errlen)
{
    int64_t in[3] = {from, to, upto};
    int code = query(db,
                     "INSERT INTO entries_fts(entries_fts, rowid, task_name, exc_type, exc_message,"
                     " exc_traceback) SELECT 'delete', l.id, l.task_name, l.exc_type,"
                     " l.exc_message, l.exc_traceback FROM m.fts_log l"
                     " WHERE l.seq > ?1 AND l.seq <= ?2 AND l.id <= ?3 AND l.seq ="
                     " (SELECT min(seq) FROM m.fts_log WHERE id = l.id AND seq > ?1)",
                     in, 3, NULL, 0, err, errlen);
    if (code == DLQ_OK)
        code = query(db,
                     "INSERT INTO entries_fts(rowid, task_name, exc_type, exc_message,"
                     " exc_traceback) SELECT id, task_name, exc_type, exc_message, exc_traceback"
                     " FROM m.entries WHERE id IN (SELECT id FROM m.fts_log"
                     " WHERE seq > ?1 AND seq <= ?2 AND id <= ?3)",
                     in, 3, NULL, 0, err, errlen);
    return code;
}

/* round runs one indexing round; *more is set when new entries are left. */
static int round_once(struct sq_store *s, int *more, char *err, size_t errlen)
{
    sqlite3 *db = s->fts_db;
    int64_t maxid, maxseq, hw, upto = s->fts_upto, logseq = s->fts_logseq;
    *more = 0;
    /* A plain BEGIN: the write lock is taken on <db>.fts alone, when the
     * index is first written; dlq.db is only read. */
    int code = exec(db, "BEGIN", err, errlen);
    if (code == DLQ_OK)
        code = main_marks(db, &maxid, &maxseq, &hw, err, errlen);
    if (code == DLQ_OK && maxid <= upto && maxseq <= logseq)
        return exec(db, "COMMIT", err, errlen); /* nothing new */
    if (code == DLQ_OK && maxseq > logseq)
        code = apply_log(db, upto, logseq, maxseq, err, errlen);
    int64_t hi = upto;
    if (code == DLQ_OK && maxid > upto) {
        int64_t in[2] = {upto, SQ_FTS_STEP}, got[2] = {0};
        code = query(db,
                     "SELECT max(id), count(*) FROM (SELECT id FROM m.entries WHERE id > ?1"
                     " ORDER BY id LIMIT ?2)",
                     in, 2, got, 2, err, errlen);
        if (code == DLQ_OK && got[1] > 0) {
            hi = got[0];
            *more = got[1] == SQ_FTS_STEP;
            int64_t in2[2] = {upto, hi};
            code = query(db,
                         "INSERT INTO entries_fts(rowid, task_name, exc_type, exc_message,"
                         " exc_traceback) SELECT id, task_name, exc_type, exc_message,"
                         " exc_traceback FROM m.entries WHERE id > ?1 AND id <= ?2 ORDER BY id",
                         in2, 2, NULL, 0, err, errlen);
        }
    }
    if (maxseq < logseq)
        maxseq = logseq;
    if (code == DLQ_OK) {
        int64_t in[2] = {hi, maxseq};
        code =
            query(db, "UPDATE fts_state SET upto = ?1, logseq = ?2", in, 2, NULL, 0, err, errlen);
    }
    if (code == DLQ_OK)
        code = exec(db, "COMMIT", err, errlen);
    if (code != DLQ_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return code;
    }
    pthread_mutex_lock(&s->fts_mu);
    s->fts_upto = hi;
    s->fts_logseq = maxseq;
    pthread_cond_broadcast(&s->fts_done_cv);
    pthread_mutex_unlock(&s->fts_mu);
    return DLQ_OK;
}

/* forget_fn is the write request that deletes applied log records. */
static int forget_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, "DELETE FROM fts_log WHERE seq <= ?1", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DLQ_OK : dlq_sq_err(w->db, rc, err, errlen, "forget fts_log");
}

static void *indexer_main(void *arg)
{
    struct sq_store *s = arg;
    int64_t forgotten = s->fts_logseq, applied;
    int failing = 0;
    pthread_setname_np(pthread_self(), "dlq-index");
    /* Searches wait for the index to cover what they must see, but nothing
     * waits for it to run ahead of them: under a burst of ingests on two
     * cores it took 10% of the CPU the requests needed (single ingests at
     * 64 connections went 14,480 -> 15,580 /s with it lowered). It catches
     * up in any pause. */
    dlq_thread_background();
    pthread_mutex_lock(&s->fts_mu);
    while (!s->fts_stop) {
        pthread_mutex_unlock(&s->fts_mu);
        char e[512];
        int more = 0;
        int code = round_once(s, &more, e, sizeof e);
        if (code != DLQ_OK && !failing)
            dlq_log(DLQ_LOG_WARN, "search index: %s (retrying)", e);
        failing = code != DLQ_OK;
        applied = s->fts_logseq; /* only this thread changes it */
        if (code == DLQ_OK && applied > forgotten &&
            dlq_sq_write(s, forget_fn, &applied, e, sizeof e) == DLQ_OK)
            forgotten = applied;
        if (failing)
            sleep_ms(SQ_FTS_RETRY_MS);
        pthread_mutex_lock(&s->fts_mu);
        if (more || s->fts_stop)
            continue;
        if (!s->fts_kick) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += SQ_FTS_POLL_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&s->fts_cv, &s->fts_mu, &ts);
        }
        s->fts_kick = 0;
    }
    pthread_mutex_unlock(&s->fts_mu);
    return NULL;
}

/* dlq_sq_fts_start opens <db>.fts (creating or rebuilding it) and starts
 * the indexer. Call it once dlq.db is migrated and the writer runs. */
int dlq_sq_fts_start(struct sq_store *s, char *err, size_t errlen)
{
    size_t n = strlen(s->path) + 5;
    if ((s->fts_path = malloc(n)) == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    snprintf(s->fts_path, n, "%s.fts", s->path);
    int code = open_index(s, err, errlen);
    if (code != DLQ_OK)
        return code;
    if (pthread_create(&s->fts_thread, NULL, indexer_main, s) != 0)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the indexer thread");
    s->fts_started = 1;
    return DLQ_OK;
}

/* dlq_sq_fts_stop stops the indexer and closes <db>.fts; call it before the
 * writer stops (the indexer writes through it). */
void dlq_sq_fts_stop(struct sq_store *s)
{
    if (s->fts_started) {
        pthread_mutex_lock(&s->fts_mu);
        s->fts_stop = 1;
        pthread_cond_signal(&s->fts_cv);
        pthread_cond_broadcast(&s->fts_done_cv);
        pthread_mutex_unlock(&s->fts_mu);
        pthread_join(s->fts_thread, NULL);
        s->fts_started = 0;
    }
    sqlite3_close(s->fts_db);
    s->fts_db = NULL;
}

/* dlq_sq_fts_attach attaches <db>.fts to a reader connection as "fts". */
int dlq_sq_fts_attach(struct sq_store *s, sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "ATTACH ?1 AS fts", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->fts_path, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        return dlq_sq_err(db, rc, err, errlen, "attach the search index");
    return DLQ_OK;
}

/* dlq_sq_fts_log records, inside the writer's transaction, the text entry
 * id has before it changes or is deleted (deleting: also raise the id
 * floor, so the id is never given again). */
int dlq_sq_fts_log(struct sq_conn *w, int64_t id, int deleting, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "INSERT INTO fts_log(id, task_name, exc_type, exc_message,"
                               " exc_traceback) SELECT id, task_name, exc_type, exc_message,"
                               " exc_traceback FROM entries WHERE id = ?1",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "log entry text");
    if (!deleting)
        return DLQ_OK;
    code =
        dlq_sq_stmt_dyn(w, "UPDATE id_floor SET hw = ?1 WHERE k = 1 AND hw < ?1", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, w->next_id - 1);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? DLQ_OK : dlq_sq_err(w->db, rc, err, errlen, "raise id floor");
}

/* dlq_sq_fts_ready waits until the index covers every entry and every
 * text change committed before the call. */
int dlq_sq_fts_ready(struct sq_store *s, char *err, size_t errlen)
{
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    int64_t v[2] = {0};
    code = query(c->db,
                 "SELECT (SELECT max(id) FROM main.entries),"
                 " (SELECT seq FROM main.sqlite_sequence WHERE name = 'fts_log')",
                 NULL, 0, v, 2, err, errlen);
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK)
        return code;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SQ_FTS_WAIT_MS / 1000;
    pthread_mutex_lock(&s->fts_mu);
    int timed_out = 0;
    while ((s->fts_upto < v[0] || s->fts_logseq < v[1]) && !s->fts_stop && !timed_out) {
        s->fts_kick = 1;
        pthread_cond_signal(&s->fts_cv);
        timed_out = pthread_cond_timedwait(&s->fts_done_cv, &s->fts_mu, &until) != 0;
    }
    int64_t left = v[0] - s->fts_upto;
    int ok = s->fts_upto >= v[0] && s->fts_logseq >= v[1];
    pthread_mutex_unlock(&s->fts_mu);
    if (ok)
        return DLQ_OK;
    return dlq_errf(err, errlen, DLQ_E_UNAVAILABLE,
                    "the search index is catching up (%lld entries to go); try again shortly",
                    (long long)(left > 0 ? left : 0));
}
