/*
 * test_core_token.c: token secrets (format, determinism from the random
 * bytes), the token request decoder (accepted and rejected bodies) and the
 * token JSON, plus the role and status name tables and the permission map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/core.h"

static void test_secret(void **state)
{
    (void)state;
    uint8_t rnd[32];
    char s[DLQ_SECRET_MAX];
    memset(rnd, 0, sizeof rnd);
    dlq_token_secret_make(rnd, s);
    assert_string_equal(s, "dlq_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    memset(rnd, 0xff, sizeof rnd);
    dlq_token_secret_make(rnd, s);
    assert_string_equal(s, "dlq___________________________________________8");
    for (int i = 0; i < 32; i++)
        rnd[i] = (uint8_t)(i * 37 + 11);
    dlq_token_secret_make(rnd, s);
    assert_int_equal(strlen(s), 47);
    assert_int_equal(
        strspn(s + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
}

static int req(const char *body, char *name, enum dlq_role *role, char *tenant,
               struct dlq_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    return dlq_token_request_from_json(body, strlen(body), name, role, tenant, errs);
}

static void test_request_ok(void **state)
{
    (void)state;
    char name[128], tenant[128];
    enum dlq_role role;
    struct dlq_errors errs;
    assert_int_equal(req("{\"name\":\"ci\",\"role\":\"producer\"}", name, &role, tenant, &errs),
                     DLQ_OK);
    assert_string_equal(name, "ci");
    assert_int_equal(role, DLQ_ROLE_PRODUCER);
    assert_string_equal(tenant, "");
    assert_int_equal(req("{\"name\":\"acme ops\",\"role\":\"operator\",\"tenant_id\":\"acme\"}",
                         name, &role, tenant, &errs),
                     DLQ_OK);
    assert_int_equal(role, DLQ_ROLE_OPERATOR);
    assert_string_equal(tenant, "acme");
    assert_int_equal(
        req("{\"name\":\"x\",\"role\":\"viewer\",\"tenant_id\":null}", name, &role, tenant, &errs),
        DLQ_OK);
    assert_string_equal(tenant, "");
}

static void test_request_rejected(void **state)
{
    (void)state;
    static char longname[300];
    memset(longname, 0, sizeof longname);
    strcpy(longname, "{\"role\":\"admin\",\"name\":\"");
    memset(longname + strlen(longname), 'n', 128);
    strcat(longname, "\"}");
    const struct {
        const char *body, *field, *detail;
        int n;
    } cases[] = {
        {"{\"role\":\"admin\"}", "name", "is required", 1},
        {"{\"name\":\"\",\"role\":\"admin\"}", "name", "must be 1 to 127 bytes", 1},
        {longname, "name", "must be 1 to 127 bytes", 1},
        {"{\"name\":5,\"role\":\"admin\"}", "name", "must be a string", 1},
        {"{\"name\":\"a\"}", "role", "is required", 1},
        {"{\"name\":\"a\",\"role\":\"root\"}", "role", "must be one of", 1},
        {"{\"name\":\"a\",\"role\":3}", "role", "must be one of", 1},
        {"{\"name\":\"a\",\"role\":\"admin\",\"tenant_id\":\"\"}", "tenant_id", "must be 1 to", 1},
        {"{\"name\":\"a\",\"role\":\"admin\",\"scopes\":[]}", "scopes", "unknown field", 1},
        {"[]", "body", "must be a JSON object", 1},
        {"{\"name\":", "body", "malformed JSON", 1},
        {"{}", "name", "is required", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[128] = "junk", tenant[128] = "junk";
        enum dlq_role role = DLQ_ROLE_ADMIN;
        struct dlq_errors errs;
        if (req(cases[i].body, name, &role, tenant, &errs) != DLQ_E_INVAL)
            fail_msg("case %zu accepted", i);
        assert_int_equal(errs.n, cases[i].n);
        assert_string_equal(errs.items[0].field, cases[i].field);
        assert_memory_equal(errs.items[0].detail, cases[i].detail, strlen(cases[i].detail));
        assert_string_equal(name, "");
        assert_string_equal(tenant, "");
        assert_int_equal(role, DLQ_ROLE_NONE);
    }
}

static void test_token_json(void **state)
{
    (void)state;
    struct dlq_token t;
    memset(&t, 0, sizeof t);
    strcpy(t.id, "tok_01KFTB3E00ABCDEFGHJKMNPQRS");
    strcpy(t.name, "ci \"bot\"");
    t.role = DLQ_ROLE_PRODUCER;
    t.created_at = 1769337000000LL;
    t.last_used_at = 1769337000001LL;
    struct dlq_buf b = {0};
    assert_int_equal(dlq_token_to_json(&t, &b), DLQ_OK);
    assert_string_equal(b.data, "{\"id\":\"tok_01KFTB3E00ABCDEFGHJKMNPQRS\",\"name\":\"ci "
                                "\\\"bot\\\"\",\"role\":\"producer\",\"tenant_id\":null,"
                                "\"created_at\":\"2026-01-25T10:30:00Z\",\"last_used_at\":"
                                "\"2026-01-25T10:30:00.001Z\",\"revoked_at\":null}");
    dlq_buf_reset(&b);
    strcpy(t.tenant_id, "acme");
    t.revoked_at = 1769337000000LL;
    dlq_token_to_json(&t, &b);
    assert_non_null(strstr(b.data, "\"tenant_id\":\"acme\""));
    assert_non_null(strstr(b.data, "\"revoked_at\":\"2026-01-25T10:30:00Z\"}"));
    dlq_buf_free(&b);
}

static void test_names(void **state)
{
    (void)state;
    for (int s = 1; s < DLQ_STATUS_COUNT; s++)
        assert_int_equal(dlq_status_parse(dlq_status_name((enum dlq_status)s)), s);
    assert_string_equal(dlq_status_name(DLQ_STATUS_REQUIRES_REVIEW), "requires_review");
    assert_null(dlq_status_name(DLQ_STATUS_NONE));
    assert_null(dlq_status_name((enum dlq_status)DLQ_STATUS_COUNT));
    assert_int_equal(dlq_status_parse("Pending_review"), DLQ_STATUS_NONE);
    assert_int_equal(dlq_status_parse(NULL), DLQ_STATUS_NONE);
    for (int r = 1; r <= DLQ_REASON_TIMEOUT; r++)
        assert_int_equal(dlq_reason_parse(dlq_reason_name((enum dlq_reason)r)), r);
    assert_string_equal(dlq_reason_name(DLQ_REASON_JOB_NOT_FOUND), "job_not_found");
    assert_int_equal(dlq_reason_parse("timeout"), DLQ_REASON_TIMEOUT);
    assert_int_equal(dlq_reason_parse(""), DLQ_REASON_NONE);
    for (int r = 1; r <= DLQ_ROLE_PRODUCER; r++)
        assert_int_equal(dlq_role_parse(dlq_role_name((enum dlq_role)r)), r);
    assert_string_equal(dlq_role_name(DLQ_ROLE_OPERATOR), "operator");
    assert_null(dlq_role_name(DLQ_ROLE_NONE));
    assert_int_equal(dlq_role_parse("root"), DLQ_ROLE_NONE);
}

static void test_role_allows(void **state)
{
    (void)state;
    /* rows: none viewer operator admin producer; columns: the permissions */
    static const int want[5][5] = {
        /*            PUBLIC READ INGEST ACT ADMIN */
        /* none */ {1, 0, 0, 0, 0},
        /* viewer */ {1, 1, 0, 0, 0},
        /* operator */ {1, 1, 0, 1, 0},
        /* admin */ {1, 1, 1, 1, 1},
        /* producer */ {1, 0, 1, 0, 0},
    };
    for (int r = 0; r < 5; r++)
        for (int p = 0; p < 5; p++)
            if (dlq_role_allows((enum dlq_role)r, (enum dlq_perm)p) != want[r][p])
                fail_msg("role %d perm %d", r, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_request_ok),
        cmocka_unit_test(test_request_rejected),
        cmocka_unit_test(test_token_json),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_role_allows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
