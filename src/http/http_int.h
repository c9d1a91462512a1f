/*
 * http_int.h: what the files of src/http/ share: the server object, the
 * per-request context, the route handler type, and the few helpers every
 * handler answers through. libmicrohttpd and jansson types are allowed here
 * and stay inside src/http/.
 */
#ifndef DLQ_HTTP_INT_H
#define DLQ_HTTP_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "dlq/core.h"
#include "dlq/http.h"
#include "dlq/service.h"

/* Path parameters a route pattern may hold, and how long one may be. */
#define DLQ_HTTP_MAX_PARAMS 2
#define DLQ_HTTP_PARAM_MAX  200
/* Query arguments accepted on one request (more: 400). */
#define DLQ_HTTP_MAX_ARGS   64
#define DLQ_HTTP_DETAIL_MAX 512

struct dlq_http {
    struct MHD_Daemon *daemon;
    struct dlq_service *svc; /* borrowed */
    struct dlq_http_config cfg;
    int port;
    atomic_int draining;  /* 1 once stopping: answers ask clients to close */
    atomic_long inflight; /* requests between their first byte and completion */
};

/* One request, from its request line to the completion callback. */
struct dlq_req {
    struct dlq_http *h;
    struct MHD_Connection *conn;
    char id[65];      /* request id, echoed in X-Request-Id */
    int64_t start_ns; /* monotonic */
    char method[16];
    char *path;      /* as sent (still percent-encoded), no query; malloc'd */
    const char *url; /* decoded path from MHD; valid while the request is handled */
    int started;     /* the access handler has seen this request */
    int dispatched;  /* routed once (a resumed long poll is routed again) */
    int bad_path;    /* the raw path is refused (see bad_path_detail) */
    int too_big;     /* the body passed cfg.max_body: it is being discarded */
    int dup_length;  /* harden: more than one Content-Length header (400) */
    struct dlq_buf body;

    int authed;
    struct dlq_principal who;

    const char *params[DLQ_HTTP_MAX_PARAMS]; /* point into parambuf */
    size_t nparams;
    char parambuf[DLQ_HTTP_MAX_PARAMS * (DLQ_HTTP_PARAM_MAX + 1)];

    /* What went wrong, for the problem answer. */
    char detail[DLQ_HTTP_DETAIL_MAX];
    struct dlq_errors errs;
    char allow[64];    /* 405: the methods the path accepts */
    int bad_token;     /* 401: a token was sent but not accepted */
    const char *route; /* slice C1: the matched route pattern (metrics), NULL if none */

    /* issue 4: the long poll of a reserve (h_jobs.c). A handler that
     * suspends the connection sets suspended and answers nothing; when the
     * waiter resumes it, MHD calls the access handler again and the request
     * is dispatched again (lp keeps the handler's state, freed by lp_free). */
    int suspended;
    struct dlq_job_waiter waiter;
    void *lp;
    void (*lp_free)(void *);
    /* A single ingest waiting for its commit (h_entries.c): when the
     * connection is resumed, dispatch calls resume(r) straight away (the
     * request was routed and authorized already); ingest is its state,
     * freed by ingest_free. */
    int (*resume)(struct dlq_req *r);
    void *ingest;
    void (*ingest_free)(void *);

    /* What was answered, for the access log. */
    int queued;
    unsigned status;
    uint64_t bytes;
};

/* A route handler answers through dlq_http_reply*() and returns DLQ_OK, or
 * returns a negative code with r->detail (and r->errs) filled and answers
 * nothing: the dispatcher then sends the problem. */
typedef int (*dlq_handler_fn)(struct dlq_req *r);

/* An extra response header; arrays of them end with a {NULL, NULL} row. */
struct dlq_http_header {
    const char *name;
    const char *value;
};

/* dlq_http_reply queues the response: status, body (malloc'd, ownership taken
 * whatever happens; NULL for none), its content type and extra headers (may
 * be NULL). Adds X-Request-Id and Cache-Control. Returns DLQ_OK or
 * DLQ_E_INTERNAL when libmicrohttpd refused it. */
int dlq_http_reply(struct dlq_req *r, unsigned status, char *body, size_t len, const char *ctype,
                   const struct dlq_http_header *extra);
/* dlq_http_queue adds extra (may be NULL) and, while draining, Connection:
 * close to resp, queues it and records status and len for the access log.
 * resp is destroyed whatever happens (libmicrohttpd keeps its own reference
 * when queued). DLQ_OK or DLQ_E_INTERNAL. dlq_http_reply ends here; so do
 * answers that build their own response (static assets). */
int dlq_http_queue(struct dlq_req *r, unsigned status, struct MHD_Response *resp, size_t len,
                   const struct dlq_http_header *extra);
/* dlq_http_reply_json queues obj (reference stolen) as compact JSON. */
int dlq_http_reply_json(struct dlq_req *r, unsigned status, json_t *obj,
                        const struct dlq_http_header *extra);
/* dlq_http_reply_buf queues the JSON text in b (emptied: its memory is taken). */
int dlq_http_reply_buf(struct dlq_req *r, unsigned status, struct dlq_buf *b,
                       const struct dlq_http_header *extra);

/* dlq_http_fail writes the problem detail into r and returns code, so a
 * handler reads `return dlq_http_fail(r, DLQ_E_NOTFOUND, "...")`. */
