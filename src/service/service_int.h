/*
 * service_int.h: what the files of src/service/ share and nobody else sees:
 * the service struct itself and the token cache that keeps authentication
 * off the store for most requests.
 */
#ifndef DLQ_SERVICE_INT_H
#define DLQ_SERVICE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "dlq/service.h"

/* The cache is a small open table: a handful of tokens do almost all the
 * requests, so a fixed size bounds memory whatever clients send. */
#define DLQ_AUTH_CACHE_SLOTS 256
/* How long a cached lookup is trusted. A revocation made elsewhere (another
 * process on the same database) takes effect within this time. */
#define DLQ_AUTH_CACHE_TTL_MS 2000
/* Longest secret accepted: ours are 47 characters; a much longer one is not
 * one of ours and is refused without hashing it. */
#define DLQ_AUTH_SECRET_MAX 256
/* A token's last use is written at most this often. */
#define DLQ_AUTH_TOUCH_EVERY_MS 60000

struct dlq_auth_slot {
    int used;
    int64_t fetched_ms; /* monotonic ms when the token was read from the store */
    int64_t touched_ms; /* monotonic ms of the last token_touch, 0: never */
    struct dlq_token tok;
};

struct dlq_auth_cache {
    pthread_mutex_t mu;
    struct dlq_auth_slot slots[DLQ_AUTH_CACHE_SLOTS];
};

struct dlq_service {
    struct dlq_store *store; /* borrowed */
    struct dlq_service_config cfg;
    struct dlq_auth_cache auth;
    /* Each NULL when stopped (or, for the spool, off): */
    struct dlq_ops_runner *ops; /* the bulk operation runner (ops.c) */
    struct dlq_alerts *alerts;  /* the alert evaluator and sender (alerts.c) */
    struct dlq_spool *spool;    /* the ingest spool (spool.c) */
    struct dlq_jobs *jobs;      /* job waiters, timer and webhooks (queue_wait.c) */
};

/* dlq_auth_cache_init / _destroy set up and tear down the cache's mutex. */
int dlq_auth_cache_init(struct dlq_auth_cache *c);
void dlq_auth_cache_destroy(struct dlq_auth_cache *c);
/* dlq_auth_cache_forget drops the token with this id from the cache, so a
 * revocation through this service is seen by the very next request. */
void dlq_auth_cache_forget(struct dlq_auth_cache *c, const char *token_id);

/* dlq_token_insert stores a new token named name with role and tenant ("" for
 * none) whose secret is `secret`, filling *out (id, hash, created_at). Returns
 * DLQ_OK or the store's code with detail in err. */
int dlq_token_insert(struct dlq_service *svc, const char *name, enum dlq_role role,
                     const char *tenant, const char *secret, struct dlq_token *out, char *err,
                     size_t errlen);

/* dlq_service_tenant returns the tenant p is bound to, or NULL when p sees
 * every tenant (borrowed from p). */
const char *dlq_service_tenant(const struct dlq_principal *p);

#endif
