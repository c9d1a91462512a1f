/*
 * service.h: the use cases, one level above storage: authenticate a token,
 * capture failures, query entries, manage tokens. The HTTP layer and the
 * server's start-up call these; they enforce tenancy and roles that are not a
 * matter of routing, assign ids and times, and talk to the store only
 * through include/dlq/store.h.
 */
#ifndef DLQ_SERVICE_H
#define DLQ_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "dlq/store.h"
#include "dlq/types.h"

struct dlq_service;

struct dlq_service_config {
    int health_warning_at;  /* pending >= this: warning (default 1) */
    int health_critical_at; /* pending > this: critical (default 10) */
};

/* dlq_service_new creates a service over store (borrowed: it must outlive the
 * service). On DLQ_OK *out is set; free with dlq_service_free. */
int dlq_service_new(struct dlq_store *store, const struct dlq_service_config *cfg,
                    struct dlq_service **out);
void dlq_service_free(struct dlq_service *svc);
/* dlq_service_store returns the store (borrowed). */
struct dlq_store *dlq_service_store(struct dlq_service *svc);

/* dlq_service_authenticate maps a bearer secret to a principal. Unknown or
 * revoked secrets are DLQ_E_UNAUTHORIZED. Lookups are cached briefly; a
 * revocation made through this service takes effect at once. */
int dlq_service_authenticate(struct dlq_service *svc, const char *secret,
                             struct dlq_principal *out, char *err, size_t errlen);

/* dlq_service_bootstrap_admin runs at first start: when the store has no
 * tokens it creates an admin token named "admin" whose secret is env_secret
 * if non-NULL and non-empty, otherwise a random one. *created is set to 1
 * when a token was made, and the secret is copied to secret_out only when it
 * was generated (so the caller prints it once). */
int dlq_service_bootstrap_admin(struct dlq_service *svc, const char *env_secret, int *created,
                                char secret_out[DLQ_SECRET_MAX], char *err, size_t errlen);

/* dlq_service_capture stores n decoded entries for principal p in one commit:
 * it assigns dlq_id, status pending_review, processed_at and fingerprint,
 * fills failed_at when absent, and forces tenant_id to p's tenant when the
 * token is tenant-bound. The entries are modified (ids set) but stay owned by
 * the caller. res has n slots. */
int dlq_service_capture(struct dlq_service *svc, const struct dlq_principal *p,
                        struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                        char *err, size_t errlen);

/* dlq_service_get returns one entry visible to p, with history when hist is
 * non-NULL (see dlq_store_get for ownership). */
int dlq_service_get(struct dlq_service *svc, const struct dlq_principal *p, const char *id,
                    struct dlq_entry *out, struct dlq_event **hist, size_t *nhist, char *err,
                    size_t errlen);

/* dlq_service_list returns a page for p. A tenant-bound principal sees only
 * its tenant: a filter naming another tenant yields an empty page. f is
 * copied, not kept. */
int dlq_service_list(struct dlq_service *svc, const struct dlq_principal *p,
                     const struct dlq_filter *f, struct dlq_page *out, char *err, size_t errlen);

/* Tokens (admin only; the route checks the role). dlq_service_token_create
 * makes a token and writes its secret, shown this once, to secret_out. A
 * tenant-bound admin can only create tokens for its own tenant. */
int dlq_service_token_create(struct dlq_service *svc, const struct dlq_principal *p,
                             const char *name, enum dlq_role role, const char *tenant,
                             struct dlq_token *out, char secret_out[DLQ_SECRET_MAX],
                             char *err, size_t errlen);
int dlq_service_token_list(struct dlq_service *svc, const struct dlq_principal *p,
                           struct dlq_token **out, size_t *n, char *err, size_t errlen);
int dlq_service_token_revoke(struct dlq_service *svc, const struct dlq_principal *p,
                             const char *id, char *err, size_t errlen);

/* dlq_service_ready checks the store answers (for /readyz). */
int dlq_service_ready(struct dlq_service *svc, char *err, size_t errlen);

#endif
