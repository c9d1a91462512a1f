/*
 * sq_stats.c: the read side of slice C1 on SQLite: stats, failure groups,
 * the replay-outcome window, alert state and the numbers /metrics shows.
 * Stats never count entries: totals and breakdowns are read from
 * stats_rollup (the entry_counts cube summed per dimension by triggers, see
 * sq_schema.c step 3: one short range per breakdown), failures per hour are
 * sums over `hourly`, and the oldest pending failure is two index seeks
 * (MIN over ix_entries_status). So their cost does not grow with the
 * number of entries. Statements are prepared per call, not cached: these
 * are rare requests and must not evict the list queries from a reader's
 * statement cache.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define HOUR_MS 3600000LL

/* prep prepares sql on c (caller finalizes). */
static int prep(struct sq_conn *c, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return dlq_sq_err(c->db, rc, err, errlen, "prepare stats");
    return DLQ_OK;
}

/* finish finalizes st and maps the last step's rc (DONE is fine). */
static int finish(struct sq_conn *c, sqlite3_stmt *st, int rc, char *err, size_t errlen,
                  const char *what)
{
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, what);
    return DLQ_OK;
}

static void bind_tenant(sqlite3_stmt *st, const char *tenant)
{
    if (tenant)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, "?9"), tenant, -1, SQLITE_STATIC);
}

/* rollup_sql is the read of one dimension of stats_rollup (sq_schema.c):
 * dims 0-4 for one tenant (?9), 10-14 summed over all tenants. */
static const char *rollup_sql(const char *tenant)
{
    return tenant ? "SELECT key, n FROM stats_rollup WHERE tenant_id = ?9 AND dim = ?1"
                    " AND n > 0 ORDER BY n DESC, key"
                  : "SELECT key, n FROM stats_rollup WHERE tenant_id = '' AND dim = ?1 + 10"
                    " AND n > 0 ORDER BY n DESC, key";
}

static int by_status(struct sq_conn *c, const char *tenant, struct dlq_stats *out, char *err,
                     size_t errlen)
{
    sqlite3_stmt *st;
    int code = prep(c, rollup_sql(tenant), &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int(st, 1, 0);
    bind_tenant(st, tenant);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (s > 0 && s < DLQ_STATUS_COUNT)
            out->by_status[s] = n;
        out->total += n;
    }
    out->pending =
        out->by_status[DLQ_STATUS_PENDING_REVIEW] + out->by_status[DLQ_STATUS_REQUIRES_REVIEW];
    return finish(c, st, rc, err, errlen, "stats by status");
}

/* breakdown fills cs with the pending entries along dimension dim (1 task,
 * 2 queue, 3 reason, 4 exception type), largest first. */
