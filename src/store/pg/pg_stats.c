/*
 * pg_stats.c: the read side of slice C1 on PostgreSQL, as sq_stats.c on
 * SQLite: stats, failure groups, the replay-outcome window, alert state and
 * the numbers /metrics shows. There is no stats_rollup here: totals and
 * breakdowns sum entry_counts (one row per key combination, kept by
 * triggers, pg_schema.c) grouped by the dimension, so their cost grows with
 * the number of distinct keys, not of entries. Failures per hour sum
 * `hourly`, the oldest pending failure is a MIN over ix_entries_status,
 * groups read `groups` (counts kept by triggers too).
 *
 * Keys sort as SQLite's do (byte order: COLLATE "C"), reasons by the text
 * of their number as SQLite's rollup stores them, so both backends list
 * breakdowns in the same order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "pg_int.h"

#define HOUR_MS 3600000LL

/* The pending breakdown along one column of entry_counts; TC is the
 * tenant condition ("" or " AND tenant_id = $1"). */
#define BREAKDOWN(col, order, tc)                                                                  \
    "SELECT " col ", sum(n) FROM entry_counts WHERE status IN (1, 2)" tc " GROUP BY " col          \
    " HAVING sum(n) > 0 ORDER BY 2 DESC, " order
#define TENANT_C " AND tenant_id = $1"

static const char *const breakdown_sql[2][4] = {
    {
        BREAKDOWN("task_name", "task_name COLLATE \"C\"", ""),
        BREAKDOWN("queue", "queue COLLATE \"C\"", ""),
        BREAKDOWN("reason", "reason::text COLLATE \"C\"", ""),
        BREAKDOWN("exc_type", "exc_type COLLATE \"C\"", ""),
    },
    {
        BREAKDOWN("task_name", "task_name COLLATE \"C\"", TENANT_C),
        BREAKDOWN("queue", "queue COLLATE \"C\"", TENANT_C),
        BREAKDOWN("reason", "reason::text COLLATE \"C\"", TENANT_C),
        BREAKDOWN("exc_type", "exc_type COLLATE \"C\"", TENANT_C),
    },
};

/* tenant_params starts p with the tenant, when there is one ($1). */
static void tenant_params(struct pg_params *p, const char *tenant)
{
    dlq_pg_p_init(p);
    if (tenant)
        dlq_pg_p_text(p, tenant);
}

static int by_status(struct pg_conn *c, const char *tenant, struct dlq_stats *out, char *err,
                     size_t errlen)
{
    struct pg_params p;
    PGresult *r;
    tenant_params(&p, tenant);
    int code = dlq_pg_exec(c,
                           tenant ? "SELECT status, sum(n) FROM entry_counts"
                                    " WHERE tenant_id = $1 GROUP BY status"
                                  : "SELECT status, sum(n) FROM entry_counts GROUP BY status",
                           &p, &r, "stats by status", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t sv = dlq_pg_i64(r, i, 0), n = dlq_pg_i64(r, i, 1);
        if (sv > 0 && sv < DLQ_STATUS_COUNT)
            out->by_status[sv] = n;
        out->total += n;
    }
    PQclear(r);
    out->pending =
        out->by_status[DLQ_STATUS_PENDING_REVIEW] + out->by_status[DLQ_STATUS_REQUIRES_REVIEW];
    return DLQ_OK;
}

/* breakdown fills cs with the pending entries along dimension dim (0 task,
 * 1 queue, 2 reason, 3 exception type), largest first. */
