/*
 * pg_maint.c: retention and cleanup on PostgreSQL, the store's side of the
 * maintenance thread and of POST /api/v1/dlq/cleanup, as sq_maint.c on
 * SQLite. Every call is ONE transaction over at most `limit` rows (capped
 * at BATCH_MAX), so no lock is held for long; the caller loops until a
 * batch comes back short.
 *
 * A batch locks its rows with FOR UPDATE SKIP LOCKED under the action's
 * condition: rows another node's maintenance (or an operator's action) is
 * changing are skipped, not waited for, and a row changed since is seen
 * afresh (PostgreSQL re-checks the condition on the newest version), so
 * two nodes running maintenance together never process a row twice. Each
 * row's new status comes from dlq_state_next() (EXPIRE, ARCHIVE, PURGE);
 * then the rows are changed by status in set statements, each with its
 * history event, and deleted rows take their history with them. Counters
 * (entry_counts, groups, hourly) follow by trigger; the text index is a
 * column of the row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "dlq/state.h"
#include "pg_int.h"

#define STATUS_BITS 0xFEu /* bits 1..7: every valid status */
#define BATCH_MAX   1000

/* One batch: a condition over the numbers a[0..na-1] ($1..) and the
 * tenant (the next parameter, when set), and what it did. */
struct batch {
    enum dlq_action action; /* EXPIRE, ARCHIVE or PURGE; DLQ_ACTION_COUNT: cleanup */
    char cond[200];
    const char *order; /* the index order rows are taken in */
    int64_t a[2];
    int na;
    const char *tenant;
    int limit;
    int64_t now;
    int64_t done;
    int64_t by_status[DLQ_STATUS_COUNT];
};

/* cond_params fills p with the batch condition's parameters. */
static void cond_params(struct pg_params *p, const struct batch *b)
{
    dlq_pg_p_init(p);
    for (int i = 0; i < b->na; i++)
        dlq_pg_p_int(p, b->a[i]);
    if (b->tenant)
        dlq_pg_p_text(p, b->tenant);
}

/* id_array writes ids (those of rows whose to[] is want) as a PostgreSQL
 * array literal into a new string (caller frees); *n counts them. */
static char *id_array(const PGresult *r, const int *to, int rows, int want, int *n)
{
    char *s = malloc((size_t)rows * 22 + 3);
    size_t len = 0;
    if (s == NULL)
        return NULL;
    *n = 0;
    s[len++] = '{';
    for (int i = 0; i < rows; i++) {
        if (to[i] != want)
            continue;
        len += (size_t)sprintf(s + len, "%s%s", *n ? "," : "", PQgetvalue(r, i, 0));
        (*n)++;
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

/* delete_rows removes the entries ids (an array literal) with their
 * history. */
static int delete_rows(struct pg_conn *c, const char *ids, char *err, size_t errlen)
{
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, ids);
    int code = dlq_pg_exec(c, "DELETE FROM entry_events WHERE entry_id = ANY($1::bigint[])", &p,
                           NULL, "delete history", err, errlen);
    if (code == DLQ_OK)
        code = dlq_pg_exec(c, "DELETE FROM entries WHERE id = ANY($1::bigint[])", &p, NULL,
                           "delete entries", err, errlen);
    return code;
}

/* change_rows moves the entries ids to status `to`, each with its history
 * event by 'system'. */
static int change_rows(struct pg_conn *c, const char *ids, int to, int64_t now, const char *event,
                       char *err, size_t errlen)
{
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, ids);
    dlq_pg_p_int(&p, to);
    dlq_pg_p_int(&p, now);
    int code = dlq_pg_exec(c,
                           "UPDATE entries SET status = $2::int, updated_at = $3::bigint"
                           " WHERE id = ANY($1::bigint[])",
                           &p, NULL, "maintenance", err, errlen);
    if (code != DLQ_OK)
        return code;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, ids);
    dlq_pg_p_int(&p, now);
    dlq_pg_p_text(&p, event);
    return dlq_pg_exec(c,
                       "INSERT INTO entry_events(entry_id, at, event, actor, details)"
                       " SELECT x, $2::bigint, $3, 'system', NULL FROM unnest($1::bigint[]) x",
                       &p, NULL, "maintenance history", err, errlen);
}

/* apply_rows asks the state machine about each locked row of r, then
 * applies the answers grouped by new status. */
