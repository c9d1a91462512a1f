/*
 * fuzz_token_request.c: the body of POST /api/v1/tokens
 * (dlq_token_request_from_json). Accepted requests have a non-empty name
 * and a tenant that fit their buffers, and a known role.
 */
#include "dlq/core.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[128], tenant[128];
    memset(name, 'x', sizeof name);
    memset(tenant, 'x', sizeof tenant);
    enum dlq_role role = DLQ_ROLE_NONE;
    struct dlq_errors errs = {0};
    int rc = dlq_token_request_from_json((const char *)data, size, name, &role, tenant, &errs);
    if (rc == DLQ_OK) {
        FUZZ_CHECK(memchr(name, '\0', sizeof name) != NULL && name[0] != '\0');
        FUZZ_CHECK(memchr(tenant, '\0', sizeof tenant) != NULL);
        FUZZ_CHECK(dlq_role_name(role) != NULL);
    } else {
        FUZZ_CHECK(errs.n + errs.dropped > 0);
    }
    return 0;
}
