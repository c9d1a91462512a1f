/*
 * loadgen.c: a small HTTP/1.1 load generator for dlq's benchmarks (bench/run).
 * It keeps N keep-alive connections busy from T threads (each thread drives
 * its share of the connections with epoll, one request in flight per
 * connection), for a fixed duration or a fixed number of requests, and prints
 * requests/s, entries/s (with --per-request K for batch bodies), latency
 * percentiles and the count of non-2xx answers, which must be 0 for a valid
 * run. A body may contain {{n}}, replaced by a number unique to each request,
 * so that ingested entries differ. Only pthreads and libc are needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PLACEHOLDER "{{n}}"
#define MAX_HEADERS 32

/* A text split at each {{n}}: parts[0] n parts[1] n ... parts[count-1]. */
struct tmpl {
    char **parts;
    size_t *lens;
    size_t count;
};

struct opts {
    char host[300];
    char port[16];
    const char *method;
    struct tmpl path;
    const char *headers[MAX_HEADERS];
    int nheaders;
    struct tmpl *bodies; /* one template per body line; NULL: no body */
    size_t nbodies;
    int conns;
    int threads;
    double duration;
    double warmup;
    long long requests; /* 0: run for duration */
    int per_request;
    double timeout;
    int kv;
    int allow_remote;
};

/* Growable byte buffer. */
struct buf {
    char *p;
    size_t len, cap;
};

enum cstate { C_IDLE, C_WRITING, C_READING, C_DONE };

struct conn {
    int fd;
    enum cstate state;
    struct buf w;
    size_t woff;
    struct buf r;
    double t_start;
    int measured;
};

struct lat {
    uint32_t *us;
    size_t n, cap;
};

struct worker {
    pthread_t th;
    int id;
    int nconns;
    struct conn *conns;
    struct lat lat;
    long long ok, non2xx, errors, counted;
};

static struct opts g_o;
static struct addrinfo *g_addr;
static atomic_llong g_seq;     /* {{n}} values, unique per request */
static atomic_llong g_claimed; /* measured requests claimed (for -n) */
static atomic_int g_reported;  /* first bad answer printed once */
static double g_measure_start, g_end;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
    fprintf(stderr, "dlq-loadgen: %s\n", msg);
    exit(2);
}

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        die("out of memory");
    b->p = p;
    b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* tmpl_make splits s at each {{n}}. The template owns copies of the parts. */
static void tmpl_make(struct tmpl *t, const char *s, size_t len)
{
    size_t cap = 4;
    t->parts = malloc(cap * sizeof(*t->parts));
    t->lens = malloc(cap * sizeof(*t->lens));
    t->count = 0;
    const char *end = s + len;
    for (;;) {
        const char *hit = memmem(s, (size_t)(end - s), PLACEHOLDER, strlen(PLACEHOLDER));
        const char *stop = hit ? hit : end;
        if (t->count == cap) {
            cap *= 2;
            t->parts = realloc(t->parts, cap * sizeof(*t->parts));
            t->lens = realloc(t->lens, cap * sizeof(*t->lens));
        }
        if (!t->parts || !t->lens)
            die("out of memory");
        t->lens[t->count] = (size_t)(stop - s);
        t->parts[t->count] = malloc(t->lens[t->count] + 1);
        memcpy(t->parts[t->count], s, t->lens[t->count]);
        t->parts[t->count][t->lens[t->count]] = '\0';
        t->count++;
        if (!hit)
            break;
        s = hit + strlen(PLACEHOLDER);
    }
}

/* tmpl_render appends t with every {{n}} replaced by n to b. */
static void tmpl_render(const struct tmpl *t, long long n, struct buf *b)
{
    char num[32];
    int nl = snprintf(num, sizeof(num), "%lld", n);
    for (size_t i = 0; i < t->count; i++) {
        if (i > 0)
            buf_add(b, num, (size_t)nl);
        buf_add(b, t->parts[i], t->lens[i]);
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    struct buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return b.p ? b.p : calloc(1, 1);
}

/* parse_url fills host, port and path from http://host[:port]/path (no IPv6). */
static void parse_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        die("URL must start with http://");
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    const char *path = slash ? slash : "/";
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char hostport[256];
    if (hl == 0 || hl >= sizeof(hostport))
        die("bad host in URL");
    memcpy(hostport, h, hl);
    hostport[hl] = '\0';
    char *colon = strrchr(hostport, ':');
    if (colon)
        *colon = '\0';
    snprintf(g_o.host, sizeof(g_o.host), "%s", hostport);
    snprintf(g_o.port, sizeof(g_o.port), "%s", colon ? colon + 1 : "80");
    tmpl_make(&g_o.path, path, strlen(path));
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 0;
}

