/*
 * sq_preread.c: a bulk replay's rows, read ahead on a reader and handed to
 * the writer. The op selects its next chunk (sq_bulk.c) on a thread of its
 * own while the writer writes the current one; that select also reads what
 * the replays need (the small columns, and the job's args, kwargs and
 * metadata), so the writer does not read those rows again. Reading them was
 * a fifth of the writer's work per replayed entry, and the writer is the one
 * thread every write waits for.
 *
 * The writer uses a row read ahead only when the row cannot have changed
 * since it was read:
 * - every writer transaction is numbered (txn_seq counts those finished);
 * - SQLite's pre-update hook marks each entry the writer changes, in a
 *   table of rowid buckets, with the number of the transaction changing it;
 * - a read that began after transaction N finished holds the current row
 *   when the row's bucket is marked N or lower.
 * A bucket holds many rowids, so a mark can send an unchanged row to the
 * ordinary read: slower, never wrong. A commit by any other connection
 * (PRAGMA data_version) invalidates every read made before it.
 *
 * Without the pre-update hook (an SQLite built without it) nothing is read
 * ahead and every replay reads its row as before.
 */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define PRE_MASK (SQ_PRE_BUCKETS - 1)

#ifdef DLQ_HAVE_PREUPDATE_HOOK
/* pre_hook runs on the writer connection before each row change. */
static void pre_hook(void *arg, sqlite3 *db, int op, const char *zdb, const char *table,
                     sqlite3_int64 key1, sqlite3_int64 key2)
{
    struct sq_store *s = arg;
    (void)db;
    if (strcmp(table, "entries") != 0 || strcmp(zdb, "main") != 0)
        return;
    uint64_t t = s->txn_seq + 1; /* the transaction in progress */
    if (op != SQLITE_INSERT)
        s->pre_marks[(uint64_t)key1 & PRE_MASK] = t;
    if (op != SQLITE_DELETE)
        s->pre_marks[(uint64_t)key2 & PRE_MASK] = t;
}
#endif

/* data_version reads PRAGMA data_version on the writer; -1 on error. */
static int64_t data_version(struct sq_conn *w)
{
    sqlite3_stmt *st;
    if (dlq_sq_stmt_dyn(w, "PRAGMA data_version", &st, NULL, 0) != DLQ_OK)
        return -1;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return v;
}

/* dlq_sq_pre_attach sets the writer connection up for reads ahead, before
 * the writer thread starts; without memory (or the hook) there are none,
 * which is not an error. */
void dlq_sq_pre_attach(struct sq_store *s)
{
    s->pre_dv = data_version(s->w);
#ifdef DLQ_HAVE_PREUPDATE_HOOK
    s->pre_marks = calloc(SQ_PRE_BUCKETS, sizeof *s->pre_marks);
    if (s->pre_marks)
        sqlite3_preupdate_hook(s->w->db, pre_hook, s);
#endif
}

/* dlq_sq_pre_txn_done counts a finished writer transaction (committed or
 * rolled back); the writer calls it before waking anyone. */
void dlq_sq_pre_txn_done(struct sq_store *s)
{
    pthread_mutex_lock(&s->mu);
    s->txn_seq++;
    pthread_mutex_unlock(&s->mu);
}

/* dlq_sq_pre_enabled says whether reads ahead are worth making. */
int dlq_sq_pre_enabled(struct sq_store *s)
{
    return s->pre_marks != NULL;
}

/* dlq_sq_pre_snapshot returns the number of writer transactions finished
 * now; a read begun after this call sees all of them. */
uint64_t dlq_sq_pre_snapshot(struct sq_store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->txn_seq;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* dlq_sq_pre_free frees what p holds and empties it. */
void dlq_sq_pre_free(struct sq_pre *p)
{
    for (size_t i = 0; p->rows && i < p->n; i++)
        dlq_sq_act_row_clear(&p->rows[i]);
    free(p->rows);
    memset(p, 0, sizeof *p);
}

/* dlq_sq_pre_put stores p (taken over; emptied) for the writer, in place of
 * the oldest read it holds. */
void dlq_sq_pre_put(struct sq_store *s, struct sq_pre *p)
{
    struct sq_pre old;
    pthread_mutex_lock(&s->mu);
    old = s->pre[s->pre_next];
    s->pre[s->pre_next] = *p;
    s->pre_next = (s->pre_next + 1) % SQ_PRE_SLOTS;
    pthread_mutex_unlock(&s->mu);
    memset(p, 0, sizeof *p);
    dlq_sq_pre_free(&old);
}

/* dlq_sq_pre_take gives the writer (inside its transaction) the read ahead
 * of the n ids, if one was made: out then owns it (dlq_sq_pre_free). 1 when
 * found, else 0. */
int dlq_sq_pre_take(struct sq_store *s, struct sq_conn *w, const char *const *ids, size_t n,
                    struct sq_pre *out)
{
    memset(out, 0, sizeof *out);
    if (s->pre_marks == NULL || n == 0)
        return 0;
    int found = 0;
    struct sq_pre stale[SQ_PRE_SLOTS];
    memset(stale, 0, sizeof stale);
    pthread_mutex_lock(&s->mu);
    for (int k = 0; k < SQ_PRE_SLOTS && !found; k++) {
        struct sq_pre *p = &s->pre[k];
        if (p->n == n && p->rows[0].e.dlq_id && strcmp(p->rows[0].e.dlq_id, ids[0]) == 0) {
            *out = *p;
            memset(p, 0, sizeof *p);
            found = 1;
        }
    }
    /* Reads older than this one were left behind (an op that ended or
     * changed course): drop them rather than hold their memory. */
    for (int k = 0; k < SQ_PRE_SLOTS && found; k++)
        if (s->pre[k].rows && s->pre[k].seq < out->seq) {
            stale[k] = s->pre[k];
            memset(&s->pre[k], 0, sizeof s->pre[k]);
        }
    pthread_mutex_unlock(&s->mu);
    for (int k = 0; k < SQ_PRE_SLOTS; k++)
        dlq_sq_pre_free(&stale[k]);
    if (!found)
        return 0;
    /* Another connection committed since the last look: no read made
     * before now can be trusted. */
    int64_t dv = data_version(w);
    if (dv < 0 || dv != s->pre_dv) {
        s->pre_dv = dv;
        s->pre_valid_from = s->txn_seq + 1;
    }
    return 1;
}

/* dlq_sq_pre_row moves row i of p into *out when it holds id and is still
 * the row as stored: 1 then, else 0 (read it). Writer only. */
int dlq_sq_pre_row(struct sq_store *s, struct sq_pre *p, size_t i, const char *id,
                   struct sq_act_row *out)
{
    if (i >= p->n)
        return 0;
    struct sq_act_row *r = &p->rows[i];
    if (r->rowid == 0 || r->e.dlq_id == NULL || strcmp(r->e.dlq_id, id) != 0)
        return 0;
    if (p->seq < s->pre_valid_from || s->pre_marks[(uint64_t)r->rowid & PRE_MASK] > p->seq)
        return 0;
    *out = *r;
    memset(r, 0, sizeof *r);
    return 1;
}

/* dlq_sq_pre_close frees the reads ahead and the marks (writer stopped). */
void dlq_sq_pre_close(struct sq_store *s)
{
    for (int k = 0; k < SQ_PRE_SLOTS; k++)
        dlq_sq_pre_free(&s->pre[k]);
    free(s->pre_marks);
    s->pre_marks = NULL;
}
