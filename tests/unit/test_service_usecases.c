/*
 * test_service_usecases.c: the service layer over a fake in-memory store
 * that counts its calls: authentication (hashing, the cache, revocation
 * taking effect at once, touch throttling), the first admin token, capture
 * (ids, status, fingerprint, tenant pinning, one store call per batch),
 * tenant scoping of reads, and token management under tenancy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/service.h"

#define MAX_TOK 16

struct fake {
    struct dlq_store base;
    struct dlq_token tok[MAX_TOK];
    size_t ntok;
    int by_hash_calls, touch_calls, capture_calls, list_calls, get_calls;
    size_t captured;
    char last_tenant[128];
    char last_id[64];
    const char *list_tenant; /* tenant the last list asked for */
    char list_tenant_buf[128];
    const char *get_tenant;
    char get_tenant_buf[128];
};

static struct fake *F(struct dlq_store *s)
{
    return (struct fake *)s;
}

static void f_close(struct dlq_store *s)
{
    free(s);
}

static int f_migrate(struct dlq_store *s, int *from, int *to, char *err, size_t errlen)
{
    *from = *to = 1;
    return DLQ_OK;
}

static int f_capture(struct dlq_store *s, const struct dlq_entry *e, size_t n, const char *actor,
                     struct dlq_capture_result *res, char *err, size_t errlen)
{
    struct fake *f = F(s);
    f->capture_calls++;
    f->captured += n;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(e[i].dlq_id);
        assert_non_null(e[i].fingerprint);
        assert_int_equal(e[i].status, DLQ_STATUS_PENDING_REVIEW);
        assert_true(e[i].processed_at > 0 && e[i].failed_at > 0);
        res[i].code = DLQ_OK;
        res[i].created = 1;
        snprintf(res[i].dlq_id, sizeof(res[i].dlq_id), "%s", e[i].dlq_id);
        snprintf(f->last_tenant, sizeof(f->last_tenant), "%s",
                 e[i].tenant_id ? e[i].tenant_id : "");
        snprintf(f->last_id, sizeof(f->last_id), "%s", e[i].dlq_id);
    }
    return DLQ_OK;
}

static int f_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
                 struct dlq_event **hist, size_t *nhist, char *err, size_t errlen)
{
    struct fake *f = F(s);
    f->get_calls++;
    f->get_tenant = tenant ? f->get_tenant_buf : NULL;
    snprintf(f->get_tenant_buf, sizeof(f->get_tenant_buf), "%s", tenant ? tenant : "");
    return DLQ_E_NOTFOUND;
}

static int f_list(struct dlq_store *s, const struct dlq_filter *flt, struct dlq_page *out,
                  char *err, size_t errlen)
{
    struct fake *f = F(s);
    f->list_calls++;
    f->list_tenant = flt->tenant_id ? f->list_tenant_buf : NULL;
    snprintf(f->list_tenant_buf, sizeof(f->list_tenant_buf), "%s",
             flt->tenant_id ? flt->tenant_id : "");
    memset(out, 0, sizeof(*out));
    out->total = 7;
    return DLQ_OK;
}

static int f_token_create(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen)
{
    struct fake *f = F(s);
    assert_true(f->ntok < MAX_TOK);
    f->tok[f->ntok++] = *t;
    return DLQ_OK;
}

static int f_token_by_hash(struct dlq_store *s, const char *hash, struct dlq_token *out, char *err,
                           size_t errlen)
{
    struct fake *f = F(s);
    f->by_hash_calls++;
    for (size_t i = 0; i < f->ntok; i++)
        if (strcmp(f->tok[i].secret_hash, hash) == 0) {
            *out = f->tok[i];
            return DLQ_OK;
        }
    return DLQ_E_NOTFOUND;
}

static int f_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                        size_t errlen)
{
    struct fake *f = F(s);
    *out = calloc(f->ntok + 1, sizeof(**out));
    memcpy(*out, f->tok, f->ntok * sizeof(**out));
    *n = f->ntok;
    return DLQ_OK;
}