static int breakdown(struct sq_conn *c, const char *tenant, int dim, struct dlq_counts *cs,
                     char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = prep(c, rollup_sql(tenant), &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int(st, 1, dim);
    bind_tenant(st, tenant);
    cs->items = calloc(DLQ_STATS_KEYS_MAX, sizeof *cs->items);
    if (!cs->items) {
        sqlite3_finalize(st);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 1);
        if (cs->n == DLQ_STATS_KEYS_MAX) {
            cs->other += n;
            continue;
        }
        const char *k;
        if (dim == 3) {
            k = dlq_reason_name((enum dlq_reason)sqlite3_column_int(st, 0));
            if (!k)
                k = "unknown";
        } else {
            k = (const char *)sqlite3_column_text(st, 0);
        }
        cs->items[cs->n].key = strdup(k ? k : "");
        if (!cs->items[cs->n].key) {
            sqlite3_finalize(st);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        cs->items[cs->n++].n = n;
    }
    return finish(c, st, rc, err, errlen, "stats breakdown");
}

/* oldest_in reads MIN(failed_at) of status st (for tenant, if any) with
 * the index named in sql into *at (0: none). */
static int oldest_in(struct sq_conn *c, const char *sql, int st_value, const char *tenant,
                     int64_t *at, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = prep(c, sql, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int(st, 1, st_value);
    bind_tenant(st, tenant);
    int rc = sqlite3_step(st);
    *at = 0;
    if (rc == SQLITE_ROW) {
        *at = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    return finish(c, st, rc, err, errlen, "oldest pending");
}

/* oldest_pending: MIN(failed_at) per pending status. Without a tenant it
 * is a seek on ix_entries_status. For a tenant the counters choose the
 * index: walking (status, failed_at) visits about all_in_status /
 * tenant_in_status rows before the tenant's oldest, walking (tenant_id,
 * failed_at) about tenant_total / tenant_in_status; a status the tenant
 * has none of is not looked up at all. */
static int oldest_pending(struct sq_conn *c, const char *tenant, struct dlq_stats *out, char *err,
                          size_t errlen)
{
    int64_t all[DLQ_STATUS_COUNT] = {0};
    if (tenant) {
        sqlite3_stmt *st;
        int code = prep(c, "SELECT key, n FROM stats_rollup WHERE tenant_id = '' AND dim = 10", &st,
                        err, errlen);
        if (code != DLQ_OK)
            return code;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int sv = sqlite3_column_int(st, 0);
            if (sv > 0 && sv < DLQ_STATUS_COUNT)
                all[sv] = sqlite3_column_int64(st, 1);
        }
        if ((code = finish(c, st, rc, err, errlen, "oldest pending")) != DLQ_OK)
            return code;
    }
    for (int sv = DLQ_STATUS_PENDING_REVIEW; sv <= DLQ_STATUS_REQUIRES_REVIEW; sv++) {
        if (out->by_status[sv] <= 0)
            continue;
        const char *sql;
        if (!tenant)
            sql = "SELECT min(failed_at) FROM entries WHERE status = ?1";
        else if (all[sv] <= out->total)
            sql = "SELECT min(failed_at) FROM entries INDEXED BY ix_entries_status"
                  " WHERE status = ?1 AND tenant_id = ?9";
        else
            sql = "SELECT min(failed_at) FROM entries INDEXED BY ix_entries_tenant"
                  " WHERE status = ?1 AND tenant_id = ?9";
        int64_t at;
        int code = oldest_in(c, sql, sv, tenant, &at, err, errlen);
        if (code != DLQ_OK)
            return code;
        if (at && (!out->oldest_pending_at || at < out->oldest_pending_at))
            out->oldest_pending_at = at;
    }
    return DLQ_OK;
}

/* per_hour reads the hourly buckets: by_hour over the window, and a sliding
 * last hour (this hour plus the unexpired share of the previous one). */
static int per_hour(struct sq_conn *c, const char *tenant, int64_t now, struct dlq_stats *out,
                    char *err, size_t errlen)
{
    int64_t cur = now / HOUR_MS * HOUR_MS;
    out->hour0 = cur - (int64_t)(out->hours - 1) * HOUR_MS;
    int64_t from = out->hour0 < cur - HOUR_MS ? out->hour0 : cur - HOUR_MS;
    sqlite3_stmt *st;
    int code = prep(c,
                    tenant ? "SELECT hour, sum(n) FROM hourly WHERE hour >= ?1 AND tenant_id = ?9"
                             " GROUP BY hour"
                           : "SELECT hour, sum(n) FROM hourly WHERE hour >= ?1 GROUP BY hour",
                    &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, from);
    bind_tenant(st, tenant);
    int64_t prev = 0, this = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t h = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 1);
        if (h > cur)
            h = cur; /* failures stamped in the future count as now */
        if (h == cur)
            this += n;
        else if (h == cur - HOUR_MS)
            prev += n;
        if (h >= out->hour0) {
            out->by_hour[(h - out->hour0) / HOUR_MS] += n;
            out->failures_in_window += n;
        }
    }
    int64_t left = HOUR_MS - (now - cur);
    out->failures_last_hour = this + (prev * left + HOUR_MS / 2) / HOUR_MS;
    return finish(c, st, rc, err, errlen, "stats per hour");
}

/* dlq_sq_stats: see the stats method in store.h. */
int dlq_sq_stats(struct dlq_store *base, const char *tenant, int64_t now, int hours,
                 struct dlq_stats *out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    memset(out, 0, sizeof *out);
    if (hours < 1 || hours > DLQ_STATS_HOURS_MAX)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "hours must be 1..%d", DLQ_STATS_HOURS_MAX);
    out->hours = hours;
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    /* One read transaction: the numbers agree with each other. */
    sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    code = by_status(c, tenant, out, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, tenant, 1, &out->by_task, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, tenant, 2, &out->by_queue, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, tenant, 3, &out->by_reason, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, tenant, 4, &out->by_exc, err, errlen);
    if (code == DLQ_OK)
        code = oldest_pending(c, tenant, out, err, errlen);
    if (code == DLQ_OK)
        code = per_hour(c, tenant, now, out, err, errlen);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK)
        dlq_stats_clear(out);
    return code;
}

/* dlq_sq_groups: see the groups method in store.h. Across tenants (tenant
 * NULL) a fingerprint's rows are summed into one group. */
