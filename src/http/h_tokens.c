/*
 * h_tokens.c: /api/v1/tokens. Create answers the secret this one time; list
 * shows tokens without secrets or hashes; delete revokes. The route requires
 * the admin role; tenancy of a tenant-bound admin is the service's concern.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

int dlq_h_tokens_create(struct dlq_req *r)
{
    char name[128], tenant[128];
    enum dlq_role role = DLQ_ROLE_NONE;
    const char *text = r->body.data ? r->body.data : "";
    int rc = dlq_token_request_from_json(text, r->body.len, name, &role, tenant, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid token request");
    struct dlq_token tok;
    char secret[DLQ_SECRET_MAX];
    rc = dlq_service_token_create(r->h->svc, &r->who, name, role, tenant, &tok, secret, r->detail,
                                  sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    /* The stored view of the token, plus the secret: one shape for both. */
    struct dlq_buf b = {0};
    dlq_token_to_json(&tok, &b);
    if (b.len > 0 && b.data[b.len - 1] == '}') {
        b.len--;
        dlq_buf_puts(&b, ",\"token\":");
        dlq_buf_json_string(&b, secret, strlen(secret));
        dlq_buf_putc(&b, '}');
    }
    memset(secret, 0, sizeof(secret));
    return dlq_http_reply_buf(r, MHD_HTTP_CREATED, &b, NULL);
}

int dlq_h_tokens_list(struct dlq_req *r)
{
    struct dlq_token *toks = NULL;
    size_t n = 0;
    int rc = dlq_service_token_list(r->h->svc, &r->who, &toks, &n, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        dlq_token_to_json(&toks[i], &b);
    }
    dlq_buf_puts(&b, "]}");
    free(toks);
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_tokens_revoke(struct dlq_req *r)
{
    const char *id = r->params[0];
    int rc = dlq_service_token_revoke(r->h->svc, &r->who, id, r->detail, sizeof(r->detail));
    if (rc == DLQ_E_NOTFOUND)
        return dlq_http_fail(r, rc, "no token with id '%s'", id);
    if (rc == DLQ_E_CONFLICT)
        return dlq_http_fail(r, rc, "token '%s' is already revoked", id);
    if (rc != DLQ_OK)
        return rc;
    return dlq_http_reply(r, MHD_HTTP_NO_CONTENT, NULL, 0, "application/json", NULL);
}