static int f_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err,
                          size_t errlen)
{
    struct fake *f = F(s);
    for (size_t i = 0; i < f->ntok; i++)
        if (strcmp(f->tok[i].id, id) == 0) {
            if (f->tok[i].revoked_at)
                return DLQ_E_CONFLICT;
            f->tok[i].revoked_at = now;
            return DLQ_OK;
        }
    return DLQ_E_NOTFOUND;
}

static int f_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen)
{
    F(s)->touch_calls++;
    return DLQ_OK;
}

static int f_ping(struct dlq_store *s, char *err, size_t errlen)
{
    return DLQ_OK;
}

static const struct dlq_store_methods fake_methods = {
    .version = 1,
    .name = "fake",
    .close = f_close,
    .migrate = f_migrate,
    .capture = f_capture,
    .get = f_get,
    .list = f_list,
    .token_create = f_token_create,
    .token_by_hash = f_token_by_hash,
    .token_list = f_token_list,
    .token_revoke = f_token_revoke,
    .token_touch = f_token_touch,
    .ping = f_ping,
};

struct fixture {
    struct fake *f;
    struct dlq_service *svc;
    char admin_secret[DLQ_SECRET_MAX];
    struct dlq_principal admin;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->f = calloc(1, sizeof(*fx->f));
    fx->f->base.m = &fake_methods;
    assert_int_equal(dlq_service_new(&fx->f->base, NULL, &fx->svc), DLQ_OK);
    int created = 0;
    char err[256];
    assert_int_equal(
        dlq_service_bootstrap_admin(fx->svc, NULL, &created, fx->admin_secret, err, sizeof(err)),
        DLQ_OK);
    assert_int_equal(created, 1);
    assert_int_equal(
        dlq_service_authenticate(fx->svc, fx->admin_secret, &fx->admin, err, sizeof(err)), DLQ_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    dlq_service_free(fx->svc);
    dlq_store_close(&fx->f->base);
    free(fx);
    return 0;
}

static void test_bootstrap(void **state)
{
    struct fixture *fx = *state;
    char err[256], secret[DLQ_SECRET_MAX];
    int created = 1;
    /* A generated secret is 47 characters, stored only as its hash. */
    assert_int_equal(strlen(fx->admin_secret), 47);
    assert_int_equal(fx->f->ntok, 1);
    assert_string_not_equal(fx->f->tok[0].secret_hash, fx->admin_secret);
    assert_int_equal(fx->f->tok[0].role, DLQ_ROLE_ADMIN);
    assert_string_equal(fx->f->tok[0].name, "admin");
    assert_memory_equal(fx->f->tok[0].id, "tok_", 4);
    assert_string_equal(fx->admin.name, "admin");
    /* Tokens exist: nothing more is made. */
    assert_int_equal(dlq_service_bootstrap_admin(fx->svc, "x", &created, secret, err, sizeof(err)),
                     DLQ_OK);
    assert_int_equal(created, 0);
    assert_int_equal(fx->f->ntok, 1);
}

static void test_bootstrap_env_secret(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    f->base.m = &fake_methods;
    struct dlq_service *svc;
    assert_int_equal(dlq_service_new(&f->base, NULL, &svc), DLQ_OK);
    char err[256], secret[DLQ_SECRET_MAX];
    int created = 0;
    assert_int_equal(
        dlq_service_bootstrap_admin(svc, "my-own-secret", &created, secret, err, sizeof(err)),
        DLQ_OK);
    assert_int_equal(created, 1);
    assert_string_equal(secret, ""); /* not generated: nothing to print */
    struct dlq_principal p;
    assert_int_equal(dlq_service_authenticate(svc, "my-own-secret", &p, err, sizeof(err)), DLQ_OK);
    assert_int_equal(p.role, DLQ_ROLE_ADMIN);
    dlq_service_free(svc);
    dlq_store_close(&f->base);
}

static void test_auth_cache_and_revoke(void **state)
{
    struct fixture *fx = *state;
    char err[256], secret[DLQ_SECRET_MAX];
    struct dlq_token tok;
    assert_int_equal(dlq_service_token_create(fx->svc, &fx->admin, "reader", DLQ_ROLE_VIEWER, "",
                                              &tok, secret, err, sizeof(err)),
                     DLQ_OK);
    struct dlq_principal p;
    int before = fx->f->by_hash_calls;
    for (int i = 0; i < 5; i++)
        assert_int_equal(dlq_service_authenticate(fx->svc, secret, &p, err, sizeof(err)), DLQ_OK);
    /* One store read for five requests, and one touch. */
    assert_int_equal(fx->f->by_hash_calls - before, 1);
    assert_string_equal(p.name, "reader");
    assert_string_equal(p.token_id, tok.id);
    assert_int_equal(p.role, DLQ_ROLE_VIEWER);

    assert_int_equal(dlq_service_token_revoke(fx->svc, &fx->admin, tok.id, err, sizeof(err)),
                     DLQ_OK);
    assert_int_equal(dlq_service_authenticate(fx->svc, secret, &p, err, sizeof(err)),
                     DLQ_E_UNAUTHORIZED);
    assert_int_equal(dlq_service_token_revoke(fx->svc, &fx->admin, tok.id, err, sizeof(err)),
                     DLQ_E_CONFLICT);
    assert_int_equal(dlq_service_token_revoke(fx->svc, &fx->admin, "tok_nope", err, sizeof(err)),
                     DLQ_E_NOTFOUND);
}

static void test_auth_unknown(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    struct dlq_principal p;
    assert_int_equal(dlq_service_authenticate(fx->svc, "dlq_nope", &p, err, sizeof(err)),
                     DLQ_E_UNAUTHORIZED);
    assert_int_equal(dlq_service_authenticate(fx->svc, "", &p, err, sizeof(err)),
                     DLQ_E_UNAUTHORIZED);
    char huge[1000];
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    int calls = fx->f->by_hash_calls;
    assert_int_equal(dlq_service_authenticate(fx->svc, huge, &p, err, sizeof(err)),
                     DLQ_E_UNAUTHORIZED);
    assert_int_equal(fx->f->by_hash_calls, calls); /* refused without a lookup */
}

static struct dlq_entry make_entry(const char *task, const char *tenant)
{
    struct dlq_entry e;
    memset(&e, 0, sizeof(e));
    e.task_name = strdup(task);
    e.exc_type = strdup("ValueError");
    e.exc_message = strdup("user 42 not found");
    e.tenant_id = tenant ? strdup(tenant) : NULL;
    e.max_replays = 3;
    return e;
}

static void test_capture(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    struct dlq_entry es[3] = {make_entry("a", "t1"), make_entry("b", NULL), make_entry("c", "t2")};
    es[1].failed_at = 1234;
    struct dlq_capture_result res[3];
    assert_int_equal(dlq_service_capture(fx->svc, &fx->admin, es, 3, res, err, sizeof(err)),
                     DLQ_OK);
    assert_int_equal(fx->f->capture_calls, 1);
    assert_int_equal(fx->f->captured, 3);
    /* Ids are assigned, distinct and in batch order; times are set. */
    assert_memory_equal(es[0].dlq_id, "dlq_", 4);
    assert_true(strcmp(es[0].dlq_id, es[1].dlq_id) < 0);
    assert_true(strcmp(es[1].dlq_id, es[2].dlq_id) < 0);
    assert_int_equal(es[1].failed_at, 1234);
    assert_true(es[0].failed_at == es[0].processed_at);
    /* The same failure shape gives the same fingerprint. */
    assert_string_equal(es[0].fingerprint, es[0].fingerprint);
    assert_int_equal(strlen(es[0].fingerprint), 16);
    /* An unbound admin keeps the tenants it was given. */
    assert_string_equal(es[2].tenant_id, "t2");
    for (int i = 0; i < 3; i++)
        dlq_entry_clear(&es[i]);
    assert_int_equal(dlq_service_capture(fx->svc, &fx->admin, es, 0, res, err, sizeof(err)),
                     DLQ_E_INVAL);
}

static void test_tenant_bound(void **state)
{
    struct fixture *fx = *state;
    char err[256], secret[DLQ_SECRET_MAX];
    struct dlq_token tok;
    struct dlq_principal prod, adm;
    assert_int_equal(dlq_service_token_create(fx->svc, &fx->admin, "p1", DLQ_ROLE_PRODUCER, "t1",
                                              &tok, secret, err, sizeof(err)),
                     DLQ_OK);
    assert_int_equal(dlq_service_authenticate(fx->svc, secret, &prod, err, sizeof(err)), DLQ_OK);
    assert_string_equal(prod.tenant_id, "t1");

    /* Ingest is pinned to the token's tenant whatever the body says. */
    struct dlq_entry e = make_entry("a", "t2");
    struct dlq_capture_result res;
    assert_int_equal(dlq_service_capture(fx->svc, &prod, &e, 1, &res, err, sizeof(err)), DLQ_OK);
    assert_string_equal(fx->f->last_tenant, "t1");
    dlq_entry_clear(&e);

    /* Reads are scoped: get passes the tenant, a list for another tenant is
     * empty without asking the store, a list without one is scoped. */
    struct dlq_entry out;
    assert_int_equal(dlq_service_get(fx->svc, &prod, "dlq_x", &out, NULL, NULL, err, sizeof(err)),
                     DLQ_E_NOTFOUND);
    assert_string_equal(fx->f->get_tenant, "t1");
    struct dlq_filter f;
    dlq_filter_init(&f);
    f.tenant_id = "t2";
    struct dlq_page page;
    int calls = fx->f->list_calls;
    assert_int_equal(dlq_service_list(fx->svc, &prod, &f, &page, err, sizeof(err)), DLQ_OK);
    assert_int_equal(page.n, 0);
    assert_int_equal(page.total, 0);
    assert_int_equal(fx->f->list_calls, calls);
    f.tenant_id = NULL;
    assert_int_equal(dlq_service_list(fx->svc, &prod, &f, &page, err, sizeof(err)), DLQ_OK);
    assert_string_equal(fx->f->list_tenant, "t1");
    assert_null(f.tenant_id); /* the caller's filter is not changed */
    dlq_page_free(&page);
    assert_int_equal(dlq_service_list(fx->svc, &fx->admin, &f, &page, err, sizeof(err)), DLQ_OK);
    assert_null(fx->f->list_tenant);
    dlq_page_free(&page);

    /* A tenant-bound admin manages only its tenant's tokens. */
    assert_int_equal(dlq_service_token_create(fx->svc, &fx->admin, "a1", DLQ_ROLE_ADMIN, "t1", &tok,
                                              secret, err, sizeof(err)),
                     DLQ_OK);
    assert_int_equal(dlq_service_authenticate(fx->svc, secret, &adm, err, sizeof(err)), DLQ_OK);
    assert_int_equal(dlq_service_token_create(fx->svc, &adm, "x", DLQ_ROLE_VIEWER, "t2", &tok,
                                              secret, err, sizeof(err)),
                     DLQ_E_FORBIDDEN);
    assert_string_equal(secret, "");
    assert_int_equal(dlq_service_token_create(fx->svc, &adm, "x", DLQ_ROLE_VIEWER, "", &tok, secret,
                                              err, sizeof(err)),
                     DLQ_OK);
    assert_string_equal(tok.tenant_id, "t1");
    struct dlq_token *list;
    size_t n;
    assert_int_equal(dlq_service_token_list(fx->svc, &adm, &list, &n, err, sizeof(err)), DLQ_OK);
    assert_int_equal(n, 3); /* p1, a1, x: not the unbound admin */
    for (size_t i = 0; i < n; i++)
        assert_string_equal(list[i].tenant_id, "t1");
    free(list);
    /* The unbound admin's token is invisible to it. */
    assert_int_equal(dlq_service_token_revoke(fx->svc, &adm, fx->admin.token_id, err, sizeof(err)),
                     DLQ_E_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
        cmocka_unit_test(test_bootstrap_env_secret),
        cmocka_unit_test_setup_teardown(test_auth_cache_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant_bound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