/* conn_open connects c (blocking, then non-blocking) and adds it to ep. */
static int conn_open(struct conn *c, int ep)
{
    c->fd = socket(g_addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, g_addr->ai_addr, g_addr->ai_addrlen) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = C_IDLE;
    return 0;
}

static void conn_close(struct conn *c, int ep)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->r.len = 0;
}

static void set_events(struct conn *c, int ep, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* build_request renders request number n into c->w. */
static void build_request(struct conn *c, long long n)
{
    c->w.len = 0;
    c->woff = 0;
    buf_add(&c->w, g_o.method, strlen(g_o.method));
    buf_add(&c->w, " ", 1);
    tmpl_render(&g_o.path, n, &c->w);
    char line[512];
    int l = snprintf(line, sizeof(line), " HTTP/1.1\r\nHost: %s:%s\r\n", g_o.host, g_o.port);
    buf_add(&c->w, line, (size_t)l);
    for (int i = 0; i < g_o.nheaders; i++) {
        buf_add(&c->w, g_o.headers[i], strlen(g_o.headers[i]));
        buf_add(&c->w, "\r\n", 2);
    }
    if (g_o.bodies) {
        struct buf body = {0};
        tmpl_render(&g_o.bodies[(size_t)n % g_o.nbodies], n, &body);
        l = snprintf(line, sizeof(line), "Content-Length: %zu\r\n\r\n", body.len);
        buf_add(&c->w, line, (size_t)l);
        buf_add(&c->w, body.p ? body.p : "", body.len);
        free(body.p);
    } else {
        buf_add(&c->w, "\r\n", 2);
    }
}

/* conn_flush writes what is pending; returns 0, or -1 on a socket error. */
static int conn_flush(struct conn *c, int ep)
{
    while (c->woff < c->w.len) {
        ssize_t k = send(c->fd, c->w.p + c->woff, c->w.len - c->woff, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, ep, EPOLLIN | EPOLLOUT);
                return 0;
            }
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->woff += (size_t)k;
    }
    set_events(c, ep, EPOLLIN);
    c->state = C_READING;
    return 0;
}

/* conn_start begins the next request on c, or marks it done when the run is
 * over. Returns -1 on a socket error. */
static int conn_start(struct conn *c, int ep)
{
    double t = now_s();
    if (g_o.requests == 0 && t >= g_end) {
        c->state = C_DONE;
        return 0;
    }
    int measured = t >= g_measure_start;
    if (measured && g_o.requests > 0 && atomic_fetch_add(&g_claimed, 1) >= g_o.requests) {
        c->state = C_DONE;
        return 0;
    }
    build_request(c, atomic_fetch_add(&g_seq, 1));
    c->measured = measured;
    c->t_start = t;
    c->r.len = 0;
    c->state = C_WRITING;
    return conn_flush(c, ep);
}

/* parse_response checks whether r holds one complete response. Returns 1
 * with *status and *close_after set, 0 if more bytes are needed, -1 if the
 * response is malformed. eof says the peer closed. */
