/*
 * h_export.c: GET /api/v1/dlq/export?format=json|ndjson|csv plus the list
 * filters (no limit, offset or cursor): every matching entry, streamed.
 *
 * The answer is a libmicrohttpd callback response: the reader callback is
 * called whenever the socket can take more, and it refills a buffer from the
 * next keyset page of 500 entries only once the previous page has been sent.
 * Memory is one page and its encoding whatever the export's size, and a slow
 * client holds nothing but its connection. The query is checked and the
 * first page read before the answer starts, so a bad format or filter is a
 * 400 problem and a failing store a 5xx, not a truncated stream; an error
 * after that ends the chunked stream early (the client sees it truncated)
 * and is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/csv.h"
#include "http_int.h"

#define PAGE 500

enum fmt { F_JSON, F_NDJSON, F_CSV };

static const struct {
    const char *name, *ctype, *disposition;
} formats[] = {
    [F_JSON] = {"json", "application/json", "attachment; filename=\"dlq-export.json\""},
    [F_NDJSON] = {"ndjson", "application/x-ndjson", "attachment; filename=\"dlq-export.ndjson\""},
    [F_CSV] = {"csv", "text/csv; charset=utf-8", "attachment; filename=\"dlq-export.csv\""},
};

/* The state of one export, owned by its response. */
struct export
{
    struct dlq_service *svc;
    struct dlq_principal who;
    enum fmt fmt;
    struct dlq_filter f;  /* its strings point into `strs` */
    char *strs[6];        /* owned copies of the filter's strings */
    struct dlq_page page; /* the page being encoded */
    struct dlq_buf out;   /* encoded bytes not yet sent start at `sent` */
    size_t sent;
    uint64_t n; /* entries encoded so far */
    int last;   /* the page in hand is the last one */
    int closed; /* the closing bytes are in `out` */
    char req_id[65];
};

static void export_free(void *cls)
{
    struct export *x = cls;
    if (!x)
        return;
    for (size_t i = 0; i < sizeof x->strs / sizeof x->strs[0]; i++)
        free(x->strs[i]);
    dlq_page_free(&x->page);
    dlq_buf_free(&x->out);
    free(x);
}

/* own copies a borrowed filter string into the export. */
static int own(struct export *x, int slot, const char **s)
{
    if (!*s)
        return DLQ_OK;
    x->strs[slot] = dlq_strdup(*s);
    *s = x->strs[slot];
    return x->strs[slot] ? DLQ_OK : DLQ_E_NOMEM;
}

/* fetch reads the page after the last one into x->page. */
static int fetch(struct export *x, char *err, size_t errlen)
{
    char cursor[sizeof x->page.next_cursor] = "";
    if (x->page.n > 0)
        memcpy(cursor, x->page.next_cursor, sizeof cursor);
    dlq_page_free(&x->page);
    memset(&x->page, 0, sizeof x->page);
    if (cursor[0] && dlq_cursor_decode(cursor, &x->f) != DLQ_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "bad export cursor");
    int rc = dlq_service_export_page(x->svc, &x->who, &x->f, PAGE, &x->page, err, errlen);
    if (rc == DLQ_OK)
        x->last = x->page.next_cursor[0] == '\0';
    return rc;
}

/* encode appends the page in hand (and the closing bytes after the last
 * page) to x->out. */
