/*
 * fuzz_bulk_spec.c: the bodies of the bulk operations (replay-bulk,
 * resolve-bulk, discard-bulk) through dlq_bulk_spec_parse, for each kind,
 * with and without a tenant-bound principal. An accepted spec must turn into
 * the filter and parameter JSON the operation stores, and that stored form
 * must decode again (the worker resumes from it).
 */
#include <jansson.h>

#include "dlq/store.h"
#include "fuzz_util.h"
#include "service/bulk_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum dlq_bulk_kind kind = (enum dlq_bulk_kind)(data[0] % 3);
    const char *tenant = (data[0] & 0x80) ? "acme" : NULL;
    struct dlq_bulk_spec sp;
    struct dlq_errors errs = {0};
    int rc = dlq_bulk_spec_parse((const char *)data + 1, size - 1, kind, tenant, &sp, &errs);
    if (rc == DLQ_OK) {
        FUZZ_CHECK(sp.f.limit >= 1);
        if (tenant != NULL && !sp.nothing)
            FUZZ_CHECK(sp.f.tenant_id != NULL && strcmp(sp.f.tenant_id, tenant) == 0);
        char *fj = dlq_bulk_filter_json(&sp);
        FUZZ_CHECK(fj != NULL);
        json_error_t je;
        json_t *v = json_loads(fj, 0, &je);
        FUZZ_CHECK(v != NULL && json_is_object(v));
        json_decref(v);
        if (kind == DLQ_BULK_REPLAY) {
            char *pj = dlq_bulk_params_json(&sp);
            FUZZ_CHECK(pj != NULL);
            struct dlq_op op;
            memset(&op, 0, sizeof op);
            op.filter = fj;
            op.params = pj;
            struct dlq_bulk_spec again;
            char err[256];
            int rc2 = dlq_bulk_spec_from_op(&op, &again, err, sizeof err);
            if (rc2 != DLQ_OK)
                fprintf(stderr, "resume failed: %s\nfilter %s\nparams %s\n", err, fj, pj);
            FUZZ_CHECK(rc2 == DLQ_OK);
            FUZZ_CHECK(again.max_tasks == sp.max_tasks); /* dry runs store no op */
            dlq_bulk_spec_clear(&again);
            free(pj);
        }
        free(fj);
    } else {
        FUZZ_CHECK(errs.n + errs.dropped > 0);
    }
    dlq_bulk_spec_clear(&sp);
    return 0;
}
