/*
 * h_entries.c: /api/v1/dlq/entries: ingest one failure or a batch, list
 * with filters, and show one entry with its history. Request bodies are
 * decoded by core (which reports every field problem at once); the list,
 * the hot read path, is written straight into a buffer without building a
 * JSON tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static const char *body_text(struct dlq_req *r)
{
    return r->body.data ? r->body.data : "";
}

/* apply_idempotency_key lets the Idempotency-Key header stand in for the
 * idempotency_key field; both may be given only if they agree. */
static int apply_idempotency_key(struct dlq_req *r, struct dlq_entry *e)
{
    const char *hdr = dlq_http_header_get(r, "Idempotency-Key");
    if (!hdr)
        return DLQ_OK;
    size_t len = strlen(hdr);
    if (len == 0 || len > DLQ_MAX_SHORT) {
        dlq_errors_add(&r->errs, "Idempotency-Key", "must be 1 to %d bytes", DLQ_MAX_SHORT);
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid header");
    }
    if (e->idempotency_key) {
        if (strcmp(e->idempotency_key, hdr) == 0)
            return DLQ_OK;
        dlq_errors_add(&r->errs, "idempotency_key",
                       "differs from the Idempotency-Key header; send one or make them equal");
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid entry");
    }
    e->idempotency_key = dlq_strdup(hdr);
    return e->idempotency_key ? DLQ_OK : DLQ_E_NOMEM;
}

/* repeat_status finds the current status of an entry an idempotent repeat
 * matched; NULL when it cannot be read (the answer then leaves it out). */
static const char *repeat_status(struct dlq_req *r, const char *id)
{
    struct dlq_entry e;
    memset(&e, 0, sizeof(e));
    char err[128];
    if (dlq_service_get(r->h->svc, &r->who, id, &e, NULL, NULL, err, sizeof(err)) != DLQ_OK)
        return NULL;
    const char *s = dlq_status_name(e.status);
    dlq_entry_clear(&e);
    return s;
}

/* answer_created answers a single ingest that ended with rc (and res). */
static int answer_created(struct dlq_req *r, int rc, const struct dlq_capture_result *res,
                          int spooled)
{
    if (rc != DLQ_OK)
        return rc;
    if (res->code != DLQ_OK)
        return res->code;
    if (spooled) /* issue 6: 202, the usual body plus "spooled": true */
        return dlq_http_reply_json(r, res->created ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK,
                                   json_pack("{s:s, s:s, s:b, s:b}", "dlq_id", res->dlq_id,
                                             "status", "pending_review", "created", res->created,
                                             "spooled", 1),
                                   NULL);

    if (res->created) {
        char loc[96];
        snprintf(loc, sizeof(loc), "/api/v1/dlq/entries/%s", res->dlq_id);
        struct dlq_http_header hdrs[] = {{"Location", loc}, {NULL, NULL}};
        /* The ingest hot path: written directly, not built with jansson
         * (the id is the service's own, [0-9A-Za-z_] only). */
        struct dlq_buf b = {0};
        dlq_buf_printf(&b, "{\"dlq_id\":\"%s\",\"status\":\"pending_review\",\"created\":true}",
                       res->dlq_id);
        return dlq_http_reply_buf(r, MHD_HTTP_CREATED, &b, hdrs);
    }
    const char *status = repeat_status(r, res->dlq_id);
    json_t *obj = json_pack("{s:s}", "dlq_id", res->dlq_id);
    if (obj && status)
        json_object_set_new(obj, "status", json_string(status));
    if (obj)
        json_object_set_new(obj, "created", json_false());
    if (obj && res->updated) /* issue 3: a failed replay updated the entry it replayed */
        json_object_set_new(obj, "updated", json_true());
    return dlq_http_reply_json(r, MHD_HTTP_OK, obj, NULL);
}

/* A single ingest whose commit is awaited with the connection suspended,
 * so the request thread serves other connections meanwhile. */
struct pending_ingest {
    struct dlq_entry e;
    struct dlq_capture_result res;
    int rc;
    struct dlq_req *r;
};

static void pending_free(void *p)
{
    struct pending_ingest *pi = p;
    dlq_entry_clear(&pi->e);
    free(pi);
}

/* ingest_done runs on a store thread when the commit ended. */
static void ingest_done(void *arg, int rc)
{
    struct pending_ingest *pi = arg;
    pi->rc = rc; /* read after the resume, which orders it */
    MHD_resume_connection(pi->r->conn);
}

/* ingest_resumed is the handler's continuation once the commit ended. */
static int ingest_resumed(struct dlq_req *r)
{
    struct pending_ingest *pi = r->ingest;
    int spooled = 0;
    r->suspended = 0;
    int rc = dlq_service_ingest_finish(r->h->svc, &r->who, &pi->e, 1, &pi->res, pi->rc, &spooled,
                                       r->detail, sizeof(r->detail));
    return answer_created(r, rc, &pi->res, spooled);
}

