/*
 * server.c: the libmicrohttpd daemon and the life of a request in it. A
 * request context is made when the request line arrives (so the raw,
 * still-encoded path can be checked before MHD decodes it), collects the
 * body up to the configured cap, is dispatched once the request is complete,
 * and is logged and freed when MHD reports the request finished. Handlers
 * run on the pool's threads and may block on the store (a durable write
 * waits for its group commit), which is why the pool is sized for the
 * expected concurrency rather than for the number of cores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"

/* How long dlq_http_stop waits for requests in flight before it closes
 * their connections anyway. */
#define DRAIN_TIMEOUT_MS 10000
/* Most bodies (one entry) are a few KiB; larger ones grow as they arrive. */
#define PRERESERVE_MAX (64 * 1024)

/* request_id_ok accepts a client's X-Request-Id when it is 1..64 characters
 * of [A-Za-z0-9._-]: safe to echo in headers and logs unchanged. */
static int request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

static void set_request_id(struct dlq_req *r)
{
    const char *given = dlq_http_header_get(r, "X-Request-Id");
    if (given && request_id_ok(given)) {
        snprintf(r->id, sizeof(r->id), "%s", given);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    uint8_t rnd[8] = {0};
    (void)dlq_random(rnd, sizeof(rnd)); /* on failure the id is still unique enough to log */
    for (size_t i = 0; i < sizeof(rnd); i++) {
        r->id[2 * i] = hex[rnd[i] >> 4];
        r->id[2 * i + 1] = hex[rnd[i] & 15];
    }
    r->id[2 * sizeof(rnd)] = '\0';
}

static void req_free(struct dlq_req *r)
{
    if (r->lp_free) /* issue 4: a reserve's long-poll state */
        r->lp_free(r->lp);
    if (r->ingest_free) /* a single ingest that waited for its commit */
        r->ingest_free(r->ingest);
    dlq_buf_free(&r->body);
    free(r->path);
    free(r);
}

/* on_uri runs when the request line has arrived: it makes the request
 * context (NULL on allocation failure: the request is then refused). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct dlq_http *h = cls;
    struct dlq_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    size_t len = strcspn(uri, "?");
    r->path = dlq_strndup(uri, len);
    if (!r->path) {
        free(r);
        return NULL;
    }
    r->h = h;
    r->conn = conn;
    r->start_ns = dlq_mono_ns();
    r->bad_path = dlq_http_bad_path(r->path, len) != NULL;
    atomic_fetch_add(&h->inflight, 1);
    return r;
}

/* count_length counts the Content-Length headers of a request (harden). */
static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        ++*(int *)cls;
    return MHD_YES;
}

/* begin handles the first call for a request (headers read, body not yet):
 * a body announced larger than the cap is refused before it is read. */
static enum MHD_Result begin(struct dlq_req *r, const char *url, const char *method)
{
    r->started = 1;
    r->url = url;
    snprintf(r->method, sizeof(r->method), "%s", method);
    set_request_id(r);
    /* harden: two Content-Length headers make the body's end ambiguous (a
     * proxy may honour the other one): refuse before reading anything. */
    int nlen = 0;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_length, &nlen);
    if (nlen > 1) {
        r->dup_length = 1;
        return dlq_http_dispatch(r) == DLQ_OK ? MHD_YES : MHD_NO;
    }
    const char *cl = dlq_http_header_get(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        unsigned long long want = strtoull(cl, NULL, 10);
        if (want > r->h->cfg.max_body) {
            r->too_big = 1;
            return dlq_http_dispatch(r) == DLQ_OK ? MHD_YES : MHD_NO;
        }
        /* Reserve what was announced, up to a point: a client that
         * announces a large body and then sends nothing must not pin much
         * memory for the connection timeout. */
        if (want > PRERESERVE_MAX)
            want = PRERESERVE_MAX;
        if (want > 0 && dlq_buf_reserve(&r->body, (size_t)want + 1) != DLQ_OK)
            return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct dlq_req *r = *con_cls;
    if (!r)
        return MHD_NO;
    if (!r->started)
        return begin(r, url, method);
    if (r->queued) {
        /* Answered early (413): drop whatever body still arrives. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_big)
            return MHD_YES;
        if (r->body.len + n > r->h->cfg.max_body) {
            r->too_big = 1;
            dlq_buf_free(&r->body);
            /* libmicrohttpd 0.9.75 cannot queue an answer in the middle of
             * a body, so the rest is read and dropped (never buffered) and
             * the 413 goes out at its end. */
            return MHD_YES;
        }
        return dlq_buf_append(&r->body, upload_data, n) == DLQ_OK ? MHD_YES : MHD_NO;
    }
    r->url = url;
    return dlq_http_dispatch(r) == DLQ_OK ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct dlq_http *h = cls;
    struct dlq_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->lp) /* issue 4: a long poll that never got its wake-up */
        dlq_service_job_unwait(h->svc, &r->waiter);
    if (h->cfg.access_log && r->started)
        dlq_http_access_log(r);
    if (r->started) /* slice C1: request metrics */
        dlq_http_metrics_observe(r->route, r->status, (double)(dlq_mono_ns() - r->start_ns) / 1e9);
    req_free(r);
    atomic_fetch_sub(&h->inflight, 1);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    dlq_log(DLQ_LOG_WARN, "http: %s", msg);
}

