/*
 * metrics.c: the store and alert families of GET /metrics in Prometheus
 * text format 0.0.4 (slice C1): entries by status, pending by queue and
 * task (the 50 largest, the rest as "other"), ingested and replay totals,
 * which alerts fire, and the store's commit-duration histogram. The HTTP
 * layer adds its own request families. Every number comes from counters.
 */
#include <assert.h>
#include <string.h>

#include "dlq/core.h"
#include "service_int.h"

/* label appends v as a Prometheus label value (\\, \" and \n escaped). */
static void label(struct dlq_buf *b, const char *v)
{
    for (v = v ? v : ""; *v; v++) {
        if (*v == '\\')
            dlq_buf_puts(b, "\\\\");
        else if (*v == '"')
            dlq_buf_puts(b, "\\\"");
        else if (*v == '\n')
            dlq_buf_puts(b, "\\n");
        else
            dlq_buf_putc(b, *v);
    }
}

static void family(struct dlq_buf *b, const char *name, const char *type, const char *help)
{
    dlq_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int dlq_service_metrics_text(struct dlq_service *svc, struct dlq_buf *b, char *err, size_t errlen)
{
    assert(svc && b);
    struct dlq_store_metrics m;
    int code = dlq_store_metrics(svc->store, &m, err, errlen);
    if (code != DLQ_OK)
        return code;
    family(b, "dlq_entries", "gauge", "Entries stored, by status.");
    for (int s = 1; s < DLQ_STATUS_COUNT; s++)
        dlq_buf_printf(b, "dlq_entries{status=\"%s\"} %lld\n", dlq_status_name((enum dlq_status)s),
                       (long long)m.by_status[s]);
    family(b, "dlq_pending", "gauge",
           "Pending entries (pending_review, requires_review) by queue and task; top 50.");
    for (size_t i = 0; i < m.npending; i++) {
        dlq_buf_puts(b, "dlq_pending{queue=\"");
        label(b, m.pending[i].queue);
        dlq_buf_puts(b, "\",task=\"");
        label(b, m.pending[i].task);
        dlq_buf_printf(b, "\"} %lld\n", (long long)m.pending[i].n);
    }
    if (m.pending_other)
        dlq_buf_printf(b, "dlq_pending{queue=\"other\",task=\"other\"} %lld\n",
                       (long long)m.pending_other);
    family(b, "dlq_ingested_total", "counter", "Failures captured.");
    dlq_buf_printf(b, "dlq_ingested_total %lld\n", (long long)m.ingested);
    /* Dispatched: every replay with an outcome plus those still awaiting one. */
    int64_t dispatched = m.replay_succeeded + m.replay_failed + m.by_status[DLQ_STATUS_RETRIED];
    family(b, "dlq_replays_total", "counter", "Replays by result.");
    dlq_buf_printf(b, "dlq_replays_total{result=\"dispatched\"} %lld\n", (long long)dispatched);
    dlq_buf_printf(b, "dlq_replays_total{result=\"succeeded\"} %lld\n",
                   (long long)m.replay_succeeded);
    dlq_buf_printf(b, "dlq_replays_total{result=\"failed\"} %lld\n", (long long)m.replay_failed);
    dlq_store_metrics_clear(&m);

    struct dlq_alert_view av[DLQ_ALERT_RULES];
    size_t n;
    int webhook;
    dlq_service_alerts(svc, av, &n, &webhook);
    family(b, "dlq_alert_firing", "gauge", "1 while the alert rule fires.");
    for (size_t i = 0; i < n; i++)
        dlq_buf_printf(b, "dlq_alert_firing{rule=\"%s\"} %d\n", av[i].rule, av[i].firing);

    struct dlq_hist h;
    dlq_store_commit_histogram(svc->store, &h);
    family(b, "dlq_store_commit_duration_seconds", "histogram",
           "Duration of the store's group commits.");
    uint64_t cum = 0;
    for (int i = 0; i < DLQ_HIST_NB; i++) {
        cum += h.counts[i];
        if (i < DLQ_HIST_NB - 1)
            dlq_buf_printf(b, "dlq_store_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                           dlq_hist_bounds[i], (unsigned long long)cum);
        else
            dlq_buf_printf(b, "dlq_store_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                           (unsigned long long)cum);
    }
    dlq_buf_printf(b, "dlq_store_commit_duration_seconds_sum %.9f\n", h.sum);
    dlq_buf_printf(b, "dlq_store_commit_duration_seconds_count %llu\n",
                   (unsigned long long)h.count);
    return b->oom ? dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory") : DLQ_OK;
}
