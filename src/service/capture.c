/*
 * capture.c: taking failures in. The service, not the client, owns an
 * entry's identity and bookkeeping: it assigns the dlq_id, the status, the
 * processing time and the fingerprint, and pins the tenant of a tenant-bound
 * token, then hands the whole batch to the store as one durable commit.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service_int.h"

/* next_random increments an 80-bit big-endian number, so the ids of one
 * batch, made in the same millisecond, still sort in the batch's order. */
static void next_random(uint8_t rnd[10])
{
    for (int i = 9; i >= 0; i--)
        if (++rnd[i] != 0)
            break;
}

/* replace_string frees *slot and points it at a copy of s. DLQ_OK or
 * DLQ_E_NOMEM (then *slot is unchanged). */
static int replace_string(char **slot, const char *s)
{
    char *copy = dlq_strdup(s);
    if (!copy)
        return DLQ_E_NOMEM;
    free(*slot);
    *slot = copy;
    return DLQ_OK;
}

/* stamp fills what the service owns in one decoded entry. */
static int stamp(struct dlq_entry *e, const char *tenant, int64_t now, const uint8_t rnd[10],
                 struct dlq_fp_memo *memo)
{
    char id[DLQ_ID_MAX];
    char fp[17];
    dlq_id_make("dlq", now, rnd, id, sizeof(id));
    dlq_fingerprint_memo(memo, e->task_name, e->exc_type, e->exc_message, fp);
    if (replace_string(&e->dlq_id, id) != DLQ_OK || replace_string(&e->fingerprint, fp) != DLQ_OK)
        return DLQ_E_NOMEM;
    if (tenant && replace_string(&e->tenant_id, tenant) != DLQ_OK)
        return DLQ_E_NOMEM;
    e->status = DLQ_STATUS_PENDING_REVIEW;
    e->processed_at = now;
    e->updated_at = now;
    if (e->failed_at == 0)
        e->failed_at = now;
    return DLQ_OK;
}

/* dlq_service_capture: see service.h. Returns DLQ_OK with res filled (each
 * item may still carry its own code), DLQ_E_INVAL for an empty or too large
 * batch, or the store's code, in which case nothing was written. */
int dlq_service_capture(struct dlq_service *svc, const struct dlq_principal *p,
                        struct dlq_entry *entries, size_t n, struct dlq_capture_result *res,
                        char *err, size_t errlen)
{
    assert(svc && p && res && (entries || n == 0));
    if (n == 0 || n > DLQ_MAX_BATCH)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "a batch holds 1 to %d entries", DLQ_MAX_BATCH);
    memset(res, 0, n * sizeof(*res));
    uint8_t rnd[10];
    if (dlq_random(rnd, sizeof(rnd)) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "no random bytes");
    /* The top bit stays clear so that incrementing never wraps around. */
    rnd[0] &= 0x7f;
    int64_t now = dlq_now_ms();
    const char *tenant = dlq_service_tenant(p);
    struct dlq_fp_memo memo = {0};
    for (size_t i = 0; i < n; i++) {
        if (stamp(&entries[i], tenant, now, rnd, &memo) != DLQ_OK) {
            dlq_fp_memo_free(&memo);
            return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
        }
        next_random(rnd);
    }
    dlq_fp_memo_free(&memo);
    return dlq_store_capture(svc->store, entries, n, p->name, res, err, errlen);
}