/* resolve turns host and port into a socket address, preferring IPv4 when a
 * name has both (so "localhost" matches what clients try first). */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, char *err,
                   size_t errlen)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host && host[0] ? host : NULL, service, &hints, &res);
    if (rc != 0)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "cannot resolve '%s': %s", host,
                        gai_strerror(rc));
    const struct addrinfo *pick = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    freeaddrinfo(res);
    return DLQ_OK;
}

/* dlq_http_start: see http.h. On error *out is NULL and err says why. */
int dlq_http_start(struct dlq_service *svc, const struct dlq_http_config *cfg,
                   struct dlq_http **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->threads < 1 || cfg->threads > 1024)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "threads must be 1..1024");
    if (cfg->max_body < 1)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "max body must be at least 1 byte");
    if (cfg->port < 0 || cfg->port > 65535)
        return dlq_errf(err, errlen, DLQ_E_INVAL, "port must be 0..65535");
    struct sockaddr_storage ss;
    int rc = resolve(cfg->host, cfg->port, &ss, err, errlen);
    if (rc != DLQ_OK)
        return rc;

    struct dlq_http *h = calloc(1, sizeof(*h));
    if (!h)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    h->svc = svc;
    h->cfg = *cfg;
    if (h->cfg.conn_limit <= 0)
        h->cfg.conn_limit = 1024;
    if (h->cfg.conn_timeout_s <= 0)
        h->cfg.conn_timeout_s = 60;
    atomic_init(&h->draining, 0);
    atomic_init(&h->inflight, 0);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    flags |= MHD_ALLOW_SUSPEND_RESUME; /* issue 4: the reserve long poll */
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    /* The logger goes first so that MHD routes every message through it. */
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, h, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->cfg.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->cfg.conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)h->cfg.conn_timeout_s, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(h->cfg.per_ip_limit > 0 ? h->cfg.per_ip_limit : 0), /* issue 6 */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (!h->daemon) {
        int e = errno;
        free(h);
        return dlq_errf(err, errlen, DLQ_E_IO, "cannot listen on %s:%d%s%s", cfg->host, cfg->port,
                        e ? ": " : "", e ? strerror(e) : "");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info && info->port ? info->port : cfg->port;
    *out = h;
    return DLQ_OK;
}

int dlq_http_port(const struct dlq_http *h)
{
    return h->port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* dlq_http_stop: refuse new requests (503, see the router), let the
 * requests in flight finish (answers now carry Connection: close so
 * keep-alive clients let go), then stop the threads. NULL is a no-op.
 *
 * The listening socket stays open until MHD_stop_daemon: libmicrohttpd's
 * MHD_quiesce_daemon races with its own epoll worker threads (both remove
 * the listen FD from the epoll set; the loser aborts the process with
 * "Failed to remove listen FD from epoll set"), and a client that connects
 * during the drain is better told 503 with Retry-After than refused. */
void dlq_http_stop(struct dlq_http *h)
{
    if (!h)
        return;
    atomic_store(&h->draining, 1);
    dlq_service_job_close(h->svc); /* issue 4: resume every long poll (they answer 204) */
    int64_t deadline = dlq_mono_ns() + (int64_t)DRAIN_TIMEOUT_MS * 1000000;
    while (atomic_load(&h->inflight) > 0 && dlq_mono_ns() < deadline)
        sleep_ms(5);
    MHD_stop_daemon(h->daemon);
    free(h);
}
