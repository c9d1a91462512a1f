/*
 * access_log.c: one JSON line per request on stderr, written with a single
 * fwrite so lines from the pool's threads never interleave. It names the
 * token by its name, never its secret, and logs the path without its query
 * string (queries can carry search text that does not belong in logs).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "http_int.h"

static void remote_addr(struct dlq_req *r, char *out, size_t outlen)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

static void put_str(struct dlq_buf *b, const char *key, const char *val)
{
    dlq_buf_printf(b, ",\"%s\":", key);
    if (val)
        dlq_buf_json_string(b, val, strlen(val));
    else
        dlq_buf_puts(b, "null");
}

void dlq_http_access_log(struct dlq_req *r)
{
    char ts[DLQ_TIME_MAX];
    char remote[INET6_ADDRSTRLEN];
    dlq_time_format(dlq_now_ms(), ts);
    remote_addr(r, remote, sizeof(remote));
    double ms = (double)(dlq_mono_ns() - r->start_ns) / 1e6;

    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{\"ts\":");
    dlq_buf_json_string(&b, ts, strlen(ts));
    dlq_buf_puts(&b, ",\"level\":\"info\",\"msg\":\"request\"");
    put_str(&b, "request_id", r->id);
    put_str(&b, "method", r->method);
    put_str(&b, "path", r->path);
    dlq_buf_printf(&b, ",\"status\":%u,\"bytes\":%llu,\"duration_ms\":%.3f", r->status,
                   (unsigned long long)r->bytes, ms);
    put_str(&b, "token", r->authed ? r->who.name : NULL);
    put_str(&b, "remote", remote[0] ? remote : NULL);
    dlq_buf_puts(&b, "}\n");
    if (!b.oom)
        fwrite(b.data, 1, b.len, stderr);
    dlq_buf_free(&b);
}
