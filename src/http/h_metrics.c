/*
 * h_metrics.c: GET /metrics (slice C1) in Prometheus text format 0.0.4: the
 * service's store and alert families, then the HTTP request families.
 */
#include "http_int.h"

int dlq_h_metrics(struct dlq_req *r)
{
    /* harden: the families span every tenant (task and queue names), so a
     * tenant-bound token, which sees only its tenant, may not scrape them. */
    if (r->who.tenant_id[0] != '\0')
        return dlq_http_fail(r, DLQ_E_FORBIDDEN,
                             "metrics cover every tenant: use a token not bound to a tenant");
    struct dlq_buf b = {0};
    dlq_buf_reserve(&b, 16384);
    int rc = dlq_service_metrics_text(r->h->svc, &b, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK) {
        dlq_buf_free(&b);
        return rc;
    }
    dlq_service_spool_metrics_text(r->h->svc, &b); /* issue 6 */
    dlq_http_metrics_text(&b);
    if (b.oom) {
        dlq_buf_free(&b);
        return DLQ_E_NOMEM;
    }
    size_t len = b.len;
    return dlq_http_reply(r, MHD_HTTP_OK, dlq_buf_steal(&b), len,
                          "text/plain; version=0.0.4; charset=utf-8", NULL);
}
