/*
 * h_health.c: liveness and readiness, for load balancers and orchestrators.
 * Both are public. /healthz says the process answers; /readyz also asks the
 * store, so a server whose database is gone is taken out of rotation.
 */
#include "http_int.h"

int dlq_h_healthz(struct dlq_req *r)
{
    return dlq_http_reply_json(
        r, MHD_HTTP_OK, json_pack("{s:s, s:s}", "status", "ok", "version", DLQ_VERSION), NULL);
}

int dlq_h_readyz(struct dlq_req *r)
{
    char err[256] = "";
    struct dlq_spool_stats sp; /* issue 6: how many entries wait in the spool */
    dlq_service_spool_stats(r->h->svc, &sp);
    int rc = dlq_service_ready(r->h->svc, err, sizeof(err));
    if (rc != DLQ_OK)
        return dlq_http_fail(r, DLQ_E_UNAVAILABLE, "the store does not answer%s%s (spooled: %lld)",
                             err[0] ? ": " : "", err, (long long)sp.pending);
    return dlq_http_reply_json(
        r, MHD_HTTP_OK,
        json_pack("{s:s, s:I}", "status", "ready", "spooled", (json_int_t)sp.pending), NULL);
}
