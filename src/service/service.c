/*
 * service.c: the service object: creation and release, access to its store,
 * and the readiness check. The use cases live beside it, one file each
 * (auth.c, bootstrap.c, capture.c, query.c, tokens.c).
 */
#include <assert.h>
#include <stdlib.h>

#include "service_int.h"

/* dlq_service_new allocates a service over store (borrowed). cfg may be NULL
 * for the defaults. Returns DLQ_OK with *out set, or DLQ_E_NOMEM / DLQ_E_INTERNAL
 * with *out NULL. */
int dlq_service_new(struct dlq_store *store, const struct dlq_service_config *cfg,
                    struct dlq_service **out)
{
    assert(store && out);
    *out = NULL;
    struct dlq_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return DLQ_E_NOMEM;
    svc->store = store;
    svc->cfg.health_warning_at = 1;
    svc->cfg.health_critical_at = 10;
    if (cfg) {
        if (cfg->health_warning_at > 0)
            svc->cfg.health_warning_at = cfg->health_warning_at;
        if (cfg->health_critical_at > 0)
            svc->cfg.health_critical_at = cfg->health_critical_at;
    }
    if (dlq_auth_cache_init(&svc->auth) != DLQ_OK) {
        free(svc);
        return DLQ_E_INTERNAL;
    }
    *out = svc;
    return DLQ_OK;
}

/* dlq_service_free releases svc but not its store. NULL is a no-op. */
void dlq_service_free(struct dlq_service *svc)
{
    if (!svc)
        return;
    dlq_auth_cache_destroy(&svc->auth);
    free(svc);
}

/* dlq_service_store returns the store the service was made over (borrowed). */
struct dlq_store *dlq_service_store(struct dlq_service *svc)
{
    assert(svc);
    return svc->store;
}

/* dlq_service_ready returns DLQ_OK when the store answers a ping, else the
 * store's code with its detail in err. */
int dlq_service_ready(struct dlq_service *svc, char *err, size_t errlen)
{
    assert(svc);
    return dlq_store_ping(svc->store, err, errlen);
}

const char *dlq_service_tenant(const struct dlq_principal *p)
{
    assert(p);
    return p->tenant_id[0] ? p->tenant_id : NULL;
}
