/*
 * response.c: the way every answer leaves, success or error: the body, its
 * content type, the request id, Cache-Control, and, while the server is
 * stopping, Connection: close so keep-alive clients let go.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

int dlq_http_reply(struct dlq_req *r, unsigned status, char *body, size_t len, const char *ctype,
                   const struct dlq_http_header *extra)
{
    assert(r && !r->queued && ctype);
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return DLQ_E_NOMEM;
    }
    int ok = MHD_add_response_header(resp, "X-Request-Id", r->id) == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(resp);
        return DLQ_E_INTERNAL;
    }
    return dlq_http_queue(r, status, resp, len, extra);
}

int dlq_http_queue(struct dlq_req *r, unsigned status, struct MHD_Response *resp, size_t len,
                   const struct dlq_http_header *extra)
{
    int ok = 1;
    for (const struct dlq_http_header *hd = extra; ok && hd && hd->name; hd++)
        ok = MHD_add_response_header(resp, hd->name, hd->value) == MHD_YES;
    if (ok && atomic_load(&r->h->draining))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (ok)
        ok = MHD_queue_response(r->conn, status, resp) == MHD_YES;
    MHD_destroy_response(resp);
    if (!ok)
        return DLQ_E_INTERNAL;
    r->queued = 1;
    r->status = status;
    r->bytes = len;
    return DLQ_OK;
}

int dlq_http_reply_json(struct dlq_req *r, unsigned status, json_t *obj,
                        const struct dlq_http_header *extra)
{
    if (!obj)
        return DLQ_E_NOMEM;
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        return DLQ_E_NOMEM;
    return dlq_http_reply(r, status, text, strlen(text), "application/json", extra);
}

int dlq_http_reply_buf(struct dlq_req *r, unsigned status, struct dlq_buf *b,
                       const struct dlq_http_header *extra)
{
    if (b->oom) {
        dlq_buf_free(b);
        return DLQ_E_NOMEM;
    }
    size_t len = b->len;
    return dlq_http_reply(r, status, dlq_buf_steal(b), len, "application/json", extra);
}

const char *dlq_http_header_get(struct dlq_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