static int breakdown(struct pg_conn *c, const char *tenant, int dim, struct dlq_counts *cs,
                     char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r;
    tenant_params(&p, tenant);
    int code =
        dlq_pg_exec(c, breakdown_sql[tenant != NULL][dim], &p, &r, "stats breakdown", err, errlen);
    if (code != DLQ_OK)
        return code;
    cs->items = calloc(DLQ_STATS_KEYS_MAX, sizeof *cs->items);
    if (!cs->items) {
        PQclear(r);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t n = dlq_pg_i64(r, i, 1);
        if (cs->n == DLQ_STATS_KEYS_MAX) {
            cs->other += n;
            continue;
        }
        const char *k;
        if (dim == 2) {
            k = dlq_reason_name((enum dlq_reason)dlq_pg_i64(r, i, 0));
            if (!k)
                k = "unknown";
        } else {
            k = PQgetvalue(r, i, 0);
        }
        cs->items[cs->n].key = strdup(k);
        if (!cs->items[cs->n].key) {
            PQclear(r);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        cs->items[cs->n++].n = n;
    }
    PQclear(r);
    return DLQ_OK;
}

/* oldest_pending: MIN(failed_at) per pending status the counters say has
 * entries, each a seek on ix_entries_status (the planner may take
 * ix_entries_tenant for a tenant). */
static int oldest_pending(struct pg_conn *c, const char *tenant, struct dlq_stats *out, char *err,
                          size_t errlen)
{
    for (int sv = DLQ_STATUS_PENDING_REVIEW; sv <= DLQ_STATUS_REQUIRES_REVIEW; sv++) {
        if (out->by_status[sv] <= 0)
            continue;
        struct pg_params p;
        PGresult *r;
        tenant_params(&p, tenant);
        dlq_pg_p_int(&p, sv);
        int code = dlq_pg_exec(c,
                               tenant ? "SELECT min(failed_at) FROM entries WHERE tenant_id = $1"
                                        " AND status = $2::int"
                                      : "SELECT min(failed_at) FROM entries WHERE status = $1::int",
                               &p, &r, "oldest pending", err, errlen);
        if (code != DLQ_OK)
            return code;
        int64_t at = PQntuples(r) > 0 ? dlq_pg_i64(r, 0, 0) : 0;
        PQclear(r);
        if (at && (!out->oldest_pending_at || at < out->oldest_pending_at))
            out->oldest_pending_at = at;
    }
    return DLQ_OK;
}

/* per_hour reads the hourly buckets: by_hour over the window, and a sliding
 * last hour (this hour plus the unexpired share of the previous one). */
static int per_hour(struct pg_conn *c, const char *tenant, int64_t now, struct dlq_stats *out,
                    char *err, size_t errlen)
{
    int64_t cur = now / HOUR_MS * HOUR_MS;
    out->hour0 = cur - (int64_t)(out->hours - 1) * HOUR_MS;
    int64_t from = out->hour0 < cur - HOUR_MS ? out->hour0 : cur - HOUR_MS;
    struct pg_params p;
    PGresult *r;
    tenant_params(&p, tenant);
    dlq_pg_p_int(&p, from);
    int code = dlq_pg_exec(c,
                           tenant ? "SELECT hour, sum(n) FROM hourly WHERE tenant_id = $1"
                                    " AND hour >= $2::bigint GROUP BY hour"
                                  : "SELECT hour, sum(n) FROM hourly WHERE hour >= $1::bigint"
                                    " GROUP BY hour",
                           &p, &r, "stats per hour", err, errlen);
    if (code != DLQ_OK)
        return code;
    int64_t prev = 0, this = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t h = dlq_pg_i64(r, i, 0), n = dlq_pg_i64(r, i, 1);
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
    PQclear(r);
    int64_t left = HOUR_MS - (now - cur);
    out->failures_last_hour = this + (prev * left + HOUR_MS / 2) / HOUR_MS;
    return DLQ_OK;
}

/* snapshot_begin opens a read-only transaction whose statements all see
 * one snapshot, so the numbers of one answer agree with each other. */
static int snapshot_begin(struct pg_conn *c, char *err, size_t errlen)
{
    return dlq_pg_exec_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                              "begin a snapshot", err, errlen);
}

/* snapshot_end commits (ok) or rolls back the snapshot; a failed end
 * leaves the session out of the pool (dlq_pg_release closes it). */
static void snapshot_end(struct pg_conn *c)
{
    char ignore[64];
    dlq_pg_exec_simple(c, "COMMIT", "end a snapshot", ignore, sizeof ignore);
}

struct stats_req {
    const char *tenant;
    int64_t now;
    struct dlq_stats *out;
};

static int stats_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct stats_req *q = ctx;
    int code = snapshot_begin(c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = by_status(c, q->tenant, q->out, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, q->tenant, 0, &q->out->by_task, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, q->tenant, 1, &q->out->by_queue, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, q->tenant, 2, &q->out->by_reason, err, errlen);
    if (code == DLQ_OK)
        code = breakdown(c, q->tenant, 3, &q->out->by_exc, err, errlen);
    if (code == DLQ_OK)
        code = oldest_pending(c, q->tenant, q->out, err, errlen);
    if (code == DLQ_OK)
        code = per_hour(c, q->tenant, q->now, q->out, err, errlen);
    snapshot_end(c);
    return code;
}