static int apply_rows(struct pg_conn *c, struct batch *b, const PGresult *r, char *err,
                      size_t errlen)
{
    int rows = PQntuples(r);
    int *to = malloc((size_t)(rows ? rows : 1) * sizeof *to);
    if (to == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    for (int i = 0; i < rows; i++) {
        int status = (int)dlq_pg_i64(r, i, 1);
        to[i] = DLQ_STATUS_NONE; /* deleted */
        if (b->action != DLQ_ACTION_COUNT) {
            struct dlq_state_input in = {(enum dlq_status)status, (int)dlq_pg_i64(r, i, 2),
                                         (int)dlq_pg_i64(r, i, 3)};
            enum dlq_status next;
            const char *why;
            /* the condition only picks allowed rows; be safe anyway */
            if (dlq_state_next(&in, b->action, &next, &why) != DLQ_OK) {
                to[i] = -1;
                continue;
            }
            to[i] = b->action == DLQ_ACTION_PURGE ? DLQ_STATUS_NONE : (int)next;
        }
        b->done++;
        if (status > 0 && status < DLQ_STATUS_COUNT)
            b->by_status[status]++;
    }
    const char *event = b->action == DLQ_ACTION_EXPIRE ? "expired" : "archived";
    int code = DLQ_OK;
    for (int want = 0; want < DLQ_STATUS_COUNT && code == DLQ_OK; want++) {
        int n;
        char *ids = id_array(r, to, rows, want, &n);
        if (ids == NULL) {
            code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        } else if (n > 0) {
            code = want == DLQ_STATUS_NONE ? delete_rows(c, ids, err, errlen)
                                           : change_rows(c, ids, want, b->now, event, err, errlen);
        }
        free(ids);
    }
    free(to);
    return code;
}

/* batch_body locks up to limit matching rows (skipping rows locked
 * elsewhere) and changes or deletes them. Outputs are reset: dlq_pg_tx may
 * run it again. */
static int batch_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct batch *b = ctx;
    struct pg_params p;
    char sql[512];
    PGresult *r;
    b->done = 0;
    memset(b->by_status, 0, sizeof b->by_status);
    cond_params(&p, b);
    dlq_pg_p_int(&p, b->limit);
    snprintf(sql, sizeof sql,
             "SELECT id, status, retry_count, max_replays FROM entries WHERE %s"
             " ORDER BY %s LIMIT $%d::int FOR UPDATE SKIP LOCKED",
             b->cond, b->order, p.n);
    int code = dlq_pg_exec(c, sql, &p, &r, "find entries for maintenance", err, errlen);
    if (code != DLQ_OK)
        return code;
    code = apply_rows(c, b, r, err, errlen);
    PQclear(r);
    return code;
}

/* run_batch runs one batch of at most limit (and BATCH_MAX) rows. */
static int run_batch(struct pg_store *s, struct batch *b, int limit, char *err, size_t errlen)
{
    b->limit = limit > BATCH_MAX ? BATCH_MAX : limit;
    if (b->limit <= 0)
        return DLQ_OK;
    return dlq_pg_tx(s, batch_body, b, err, errlen);
}

/* dlq_pg_maint_step implements maint_step (store.h). */
int dlq_pg_maint_step(struct dlq_store *s, enum dlq_action action, int64_t cutoff, int64_t now,
                      int limit, int64_t *done, char *err, size_t errlen)
{
    struct batch b;
    memset(&b, 0, sizeof b);
    b.action = action;
    b.now = now;
    b.order = "status, failed_at, id"; /* ix_entries_status */
    *done = 0;
    switch (action) {
    case DLQ_ACTION_EXPIRE:
        snprintf(b.cond, sizeof b.cond,
                 "status = 1 AND ((expires_at IS NOT NULL AND expires_at <= $1::bigint)"
                 " OR ($2::bigint > 0 AND failed_at < $2::bigint))");
        b.a[0] = now;
        b.a[1] = cutoff;
        b.na = 2;
        break;
    case DLQ_ACTION_ARCHIVE:
        snprintf(b.cond, sizeof b.cond,
                 "status IN (4, 5, 6) AND coalesce(updated_at, processed_at) < $1::bigint");
        b.a[0] = cutoff;
        b.na = 1;
        break;
    case DLQ_ACTION_PURGE:
        snprintf(b.cond, sizeof b.cond,
                 "status = 7 AND coalesce(updated_at, processed_at) < $1::bigint");
        b.a[0] = cutoff;
        b.na = 1;
        break;
    default:
        return dlq_errf(err, errlen, DLQ_E_INVAL, "not a maintenance action");
    }
    int code = run_batch(PG(s), &b, limit, err, errlen);
    if (code == DLQ_OK)
        *done = b.done;
    return code;
}

/* cleanup_cond writes a cleanup's condition: the statuses of mask as
 * literals (small integers, so the text stays one prepared statement per
 * mask), failed_at < $1 and, with a tenant, tenant_id = $2. */
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
    snprintf(buf + n, len - n, ") AND failed_at < $1::bigint%s",
             with_tenant ? " AND tenant_id = $2" : "");
}

static int count_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct batch *b = ctx;
    struct pg_params p;
    char sql[400];
    PGresult *r;
    b->done = 0;
    memset(b->by_status, 0, sizeof b->by_status);
    cond_params(&p, b);
    snprintf(sql, sizeof sql, "SELECT status, count(*) FROM entries WHERE %s GROUP BY status",
             b->cond);
    int code = dlq_pg_exec(c, sql, &p, &r, "count entries for cleanup", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t status = dlq_pg_i64(r, i, 0), k = dlq_pg_i64(r, i, 1);
        if (status > 0 && status < DLQ_STATUS_COUNT)
            b->by_status[status] += k;
        b->done += k;
    }
    PQclear(r);
    return DLQ_OK;
}

/* dlq_pg_cleanup implements cleanup (store.h). */
int dlq_pg_cleanup(struct dlq_store *s, unsigned status_mask, int64_t before, const char *tenant,
                   int dry_run, int limit, int64_t by_status[DLQ_STATUS_COUNT], int64_t *n,
                   char *err, size_t errlen)
{
    struct batch b;
    memset(&b, 0, sizeof b);
    b.action = DLQ_ACTION_COUNT;
    b.a[0] = before;
    b.na = 1;
    b.tenant = tenant;
    b.order = "failed_at, id"; /* ix_entries_failed */
    *n = 0;
    if ((status_mask & STATUS_BITS) == 0)
        return DLQ_OK;
    cleanup_cond(b.cond, sizeof b.cond, status_mask & STATUS_BITS, tenant != NULL);
    int code = dry_run ? dlq_pg_read(PG(s), count_body, &b, err, errlen)
                       : run_batch(PG(s), &b, limit, err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < DLQ_STATUS_COUNT; i++)
        by_status[i] += b.by_status[i];
    *n = b.done;
    return DLQ_OK;
}