int dlq_h_entries_create(struct dlq_req *r)
{
    struct pending_ingest *pi = calloc(1, sizeof(*pi));
    if (!pi)
        return DLQ_E_NOMEM;
    r->ingest = pi;
    r->ingest_free = pending_free;
    pi->r = r;
    int rc = dlq_entry_from_json(body_text(r), r->body.len, &pi->e, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid entry");
    rc = apply_idempotency_key(r, &pi->e);
    if (rc != DLQ_OK)
        return rc;
    /* Suspend first: a commit that ends at once finds the connection
     * suspended and resumes it. */
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
    r->resume = ingest_resumed;
    if (dlq_service_ingest_submit(r->h->svc, &r->who, &pi->e, 1, &pi->res, r->detail,
                                  sizeof(r->detail), ingest_done, pi))
        return DLQ_OK; /* answered by ingest_resumed */
    r->resume = NULL;
    r->suspended = 0;
    MHD_resume_connection(r->conn);
    int spooled = 0; /* issue 6: taken by the spool, not yet in the store */
    rc = dlq_service_ingest(r->h->svc, &r->who, &pi->e, 1, &pi->res, &spooled, r->detail,
                            sizeof(r->detail));
    return answer_created(r, rc, &pi->res, spooled);
}

static void free_entries(struct dlq_entry *es, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dlq_entry_clear(&es[i]);
    free(es);
}

/* dlq_h_entries_batch: all or nothing. Any invalid item fails the whole
 * request with every bad item named, and nothing is written; a valid batch
 * is one commit. */
int dlq_h_entries_batch(struct dlq_req *r)
{
    if (dlq_http_header_get(r, "Idempotency-Key")) {
        dlq_errors_add(&r->errs, "Idempotency-Key",
                       "not accepted on a batch: set idempotency_key on each entry");
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid header");
    }
    struct dlq_entry *es = NULL;
    size_t n = 0;
    int rc =
        dlq_entries_from_json_batch(body_text(r), r->body.len, DLQ_MAX_BATCH, &es, &n, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid batch");
    struct dlq_capture_result *res = calloc(n, sizeof(*res));
    if (!res) {
        free_entries(es, n);
        return DLQ_E_NOMEM;
    }
    int spooled = 0; /* issue 6 */
    rc = dlq_service_ingest(r->h->svc, &r->who, es, n, res, &spooled, r->detail, sizeof(r->detail));
    free_entries(es, n);
    if (rc != DLQ_OK) {
        free(res);
        return rc;
    }
    struct dlq_buf b = {0};
    size_t created = 0, dups = 0;
    dlq_buf_reserve(&b, 80 * n + 64);
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        dlq_buf_printf(&b, "%s{\"index\":%zu", i ? "," : "", i);
        if (res[i].code != DLQ_OK) {
            dlq_buf_printf(&b, ",\"error\":\"%s\",\"status\":%d}", dlq_strerror(res[i].code),
                           dlq_err_http_status(res[i].code));
            continue;
        }
        dlq_buf_printf(&b, ",\"dlq_id\":\"%s\",\"created\":%s%s}", res[i].dlq_id,
                       res[i].created ? "true" : "false",
                       res[i].updated ? ",\"updated\":true" : "");
        if (res[i].created)
            created++;
        else if (!res[i].updated)
            dups++;
    }
    dlq_buf_printf(&b, "],\"created\":%zu,\"duplicates\":%zu%s}", created, dups,
                   spooled ? ",\"spooled\":true" : "");
    free(res);
    return dlq_http_reply_buf(r, spooled ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK, &b, NULL);
}

struct args {
    struct dlq_kv kv[DLQ_HTTP_MAX_ARGS];
    size_t n;
    int overflow;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct args *a = cls;
    if (a->n == DLQ_HTTP_MAX_ARGS) {
        a->overflow = 1;
        return MHD_NO;
    }
    a->kv[a->n].key = key;
    a->kv[a->n].value = value ? value : "";
    a->n++;
    return MHD_YES;
}

int dlq_h_entries_list(struct dlq_req *r)
{
    struct args a;
    a.n = 0;
    a.overflow = 0;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    if (a.overflow)
        return dlq_http_fail(r, DLQ_E_INVAL, "too many query parameters (at most %d)",
                             DLQ_HTTP_MAX_ARGS);
    struct dlq_filter f;
    dlq_filter_init(&f);
    int rc = dlq_filter_parse(&f, a.kv, a.n, &r->errs);
    if (rc != DLQ_OK)
        return dlq_http_fail_fields(r, rc, "invalid query");
    struct dlq_page page;
    rc = dlq_service_list(r->h->svc, &r->who, &f, &page, r->detail, sizeof(r->detail));
    if (rc != DLQ_OK)
        return rc;

    struct dlq_buf b = {0};
    dlq_buf_reserve(&b, 1024 * (page.n + 1));
    dlq_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0; i < page.n; i++) {
        if (i)
            dlq_buf_putc(&b, ',');
        dlq_entry_to_json(&page.items[i], NULL, 0, 0, &b);
    }
    dlq_buf_printf(&b, "],\"total\":%lld,\"limit\":%d,\"offset\":%lld,\"next_cursor\":",
                   (long long)page.total, f.limit, (long long)f.offset);
    if (page.next_cursor[0])
        dlq_buf_json_string(&b, page.next_cursor, strlen(page.next_cursor));
    else
        dlq_buf_puts(&b, "null");
    dlq_buf_putc(&b, '}');
    dlq_page_free(&page);
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}

int dlq_h_entries_get(struct dlq_req *r)
{
    const char *id = r->params[0];
    struct dlq_entry e;
    memset(&e, 0, sizeof(e));
    struct dlq_event *hist = NULL;
    size_t nhist = 0;
    int rc =
        dlq_service_get(r->h->svc, &r->who, id, &e, &hist, &nhist, r->detail, sizeof(r->detail));
    if (rc == DLQ_E_NOTFOUND)
        return dlq_http_fail(r, rc, "no entry with id '%s'", id);
    if (rc != DLQ_OK)
        return rc;
    struct dlq_buf b = {0};
    rc = dlq_entry_to_json(&e, hist, nhist, 1, &b);
    dlq_entry_clear(&e);
    dlq_events_free(hist, nhist);
    if (rc != DLQ_OK) {
        dlq_buf_free(&b);
        return rc;
    }
    return dlq_http_reply_buf(r, MHD_HTTP_OK, &b, NULL);
}
