/*
 * sq_groups.c: the counters kept at capture for stats and failure groups
 * (slice C1). Every captured entry adds one to its hour in `hourly` (so
 * "failures in the last N hours" is a sum over at most N small rows) and
 * one to its fingerprint's row in `groups` (count, pending, first and last
 * seen, a sample kept from the first entry). Actions that move an entry
 * into or out of a pending status adjust groups.pending through
 * dlq_sq_groups_pending. Both go through the writer's accumulator
 * (sq_cube.c), which sums them per hour and per group and applies each sum
 * once just before the group commits, in the same transaction, so the
 * counters commit or roll back with the entries they count.
 */
#include <string.h>

#include "dlq/error.h"
#include "sq_int.h"

#define HOUR_MS 3600000LL

static const char sql_hourly[] = "INSERT INTO hourly(hour, tenant_id, n) VALUES(?1, ?2, ?3)"
                                 " ON CONFLICT(hour, tenant_id) DO UPDATE SET n = n + excluded.n";

static const char sql_group_add[] =
    "INSERT INTO groups(fingerprint, tenant_id, task_name, exc_type, sample_message,"
    " sample_dlq_id, first_seen, last_seen, count, pending)"
    " VALUES(?1, ?2, ?3, ?4, substr(?5, 1, 1000), ?6, ?7, ?8, max(?9, 0), max(?10, 0))"
    " ON CONFLICT(fingerprint, tenant_id) DO UPDATE SET count = max(count + ?9, 0),"
    " pending = max(pending + ?10, 0),"
    " first_seen = min(first_seen, excluded.first_seen),"
    " last_seen = max(last_seen, excluded.last_seen)";

static const char sql_group_adjust[] =
    "UPDATE groups SET count = max(count + ?3, 0), pending = max(pending + ?4, 0)"
    " WHERE fingerprint = ?1 AND tenant_id = ?2";

/* step_reset runs a statement that returns no rows and resets it. */
static int step_reset(struct sq_conn *w, sqlite3_stmt *st, char *err, size_t errlen,
                      const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, what);
    return DLQ_OK;
}

/* dlq_sq_capture_extras counts a just-inserted entry e in hourly and in its
 * group, in the writer's accumulator (applied at the group commit). Returns
 * DLQ_OK or DLQ_E_NOMEM with detail in err. */
int dlq_sq_capture_extras(struct sq_conn *w, const struct dlq_entry *e, char *err, size_t errlen)
{
    const char *tenant = e->tenant_id ? e->tenant_id : "";
    int64_t at = e->failed_at ? e->failed_at : e->processed_at;
    int pending = e->status == DLQ_STATUS_PENDING_REVIEW || e->status == DLQ_STATUS_REQUIRES_REVIEW;
    if (dlq_sq_cube_hourly(w->cube, at / HOUR_MS * HOUR_MS, tenant) != DLQ_OK ||
        dlq_sq_cube_group(w->cube, e->fingerprint, tenant, 1, pending, e, at) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return DLQ_OK;
}

/* dlq_sq_groups_pending adds delta (+1/-1) to the pending count of the group
 * (fingerprint, tenant; NULL tenant is ""), through the writer's
 * accumulator. A NULL fingerprint is a no-op. DLQ_OK or DLQ_E_NOMEM. */
int dlq_sq_groups_pending(struct sq_conn *w, const char *fingerprint, const char *tenant, int delta,
                          char *err, size_t errlen)
{
    if (dlq_sq_cube_group(w->cube, fingerprint, tenant, 0, delta, NULL, 0) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return DLQ_OK;
}

/* dlq_sq_hourly_apply adds n captures to the hour (ms) of tenant. Writer
 * only, inside the group's transaction. */
int dlq_sq_hourly_apply(struct sq_conn *w, int64_t hour, const char *tenant, int64_t n, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, sql_hourly, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, hour);
    sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n);
    return step_reset(w, st, err, errlen, "count hourly");
}

/* dlq_sq_group_apply applies a failure group's summed change: a group with
 * captures is created if new (its sample from the first capture); one with
 * adjustments only is changed if it exists. Counts never go below 0. Writer
 * only, inside the group's transaction. */
int dlq_sq_group_apply(struct sq_conn *w, const struct sq_group_delta *g, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, g->captured ? sql_group_add : sql_group_adjust, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, g->fp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, g->tenant, -1, SQLITE_STATIC);
    if (!g->captured) {
        sqlite3_bind_int64(st, 3, g->dcount);
        sqlite3_bind_int64(st, 4, g->dpending);
        return step_reset(w, st, err, errlen, "count group");
    }
    dlq_sq_bind_text(st, 3, g->task);
    dlq_sq_bind_text(st, 4, g->exc);
    dlq_sq_bind_text(st, 5, g->message);
    dlq_sq_bind_text(st, 6, g->dlq_id);
    sqlite3_bind_int64(st, 7, g->first);
    sqlite3_bind_int64(st, 8, g->last);
    sqlite3_bind_int64(st, 9, g->dcount);
    sqlite3_bind_int64(st, 10, g->dpending);
    return step_reset(w, st, err, errlen, "count group");
}