int dlq_sq_groups(struct dlq_store *base, const struct dlq_group_filter *f, struct dlq_group **out,
                  size_t *n, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    *out = NULL;
    *n = 0;
    int limit = f->limit >= 1 && f->limit <= 100 ? f->limit : 50;
    char sql[1024];
    int len = snprintf(
        sql, sizeof sql,
        "SELECT fingerprint, max(task_name), max(exc_type), max(sample_message),"
        " max(sample_dlq_id), sum(count) AS c, sum(pending) AS p, min(first_seen),"
        " max(last_seen) FROM groups g WHERE 1%s%s%s%s%s%s"
        " GROUP BY fingerprint ORDER BY p DESC, c DESC, fingerprint LIMIT ?6",
        f->tenant ? " AND tenant_id = ?1" : "", f->task_name ? " AND task_name = ?2" : "",
        f->exception_type ? " AND exc_type = ?3" : "",
        f->status == DLQ_STATUS_PENDING_REVIEW || f->status == DLQ_STATUS_REQUIRES_REVIEW
            ? " AND pending > 0"
            : "",
        f->status ? " AND EXISTS(SELECT 1 FROM entries e WHERE e.fingerprint = g.fingerprint"
                    " AND e.tenant_id = g.tenant_id AND e.status = ?4)"
                  : "",
        f->queue ? " AND EXISTS(SELECT 1 FROM entries e WHERE e.fingerprint = g.fingerprint"
                   " AND e.tenant_id = g.tenant_id AND e.queue = ?5)"
                 : "");
    if (len < 0 || (size_t)len >= sizeof sql)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "groups query too long");
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_stmt *st;
    if ((code = prep(c, sql, &st, err, errlen)) != DLQ_OK) {
        dlq_sq_reader_put(s, c);
        return code;
    }
    if (f->tenant)
        sqlite3_bind_text(st, 1, f->tenant, -1, SQLITE_STATIC);
    if (f->task_name)
        sqlite3_bind_text(st, 2, f->task_name, -1, SQLITE_STATIC);
    if (f->exception_type)
        sqlite3_bind_text(st, 3, f->exception_type, -1, SQLITE_STATIC);
    if (f->status)
        sqlite3_bind_int(st, 4, f->status);
    if (f->queue)
        sqlite3_bind_text(st, 5, f->queue, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, limit);
    struct dlq_group *g = calloc((size_t)limit, sizeof *g);
    size_t k = 0;
    int rc = SQLITE_NOMEM, oom = !g;
    while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)limit) {
        struct dlq_group *x = &g[k++];
        x->fingerprint = dlq_sq_col_dup(st, 0, &oom);
        x->task_name = dlq_sq_col_dup(st, 1, &oom);
        x->exc_type = dlq_sq_col_dup(st, 2, &oom);
        x->sample_message = dlq_sq_col_dup(st, 3, &oom);
        x->sample_dlq_id = dlq_sq_col_dup(st, 4, &oom);
        x->count = sqlite3_column_int64(st, 5);
        x->pending = sqlite3_column_int64(st, 6);
        x->first_seen = sqlite3_column_int64(st, 7);
        x->last_seen = sqlite3_column_int64(st, 8);
    }
    if (rc == SQLITE_ROW)
        rc = SQLITE_DONE;
    if (oom) {
        sqlite3_finalize(st);
        code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    } else {
        code = finish(c, st, rc, err, errlen, "groups");
    }
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK) {
        dlq_groups_free(g, k);
        return code;
    }
    *out = g;
    *n = k;
    return DLQ_OK;
}

/* dlq_sq_replay_window counts the newest `window` replay outcomes. */
int dlq_sq_replay_window(struct dlq_store *base, int window, int *finished, int *failed, char *err,
                         size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    *finished = *failed = 0;
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_stmt *st;
    code = prep(c,
                "SELECT count(*), coalesce(sum(succeeded = 0), 0) FROM (SELECT succeeded"
                " FROM replay_outcomes ORDER BY id DESC LIMIT ?1)",
                &st, err, errlen);
    if (code == DLQ_OK) {
        sqlite3_bind_int(st, 1, window);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *finished = sqlite3_column_int(st, 0);
            *failed = sqlite3_column_int(st, 1);
            rc = SQLITE_DONE;
        }
        code = finish(c, st, rc, err, errlen, "replay window");
    }
    dlq_sq_reader_put(s, c);
    return code;
}

/* dlq_sq_alert_load reads the stored alert state, up to max rules. */
int dlq_sq_alert_load(struct dlq_store *base, struct dlq_alert_row *rows, size_t max, size_t *n,
                      char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    *n = 0;
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_stmt *st;
    code = prep(c, "SELECT rule, firing, since, last_notified_at, reason FROM alert_state", &st,
                err, errlen);
    if (code == DLQ_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            struct dlq_alert_row *r = &rows[(*n)++];
            memset(r, 0, sizeof *r);
            dlq_sq_col_copy(st, 0, r->rule, sizeof r->rule);
            r->firing = sqlite3_column_int(st, 1);
            r->since = sqlite3_column_int64(st, 2);
            r->last_notified_at = sqlite3_column_int64(st, 3);
            dlq_sq_col_copy(st, 4, r->reason, sizeof r->reason);
        }
        if (rc == SQLITE_ROW)
            rc = SQLITE_DONE;
        code = finish(c, st, rc, err, errlen, "alert state");
    }
    dlq_sq_reader_put(s, c);
    return code;
}

