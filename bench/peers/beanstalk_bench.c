/*
 * beanstalk_bench.c: a small beanstalkd client for bench/run-all's peer
 * baseline (PERFORMANCE.md: "beanstalkd 1.12, binlog ... put / reserve+bury /
 * kick all"). No beanstalkd client library is packaged in Debian, so this
 * speaks the text protocol (doc/protocol.txt of beanstalkd) over TCP itself.
 * One run uses a fresh tube and does three timed phases:
 *   put    N jobs of S bytes from C connections (one thread each); each
 *          connection has D puts in flight (D = 1, the default: not pipelined,
 *          one request, one answer, like a producer waiting for its id);
 *   bury   the same C connections reserve-with-timeout 0 + bury each job until
 *          the tube is empty (necessarily one at a time: bury needs the id);
 *   kick   one connection sends a single `kick N`, the replay of every buried
 *          job of the tube.
 * It prints one line of key=value figures (jobs/s per phase) and fails if any
 * answer is unexpected or a count differs from N.
 * Usage: beanstalk_bench [-H host] [-p port] [-t tube] [-c conns] [-n jobs]
 *                        [-s bytes] [-D depth]
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    char buf[65536];
    size_t len; /* bytes in buf */
    size_t pos; /* next unread byte */
};

static const char *host = "127.0.0.1";
static const char *port = "11300";
static char tube[128] = "bench";
static int nconns = 16;
static long njobs = 20000;
static int job_size = 500;
static int depth = 1;
static char *job_body;
static pthread_barrier_t barrier;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* die prints a formatted message and exits: a benchmark run is invalid. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("beanstalk_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void conn_open(struct conn *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int one = 1, rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        die("getaddrinfo %s:%s: %s", host, port, gai_strerror(rc));
    c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0)
        die("connect %s:%s failed", host, port);
    freeaddrinfo(ai);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->len = c->pos = 0;
}

static void send_all(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            die("send failed");
        p += w;
        n -= (size_t)w;
    }
}

static void sendf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(struct conn *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    send_all(c, line, (size_t)n);
}

/* fill reads more bytes into c->buf, keeping the unread ones. */
static void fill(struct conn *c)
{
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == sizeof c->buf)
        die("answer line too long");
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0)
        die("connection closed by beanstalkd");
    c->len += (size_t)r;
}

/* read_line copies the next answer line (without \r\n) into out. */
static void read_line(struct conn *c, char *out, size_t cap)
{
    for (;;) {
        char *nl = memmem(c->buf + c->pos, c->len - c->pos, "\r\n", 2);
        if (nl != NULL) {
            size_t n = (size_t)(nl - (c->buf + c->pos));
            if (n >= cap)
                die("answer line too long");
            memcpy(out, c->buf + c->pos, n);
            out[n] = '\0';
            c->pos += n + 2;
            return;
        }
        fill(c);
    }
}

/* skip_bytes discards n bytes of a job body that follows a RESERVED line. */
static void skip_bytes(struct conn *c, size_t n)
{
    while (c->len - c->pos < n) {
        n -= c->len - c->pos;
        c->pos = c->len;
        fill(c);
    }
    c->pos += n;
}

static void expect(struct conn *c, const char *prefix)
{
    char line[256];
    read_line(c, line, sizeof line);
    if (strncmp(line, prefix, strlen(prefix)) != 0)
        die("expected %s, got \"%s\"", prefix, line);
}

static void use_tube(struct conn *c)
{
    sendf(c, "use %s\r\nwatch %s\r\nignore default\r\n", tube, tube);
    expect(c, "USING");
    expect(c, "WATCHING");
    expect(c, "WATCHING");
}

struct worker {
    pthread_t th;
    struct conn c;
    long puts;   /* jobs this connection puts */
    long buried; /* jobs this connection reserved and buried */
};

static void do_puts(struct worker *w)
{
    long sent = 0, done = 0;
    size_t hlen;
    char head[128];
    hlen = (size_t)snprintf(head, sizeof head, "put 1024 0 60 %d\r\n", job_size);
    while (done < w->puts) {
        while (sent < w->puts && sent - done < depth) {
            send_all(&w->c, head, hlen);
            send_all(&w->c, job_body, (size_t)job_size + 2);
            sent++;
        }
        expect(&w->c, "INSERTED");
        done++;
    }
}

