/*
 * sq_maint.c: retention and cleanup, the store's side of the maintenance
 * thread and of POST /api/v1/dlq/cleanup. Every call is ONE write request of
 * at most `limit` rows, so the writer is never held for long and ingest keeps
 * flowing between batches; the caller loops until a batch comes back short.
 *
 * A batch is picked on a reader (the scan that finds the rows costs the
 * writer nothing) and then applied in one write request that re-reads each
 * picked row under the same condition, so a row changed in between is left
 * alone, and reads its counter keys and state machine inputs before
 * changing it. Each status change asks dlq_state_next() (EXPIRE,
 * ARCHIVE, PURGE), records a history event and moves the entry_counts cube
 * (-1 on the old key, +1 on the new one; a delete is -1). A deleted entry
 * takes its history, its full-text row (the FTS5 'delete' command with the
 * old values, read from the row before it goes) and, when the groups table
 * exists (issue 3 schema step 2), its place in its failure group with it.
 *
 * The writer may run a request twice (a failed group is retried with
 * savepoints), so the functions here set their outputs afresh on each run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/state.h"
#include "sq_int.h"

#define STATUS_BITS 0xFEu /* bits 1..7: every valid status */
#define BATCH_MAX   1000

/* What a batch needs to know about one row it changes. */
struct mrow {
    int64_t id;
    int status, reason, retry_count, max_replays;
    char *tenant, *queue, *task, *exc, *fp;
};

#define MROW_COLS                                                                                  \
    "id, status, reason, retry_count, max_replays, tenant_id, queue, task_name, exc_type, "        \
    "fingerprint"

static void rows_free(struct mrow *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].tenant);
        free(rows[i].queue);
        free(rows[i].task);
        free(rows[i].exc);
        free(rows[i].fp);
    }
    free(rows);
}

/* read_rows steps st (already bound) into a new array of at most limit
 * rows. On DLQ_OK *out (caller frees with rows_free) and *n are set. */
static int read_rows(struct sq_conn *w, sqlite3_stmt *st, int limit, struct mrow **out, size_t *n,
                     char *err, size_t errlen)
{
    struct mrow *rows = calloc((size_t)limit, sizeof *rows);
    size_t k = 0;
    int rc = SQLITE_DONE, oom = rows == NULL;
    while (!oom && k < (size_t)limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct mrow *r = &rows[k++];
        r->id = sqlite3_column_int64(st, 0);
        r->status = sqlite3_column_int(st, 1);
        r->reason = sqlite3_column_int(st, 2);
        r->retry_count = sqlite3_column_int(st, 3);
        r->max_replays = sqlite3_column_int(st, 4);
        r->tenant = dlq_sq_col_dup(st, 5, &oom);
        r->queue = dlq_sq_col_dup(st, 6, &oom);
        r->task = dlq_sq_col_dup(st, 7, &oom);
        r->exc = dlq_sq_col_dup(st, 8, &oom);
        r->fp = dlq_sq_col_dup(st, 9, &oom);
    }
    sqlite3_reset(st);
    if (oom) {
        rows_free(rows, k);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rows_free(rows, k);
        return dlq_sq_err(w->db, rc, err, errlen, "read entries for maintenance");
    }
    *out = rows;
    *n = k;
    return DLQ_OK;
}

/* run_sql prepares (cached) sql, binds up to three integers and one text
 * (?4; NULL binds NULL) and steps it to the end. */
static int run_sql(struct sq_conn *w, const char *sql, int64_t a, int64_t b, int64_t c,
                   const char *t, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, sql, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int np = sqlite3_bind_parameter_count(st);
    if (np >= 1)
        sqlite3_bind_int64(st, 1, a);
    if (np >= 2)
        sqlite3_bind_int64(st, 2, b);
    if (np >= 3)
        sqlite3_bind_int64(st, 3, c);
    if (np >= 4)
        dlq_sq_bind_text(st, 4, t);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return dlq_sq_err(w->db, rc, err, errlen, "maintenance");
    return DLQ_OK;
}

/* has_groups says whether the failure-groups table of issue 3 exists. */
static int has_groups(struct sq_conn *w)
{
    sqlite3_stmt *st;
    if (dlq_sq_stmt_dyn(w, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'groups'",
                        &st, NULL, 0) != DLQ_OK)
        return 0;
    int yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return yes;
}