/* dlq_pg_stats: see the stats method in store.h. */
int dlq_pg_stats(struct dlq_store *s, const char *tenant, int64_t now, int hours,
                 struct dlq_stats *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (hours < 1 || hours > DLQ_STATS_HOURS_MAX)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "hours must be 1..%d", DLQ_STATS_HOURS_MAX);
    out->hours = hours;
    struct stats_req q = {tenant, now, out};
    int code = dlq_pg_read(PG(s), stats_body, &q, err, errlen);
    if (code != DLQ_OK)
        dlq_stats_clear(out);
    return code;
}

struct groups_req {
    const struct dlq_group_filter *f;
    int limit;
    struct dlq_group *g;
    size_t n;
};

/* GROUP_ROWS is one row per group (fingerprint, tenant): the rows of
 * changes that the triggers add (pg_schema.c) summed, the sample of the
 * lowest entry id kept; the filters apply to these. */
#define GROUP_ROWS                                                                                 \
    "SELECT fingerprint, tenant_id, (array_agg(task_name ORDER BY sample_entry))[1] AS task_name," \
    " (array_agg(exc_type ORDER BY sample_entry))[1] AS exc_type,"                                 \
    " (array_agg(sample_message ORDER BY sample_entry))[1] AS sample_message,"                     \
    " (array_agg(sample_dlq_id ORDER BY sample_entry))[1] AS sample_dlq_id,"                       \
    " min(sample_entry) AS sample_entry, sum(count) AS count, sum(pending) AS pending,"            \
    " min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM groups"                      \
    " GROUP BY fingerprint, tenant_id"

static int groups_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct groups_req *q = ctx;
    const struct dlq_group_filter *f = q->f;
    struct pg_params p;
    char sql[1400], cond[700] = "";
    size_t len = 0;
    dlq_pg_p_init(&p);
    /* parameters are numbered in the order the conditions appear */
#define COND(fmt, ...) len += (size_t)snprintf(cond + len, sizeof cond - len, fmt, __VA_ARGS__)
    if (f->tenant) {
        dlq_pg_p_text(&p, f->tenant);
        COND(" AND tenant_id = $%d", p.n);
    }
    if (f->task_name) {
        dlq_pg_p_text(&p, f->task_name);
        COND(" AND task_name = $%d", p.n);
    }
    if (f->exception_type) {
        dlq_pg_p_text(&p, f->exception_type);
        COND(" AND exc_type = $%d", p.n);
    }
    if (f->status == DLQ_STATUS_PENDING_REVIEW || f->status == DLQ_STATUS_REQUIRES_REVIEW)
        COND("%s", " AND pending > 0");
    if (f->status) {
        dlq_pg_p_int(&p, f->status);
        COND(" AND EXISTS(SELECT 1 FROM entries e WHERE e.fingerprint = g.fingerprint"
             " AND e.tenant_id = g.tenant_id AND e.status = $%d::int)",
             p.n);
    }
    if (f->queue) {
        dlq_pg_p_text(&p, f->queue);
        COND(" AND EXISTS(SELECT 1 FROM entries e WHERE e.fingerprint = g.fingerprint"
             " AND e.tenant_id = g.tenant_id AND e.queue = $%d)",
             p.n);
    }
