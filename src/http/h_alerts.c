/*
 * h_alerts.c: GET /api/v1/dlq/alerts (slice C1): each rule's current
 * state as the evaluator thread last decided it, and whether a webhook is
 * configured.
 */
#include <math.h>
#include <string.h>

#include "http_int.h"

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char t[DLQ_TIME_MAX];
    dlq_time_format(ms, t);
    return json_string(t);
}

int dlq_h_alerts(struct dlq_req *r)
{
    struct dlq_alert_view av[DLQ_ALERT_RULES];
    size_t n = 0;
    int webhook = 0;
    /* Alert rules are server-wide (their reasons count every tenant). */
    if (r->who.tenant_id[0])
        return dlq_http_fail(r, DLQ_E_FORBIDDEN,
                             "alert rules are server-wide: a token bound to tenant '%s' cannot "
                             "read them (its stats carry its own alert_status)",
                             r->who.tenant_id);
    dlq_service_alerts(r->h->svc, av, &n, &webhook);
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        json_array_append_new(items, json_pack("{s:s, s:b, s:o, s:s, s:f, s:f, s:o}", "rule",
                                               av[i].rule, "firing", av[i].firing, "since",
                                               time_or_null(av[i].since), "reason", av[i].reason,
                                               "value", isfinite(av[i].value) ? av[i].value : 0.0,
                                               "threshold", av[i].threshold, "last_notified_at",
                                               time_or_null(av[i].last_notified_at)));
    return dlq_http_reply_json(r, MHD_HTTP_OK,
                               json_pack("{s:o, s:b}", "items", items, "webhook", webhook), NULL);
}
