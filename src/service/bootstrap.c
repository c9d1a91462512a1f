/*
 * bootstrap.c: the first start. A server with no tokens at all could not be
 * administered, so it makes an admin token: the operator's own secret from
 * DLQ_ADMIN_TOKEN when set (useful in scripts and containers), otherwise a
 * random one that the caller prints once.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

/* dlq_service_bootstrap_admin: see service.h. Returns DLQ_OK (with *created
 * 0 when tokens already exist) or the store's code with detail in err. */
int dlq_service_bootstrap_admin(struct dlq_service *svc, const char *env_secret, int *created,
                                char secret_out[DLQ_SECRET_MAX], char *err, size_t errlen)
{
    assert(svc && created && secret_out);
    *created = 0;
    secret_out[0] = '\0';
    struct dlq_token *toks = NULL;
    size_t n = 0;
    int rc = dlq_store_token_list(svc->store, &toks, &n, err, errlen);
    if (rc != DLQ_OK)
        return rc;
    free(toks);
    if (n > 0)
        return DLQ_OK;

    if (env_secret && strlen(env_secret) > DLQ_AUTH_SECRET_MAX)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "DLQ_ADMIN_TOKEN is longer than %d bytes",
                        DLQ_AUTH_SECRET_MAX);
    char secret[DLQ_SECRET_MAX];
    int generated = !(env_secret && env_secret[0]);
    if (generated) {
        uint8_t rnd[32];
        if (dlq_random(rnd, sizeof(rnd)) != DLQ_OK)
            return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
        dlq_token_secret_make(rnd, secret);
        memset(rnd, 0, sizeof(rnd));
    }
    const char *use = generated ? secret : env_secret;
    struct dlq_token tok;
    rc = dlq_token_insert(svc, "admin", DLQ_ROLE_ADMIN, "", use, &tok, err, errlen);
    if (rc == DLQ_OK) {
        *created = 1;
        if (generated)
            memcpy(secret_out, secret, DLQ_SECRET_MAX);
    }
    memset(secret, 0, sizeof(secret));
    return rc;
}
