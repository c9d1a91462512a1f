/*
 * tokens.c: API token management: create (the secret is returned once and
 * only its SHA-256 is stored), list and revoke. Roles are checked by the
 * route; what is checked here is tenancy: an admin bound to a tenant manages
 * only that tenant's tokens.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

int dlq_token_insert(struct dlq_service *svc, const char *name, enum dlq_role role,
                     const char *tenant, const char *secret, struct dlq_token *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof(*out));
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof(rnd)) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    int64_t now = dlq_now_ms();
    dlq_id_make("tok", now, rnd, out->id, sizeof(out->id));
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->role = role;
    snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", tenant ? tenant : "");
    dlq_sha256_hex(secret, strlen(secret), out->secret_hash);
    out->created_at = now;
    return dlq_store_token_create(svc->store, out, err, errlen);
}

/* token_audit (issue 3, slice A) records a token change in the audit trail.
 * Best effort: the change is made; a failure to record it is logged. */
static void token_audit(struct dlq_service *svc, const struct dlq_principal *p, const char *action,
                        const char *id, const char *name)
{
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"token_id\":");
    dlq_buf_json_string(&b, id, strlen(id));
    if (name) {
        dlq_buf_puts(&b, ",\"name\":");
        dlq_buf_json_string(&b, name, strlen(name));
    }
    dlq_buf_putc(&b, '}');
    char err[256];
    if (b.oom ||
        dlq_service_audit_note(svc, p, action, NULL, NULL, b.data, err, sizeof(err)) != DLQ_OK)
        dlq_log(DLQ_LOG_WARN, "audit %s %s not recorded: %s", action, id,
                b.oom ? "out of memory" : err);
    dlq_buf_free(&b);
}

/* dlq_service_token_create: see service.h. A tenant-bound admin that names no
 * tenant gets a token of its own tenant (it could not see any other), and one
 * that names another tenant gets DLQ_E_FORBIDDEN. On DLQ_OK *out and
 * secret_out are filled; on error secret_out is "". */
int dlq_service_token_create(struct dlq_service *svc, const struct dlq_principal *p,
                             const char *name, enum dlq_role role, const char *tenant,
                             struct dlq_token *out, char secret_out[DLQ_SECRET_MAX], char *err,
                             size_t errlen)
{
    assert(svc && p && name && out && secret_out);
    secret_out[0] = '\0';
    if (!dlq_role_name(role))
        return dlq_errf(err, errlen, DLQ_E_INVAL, "unknown role");
    const char *own = dlq_service_tenant(p);
    if (!tenant)
        tenant = "";
    if (own) {
        if (!tenant[0])
            tenant = own;
        else if (strcmp(tenant, own) != 0)
            return dlq_errf(err, errlen, DLQ_E_FORBIDDEN,
                            "a token bound to tenant '%s' cannot create tokens for another tenant",
                            own);
    }
    uint8_t rnd[32];
    if (dlq_random(rnd, sizeof(rnd)) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    char secret[DLQ_SECRET_MAX];
    dlq_token_secret_make(rnd, secret);
    int rc = dlq_token_insert(svc, name, role, tenant, secret, out, err, errlen);
    if (rc == DLQ_OK) {
        memcpy(secret_out, secret, DLQ_SECRET_MAX);
        token_audit(svc, p, "token_create", out->id, out->name);
    }
    memset(secret, 0, sizeof(secret));
    memset(rnd, 0, sizeof(rnd));
    return rc;
}

/* dlq_service_token_list returns the tokens p may see: all of them, or only
 * its tenant's when p is tenant-bound. *out is malloc'd (caller frees with
 * free()); on error it is NULL and *n 0. */
int dlq_service_token_list(struct dlq_service *svc, const struct dlq_principal *p,
                           struct dlq_token **out, size_t *n, char *err, size_t errlen)
{
    assert(svc && p && out && n);
    *out = NULL;
    *n = 0;
    struct dlq_token *all = NULL;
    size_t nall = 0;
    int rc = dlq_store_token_list(svc->store, &all, &nall, err, errlen);
    if (rc != DLQ_OK)
        return rc;
    const char *own = dlq_service_tenant(p);
    size_t k = 0;
    for (size_t i = 0; i < nall; i++)
        if (!own || strcmp(all[i].tenant_id, own) == 0)
            all[k++] = all[i];
    *out = all;
    *n = k;
    return DLQ_OK;
}

/* dlq_service_token_revoke revokes token id: DLQ_E_NOTFOUND when there is no
 * such token (or it belongs to another tenant than p's), DLQ_E_CONFLICT when it
 * is already revoked. The token stops working at once in this process. */
int dlq_service_token_revoke(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                             char *err, size_t errlen)
{
    assert(svc && p && id);
    const char *own = dlq_service_tenant(p);
    if (own) {
        struct dlq_token *toks = NULL;
        size_t n = 0;
        int rc = dlq_service_token_list(svc, p, &toks, &n, err, errlen);
        if (rc != DLQ_OK)
            return rc;
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(toks[i].id, id) == 0;
        free(toks);
        if (!found)
            return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no token with id '%s'", id);
    }
    int rc = dlq_store_token_revoke(svc->store, id, dlq_now_ms(), err, errlen);
    /* Forget it even on failure: a conflict means it was revoked already,
     * and a cached copy must not outlive that. */
    dlq_auth_cache_forget(&svc->auth, id);
    if (rc == DLQ_OK)
        token_audit(svc, p, "token_revoke", id, NULL);
    return rc;
}