#undef COND
    dlq_pg_p_int(&p, q->limit);
    int n =
        snprintf(sql, sizeof sql,
                 "SELECT fingerprint, (array_agg(task_name ORDER BY sample_entry))[1],"
                 " (array_agg(exc_type ORDER BY sample_entry))[1],"
                 " (array_agg(sample_message ORDER BY sample_entry))[1],"
                 " (array_agg(sample_dlq_id ORDER BY sample_entry))[1],"
                 " greatest(sum(count), 0) AS c, greatest(sum(pending), 0) AS p, min(first_seen),"
                 " max(last_seen)"
                 " FROM (" GROUP_ROWS ") g WHERE true%s GROUP BY fingerprint"
                 " ORDER BY p DESC, c DESC, fingerprint COLLATE \"C\" LIMIT $%d::int",
                 cond, p.n);
    if (len >= sizeof cond || n < 0 || (size_t)n >= sizeof sql)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "groups query too long");
    PGresult *r;
    int code = dlq_pg_exec(c, sql, &p, &r, "groups", err, errlen);
    if (code != DLQ_OK)
        return code;
    int rows = PQntuples(r), oom = 0;
    if (rows > q->limit)
        rows = q->limit;
    q->g = calloc((size_t)q->limit, sizeof *q->g);
    oom = q->g == NULL;
    for (int i = 0; i < rows && !oom; i++) {
        struct dlq_group *x = &q->g[q->n++];
        x->fingerprint = dlq_pg_dup(r, i, 0, &oom);
        x->task_name = dlq_pg_dup(r, i, 1, &oom);
        x->exc_type = dlq_pg_dup(r, i, 2, &oom);
        x->sample_message = dlq_pg_dup(r, i, 3, &oom);
        x->sample_dlq_id = dlq_pg_dup(r, i, 4, &oom);
        x->count = dlq_pg_i64(r, i, 5);
        x->pending = dlq_pg_i64(r, i, 6);
        x->first_seen = dlq_pg_i64(r, i, 7);
        x->last_seen = dlq_pg_i64(r, i, 8);
    }
    PQclear(r);
    if (oom)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    return DLQ_OK;
}

/* dlq_pg_groups: see the groups method in store.h. Across tenants (tenant
 * NULL) a fingerprint's rows are summed into one group. */
int dlq_pg_groups(struct dlq_store *s, const struct dlq_group_filter *f, struct dlq_group **out,
                  size_t *n, char *err, size_t errlen)
{
    struct groups_req q = {f, f->limit >= 1 && f->limit <= 100 ? f->limit : 50, NULL, 0};
    *out = NULL;
    *n = 0;
    int code = dlq_pg_read(PG(s), groups_body, &q, err, errlen);
    if (code != DLQ_OK) {
        dlq_groups_free(q.g, q.n);
        return code;
    }
    *out = q.g;
    *n = q.n;
    return DLQ_OK;
}

struct window_req {
    int window, finished, failed;
};

static int window_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct window_req *q = ctx;
    struct pg_params p;
    PGresult *r;
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, q->window);
    int code = dlq_pg_exec(c,
                           "SELECT count(*), coalesce(sum((succeeded = 0)::int), 0) FROM"
                           " (SELECT succeeded FROM replay_outcomes ORDER BY id DESC"
                           " LIMIT $1::int) x",
                           &p, &r, "replay window", err, errlen);
    if (code != DLQ_OK)
        return code;
    q->finished = (int)dlq_pg_i64(r, 0, 0);
    q->failed = (int)dlq_pg_i64(r, 0, 1);
    PQclear(r);
    return DLQ_OK;
}

/* dlq_pg_replay_window counts the newest `window` replay outcomes. */
int dlq_pg_replay_window(struct dlq_store *s, int window, int *finished, int *failed, char *err,
                         size_t errlen)
{
    struct window_req q = {window, 0, 0};
    *finished = *failed = 0;
    int code = dlq_pg_read(PG(s), window_body, &q, err, errlen);
    if (code == DLQ_OK) {
        *finished = q.finished;
        *failed = q.failed;
    }
    return code;
}

struct alert_req {
    struct dlq_alert_row *rows;
    const struct dlq_alert_row *row;
    size_t max, n;
};

static int alert_load_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct alert_req *q = ctx;
    PGresult *r;
    q->n = 0;
    int code =
        dlq_pg_exec(c, "SELECT rule, firing, since, last_notified_at, reason FROM alert_state",
                    NULL, &r, "alert state", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r) && q->n < q->max; i++) {
        struct dlq_alert_row *a = &q->rows[q->n++];
        memset(a, 0, sizeof *a);
        dlq_pg_copy(r, i, 0, a->rule, sizeof a->rule);
        a->firing = (int)dlq_pg_i64(r, i, 1);
        a->since = dlq_pg_i64(r, i, 2);
        a->last_notified_at = dlq_pg_i64(r, i, 3);
        dlq_pg_copy(r, i, 4, a->reason, sizeof a->reason);
    }
    PQclear(r);
    return DLQ_OK;
}