int dlq_http_fail(struct dlq_req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* dlq_http_fail_fields sets a detail summing up r->errs and returns code. */
int dlq_http_fail_fields(struct dlq_req *r, int code, const char *what);

/* dlq_http_problem is the one exit for errors: it answers code as RFC 9457
 * application/problem+json from r's detail and field errors. */
int dlq_http_problem(struct dlq_req *r, int code);

/* dlq_http_dispatch routes a complete request: path checks, route lookup,
 * media type, authentication and role, then the handler. Always queues an
 * answer unless libmicrohttpd refuses it (then returns an error). */
int dlq_http_dispatch(struct dlq_req *r);

/* dlq_http_route_find (harden: for fuzz/fuzz_route.c) runs the dispatcher's
 * path checks and route lookup on r (method, path, url and bad_path set; no
 * connection needed): DLQ_OK with the route's pattern and permission, or the
 * error code (400, 404, 405) the dispatcher would answer, detail in r. */
int dlq_http_route_find(struct dlq_req *r, const char **pattern, enum dlq_perm *perm);

/* dlq_http_header_get returns a request header (borrowed) or NULL. */
const char *dlq_http_header_get(struct dlq_req *r, const char *name);

/* dlq_http_bad_path checks a raw request path; returns NULL when it is fine,
 * else a static reason to refuse it. */
const char *dlq_http_bad_path(const char *raw, size_t len);

/* dlq_http_access_log writes r's access-log line to stderr. */
void dlq_http_access_log(struct dlq_req *r);

/* Handlers, one file per resource. */
int dlq_h_healthz(struct dlq_req *r);
int dlq_h_readyz(struct dlq_req *r);
int dlq_h_entries_create(struct dlq_req *r);
int dlq_h_entries_batch(struct dlq_req *r);
int dlq_h_entries_list(struct dlq_req *r);
int dlq_h_entries_get(struct dlq_req *r);
int dlq_h_tokens_create(struct dlq_req *r);
int dlq_h_tokens_list(struct dlq_req *r);
int dlq_h_tokens_revoke(struct dlq_req *r);
/* issue 3 slice A: h_actions.c, h_audit.c */
int dlq_h_entries_retry(struct dlq_req *r);
int dlq_h_entries_resolve(struct dlq_req *r);
int dlq_h_entries_discard(struct dlq_req *r);
int dlq_h_entries_outcome(struct dlq_req *r);
int dlq_h_audit_list(struct dlq_req *r);
/* slice B: h_bulk.c, h_ops.c */
int dlq_h_replay_bulk(struct dlq_req *r);
int dlq_h_resolve_bulk(struct dlq_req *r);
int dlq_h_discard_bulk(struct dlq_req *r);
int dlq_h_ops_list(struct dlq_req *r);
int dlq_h_ops_get(struct dlq_req *r);
int dlq_h_ops_cancel(struct dlq_req *r);
/* slice C2: h_cleanup.c, h_export.c */
int dlq_h_cleanup(struct dlq_req *r);
int dlq_h_export(struct dlq_req *r);
/* slice C1: h_stats.c, h_alerts.c, h_metrics.c, metrics.c */
int dlq_h_stats(struct dlq_req *r);
int dlq_h_report(struct dlq_req *r);
int dlq_h_groups(struct dlq_req *r);
int dlq_h_alerts(struct dlq_req *r);
int dlq_h_metrics(struct dlq_req *r);
/* issue 4: h_jobs.c, h_queues.c */
int dlq_h_jobs_enqueue(struct dlq_req *r);
int dlq_h_jobs_batch(struct dlq_req *r);
int dlq_h_jobs_reserve(struct dlq_req *r);
int dlq_h_jobs_ack(struct dlq_req *r);
int dlq_h_jobs_ack_batch(struct dlq_req *r);
int dlq_h_jobs_fail(struct dlq_req *r);
int dlq_h_jobs_heartbeat(struct dlq_req *r);
int dlq_h_jobs_get(struct dlq_req *r);
int dlq_h_jobs_cancel(struct dlq_req *r);
int dlq_h_queues_list(struct dlq_req *r);
int dlq_h_queues_get(struct dlq_req *r);
int dlq_h_queues_settings(struct dlq_req *r);
int dlq_h_queues_pause(struct dlq_req *r);
int dlq_h_queues_resume(struct dlq_req *r);
/* dlq_http_metrics_observe counts one answered request (lock-free). */
void dlq_http_metrics_observe(const char *route, unsigned status, double seconds);
/* dlq_http_metrics_text appends the HTTP request families to b. */
void dlq_http_metrics_text(struct dlq_buf *b);
/* issue 5: h_static.c, h_whoami.c; the asset table is generated from web/
 * at build time (web/embed.cmake). */
struct dlq_web_asset {
    const char *path; /* relative to web/, e.g. "js/app.js" */
    const unsigned char *data;
    size_t len;
    const char *ctype; /* Content-Type */
    const char *etag;  /* strong: "\"<SHA-256 prefix>\"" */
};
extern const struct dlq_web_asset dlq_web_assets[];
extern const size_t dlq_web_assets_count;
int dlq_h_static(struct dlq_req *r);
int dlq_h_whoami(struct dlq_req *r);

#endif
