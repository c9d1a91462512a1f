/*
 * token.c: API token secrets and the JSON of the token endpoints. A secret
 * is 256 random bits the caller draws, rendered as "dlq_" + base64url so it
 * is recognisable in logs and config files; only its SHA-256 is stored.
 */
#include <string.h>

#include "core_int.h"

void dlq_token_secret_make(const uint8_t rnd[32], char out[DLQ_SECRET_MAX])
{
    memcpy(out, "dlq_", 4);
    dlq_b64url_encode(rnd, 32, out + 4, DLQ_SECRET_MAX - 4);
}

/* take_string copies a string member of obj into dst (size cap) when it is
 * 1..cap-1 bytes; returns 1 if present and valid, 0 if absent or null, and
 * -1 after recording a problem. */
static int take_string(json_t *obj, const char *key, char *dst, size_t cap, struct dlq_errors *errs)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        dlq_errors_add(errs, key, "must be a string");
        return -1;
    }
    size_t len = json_string_length(v);
    if (len == 0 || len >= cap) {
        dlq_errors_add(errs, key, "must be 1 to %zu bytes long", cap - 1);
        return -1;
    }
    memcpy(dst, json_string_value(v), len + 1);
    return 1;
}

int dlq_token_request_from_json(const char *text, size_t len, char name[128], enum dlq_role *role,
                                char tenant[128], struct dlq_errors *errs)
{
    int before = errs->n + errs->dropped;
    name[0] = '\0';
    tenant[0] = '\0';
    *role = DLQ_ROLE_NONE;
    json_t *root = dlq_json_load(text, len, errs);
    if (root == NULL)
        return DLQ_E_INVAL;
    if (!json_is_object(root)) {
        dlq_errors_add(errs, "body", "must be a JSON object");
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "role") != 0 && strcmp(key, "tenant_id") != 0)
            dlq_errors_add(errs, key, "unknown field");
    }
    if (take_string(root, "name", name, 128, errs) == 0)
        dlq_errors_add(errs, "name", "is required");
    json_t *r = json_object_get(root, "role");
    if (r == NULL || json_is_null(r)) {
        dlq_errors_add(errs, "role", "is required");
    } else if (!json_is_string(r) || json_string_length(r) > 16 ||
               (*role = dlq_role_parse(json_string_value(r))) == DLQ_ROLE_NONE) {
        dlq_errors_add(errs, "role", "must be one of viewer, operator, admin, producer");
    }
    take_string(root, "tenant_id", tenant, 128, errs);
    if (errs->n + errs->dropped > before)
        goto fail;
    json_decref(root);
    return DLQ_OK;

fail:
    json_decref(root);
    name[0] = '\0';
    tenant[0] = '\0';
    *role = DLQ_ROLE_NONE;
    return DLQ_E_INVAL;
}

static void put_time(struct dlq_buf *b, const char *key, int64_t ms)
{
    char t[DLQ_TIME_MAX];
    dlq_buf_printf(b, ",\"%s\":", key);
    if (ms == 0) {
        dlq_buf_puts(b, "null");
        return;
    }
    dlq_time_format(ms, t);
    dlq_buf_json_string(b, t, strlen(t));
}

int dlq_token_to_json(const struct dlq_token *t, struct dlq_buf *out)
{
    const char *role = dlq_role_name(t->role);
    dlq_buf_puts(out, "{\"id\":");
    dlq_buf_json_string(out, t->id, strlen(t->id));
    dlq_buf_puts(out, ",\"name\":");
    dlq_buf_json_string(out, t->name, strlen(t->name));
    dlq_buf_puts(out, ",\"role\":");
    dlq_buf_json_string(out, role, role != NULL ? strlen(role) : 0);
    dlq_buf_puts(out, ",\"tenant_id\":");
    if (t->tenant_id[0] == '\0')
        dlq_buf_puts(out, "null");
    else
        dlq_buf_json_string(out, t->tenant_id, strlen(t->tenant_id));
    put_time(out, "created_at", t->created_at);
    put_time(out, "last_used_at", t->last_used_at);
    put_time(out, "revoked_at", t->revoked_at);
    dlq_buf_putc(out, '}');
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}