static int encode(struct export *x)
{
    for (size_t i = 0; i < x->page.n; i++) {
        const struct dlq_entry *e = &x->page.items[i];
        int rc;
        if (x->fmt == F_CSV) {
            rc = dlq_entry_to_csv(e, &x->out);
        } else {
            if (x->fmt == F_JSON && x->n > 0)
                dlq_buf_putc(&x->out, ',');
            rc = dlq_entry_to_json(e, NULL, 0, 0, &x->out);
            if (x->fmt == F_NDJSON)
                dlq_buf_putc(&x->out, '\n');
        }
        if (rc != DLQ_OK)
            return rc;
        x->n++;
    }
    if (x->last && !x->closed) {
        if (x->fmt == F_JSON)
            dlq_buf_puts(&x->out, "]\n");
        x->closed = 1;
    }
    return x->out.oom ? DLQ_E_NOMEM : DLQ_OK;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct export *x = cls;
    (void)pos;
    while (x->sent == x->out.len) {
        if (x->closed)
            return MHD_CONTENT_READER_END_OF_STREAM;
        char err[256] = "";
        dlq_buf_reset(&x->out);
        x->sent = 0;
        int rc = fetch(x, err, sizeof err);
        if (rc == DLQ_OK)
            rc = encode(x);
        if (rc != DLQ_OK) {
            dlq_log(DLQ_LOG_ERROR, "export %s: stopped after %llu entries: %s", x->req_id,
                    (unsigned long long)x->n, err[0] ? err : dlq_strerror(rc));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t k = x->out.len - x->sent;
    if (k > max)
        k = max;
    memcpy(buf, x->out.data + x->sent, k);
    x->sent += k;
    return (ssize_t)k;
}

struct args {
    struct dlq_kv kv[DLQ_HTTP_MAX_ARGS];
    size_t n;
    int overflow;
    const char *format;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct args *a = cls;
    (void)kind;
    if (key && strcmp(key, "format") == 0 && !a->format) {
        a->format = value ? value : "";
        return MHD_YES;
    }
    if (a->n == DLQ_HTTP_MAX_ARGS) {
        a->overflow = 1;
        return MHD_NO;
    }
    a->kv[a->n].key = key;
    a->kv[a->n].value = value ? value : "";
    a->n++;
    return MHD_YES;
}

/* parse reads format and filter from the query into x. */
static int parse(struct dlq_req *r, struct export *x)
{
    struct args a;
    memset(&a, 0, sizeof a);
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    if (a.overflow)
        return dlq_http_fail(r, DLQ_E_INVAL, "too many query parameters (at most %d)",
                             DLQ_HTTP_MAX_ARGS);
    x->fmt = F_JSON;
    if (a.format) {
        size_t i;
        for (i = 0; i < sizeof formats / sizeof formats[0]; i++)
            if (strcmp(a.format, formats[i].name) == 0)
                break;
        if (i == sizeof formats / sizeof formats[0])
            dlq_errors_add(&r->errs, "format", "must be json, ndjson or csv");
        else
            x->fmt = (enum fmt)i;
    }
    for (size_t i = 0; i < a.n; i++) {
        const char *k = a.kv[i].key ? a.kv[i].key : "";
        if (strcmp(k, "limit") == 0 || strcmp(k, "offset") == 0 || strcmp(k, "cursor") == 0)
            dlq_errors_add(&r->errs, k, "is not accepted on an export (it returns every match)");
    }
    struct dlq_errors ferrs;
    memset(&ferrs, 0, sizeof ferrs);
    int rc = dlq_filter_parse(&x->f, a.kv, a.n, &ferrs);
    for (int i = 0; i < ferrs.n; i++) {
        const char *k = ferrs.items[i].field;
        if (strcmp(k, "limit") != 0 && strcmp(k, "offset") != 0 && strcmp(k, "cursor") != 0)
            dlq_errors_add(&r->errs, k, "%s", ferrs.items[i].detail);
    }
    if (r->errs.n || r->errs.dropped || (rc != DLQ_OK && ferrs.n == 0))
        return dlq_http_fail_fields(r, DLQ_E_INVAL, "invalid export query");
    x->f.has_cursor = 0;
    if (own(x, 0, &x->f.task_name) || own(x, 1, &x->f.tenant_id) || own(x, 2, &x->f.queue) ||
        own(x, 3, &x->f.exception_type) || own(x, 4, &x->f.fingerprint) || own(x, 5, &x->f.q))
        return DLQ_E_NOMEM;
    return DLQ_OK;
}

int dlq_h_export(struct dlq_req *r)
{
    struct export *x = calloc(1, sizeof *x);
    if (!x)
        return DLQ_E_NOMEM;
    x->svc = r->h->svc;
    x->who = r->who;
    memcpy(x->req_id, r->id, sizeof x->req_id);
    int rc = parse(r, x);
    /* The first page is read now: its errors still get a proper answer. */
    if (rc == DLQ_OK)
        rc = fetch(x, r->detail, sizeof r->detail);
    if (rc == DLQ_OK && x->fmt == F_CSV)
        rc = dlq_csv_header(&x->out);
    if (rc == DLQ_OK && x->fmt == F_JSON)
        rc = dlq_buf_putc(&x->out, '[') < 0 ? DLQ_E_NOMEM : DLQ_OK;
    if (rc == DLQ_OK)
        rc = encode(x);
    if (rc != DLQ_OK) {
        export_free(x);
        return rc;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, reader, x, export_free);
    if (!resp) {
        export_free(x);
        return DLQ_E_NOMEM;
    }
    int ok = MHD_add_response_header(resp, "X-Request-Id", r->id) == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, formats[x->fmt].ctype) ==
                 MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                                     formats[x->fmt].disposition) == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    if (ok && atomic_load(&r->h->draining))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (ok)
        ok = MHD_queue_response(r->conn, MHD_HTTP_OK, resp) == MHD_YES;
    MHD_destroy_response(resp); /* frees x through export_free once sent */
    if (!ok)
        return DLQ_E_INTERNAL;
    r->queued = 1;
    r->status = MHD_HTTP_OK;
    return DLQ_OK;
}