static void do_bury(struct worker *w)
{
    char line[256];
    unsigned long long id;
    size_t bytes;
    for (;;) {
        sendf(&w->c, "reserve-with-timeout 0\r\n");
        read_line(&w->c, line, sizeof line);
        if (strcmp(line, "TIMED_OUT") == 0)
            return;
        if (sscanf(line, "RESERVED %llu %zu", &id, &bytes) != 2)
            die("reserve: \"%s\"", line);
        skip_bytes(&w->c, bytes + 2);
        sendf(&w->c, "bury %llu 1024\r\n", id);
        expect(&w->c, "BURIED");
        w->buried++;
    }
}

static double phase_start, phase_end[3];

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&barrier);
    do_puts(w);
    pthread_barrier_wait(&barrier); /* main stamps the end of put */
    pthread_barrier_wait(&barrier); /* main stamps the start of bury */
    do_bury(w);
    pthread_barrier_wait(&barrier);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: beanstalk_bench [-H host] [-p port] [-t tube] [-c conns] "
                    "[-n jobs] [-s bytes] [-D depth]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "H:p:t:c:n:s:D:")) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 't':
            snprintf(tube, sizeof tube, "%s", optarg);
            break;
        case 'c':
            nconns = atoi(optarg);
            break;
        case 'n':
            njobs = atol(optarg);
            break;
        case 's':
            job_size = atoi(optarg);
            break;
        case 'D':
            depth = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (nconns < 1 || nconns > 1024 || njobs < nconns || job_size < 1 || depth < 1)
        usage();
    job_body = malloc((size_t)job_size + 2);
    if (job_body == NULL)
        die("out of memory");
    for (int i = 0; i < job_size; i++)
        job_body[i] = (char)('a' + i % 26);
    memcpy(job_body + job_size, "\r\n", 2);

    struct worker *ws = calloc((size_t)nconns, sizeof *ws);
    if (ws == NULL)
        die("out of memory");
    pthread_barrier_init(&barrier, NULL, (unsigned)nconns + 1);
    for (int i = 0; i < nconns; i++) {
        conn_open(&ws[i].c);
        use_tube(&ws[i].c);
        ws[i].puts = njobs / nconns + (i < njobs % nconns ? 1 : 0);
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    }
    pthread_barrier_wait(&barrier);
    phase_start = now_s();
    pthread_barrier_wait(&barrier);
    phase_end[0] = now_s();
    double bury_start = now_s();
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    phase_end[1] = now_s();
    long buried = 0;
    for (int i = 0; i < nconns; i++) {
        pthread_join(ws[i].th, NULL);
        buried += ws[i].buried;
    }
    if (buried != njobs)
        die("buried %ld jobs, want %ld", buried, njobs);

    /* kick: one command replays every buried job of the tube */
    struct conn *k = &ws[0].c;
    char line[256];
    long kicked = 0;
    double kick_start = now_s();
    sendf(k, "kick %ld\r\n", njobs);
    read_line(k, line, sizeof line);
    phase_end[2] = now_s();
    if (sscanf(line, "KICKED %ld", &kicked) != 1 || kicked != njobs)
        die("kick: \"%s\", want KICKED %ld", line, njobs);

    double put_s = phase_end[0] - phase_start, bury_s = phase_end[1] - bury_start,
           kick_s = phase_end[2] - kick_start;
    printf("jobs=%ld conns=%d depth=%d size=%d put_s=%.4f put_jps=%.1f bury_s=%.4f "
           "bury_jps=%.1f kick_s=%.4f kick_jps=%.1f\n",
           njobs, nconns, depth, job_size, put_s, (double)njobs / put_s, bury_s,
           (double)njobs / bury_s, kick_s, (double)njobs / kick_s);
    for (int i = 0; i < nconns; i++)
        close(ws[i].c.fd);
    free(ws);
    free(job_body);
    return 0;
}
