/*
 * sq_fts.c: the full-text index, kept off the ingest path.
 *
 * FTS5 writes a new index segment at every commit (and merges segments as
 * they pile up): with group commits of a dozen entries that flush cost more
 * than a third of an ingest's write. So captures do not index their text.
 * fts_state.upto is the highest entries.id the index covers; the writer
 * indexes the rows above it in one INSERT ... SELECT at most every
 * SQ_FTS_DELAY_MS while entries arrive (riding along with a group commit),
 * and once more when it goes idle. A search never misses an entry for this:
 * before a query with q runs, dlq_sq_fts_ready() makes the writer index
 * whatever is left, so a search sees every entry committed before it.
 *
 * Everything that changes or deletes an indexed row's text must leave rows
 * above upto alone (they are not in the index: an FTS5 'delete' of a row it
 * never saw would corrupt it); the catch-up reads their current text.
 */
#include <string.h>

#include "dlq/error.h"
#include "dlq/util.h"
#include "sq_int.h"

#define SQ_FTS_STEP 5000 /* rows indexed per step, so a backlog never makes one huge commit */

/* run_step runs st to completion (it is reset); DLQ_OK or the error. */
static int run_step(struct sq_conn *w, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return dlq_sq_err(w->db, rc, err, errlen, what);
    return DLQ_OK;
}

/* dlq_sq_fts_upto sets *upto to the highest entry id the index covers. */
int dlq_sq_fts_upto(struct sq_conn *c, int64_t *upto, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(c, "SELECT upto FROM fts_state WHERE k = 1", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int rc = sqlite3_step(st);
    *upto = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, "read fts_state");
    return DLQ_OK;
}

/* dlq_sq_fts_catchup indexes up to SQ_FTS_STEP rows above upto, on the
 * writer inside the caller's transaction. *more is set when rows are left. */
int dlq_sq_fts_catchup(struct sq_conn *w, int *more, char *err, size_t errlen)
{
    int64_t upto, hi = 0, n = 0;
    *more = 0;
    int code = dlq_sq_fts_upto(w, &upto, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_stmt *st;
    code = dlq_sq_stmt_dyn(w,
                           "SELECT max(id), count(*) FROM (SELECT id FROM entries WHERE id > ?1"
                           " ORDER BY id LIMIT ?2)",
                           &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, upto);
    sqlite3_bind_int(st, 2, SQ_FTS_STEP);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        hi = sqlite3_column_int64(st, 0);
        n = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW)
        return dlq_sq_err(w->db, rc, err, errlen, "find unindexed entries");
    if (n == 0)
        return DLQ_OK;
    code = dlq_sq_stmt_dyn(w,
                           "INSERT INTO entries_fts(rowid, task_name, exc_type, exc_message,"
                           " exc_traceback) SELECT id, task_name, exc_type, exc_message,"
                           " exc_traceback FROM entries WHERE id > ?1 AND id <= ?2 ORDER BY id",
                           &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, upto);
    sqlite3_bind_int64(st, 2, hi);
    if ((code = run_step(w, st, "index entry text", err, errlen)) != DLQ_OK)
        return code;
    code = dlq_sq_stmt_dyn(w, "UPDATE fts_state SET upto = ?1 WHERE k = 1", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, hi);
    if ((code = run_step(w, st, "update fts_state", err, errlen)) != DLQ_OK)
        return code;
    *more = n == SQ_FTS_STEP;
    return DLQ_OK;
}

/* catchup_all_fn is the write request of dlq_sq_fts_ready: index every row
 * left. */
static int catchup_all_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    (void)arg;
    int more = 1, code = DLQ_OK;
    while (more && code == DLQ_OK)
        code = dlq_sq_fts_catchup(w, &more, err, errlen);
    return code;
}

/* dlq_sq_fts_ready makes sure the index covers every committed entry before
 * a search: a cheap read when it does, else one write request that indexes
 * the rest. */
int dlq_sq_fts_ready(struct sq_store *s, char *err, size_t errlen)
{
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_stmt *st;
    int64_t upto = 0, max = 0;
    code = dlq_sq_stmt_dyn(c,
                           "SELECT (SELECT upto FROM fts_state WHERE k = 1),"
                           " (SELECT max(id) FROM entries)",
                           &st, err, errlen);
    if (code == DLQ_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            upto = sqlite3_column_int64(st, 0);
            max = sqlite3_column_int64(st, 1);
        } else {
            code = dlq_sq_err(c->db, rc, err, errlen, "read fts_state");
        }
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK || upto >= max)
        return code;
    return dlq_sq_write(s, catchup_all_fn, NULL, err, errlen);
}

/* dlq_sq_fts_tick runs in the writer's group after its requests: when rows
 * wait and SQ_FTS_DELAY_MS has passed since the last catch-up (or force),
 * it indexes a step of them in a savepoint of its own, so that a failure
 * here never fails the group (it is logged and tried again later). */
void dlq_sq_fts_tick(struct sq_store *s, int64_t now_ns, int force)
{
    struct sq_conn *w = s->w;
    if (!w->fts_dirty)
        return;
    if (!force && now_ns - w->fts_last_ns < (int64_t)SQ_FTS_DELAY_MS * 1000000)
        return;
    char e[256];
    int more = 0;
    if (dlq_sq_exec(w, SQ_SAVEPOINT, e, sizeof e) != DLQ_OK)
        return;
    int code = dlq_sq_fts_catchup(w, &more, e, sizeof e);
    if (code != DLQ_OK) {
        dlq_log(DLQ_LOG_WARN, "full-text index catch-up failed (retried later): %s", e);
        dlq_sq_exec(w, SQ_ROLLBACK_TO, NULL, 0);
        more = 1;
    }
    dlq_sq_exec(w, SQ_RELEASE, NULL, 0);
    w->fts_last_ns = now_ns;
    w->fts_dirty = more;
}