/* dlq_pg_alert_load reads the stored alert state, up to max rules. */
int dlq_pg_alert_load(struct dlq_store *s, struct dlq_alert_row *rows, size_t max, size_t *n,
                      char *err, size_t errlen)
{
    struct alert_req q = {rows, NULL, max, 0};
    int code = dlq_pg_read(PG(s), alert_load_body, &q, err, errlen);
    *n = code == DLQ_OK ? q.n : 0;
    return code;
}

static int alert_save_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    const struct dlq_alert_row *a = ((struct alert_req *)ctx)->row;
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, a->rule);
    dlq_pg_p_int(&p, a->firing);
    dlq_pg_p_int_or_null(&p, a->since);
    dlq_pg_p_int_or_null(&p, a->last_notified_at);
    dlq_pg_p_text(&p, a->reason);
    return dlq_pg_exec(c,
                       "INSERT INTO alert_state(rule, firing, since, last_notified_at, reason)"
                       " VALUES($1, $2, $3, $4, $5) ON CONFLICT (rule) DO UPDATE SET"
                       " firing = excluded.firing, since = excluded.since,"
                       " last_notified_at = excluded.last_notified_at, reason = excluded.reason",
                       &p, NULL, "save alert state", err, errlen);
}

/* dlq_pg_alert_save upserts one rule's state (one statement: its own
 * transaction). */
int dlq_pg_alert_save(struct dlq_store *s, const struct dlq_alert_row *row, char *err,
                      size_t errlen)
{
    struct alert_req q = {NULL, row, 0, 0};
    return dlq_pg_read(PG(s), alert_save_body, &q, err, errlen);
}

/* metrics_rows runs the metric queries on c, inside one snapshot. */
static int metrics_rows(struct pg_conn *c, struct dlq_store_metrics *out, char *err, size_t errlen)
{
    PGresult *r;
    int oom = 0;
    int code = dlq_pg_exec(c, "SELECT status, sum(n) FROM entry_counts GROUP BY status", NULL, &r,
                           "metrics", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t sv = dlq_pg_i64(r, i, 0);
        if (sv > 0 && sv < DLQ_STATUS_COUNT)
            out->by_status[sv] = dlq_pg_i64(r, i, 1);
    }
    PQclear(r);

    code = dlq_pg_exec(c,
                       "SELECT queue, task_name, sum(n) FROM entry_counts WHERE status IN (1, 2)"
                       " GROUP BY queue, task_name HAVING sum(n) > 0"
                       " ORDER BY 3 DESC, (queue || chr(31) || task_name) COLLATE \"C\"",
                       NULL, &r, "metrics", err, errlen);
    if (code != DLQ_OK)
        return code;
    out->pending = calloc(50, sizeof *out->pending);
    oom = !out->pending;
    for (int i = 0; !oom && i < PQntuples(r); i++) {
        int64_t n = dlq_pg_i64(r, i, 2);
        if (out->npending == 50) {
            out->pending_other += n;
            continue;
        }
        struct dlq_pending_qt *p = &out->pending[out->npending++];
        p->queue = dlq_pg_dup(r, i, 0, &oom);
        p->task = dlq_pg_dup(r, i, 1, &oom);
        p->n = n;
    }
    PQclear(r);
    if (oom)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");

    code = dlq_pg_exec(c,
                       "SELECT (SELECT coalesce(sum(n), 0) FROM hourly),"
                       " (SELECT count(*) FROM replay_outcomes WHERE succeeded <> 0),"
                       " (SELECT count(*) FROM replay_outcomes WHERE succeeded = 0)",
                       NULL, &r, "metrics", err, errlen);
    if (code != DLQ_OK)
        return code;
    out->ingested = dlq_pg_i64(r, 0, 0);
    out->replay_succeeded = dlq_pg_i64(r, 0, 1);
    out->replay_failed = dlq_pg_i64(r, 0, 2);
    PQclear(r);
    return DLQ_OK;
}

static int metrics_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    int code = snapshot_begin(c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = metrics_rows(c, ctx, err, errlen);
    snapshot_end(c);
    return code;
}

/* dlq_pg_metrics: see the metrics method in store.h. */
int dlq_pg_metrics(struct dlq_store *s, struct dlq_store_metrics *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int code = dlq_pg_read(PG(s), metrics_body, out, err, errlen);
    if (code != DLQ_OK)
        dlq_store_metrics_clear(out);
    return code;
}
