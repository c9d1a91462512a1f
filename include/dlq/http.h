/*
 * http.h: the HTTP server (libmicrohttpd): route table, authentication,
 * problem+json errors, access log. Started by `dlq serve` over a service.
 */
#ifndef DLQ_HTTP_H
#define DLQ_HTTP_H

#include <stddef.h>

#include "dlq/service.h"

struct dlq_http_config {
    const char *host;   /* listen address, e.g. "127.0.0.1" */
    int port;           /* 0: pick a free port (see dlq_http_port) */
    int threads;        /* worker threads in the pool */
    size_t max_body;    /* request body cap in bytes (413 above) */
    int access_log;     /* 1: one JSON line per request on stderr */
    int conn_limit;     /* maximum concurrent connections */
    int conn_timeout_s; /* idle connection timeout */
    int per_ip_limit;   /* issue 6: concurrent connections per client address; 0: none */
};

struct dlq_http;

/* dlq_http_start listens and serves svc (borrowed) on worker threads. On
 * DLQ_OK *out is running; stop it with dlq_http_stop. */
int dlq_http_start(struct dlq_service *svc, const struct dlq_http_config *cfg,
                   struct dlq_http **out, char *err, size_t errlen);
/* dlq_http_port returns the port actually bound. */
int dlq_http_port(const struct dlq_http *h);
/* dlq_http_stop stops accepting, lets in-flight requests finish, and frees h. */
void dlq_http_stop(struct dlq_http *h);

#endif
