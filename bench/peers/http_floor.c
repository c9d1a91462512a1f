/*
 * http_floor.c: the HTTP floor of PERFORMANCE.md's baselines, a minimal
 * libmicrohttpd server that does nothing but answer, so that bench/run-all can
 * show what the HTTP layer alone costs on this machine (wrk, 64 keep-alive
 * connections). GET answers 200 with a 12-byte JSON body; POST reads and
 * discards its body and answers 201 with a 20-byte one, like an ingest
 * acknowledgement without the storage. Thread pool of THREADS (default: 2)
 * with epoll, as dlq's server uses libmicrohttpd.
 * Usage: http_floor PORT [THREADS]   (listens on 127.0.0.1 until SIGTERM/SIGINT)
 */
#define _POSIX_C_SOURCE 200809L
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <arpa/inet.h>

static struct MHD_Response *get_resp, *post_resp;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* handle answers every request; a POST's body is consumed and dropped first. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    (void)upload_data;
    int is_post = strcmp(method, "POST") == 0;
    if (*req_cls == NULL) {
        *req_cls = (void *)1; /* first call: headers only */
        return MHD_YES;
    }
    if (is_post && *upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, is_post ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                              is_post ? post_resp : get_resp);
}

int main(int argc, char **argv)
{
    if (argc < 2 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: http_floor PORT [THREADS]\n");
        return 2;
    }
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    static const char get_body[] = "{\"ok\":true}\n";
    static const char post_body[] = "{\"dlq_id\":\"dlq_0\"}\n";
    get_resp =
        MHD_create_response_from_buffer(strlen(get_body), (void *)get_body, MHD_RESPMEM_PERSISTENT);
    post_resp = MHD_create_response_from_buffer(strlen(post_body), (void *)post_body,
                                                MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(get_resp, "Content-Type", "application/json");
    MHD_add_response_header(post_resp, "Content-Type", "application/json");

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "http_floor: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    MHD_destroy_response(get_resp);
    MHD_destroy_response(post_resp);
    return 0;
}