static int is_pending(int status)
{
    return status == DLQ_STATUS_PENDING_REVIEW || status == DLQ_STATUS_REQUIRES_REVIEW;
}

/* groups_adjust moves a failure group's counts by dcount and dpending (in
 * the writer's accumulator, applied at the group commit, sq_cube.c). */
static int groups_adjust(struct sq_conn *w, const struct mrow *r, int dcount, int dpending,
                         char *err, size_t errlen)
{
    if (dlq_sq_cube_group(w->cube, r->fp, r->tenant, dcount, dpending, NULL, 0) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return DLQ_OK;
}

static int cube_move(struct sq_conn *w, const struct mrow *r, int status, int delta, char *err,
                     size_t errlen)
{
    if (dlq_sq_cube_add(w->cube, r->tenant ? r->tenant : "", status, r->queue, r->task, r->reason,
                        r->exc, delta) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return DLQ_OK;
}

/* delete_row removes an entry with its text index row, history, counters
 * and group membership. */
static int delete_row(struct sq_conn *w, const struct mrow *r, int groups, char *err, size_t errlen)
{
    int code = dlq_sq_fts_log(w, r->id, 1, err, errlen);
    if (code == DLQ_OK)
        code = run_sql(w, "DELETE FROM entry_events WHERE entry_id = ?1", r->id, 0, 0, NULL, err,
                       errlen);
    if (code == DLQ_OK)
        code = run_sql(w, "DELETE FROM entries WHERE id = ?1", r->id, 0, 0, NULL, err, errlen);
    if (code == DLQ_OK)
        code = cube_move(w, r, r->status, -1, err, errlen);
    if (code == DLQ_OK && groups)
        code = groups_adjust(w, r, -1, is_pending(r->status) ? -1 : 0, err, errlen);
    return code;
}

/* change_row moves an entry to status `to`, with its history event. */
static int change_row(struct sq_conn *w, const struct mrow *r, int to, int64_t now,
                      const char *event, int groups, char *err, size_t errlen)
{
    int code = run_sql(w, "UPDATE entries SET status = ?2, updated_at = ?3 WHERE id = ?1", r->id,
                       to, now, NULL, err, errlen);
    if (code == DLQ_OK)
        code = run_sql(w,
                       "INSERT INTO entry_events(entry_id, at, event, actor, details)"
                       " VALUES(?1, ?3, ?4, 'system', NULL)",
                       r->id, 0, now, event, err, errlen);
    if (code == DLQ_OK)
        code = cube_move(w, r, r->status, -1, err, errlen);
    if (code == DLQ_OK)
        code = cube_move(w, r, to, 1, err, errlen);
    if (code == DLQ_OK && groups && is_pending(r->status) != is_pending(to))
        code = groups_adjust(w, r, 0, is_pending(to) ? 1 : -1, err, errlen);
    return code;
}

/* One batch: a condition over ?1 (now), ?2 (cutoff) and ?5 (tenant), the
 * ids a reader picked by it, and what the writer did with them. */
struct batch {
    enum dlq_action action; /* EXPIRE, ARCHIVE or PURGE; DLQ_ACTION_COUNT: cleanup */
    char cond[200];
    const char *ix;      /* index the pick walks, or NULL: the planner's choice */
    const char *pick[2]; /* the pick's own queries (?1, ?2, ?3: limit), in turn, or NULL:
                            one by ix and cond */
    int64_t now, cutoff;
    const char *tenant;
    int64_t *ids;
    size_t nids;
    int64_t done;
    int64_t by_status[DLQ_STATUS_COUNT];
};

static void bind_vals(sqlite3_stmt *st, const struct batch *b)
{
    /* A number the text does not use is a harmless SQLITE_RANGE. */
    sqlite3_bind_int64(st, 1, b->now);
    sqlite3_bind_int64(st, 2, b->cutoff);
    if (b->tenant)
        sqlite3_bind_text(st, 5, b->tenant, -1, SQLITE_STATIC);
}

/* pick reads the ids of up to limit matching rows on a reader, so the scan
 * that finds them never holds the writer. */
static int pick(struct sq_store *s, struct batch *b, int limit, char *err, size_t errlen)
{
    char sql[400];
    struct sq_conn *c;
    snprintf(sql, sizeof sql, "SELECT id FROM entries%s%s WHERE %s LIMIT ?3",
             b->ix ? " INDEXED BY " : "", b->ix ? b->ix : "", b->cond);
    const char *q[2] = {b->pick[0] ? b->pick[0] : sql, b->pick[0] ? b->pick[1] : NULL};
    b->ids = malloc((size_t)limit * sizeof *b->ids);
    if (b->ids == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int k = 0; k < 2 && q[k] && code == DLQ_OK && b->nids < (size_t)limit; k++) {
        sqlite3_stmt *st;
        size_t first = b->nids; /* a later query skips what an earlier one picked */
        if ((code = dlq_sq_stmt_dyn(c, q[k], &st, err, errlen)) != DLQ_OK)
            break;
        bind_vals(st, b);
        sqlite3_bind_int(st, 3, limit);
        int rc = SQLITE_DONE;
        while (b->nids < (size_t)limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            size_t j = 0;
            while (j < first && b->ids[j] != id)
                j++;
            if (j == first)
                b->ids[b->nids++] = id;
        }
        if (b->nids < (size_t)limit && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "find entries for maintenance");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    return code;
}

/* apply_fn is the write request: each picked row that still matches (it
 * may have changed since the pick) is changed or deleted. */
static int apply_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct batch *b = arg;
    char sql[400];
    int code = DLQ_OK;
    b->done = 0;
    memset(b->by_status, 0, sizeof b->by_status);
    snprintf(sql, sizeof sql, "SELECT " MROW_COLS " FROM entries WHERE id = ?4 AND %s", b->cond);
    int groups = has_groups(w);
    const char *event = b->action == DLQ_ACTION_EXPIRE ? "expired" : "archived";
    for (size_t i = 0; i < b->nids && code == DLQ_OK; i++) {
        sqlite3_stmt *st;
        struct mrow *r = NULL;
        size_t n = 0;
        if ((code = dlq_sq_stmt_dyn(w, sql, &st, err, errlen)) != DLQ_OK)
            break;
        bind_vals(st, b);
        sqlite3_bind_int64(st, 4, b->ids[i]);
        if ((code = read_rows(w, st, 1, &r, &n, err, errlen)) != DLQ_OK)
            break;
        if (n == 1 && b->action == DLQ_ACTION_COUNT) {
            code = delete_row(w, r, groups, err, errlen);
        } else if (n == 1) {
            struct dlq_state_input in = {(enum dlq_status)r->status, r->retry_count,
                                         r->max_replays};
            enum dlq_status to;
            const char *why;
            if (dlq_state_next(&in, b->action, &to, &why) != DLQ_OK)
                n = 0; /* the condition only picks allowed rows; be safe anyway */
            else if (b->action == DLQ_ACTION_PURGE)
                code = delete_row(w, r, groups, err, errlen);
            else
                code = change_row(w, r, to, b->now, event, groups, err, errlen);
        }
        if (code == DLQ_OK && n == 1) {
            b->done++;
            if (r->status > 0 && r->status < DLQ_STATUS_COUNT)
                b->by_status[r->status]++;
        }
        rows_free(r, n);
    }
    return code;
}

/* run_batch picks up to limit rows and applies them in one write request. */
static int run_batch(struct sq_store *s, struct batch *b, int limit, char *err, size_t errlen)
{
    int code = pick(s, b, limit > BATCH_MAX ? BATCH_MAX : limit, err, errlen);
    if (code == DLQ_OK && b->nids > 0)
        code = dlq_sq_write(s, apply_fn, b, err, errlen);
    free(b->ids);
    b->ids = NULL;
    return code;
}

/* dlq_sq_maint_step implements maint_step (store.h). */
int dlq_sq_maint_step(struct dlq_store *base, enum dlq_action action, int64_t cutoff, int64_t now,
                      int limit, int64_t *done, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct batch b;
    memset(&b, 0, sizeof b);
    b.action = action;
    b.now = now;
    b.cutoff = cutoff;
    b.ix = "ix_entries_status";
    *done = 0;
    switch (action) {
    case DLQ_ACTION_EXPIRE:
        snprintf(b.cond, sizeof b.cond,
                 "status = 1 AND ((expires_at IS NOT NULL AND expires_at <= ?1)"
                 " OR (?2 > 0 AND failed_at < ?2))");
        /* Each half walks only what it matches, not every pending entry. */
        b.pick[0] = "SELECT id FROM entries INDEXED BY ix_entries_status"
                    " WHERE status = 1 AND ?2 > 0 AND failed_at < ?2 LIMIT ?3";
        b.pick[1] = "SELECT id FROM entries INDEXED BY ix_entries_expires"
                    " WHERE status = 1 AND expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?3";
        break;
    case DLQ_ACTION_ARCHIVE:
        snprintf(b.cond, sizeof b.cond,
                 "status IN (4, 5, 6) AND coalesce(updated_at, processed_at) < ?2");
        break;
    case DLQ_ACTION_PURGE:
        snprintf(b.cond, sizeof b.cond, "status = 7 AND coalesce(updated_at, processed_at) < ?2");
        break;
    default:
        return dlq_errf(err, errlen, DLQ_E_INVAL, "not a maintenance action");
    }
    int code = run_batch(s, &b, limit, err, errlen);
    if (code == DLQ_OK)
        *done = b.done;
    return code;
}

/* cleanup_cond writes a cleanup's condition: the statuses of mask as
 * literals (small integers, so the text stays cacheable per mask),
 * failed_at < ?2 and, with a tenant, tenant_id = ?5. */
static void cleanup_cond(char *buf, size_t len, unsigned mask, int with_tenant)
{
    size_t n = (size_t)snprintf(buf, len, "status IN (");
    int first = 1;
    for (int st = 1; st < DLQ_STATUS_COUNT; st++) {
        if (!(mask & (1u << st)))
            continue;
        n += (size_t)snprintf(buf + n, len - n, first ? "%d" : ", %d", st);
        first = 0;
    }
    snprintf(buf + n, len - n, ") AND failed_at < ?2%s", with_tenant ? " AND tenant_id = ?5" : "");
}

/* count_matches is a dry run: counts per status on a reader. */
static int count_matches(struct sq_store *s, struct batch *b, char *err, size_t errlen)
{
    char sql[400];
    struct sq_conn *conn;
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql, "SELECT status, count(*) FROM entries WHERE %s GROUP BY status",
             b->cond);
    int code = dlq_sq_reader_get(s, &conn, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_stmt_dyn(conn, sql, &st, err, errlen);
    if (code == DLQ_OK) {
        bind_vals(st, b);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int status = sqlite3_column_int(st, 0);
            int64_t k = sqlite3_column_int64(st, 1);
            if (status > 0 && status < DLQ_STATUS_COUNT)
                b->by_status[status] += k;
            b->done += k;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            code = dlq_sq_err(conn->db, rc, err, errlen, "count entries for cleanup");
    }
    dlq_sq_reader_put(s, conn);
    return code;
}

/* dlq_sq_cleanup implements cleanup (store.h). */
int dlq_sq_cleanup(struct dlq_store *base, unsigned status_mask, int64_t before, const char *tenant,
                   int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                   char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct batch b;
    memset(&b, 0, sizeof b);
    b.action = DLQ_ACTION_COUNT;
    b.cutoff = before;
    b.tenant = tenant;
    *n = 0;
    if ((status_mask & STATUS_BITS) == 0)
        return DLQ_OK;
    cleanup_cond(b.cond, sizeof b.cond, status_mask & STATUS_BITS, tenant != NULL);
    int code = dry_run ? count_matches(s, &b, err, errlen) : run_batch(s, &b, limit, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < DLQ_STATUS_COUNT; i++)
        by_status[i] += b.by_status[i];
    *n = b.done;
    return DLQ_OK;
}

/* dlq_sq_count_entries implements count_entries (store.h): a sum over the
 * counters, not a scan. */
int dlq_sq_count_entries(struct dlq_store *base, int64_t *n, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    *n = 0;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_stmt_dyn(c, "SELECT coalesce(sum(n), 0) FROM entry_counts", &st, err, errlen);
    if (code == DLQ_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *n = sqlite3_column_int64(st, 0);
        else
            code = dlq_sq_err(c->db, rc, err, errlen, "count entries");
        sqlite3_reset(st);
    }
    dlq_sq_reader_put(s, c);
    return code;
}
