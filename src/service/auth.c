/*
 * auth.c: bearer-token authentication. A secret is hashed (SHA-256) and
 * looked up by its hash; the answer is cached for a couple of seconds in a
 * small direct-mapped table so that a busy client does not cost a store read
 * per request. Revocations made through this service drop the cached token at
 * once; those made elsewhere are seen within DLQ_AUTH_CACHE_TTL_MS.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "service_int.h"

int dlq_auth_cache_init(struct dlq_auth_cache *c)
{
    memset(c->slots, 0, sizeof(c->slots));
    return pthread_mutex_init(&c->mu, NULL) == 0 ? DLQ_OK : DLQ_E_INTERNAL;
}

void dlq_auth_cache_destroy(struct dlq_auth_cache *c)
{
    pthread_mutex_destroy(&c->mu);
}

void dlq_auth_cache_forget(struct dlq_auth_cache *c, const char *token_id)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < DLQ_AUTH_CACHE_SLOTS; i++)
        if (c->slots[i].used && strcmp(c->slots[i].tok.id, token_id) == 0)
            c->slots[i].used = 0;
    pthread_mutex_unlock(&c->mu);
}

/* slot_index picks the slot of a hash from its first hex digits: the hash is
 * uniform, so they spread tokens as well as any other function would. */
static size_t slot_index(const char hash[65])
{
    unsigned v = 0;
    for (int i = 0; i < 6; i++) {
        char ch = hash[i];
        v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    return v % DLQ_AUTH_CACHE_SLOTS;
}

static int64_t mono_ms(void)
{
    return dlq_mono_ns() / 1000000;
}

/* cache_lookup copies a fresh cached token for hash into *tok and returns 1,
 * or returns 0 when the store must be asked. *touch is set when this use
 * should be recorded in the store. */
static int cache_lookup(struct dlq_auth_cache *c, const char hash[65], int64_t now,
                        struct dlq_token *tok, int *touch)
{
    int hit = 0;
    struct dlq_auth_slot *s = &c->slots[slot_index(hash)];
    pthread_mutex_lock(&c->mu);
    if (s->used && dlq_ct_equal(s->tok.secret_hash, hash, 64) &&
        now - s->fetched_ms < DLQ_AUTH_CACHE_TTL_MS) {
        *tok = s->tok;
        hit = 1;
        if (!s->tok.revoked_at && now - s->touched_ms >= DLQ_AUTH_TOUCH_EVERY_MS) {
            s->touched_ms = now;
            *touch = 1;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* cache_store keeps a token just read from the store, remembering when it was
 * last touched if the slot already held the same token. */
static void cache_store(struct dlq_auth_cache *c, const struct dlq_token *tok, int64_t now,
                        int *touch)
{
    struct dlq_auth_slot *s = &c->slots[slot_index(tok->secret_hash)];
    pthread_mutex_lock(&c->mu);
    int64_t touched = 0;
    if (s->used && strcmp(s->tok.id, tok->id) == 0)
        touched = s->touched_ms;
    s->used = 1;
    s->tok = *tok;
    s->fetched_ms = now;
    s->touched_ms = touched;
    if (!tok->revoked_at && (touched == 0 || now - touched >= DLQ_AUTH_TOUCH_EVERY_MS)) {
        s->touched_ms = now;
        *touch = 1;
    }
    pthread_mutex_unlock(&c->mu);
}

/* dlq_service_authenticate: see service.h. Returns DLQ_OK with *out filled,
 * DLQ_E_UNAUTHORIZED for an unknown or revoked secret, or the store's code
 * (e.g. DLQ_E_UNAVAILABLE) when the lookup itself failed. */
int dlq_service_authenticate(struct dlq_service *svc, const char *secret, struct dlq_principal *out,
                             char *err, size_t errlen)
{
    assert(svc && out);
    memset(out, 0, sizeof(*out));
    size_t len = secret ? strnlen(secret, DLQ_AUTH_SECRET_MAX + 1) : 0;
    if (len == 0 || len > DLQ_AUTH_SECRET_MAX)
        return dlq_errf(err, errlen, DLQ_E_UNAUTHORIZED, "unknown token");

    char hash[65];
    dlq_sha256_hex(secret, len, hash);
    int64_t now = mono_ms();
    int touch = 0;
    struct dlq_token tok;
    if (!cache_lookup(&svc->auth, hash, now, &tok, &touch)) {
        int rc = dlq_store_token_by_hash(svc->store, hash, &tok, err, errlen);
        if (rc == DLQ_E_NOTFOUND)
            return dlq_errf(err, errlen, DLQ_E_UNAUTHORIZED, "unknown token");
        if (rc != DLQ_OK)
            return rc;
        /* The store found it by hash; check again in constant time so a
         * backend that compares loosely cannot let a wrong secret in. */
        if (!dlq_ct_equal(tok.secret_hash, hash, 64))
            return dlq_errf(err, errlen, DLQ_E_UNAUTHORIZED, "unknown token");
        cache_store(&svc->auth, &tok, now, &touch);
    }
    if (tok.revoked_at)
        return dlq_errf(err, errlen, DLQ_E_UNAUTHORIZED, "token revoked");
    if (touch) {
        /* Best effort: a failed touch must not fail the request. */
        char terr[128];
        (void)dlq_store_token_touch(svc->store, tok.id, dlq_now_ms(), terr, sizeof(terr));
    }
    snprintf(out->token_id, sizeof(out->token_id), "%s", tok.id);
    snprintf(out->name, sizeof(out->name), "%s", tok.name);
    out->role = tok.role;
    snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", tok.tenant_id);
    return DLQ_OK;
}
