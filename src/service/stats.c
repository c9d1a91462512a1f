/*
 * stats.c: the stats and failure-group use cases (slice C1). Numbers come
 * from the store's counters; this file adds what is policy rather than
 * storage: the tenant a principal is confined to, the health level from
 * the configured thresholds, and whether someone should be alerted.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "alerts_int.h"
#include "service_int.h"

const char *dlq_service_health(const struct dlq_service *svc, int64_t pending)
{
    if (pending > svc->cfg.health_critical_at)
        return "critical";
    if (pending >= svc->cfg.health_warning_at && pending > 0)
        return "warning";
    return "healthy";
}

/* dlq_service_stats: the alert verdict is the running evaluator's (any
 * rule firing); without one, the seed's primary rule is applied directly:
 * something pending for longer than the pending-age threshold. */
int dlq_service_stats(struct dlq_service *svc, const struct dlq_principal *p, int hours,
                      struct dlq_stats_view *out, char *err, size_t errlen)
{
    assert(svc && p && out);
    memset(out, 0, sizeof *out);
    out->now = dlq_now_ms();
    int code =
        dlq_store_stats(svc->store, dlq_service_tenant(p), out->now, hours, &out->st, err, errlen);
    if (code != DLQ_OK)
        return code;
    out->health = dlq_service_health(svc, out->st.pending);
    out->warning_at = svc->cfg.health_warning_at;
    out->critical_at = svc->cfg.health_critical_at;
    /* The evaluator's rules count every tenant: a tenant-bound token gets
     * only the verdict of its own counters, never another tenant's numbers. */
    if (!dlq_service_tenant(p) &&
        dlq_alerts_firing(svc, out->alert_reason, sizeof out->alert_reason)) {
        out->should_alert = 1;
        return DLQ_OK;
    }
    double minutes = dlq_alerts_pending_minutes(svc);
    if (out->st.pending > 0 && out->st.oldest_pending_at &&
        (double)(out->now - out->st.oldest_pending_at) > minutes * 60000.0) {
        out->should_alert = 1;
        snprintf(out->alert_reason, sizeof out->alert_reason, "DLQ depth > 0 for > %g minutes",
                 minutes);
    }
    return DLQ_OK;
}

int dlq_service_groups(struct dlq_service *svc, const struct dlq_principal *p,
                       const struct dlq_group_filter *f, struct dlq_group **out, size_t *n,
                       char *err, size_t errlen)
{
    assert(svc && p && f && out && n);
    struct dlq_group_filter g = *f;
    if (dlq_service_tenant(p))
        g.tenant = dlq_service_tenant(p);
    return dlq_store_groups(svc->store, &g, out, n, err, errlen);
}
