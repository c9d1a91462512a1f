/*
 * h_whoami.c: GET /api/v1/whoami, which tells any valid token its own name,
 * role and tenant, so that a client (the dashboard) can show who is signed in
 * and offer only what the role may do. Every role may ask, a producer too:
 * the answer names nothing but the asking token. No permission of the route
 * table fits "any valid token", so the route is public and this handler
 * authenticates the bearer itself, with the same answers as the router
 * (401 with WWW-Authenticate for a missing or unknown token).
 */
#include <string.h>
#include <strings.h>

#include "http_int.h"

/* bearer_secret copies the secret of "Authorization: Bearer <secret>" into
 * out; returns 0 when there is none (or it does not fit). */
static int bearer_secret(const char *hdr, char *out, size_t outlen)
{
    if (!hdr)
        return 0;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    if (strncasecmp(hdr, "Bearer", 6) != 0 || (hdr[6] != ' ' && hdr[6] != '\t'))
        return 0;
    hdr += 6;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    size_t len = strlen(hdr);
    while (len > 0 && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= outlen)
        return 0;
    memcpy(out, hdr, len);
    out[len] = '\0';
    return 1;
}

int dlq_h_whoami(struct dlq_req *r)
{
    char secret[512];
    if (!bearer_secret(dlq_http_header_get(r, MHD_HTTP_HEADER_AUTHORIZATION), secret,
                       sizeof(secret)))
        return dlq_http_fail(r, DLQ_E_UNAUTHORIZED,
                             "missing bearer token: send 'Authorization: Bearer <token>'");
    r->bad_token = 1;
    int rc = dlq_service_authenticate(r->h->svc, secret, &r->who, r->detail, sizeof(r->detail));
    memset(secret, 0, sizeof(secret));
    if (rc != DLQ_OK)
        return rc;
    r->bad_token = 0;
    r->authed = 1;
    const char *role = dlq_role_name(r->who.role);
    return dlq_http_reply_json(
        r, MHD_HTTP_OK,
        json_pack("{s:s, s:s, s:s, s:o}", "token_id", r->who.token_id, "name", r->who.name, "role",
                  role ? role : "none", "tenant_id",
                  r->who.tenant_id[0] ? json_string(r->who.tenant_id) : json_null()),
        NULL);
}