static int alert_save_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    const struct dlq_alert_row *r = arg;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(w,
                               "INSERT OR REPLACE INTO alert_state(rule, firing, since,"
                               " last_notified_at, reason) VALUES(?1, ?2, ?3, ?4, ?5)",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, r->rule, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, r->firing);
    dlq_sq_bind_time(st, 3, r->since);
    dlq_sq_bind_time(st, 4, r->last_notified_at);
    sqlite3_bind_text(st, 5, r->reason, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "save alert state");
    return DLQ_OK;
}

/* dlq_sq_alert_save upserts one rule's state through the writer. */
int dlq_sq_alert_save(struct dlq_store *base, const struct dlq_alert_row *row, char *err,
                      size_t errlen)
{
    return dlq_sq_write((struct sq_store *)base, alert_save_fn, (void *)row, err, errlen);
}

/* metrics_rows runs the metric queries on c. */
static int metrics_rows(struct sq_conn *c, struct dlq_store_metrics *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc, oom = 0;
    int code = prep(c, "SELECT key, n FROM stats_rollup WHERE tenant_id = '' AND dim = 10", &st,
                    err, errlen);
    if (code != DLQ_OK)
        return code;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int sv = sqlite3_column_int(st, 0);
        if (sv > 0 && sv < DLQ_STATUS_COUNT)
            out->by_status[sv] = sqlite3_column_int64(st, 1);
    }
    if ((code = finish(c, st, rc, err, errlen, "metrics")) != DLQ_OK)
        return code;

    code = prep(c,
                "SELECT substr(key, 1, instr(key, char(31)) - 1), substr(key, instr(key, char(31))"
                " + 1), n FROM stats_rollup WHERE tenant_id = '' AND dim = 15 AND n > 0"
                " ORDER BY n DESC, key",
                &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    out->pending = calloc(50, sizeof *out->pending);
    oom = !out->pending;
    while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 2);
        if (out->npending == 50) {
            out->pending_other += n;
            continue;
        }
        struct dlq_pending_qt *p = &out->pending[out->npending++];
        p->queue = dlq_sq_col_dup(st, 0, &oom);
        p->task = dlq_sq_col_dup(st, 1, &oom);
        p->n = n;
    }
    if (oom) {
        sqlite3_finalize(st);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    if ((code = finish(c, st, rc, err, errlen, "metrics")) != DLQ_OK)
        return code;

    code = prep(c,
                "SELECT (SELECT coalesce(sum(n), 0) FROM hourly),"
                " (SELECT count(*) FROM replay_outcomes WHERE succeeded),"
                " (SELECT count(*) FROM replay_outcomes WHERE NOT succeeded)",
                &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->ingested = sqlite3_column_int64(st, 0);
        out->replay_succeeded = sqlite3_column_int64(st, 1);
        out->replay_failed = sqlite3_column_int64(st, 2);
        rc = SQLITE_DONE;
    }
    return finish(c, st, rc, err, errlen, "metrics");
}

/* dlq_sq_metrics: see the metrics method in store.h. */
int dlq_sq_metrics(struct dlq_store *base, struct dlq_store_metrics *out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    memset(out, 0, sizeof *out);
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    code = metrics_rows(c, out, err, errlen);
    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK)
        dlq_store_metrics_clear(out);
    return code;
}

/* The commit-duration histogram: process-wide atomics the writer feeds
 * after each COMMIT; readers copy them without a lock (a scrape may see one
 * observation half-added, which Prometheus tolerates). */
static _Atomic uint64_t commit_counts[DLQ_HIST_NB];
static _Atomic uint64_t commit_count;
static _Atomic uint64_t commit_sum_ns;

/* dlq_sq_commit_observe records one commit that took seconds. */
void dlq_sq_commit_observe(double seconds)
{
    int b = 0;
    while (b < DLQ_HIST_NB - 1 && seconds > dlq_hist_bounds[b])
        b++;
    atomic_fetch_add_explicit(&commit_counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&commit_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&commit_sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

/* dlq_sq_commit_histogram copies the commit histogram into *out. */
void dlq_sq_commit_histogram(struct dlq_store *s, struct dlq_hist *out)
{
    (void)s;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < DLQ_HIST_NB; i++) {
        out->counts[i] = atomic_load_explicit(&commit_counts[i], memory_order_relaxed);
        out->count += out->counts[i];
    }
    out->sum = (double)atomic_load_explicit(&commit_sum_ns, memory_order_relaxed) / 1e9;
}
