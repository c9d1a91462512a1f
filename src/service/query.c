/*
 * query.c: reading entries under tenancy. A tenant-bound principal sees only
 * its tenant: other tenants' entries do not exist for it (404, never 403,
 * so ids cannot be probed), and a list filter naming another tenant matches
 * nothing.
 */
#include <assert.h>
#include <string.h>

#include "service_int.h"

/* dlq_service_get: see service.h and dlq_store_get for ownership. Returns
 * DLQ_OK, DLQ_E_NOTFOUND (also for another tenant's entry) or the store's
 * code. */
int dlq_service_get(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                    struct dlq_entry *out, struct dlq_event **hist, size_t *nhist, char *err,
                    size_t errlen)
{
    assert(svc && p && id && out);
    return dlq_store_get(svc->store, id, dlq_service_tenant(p), out, hist, nhist, err, errlen);
}

/* dlq_service_list: see service.h. On DLQ_OK *out is a page (caller frees
 * with dlq_page_free); on error it is empty. */
int dlq_service_list(struct dlq_service *svc, const struct dlq_principal *p,
                     const struct dlq_filter *f, struct dlq_page *out, char *err, size_t errlen)
{
    assert(svc && p && f && out);
    memset(out, 0, sizeof(*out));
    struct dlq_filter scoped = *f;
    const char *own = dlq_service_tenant(p);
    if (own) {
        if (f->tenant_id && strcmp(f->tenant_id, own) != 0)
            return DLQ_OK;
        scoped.tenant_id = own;
    }
    return dlq_store_list(svc->store, &scoped, out, err, errlen);
}
