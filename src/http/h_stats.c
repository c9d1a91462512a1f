/*
 * h_stats.c: GET /api/v1/dlq/stats, POST /api/v1/dlq/report and GET
 * /api/v1/dlq/groups (slice C1). Stats are answered from the store's
 * counters (never a scan), confined to the caller's tenant; the report is
 * the same body, also posted to --notify-url by the service's sender.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static const char *arg(struct dlq_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* int_arg parses ?name=N in [lo, hi] into *out (def when absent). */
static int int_arg(struct dlq_req *r, const char *name, long lo, long hi, long def, long *out)
{
    const char *v = arg(r, name);
    *out = def;
    if (!v)
        return DLQ_OK;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        dlq_errors_add(&r->errs, name, "must be an integer from %ld to %ld", lo, hi);
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid query");
    }
    *out = n;
    return DLQ_OK;
}

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char t[DLQ_TIME_MAX];
    dlq_time_format(ms, t);
    return json_string(t);
}

static json_t *counts_obj(const struct dlq_counts *c)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < c->n; i++)
        json_object_set_new(o, c->items[i].key, json_integer(c->items[i].n));
    if (o && c->other)
        json_object_set_new(o, "_other", json_integer(c->other));
    return o;
}

/* stats_json builds the stats body of ISSUE3_API.md from v. */
static json_t *stats_json(const struct dlq_stats_view *v)
{
    const struct dlq_stats *s = &v->st;
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "timestamp", time_or_null(v->now));
    json_object_set_new(o, "total_failures", json_integer(s->total));
    json_object_set_new(o, "pending_entries", json_integer(s->pending));
    json_object_set_new(o, "by_task", counts_obj(&s->by_task));
    json_object_set_new(o, "health", json_string(v->health));
    json_object_set_new(o, "by_queue", counts_obj(&s->by_queue));
    json_object_set_new(o, "by_reason", counts_obj(&s->by_reason));
    json_object_set_new(o, "by_exception_type", counts_obj(&s->by_exc));
    json_t *bs = json_object();
    for (int i = 1; bs && i < DLQ_STATUS_COUNT; i++)
        if (s->by_status[i])
            json_object_set_new(bs, dlq_status_name((enum dlq_status)i),
                                json_integer(s->by_status[i]));
    json_object_set_new(o, "by_status", bs);
    json_object_set_new(o, "oldest_pending_at", time_or_null(s->oldest_pending_at));
    json_object_set_new(o, "oldest_pending_age_s",
                        s->oldest_pending_at
                            ? json_integer(v->now > s->oldest_pending_at
                                               ? (v->now - s->oldest_pending_at) / 1000
                                               : 0)
                            : json_null());
    json_object_set_new(o, "failures_last_hour", json_integer(s->failures_last_hour));
    json_object_set_new(o, "failures_in_window", json_integer(s->failures_in_window));
    json_object_set_new(o, "window_hours", json_integer(s->hours));
    json_t *bh = json_array();
    for (int i = 0; bh && i < s->hours; i++)
        json_array_append_new(bh, json_pack("{s:o, s:I}", "hour",
                                            time_or_null(s->hour0 + (int64_t)i * 3600000), "count",
                                            (json_int_t)s->by_hour[i]));
    json_object_set_new(o, "by_hour", bh);
    json_object_set_new(
        o, "alert_status",
        json_pack("{s:b, s:s}", "should_alert", v->should_alert, "reason", v->alert_reason));
    json_object_set_new(
        o, "thresholds",
        json_pack("{s:i, s:i}", "warning", v->warning_at, "critical", v->critical_at));
    return o;
}

/* compute reads ?hours and computes the stats for the caller into *out. */
static int compute(struct dlq_req *r, json_t **out, struct dlq_stats_view *v)
{
    memset(v, 0, sizeof *v); /* the caller clears it whatever happens */
    long hours;
    int rc = int_arg(r, "hours", 1, DLQ_STATS_HOURS_MAX, 24, &hours);
    if (rc != DLQ_OK)
        return rc;
    rc = dlq_service_stats(r->h->svc, &r->who, (int)hours, v, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    *out = stats_json(v);
    return *out ? DLQ_OK : DLQ_E_NOMEM;
}

int dlq_h_stats(struct dlq_req *r)
{
    struct dlq_stats_view v;
    json_t *o = NULL;
    int rc = compute(r, &o, &v);
    dlq_stats_clear(&v.st);
    if (rc != DLQ_OK)
        return rc;
    return dlq_http_reply_json(r, MHD_HTTP_OK, o, NULL);
}

int dlq_h_report(struct dlq_req *r)
{
    struct dlq_stats_view v;
    json_t *o = NULL;
    int rc = compute(r, &o, &v);
    if (rc != DLQ_OK) {
        dlq_stats_clear(&v.st);
        return rc;
    }
    char text[300];
    snprintf(text, sizeof text,
             "[dlq] report: %lld pending (%s), %lld failures in the last hour, %lld stored",
             (long long)v.st.pending, v.health, (long long)v.st.failures_last_hour,
             (long long)v.st.total);
    dlq_stats_clear(&v.st);
    json_object_set_new(o, "text", json_string(text));
    char *body = json_dumps(o, JSON_COMPACT);
    int notified = body ? dlq_service_notify(r->h->svc, body) : 0;
    free(body);
    json_object_del(o, "text");
    json_object_set_new(o, "notified", json_boolean(notified));
    return dlq_http_reply_json(r, MHD_HTTP_OK, o, NULL);
}

int dlq_h_groups(struct dlq_req *r)
{
    struct dlq_group_filter f;
    memset(&f, 0, sizeof f);
    long limit;
    int rc = int_arg(r, "limit", 1, 100, 50, &limit);
    if (rc != DLQ_OK)
        return rc;
    f.limit = (int)limit;
    const char *st = arg(r, "status");
    if (st) {
        f.status = dlq_status_parse(st);
        if (f.status == DLQ_STATUS_NONE) {
            dlq_errors_add(&r->errs, "status", "unknown status '%.60s'", st);
            return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid query");
        }
    }
    f.task_name = arg(r, "task_name");
    f.queue = arg(r, "queue");
    f.exception_type = arg(r, "exception_type");
    struct dlq_group *g = NULL;
    size_t n = 0;
    rc = dlq_service_groups(r->h->svc, &r->who, &f, &g, &n, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++) {
        json_t *it = json_object();
        json_object_set_new(it, "fingerprint", json_string(g[i].fingerprint));
        json_object_set_new(it, "task_name",
                            g[i].task_name ? json_string(g[i].task_name) : json_null());
        json_object_set_new(it, "exception_type",
                            g[i].exc_type ? json_string(g[i].exc_type) : json_null());
        json_object_set_new(it, "sample_message",
                            g[i].sample_message ? json_string(g[i].sample_message) : json_null());
        json_object_set_new(it, "sample_dlq_id",
                            g[i].sample_dlq_id ? json_string(g[i].sample_dlq_id) : json_null());
        json_object_set_new(it, "count", json_integer(g[i].count));
        json_object_set_new(it, "pending", json_integer(g[i].pending));
        json_object_set_new(it, "first_seen", time_or_null(g[i].first_seen));
        json_object_set_new(it, "last_seen", time_or_null(g[i].last_seen));
        json_array_append_new(items, it);
    }
    dlq_groups_free(g, n);
    return dlq_http_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "items", items), NULL);
}