static int parse_response(const struct buf *r, int eof, int *status, int *close_after)
{
    if (r->len < 12)
        return eof ? -1 : 0;
    const char *hend = memmem(r->p, r->len, "\r\n\r\n", 4);
    if (!hend)
        return eof ? -1 : 0;
    if (strncmp(r->p, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(r->p + 9);
    size_t body = (size_t)(hend - r->p) + 4;
    long long clen = -1;
    int chunked = 0;
    *close_after = strncmp(r->p, "HTTP/1.0", 8) == 0;
    for (const char *line = strstr(r->p, "\r\n") + 2; line < hend;) {
        const char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = atoll(line + 15);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") &&
                 strstr(line, "chunked") < eol)
            chunked = 1;
        else if (strncasecmp(line, "Connection:", 11) == 0) {
            const char *v = line + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                *close_after = 1;
            else if (strncasecmp(v, "keep-alive", 10) == 0)
                *close_after = 0;
        }
        line = eol + 2;
    }
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200))
        return 1;
    if (chunked) {
        size_t off = body;
        for (;;) {
            const char *eol = memmem(r->p + off, r->len - off, "\r\n", 2);
            if (!eol)
                return eof ? -1 : 0;
            unsigned long long sz = strtoull(r->p + off, NULL, 16);
            off = (size_t)(eol - r->p) + 2;
            if (sz == 0) {
                /* no trailers expected: the final CRLF ends the message */
                if (r->len - off < 2)
                    return eof ? -1 : 0;
                return 1;
            }
            if (r->len - off < sz + 2)
                return eof ? -1 : 0;
            off += sz + 2;
        }
    }
    if (clen >= 0)
        return r->len - body >= (size_t)clen ? 1 : (eof ? -1 : 0);
    *close_after = 1;
    return eof ? 1 : 0;
}

