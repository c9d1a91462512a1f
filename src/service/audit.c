/*
 * audit.c: reading the audit trail and writing stand-alone audit records.
 * Records of actions on entries are written by the store together with the
 * change (actions.c); what is written here stands alone: token changes, and
 * any other action whose store call does not carry a record. A tenant-bound
 * principal reads only its own tenant's records.
 */
#include <assert.h>
#include <string.h>

#include "service_int.h"

int dlq_service_audit_list(struct dlq_service *svc, const struct dlq_principal *p,
                           const struct dlq_audit_filter *f, struct dlq_audit **out, size_t *n,
                           char next_cursor[128], char *err, size_t errlen)
{
    assert(svc && p && f && out && n && next_cursor);
    struct dlq_audit_filter g = *f;
    const char *own = dlq_service_tenant(p);
    if (own)
        g.tenant = own;
    return dlq_store_audit_list(svc->store, &g, out, n, next_cursor, err, errlen);
}

int dlq_service_audit_note(struct dlq_service *svc, const struct dlq_principal *p,
                           const char *action, const char *target_ids, const char *reason,
                           const char *details, char *err, size_t errlen)
{
    assert(svc && p && action);
    struct dlq_audit au;
    memset(&au, 0, sizeof au);
    int64_t now = dlq_now_ms();
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof rnd) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    dlq_id_make("aud", now, rnd, au.id, sizeof au.id);
    au.at = now;
    au.actor = (char *)p->name;
    au.tenant_id = (char *)dlq_service_tenant(p);
    au.action = (char *)action;
    au.target_ids = (char *)target_ids;
    au.reason = (char *)reason;
    au.details = (char *)details;
    return dlq_store_audit_append(svc->store, &au, err, errlen);
}
