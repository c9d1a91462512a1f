/*
 * sq_groups.c: the counters kept at capture for stats and failure groups
 * (slice C1). Every captured entry adds one to its hour in `hourly` (so
 * "failures in the last N hours" is a sum over at most N small rows) and
 * one to its fingerprint's row in `groups` (count, pending, first and last
 * seen, a sample kept from the first entry). Both run on the writer inside
 * the capture's transaction, so the counters commit or roll back with the
 * entries they count. Actions that move an entry into or out of a pending
 * status adjust groups.pending through dlq_sq_groups_pending.
 */
#include <string.h>

#include "sq_int.h"

#define HOUR_MS 3600000LL

static const char sql_hourly[] = "INSERT INTO hourly(hour, tenant_id, n) VALUES(?1, ?2, 1)"
                                 " ON CONFLICT(hour, tenant_id) DO UPDATE SET n = n + 1";

static const char sql_group_add[] =
    "INSERT INTO groups(fingerprint, tenant_id, task_name, exc_type, sample_message,"
    " sample_dlq_id, first_seen, last_seen, count, pending)"
    " VALUES(?1, ?2, ?3, ?4, substr(?5, 1, 1000), ?6, ?7, ?7, 1, ?8)"
    " ON CONFLICT(fingerprint, tenant_id) DO UPDATE SET count = count + 1,"
    " pending = pending + excluded.pending,"
    " first_seen = min(first_seen, excluded.first_seen),"
    " last_seen = max(last_seen, excluded.last_seen)";

static const char sql_group_pending[] =
    "UPDATE groups SET pending = max(0, pending + ?3) WHERE fingerprint = ?1 AND tenant_id = ?2";

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
 * group. Runs on the writer connection w inside the capture's transaction.
 * Returns DLQ_OK or a dlq code with detail in err. */
int dlq_sq_capture_extras(struct sq_conn *w, const struct dlq_entry *e, char *err, size_t errlen)
{
    const char *tenant = e->tenant_id ? e->tenant_id : "";
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, sql_hourly, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    int64_t at = e->failed_at ? e->failed_at : e->processed_at;
    sqlite3_bind_int64(st, 1, at / HOUR_MS * HOUR_MS);
    sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    if ((code = step_reset(w, st, err, errlen, "count hourly")) != DLQ_OK)
        return code;
    if (!e->fingerprint || !e->fingerprint[0])
        return DLQ_OK;

    if ((code = dlq_sq_stmt_dyn(w, sql_group_add, &st, err, errlen)) != DLQ_OK)
        return code;
    int pending = e->status == DLQ_STATUS_PENDING_REVIEW || e->status == DLQ_STATUS_REQUIRES_REVIEW;
    sqlite3_bind_text(st, 1, e->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 3, e->task_name);
    dlq_sq_bind_text(st, 4, e->exc_type);
    dlq_sq_bind_text(st, 5, e->exc_message);
    dlq_sq_bind_text(st, 6, e->dlq_id);
    sqlite3_bind_int64(st, 7, at);
    sqlite3_bind_int(st, 8, pending);
    return step_reset(w, st, err, errlen, "count group");
}

/* dlq_sq_groups_pending adds delta (+1/-1) to the pending count of the group
 * (fingerprint, tenant; NULL tenant is ""). A NULL fingerprint is a no-op.
 * Runs on the writer inside the caller's transaction. */
int dlq_sq_groups_pending(struct sq_conn *w, const char *fingerprint, const char *tenant, int delta,
                          char *err, size_t errlen)
{
    if (!fingerprint || !fingerprint[0] || delta == 0)
        return DLQ_OK;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w, sql_group_pending, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tenant ? tenant : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, delta);
    return step_reset(w, st, err, errlen, "count group pending");
}