static void lat_add(struct lat *l, double secs)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->us = realloc(l->us, l->cap * sizeof(*l->us));
        if (!l->us)
            die("out of memory");
    }
    double us = secs * 1e6;
    l->us[l->n++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static void report_bad(int status, const struct buf *r)
{
    if (atomic_fetch_add(&g_reported, 1) != 0)
        return;
    const char *body = r->p ? memmem(r->p, r->len, "\r\n\r\n", 4) : NULL;
    fprintf(stderr, "dlq-loadgen: first bad answer: status %d: %.300s\n", status,
            body ? body + 4 : "(none)");
}

/* conn_read consumes what arrived on c; on a full response it records it and
 * starts the next request. Returns -1 when the connection must be reopened. */
static int conn_read(struct worker *w, struct conn *c, int ep)
{
    int eof = 0;
    for (;;) {
        buf_reserve(&c->r, 16384);
        ssize_t k = recv(c->fd, c->r.p + c->r.len, c->r.cap - c->r.len - 1, 0);
        if (k > 0) {
            c->r.len += (size_t)k;
            c->r.p[c->r.len] = '\0';
            continue;
        }
        if (k == 0) {
            eof = 1;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        return -1;
    }
    if (c->state != C_READING)
        return eof ? -1 : 0;
    int status = 0, close_after = 0;
    int done = parse_response(&c->r, eof, &status, &close_after);
    if (done == 0)
        return 0;
    if (done < 0) {
        w->errors++;
        report_bad(0, &c->r);
        return -1;
    }
    double t = now_s();
    if (g_o.requests == 0 && t > g_end)
        c->measured = 0; /* finished after the window: not counted */
    if (c->measured) {
        w->counted++;
        lat_add(&w->lat, t - c->t_start);
        if (status >= 200 && status < 300) {
            w->ok++;
        } else {
            w->non2xx++;
            report_bad(status, &c->r);
        }
    }
    c->state = C_IDLE;
    if (close_after || eof)
        return -1;
    return conn_start(c, ep);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1 failed");
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (conn_open(c, ep) != 0 || conn_start(c, ep) != 0) {
            w->errors++;
            conn_close(c, ep);
        }
    }
    struct epoll_event evs[64];
    for (;;) {
        int active = 0;
        double t = now_s();
        for (int i = 0; i < w->nconns; i++) {
            struct conn *c = &w->conns[i];
            if (c->state == C_DONE)
                continue;
            if ((c->state == C_WRITING || c->state == C_READING) && t - c->t_start > g_o.timeout) {
                w->errors++;
                report_bad(-1, &c->r);
                conn_close(c, ep);
                c->state = C_IDLE;
            }
            if (c->fd < 0) {
                if (g_o.requests == 0 && t >= g_end) {
                    c->state = C_DONE;
                    continue;
                }
                if (conn_open(c, ep) != 0) {
                    w->errors++;
                    c->state = C_DONE; /* the server is gone: do not spin */
                    continue;
                }
            }
            if (c->state == C_IDLE && conn_start(c, ep) != 0) {
                w->errors++;
                conn_close(c, ep);
            }
            if (c->state != C_DONE)
                active++;
        }
        if (!active)
            break;
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            int rc = 0;
            if ((evs[i].events & EPOLLOUT) && c->state == C_WRITING)
                rc = conn_flush(c, ep);
            if (rc == 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                rc = conn_read(w, c, ep);
            if (rc != 0) {
                if (c->state == C_WRITING || c->state == C_READING) {
                    w->errors++;
                    report_bad(-2, &c->r);
                }
                conn_close(c, ep);
                if (c->state != C_DONE)
                    c->state = C_IDLE;
            }
        }
    }
    for (int i = 0; i < w->nconns; i++)
        conn_close(&w->conns[i], ep);
    close(ep);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static void usage(FILE *f)
{
    fputs("usage: dlq-loadgen [options] http://HOST:PORT/PATH\n"
          "  -c, --connections N  keep-alive connections (default 1)\n"
          "  -t, --threads N      threads driving them (default min(N, 2))\n"
          "  -d, --duration S     measure for S seconds (default 10)\n"
          "  -n, --requests N     measure exactly N requests instead\n"
          "  -w, --warmup S       unmeasured warm-up seconds first (default 0)\n"
          "  -m, --method M       HTTP method (default GET, POST with a body)\n"
          "  -H, --header 'K: V'  add a header (repeatable)\n"
          "  -b, --body TEXT      request body; {{n}} becomes a unique number\n"
          "      --body-file F    the body from a file\n"
          "      --bodies-file F  one body per line; request n uses line n mod lines\n"
          "  -k, --per-request K  entries per request, for entries/s (default 1)\n"
          "      --timeout S      per-request timeout (default 30)\n"
          "      --kv             print one key=value line\n"
          "      --allow-remote   allow a non-loopback target\n"
          "Exit 0 when every measured answer was 2xx, 1 otherwise, 2 on bad usage.\n",
          f);
}

/* set_bodies makes the body templates: the whole text, or one per line. */
static void set_bodies(const char *text, size_t len, int per_line)
{
    size_t cap = 1;
    for (size_t i = 0; per_line && i < len; i++)
        cap += text[i] == '\n';
    g_o.bodies = calloc(cap, sizeof(*g_o.bodies));
    g_o.nbodies = 0;
    if (!g_o.bodies)
        die("out of memory");
    for (const char *p = text, *end = text + len; p <= end && g_o.nbodies < cap;) {
        const char *nl = per_line ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *stop = nl ? nl : end;
        if (stop > p || !per_line)
            tmpl_make(&g_o.bodies[g_o.nbodies++], p, (size_t)(stop - p));
        p = stop + 1;
    }
    if (g_o.nbodies == 0)
        die("no body in the bodies file");
}

static void parse_args(int argc, char **argv)
{
    static const struct option lo[] = {{"connections", required_argument, 0, 'c'},
                                       {"threads", required_argument, 0, 't'},
                                       {"duration", required_argument, 0, 'd'},
                                       {"requests", required_argument, 0, 'n'},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"method", required_argument, 0, 'm'},
                                       {"header", required_argument, 0, 'H'},
                                       {"body", required_argument, 0, 'b'},
                                       {"body-file", required_argument, 0, 'B'},
                                       {"bodies-file", required_argument, 0, 'L'},
                                       {"per-request", required_argument, 0, 'k'},
                                       {"timeout", required_argument, 0, 'T'},
                                       {"kv", no_argument, 0, 'K'},
                                       {"allow-remote", no_argument, 0, 'R'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    g_o.conns = 1;
    g_o.duration = 10;
    g_o.per_request = 1;
    g_o.timeout = 30;
    int opt;
    size_t len;
    char *text;
    while ((opt = getopt_long(argc, argv, "c:t:d:n:w:m:H:b:k:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'c':
            g_o.conns = atoi(optarg);
            break;
        case 't':
            g_o.threads = atoi(optarg);
            break;
        case 'd':
            g_o.duration = atof(optarg);
            break;
        case 'n':
            g_o.requests = atoll(optarg);
            break;
        case 'w':
            g_o.warmup = atof(optarg);
            break;
        case 'm':
            g_o.method = optarg;
            break;
        case 'H':
            if (g_o.nheaders == MAX_HEADERS)
                die("too many headers");
            g_o.headers[g_o.nheaders++] = optarg;
            break;
        case 'b':
            set_bodies(optarg, strlen(optarg), 0);
            break;
        case 'B':
        case 'L':
            text = read_file(optarg, &len);
            set_bodies(text, len, opt == 'L');
            free(text);
            break;
        case 'k':
            g_o.per_request = atoi(optarg);
            break;
        case 'T':
            g_o.timeout = atof(optarg);
            break;
        case 'K':
            g_o.kv = 1;
            break;
        case 'R':
            g_o.allow_remote = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        exit(2);
    }
    if (g_o.conns < 1 || g_o.per_request < 1 || g_o.duration <= 0 || g_o.timeout <= 0 ||
        g_o.requests < 0 || g_o.warmup < 0)
        die("bad numeric option");
    if (g_o.threads < 1)
        g_o.threads = g_o.conns < 2 ? g_o.conns : 2;
    if (g_o.threads > g_o.conns)
        g_o.threads = g_o.conns;
    if (!g_o.method)
        g_o.method = g_o.bodies ? "POST" : "GET";
    parse_url(argv[optind]);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(g_o.host, g_o.port, &hints, &g_addr);
    if (gai != 0) {
        fprintf(stderr, "dlq-loadgen: %s:%s: %s\n", g_o.host, g_o.port, gai_strerror(gai));
        return 2;
    }
    if (!g_o.allow_remote && !is_loopback(g_addr->ai_addr))
        die("refusing a non-loopback target without --allow-remote");

    struct worker *ws = calloc((size_t)g_o.threads, sizeof(*ws));
    struct conn *conns = calloc((size_t)g_o.conns, sizeof(*conns));
    if (!ws || !conns)
        die("out of memory");
    for (int i = 0; i < g_o.conns; i++)
        conns[i].fd = -1;
    double t0 = now_s();
    g_measure_start = t0 + g_o.warmup;
    g_end = g_measure_start + g_o.duration;
    for (int i = 0, off = 0; i < g_o.threads; i++) {
        ws[i].id = i;
        ws[i].nconns = g_o.conns / g_o.threads + (i < g_o.conns % g_o.threads);
        ws[i].conns = conns + off;
        off += ws[i].nconns;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create failed");
    }
    struct lat all = {0};
    long long ok = 0, non2xx = 0, errors = 0, counted = 0;
    for (int i = 0; i < g_o.threads; i++) {
        pthread_join(ws[i].th, NULL);
        ok += ws[i].ok;
        non2xx += ws[i].non2xx;
        errors += ws[i].errors;
        counted += ws[i].counted;
        for (size_t j = 0; j < ws[i].lat.n; j++)
            lat_add(&all, ws[i].lat.us[j] / 1e6);
        free(ws[i].lat.us);
    }
    double t1 = now_s();
    double secs = g_o.requests > 0 ? t1 - g_measure_start : g_o.duration;
    if (secs <= 0)
        secs = 1e-9;
    qsort(all.us, all.n, sizeof(*all.us), cmp_u32);
    double rps = (double)counted / secs;
    double p50 = pct(all.us, all.n, 0.50), p90 = pct(all.us, all.n, 0.90);
    double p99 = pct(all.us, all.n, 0.99), mx = all.n ? all.us[all.n - 1] / 1000.0 : 0;
    if (g_o.kv) {
        printf("requests=%lld seconds=%.3f rps=%.1f eps=%.1f p50_ms=%.3f p90_ms=%.3f "
               "p99_ms=%.3f max_ms=%.3f ok=%lld non2xx=%lld errors=%lld\n",
               counted, secs, rps, rps * g_o.per_request, p50, p90, p99, mx, ok, non2xx, errors);
    } else {
        printf("requests    %lld in %.2f s, %d connections, %d threads\n", counted, secs, g_o.conns,
               g_o.threads);
        printf("requests/s  %.1f\n", rps);
        printf("entries/s   %.1f (%d per request)\n", rps * g_o.per_request, g_o.per_request);
        printf("latency ms  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90, p99, mx);
        printf("answers     2xx %lld  non-2xx %lld  socket errors %lld\n", ok, non2xx, errors);
    }
    free(all.us);
    for (int i = 0; i < g_o.conns; i++) {
        free(conns[i].w.p);
        free(conns[i].r.p);
    }
    free(conns);
    free(ws);
    freeaddrinfo(g_addr);
    return (non2xx == 0 && errors == 0 && counted > 0) ? 0 : 1;
}
