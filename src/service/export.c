/*
 * export.c: the service side of GET /api/v1/dlq/export: one page of an
 * export at a time, under tenancy. The HTTP layer pulls pages as the client
 * reads, so the service holds no state between pages: the filter's cursor
 * says where the previous page ended.
 */
#include <assert.h>
#include <string.h>

#include "service_int.h"

/* dlq_service_export_page: see service.h. On error out is empty. */
int dlq_service_export_page(struct dlq_service *svc, const struct dlq_principal *p,
                            const struct dlq_filter *f, int limit, struct dlq_page *out, char *err,
                            size_t errlen)
{
    assert(svc && p && f && out);
    memset(out, 0, sizeof(*out));
    struct dlq_filter scoped = *f;
    const char *own = dlq_service_tenant(p);
    if (own) {
        if (f->tenant_id && strcmp(f->tenant_id, own) != 0)
            return DLQ_OK; /* another tenant's entries do not exist for p */
        scoped.tenant_id = own;
    }
    return dlq_store_export_page(svc->store, &scoped, limit, out, err, errlen);
}
