/*
 * client.c: the CLI's one way of talking to a server. dlq_cli_request does a
 * single HTTP request with libcurl (token, JSON headers, timeout, a cap on
 * the answer's size) and turns every way of not getting an answer into one
 * line an operator can act on; curl's own multi-line text never reaches the
 * terminal. dlq_cli_call adds the printing of error answers that every
 * command wants. The streaming variant hands a large answer (an export) to
 * a sink as it arrives instead of holding it, and Ctrl-C can be made to end
 * a request early so a command can clean up after itself.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "dlq/error.h"

/* An answer bigger than this is refused rather than buffered: a page of 100
 * entries with 64 KiB tracebacks is well under it. */
#define DLQ_CLI_REPLY_MAX ((size_t)256 << 20)
/* How much of an error answer a streamed request keeps. */
#define DLQ_CLI_ERROR_MAX ((size_t)64 << 10)

/* The error text of a request whose sink refused the answer. */
static const char sink_refused[] = "the answer could not be written out";

/* Set by the SIGINT/SIGTERM handler of dlq_cli_interrupt_catch: the one
 * piece of mutable global state, as a signal handler can reach no other. */
static volatile sig_atomic_t interrupted;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void dlq_cli_reply_free(struct dlq_cli_reply *r)
{
    dlq_buf_free(&r->body);
    r->status = 0;
}

/* Where the body of an answer goes while it arrives. */
struct sink {
    struct dlq_buf *body;
    int toobig;
    CURL *h;
    const struct dlq_cli_sink *out; /* NULL: every answer is buffered in body */
    int out_rc;                     /* what out->write returned when it refused */
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    if (s->out) {
        long code = 0;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300) {
            s->out_rc = s->out->write(s->out->ud, p, len);
            return s->out_rc == 0 ? len : 0;
        }
        /* An error answer is a problem+json document: keep its start for
         * the message and let the rest go. */
        size_t keep = DLQ_CLI_ERROR_MAX - s->body->len;
        if (keep > len)
            keep = len;
        return dlq_buf_append(s->body, p, keep) == DLQ_OK ? len : 0;
    }
    if (len > DLQ_CLI_REPLY_MAX - s->body->len) {
        s->toobig = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return dlq_buf_append(s->body, p, len) == DLQ_OK ? len : 0;
}

/* on_progress makes curl give up (CURLE_ABORTED_BY_CALLBACK) once the
 * interrupt flag it watches is set; curl calls it at least once a second. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const volatile sig_atomic_t *flag = ud;
    return *flag ? 1 : 0;
}

/* describe writes one line saying why no answer came from c->url. */
static int describe(CURLcode rc, long oserr, const struct dlq_cli_conn *c, char *err, size_t errlen)
{
    const char *u = c->url;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED)
            return dlq_errf(err, errlen, DLQ_E_CONNECT,
                            "cannot reach %s: connection refused (is `dlq serve` running?)", u);
        if (oserr == ETIMEDOUT)
            break;
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "cannot reach %s: %s", u,
                        oserr ? strerror((int)oserr) : "cannot connect");
    case CURLE_COULDNT_RESOLVE_HOST:
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "cannot reach %s: unknown host", u);
    case CURLE_COULDNT_RESOLVE_PROXY:
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "cannot reach %s: unknown proxy host", u);
    case CURLE_OPERATION_TIMEDOUT:
        break;
    case CURLE_PARTIAL_FILE:
        return dlq_errf(err, errlen, DLQ_E_CONNECT,
                        "the answer from %s was cut short: the connection closed early", u);
    case CURLE_GOT_NOTHING:
        return dlq_errf(err, errlen, DLQ_E_CONNECT,
                        "no answer from %s: the server closed the connection", u);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "lost the connection to %s: %s", u,
                        oserr ? strerror((int)oserr) : "connection reset");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "cannot reach %s: TLS: %s", u,
                        curl_easy_strerror(rc));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "cannot reach %s: not a usable http(s) URL", u);
    default:
        return dlq_errf(err, errlen, DLQ_E_CONNECT, "cannot reach %s: %s", u,
                        curl_easy_strerror(rc));
    }
    return dlq_errf(err, errlen, DLQ_E_CONNECT,
                    "no answer from %s within %lds (is the server overloaded? see --timeout)", u,
                    c->timeout_s);
}

/* add_header appends one header line to *list; 0 or -1 when out of memory. */
static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

/* perform does one request: with out NULL the whole answer is buffered in
 * r (dlq_cli_request), otherwise a 2xx body goes to out as it arrives and
 * only an error body is kept (dlq_cli_request_stream). */
static int perform(const struct dlq_cli_conn *c, const char *method, const char *path,
                   const char *json_body, const struct dlq_cli_sink *out, struct dlq_cli_reply *r,
                   char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start libcurl: %s",
                        curl_easy_strerror(curl_init_rc));

    struct dlq_buf url = {0}, auth = {0};
    struct curl_slist *headers = NULL;
    struct sink sink = {&r->body, 0, NULL, out, 0};
    int ret = DLQ_E_NOMEM;
    CURL *h = curl_easy_init();
    if (h == NULL)
        goto fail;
    sink.h = h;
    dlq_buf_puts(&url, c->url);
    dlq_buf_puts(&url, path);
    if (c->token)
        dlq_buf_printf(&auth, "Authorization: Bearer %s", c->token);
    if (url.oom || auth.oom)
        goto fail;
    if (add_header(&headers, "Accept: application/json") != 0 ||
        (json_body && add_header(&headers, "Content-Type: application/json") != 0) ||
        (c->token && add_header(&headers, auth.data) != 0) ||
        /* No "Expect: 100-continue" round trip before a body. */
        add_header(&headers, "Expect:") != 0)
        goto fail;

    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json_body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_body));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dlq/" DLQ_VERSION);
    if (out) {
        /* A stream (an export of a million entries) may take far longer
         * than --timeout; what must not take longer is a stall. */
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_s);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout_s);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    }
    if (c->interrupt) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->interrupt);
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        if (c->interrupt && *c->interrupt)
            ret = dlq_errf(err, errlen, DLQ_E_IO, "interrupted");
        else if (sink.out_rc != 0)
            ret = dlq_errf(err, errlen, sink.out_rc, "%s", sink_refused);
        else if (sink.toobig)
            ret = dlq_errf(err, errlen, DLQ_E_TOOBIG, "the answer from %s is larger than %zu MiB",
                           c->url, DLQ_CLI_REPLY_MAX >> 20);
        else if (rc == CURLE_WRITE_ERROR || rc == CURLE_OUT_OF_MEMORY)
            ret = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory reading the answer");
        else {
            long oserr = 0;
            curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
            ret = describe(rc, oserr, c, err, errlen);
        }
        dlq_cli_reply_free(r);
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    ret = DLQ_OK;
    goto done;
fail:
    dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
done:
    curl_slist_free_all(headers);
    if (h)
        curl_easy_cleanup(h);
    dlq_buf_free(&url);
    /* The header held the secret: do not leave it in freed memory. */
    if (auth.data)
        memset(auth.data, 0, auth.cap);
    dlq_buf_free(&auth);
    return ret;
}

int dlq_cli_request(const struct dlq_cli_conn *c, const char *method, const char *path,
                    const char *json_body, struct dlq_cli_reply *r, char *err, size_t errlen)
{
    return perform(c, method, path, json_body, NULL, r, err, errlen);
}

int dlq_cli_request_stream(const struct dlq_cli_conn *c, const char *path,
                           const struct dlq_cli_sink *out, struct dlq_cli_reply *r, char *err,
                           size_t errlen)
{
    return perform(c, "GET", path, NULL, out, r, err, errlen);
}

/* report prints the lines for an error answer in r (see dlq_cli_call). */
static void report(const struct dlq_cli_conn *c, struct dlq_cli_reply *r)
{
    struct dlq_buf out = {0};
    dlq_cli_format_problem(&out, r->status, r->body.data, r->body.len, c->token == NULL);
    fputs(out.data && !out.oom ? out.data : "dlq: the server answered with an error\n", stderr);
    dlq_buf_free(&out);
    dlq_cli_reply_free(r);
}

int dlq_cli_call_stream(const struct dlq_cli_conn *c, const char *path,
                        const struct dlq_cli_sink *out, struct dlq_cli_reply *r)
{
    char err[DLQ_CLI_URL_MAX + 256];
    int rc = dlq_cli_request_stream(c, path, out, r, err, sizeof(err));
    if ((rc != DLQ_OK || r->status < 200 || r->status >= 300) && out->before_error)
        out->before_error(out->ud);
    if (rc != DLQ_OK) {
        /* A refusing sink has printed why itself. */
        if (strcmp(err, sink_refused) != 0)
            fprintf(stderr, "dlq: %s\n", err);
        return DLQ_EXIT_ERROR;
    }
    if (r->status >= 200 && r->status < 300)
        return DLQ_EXIT_OK;
    report(c, r);
    return DLQ_EXIT_ERROR;
}

int dlq_cli_call(const struct dlq_cli_conn *c, const char *method, const char *path,
                 const char *json_body, struct dlq_cli_reply *r)
{
    char err[DLQ_CLI_URL_MAX + 256];
    if (dlq_cli_request(c, method, path, json_body, r, err, sizeof(err)) != DLQ_OK) {
        fprintf(stderr, "dlq: %s\n", err);
        return DLQ_EXIT_ERROR;
    }
    if (r->status >= 200 && r->status < 300)
        return DLQ_EXIT_OK;
    report(c, r);
    return DLQ_EXIT_ERROR;
}

/* on_signal records the first SIGINT/SIGTERM and lets a second one act as
 * usual, so an operator can always get out. */
static void on_signal(int sig)
{
    interrupted = 1;
    signal(sig, SIG_DFL);
}

const volatile sig_atomic_t *dlq_cli_interrupt_catch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a sleep between polls ends at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    interrupted = 0;
    return &interrupted;
}

void dlq_cli_interrupt_release(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int dlq_cli_escape(struct dlq_buf *b, const char *s)
{
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (e == NULL) {
        b->oom = 1;
        return DLQ_E_NOMEM;
    }
    int rc = dlq_buf_puts(b, e);
    curl_free(e);
    return rc;
}

int dlq_cli_query_add(struct dlq_buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return b->oom ? DLQ_E_NOMEM : DLQ_OK;
    dlq_buf_putc(b, b->data && strchr(b->data, '?') ? '&' : '?');
    dlq_cli_escape(b, key);
    dlq_buf_putc(b, '=');
    return dlq_cli_escape(b, value);
}

int dlq_cli_print_json(const struct dlq_cli_reply *r)
{
    if (r->body.len == 0)
        return DLQ_EXIT_OK;
    json_error_t jerr;
    json_t *doc = json_loadb(r->body.data, r->body.len, JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "dlq: the server's answer is not JSON (%s)\n", jerr.text);
        return DLQ_EXIT_ERROR;
    }
    json_decref(doc);
    fwrite(r->body.data, 1, r->body.len, stdout);
    if (r->body.data[r->body.len - 1] != '\n')
        fputc('\n', stdout);
    return DLQ_EXIT_OK;
}

json_t *dlq_cli_reply_object(const struct dlq_cli_reply *r)
{
    json_error_t jerr;
    json_t *doc = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        fprintf(stderr, "dlq: the server's answer (HTTP %ld) is not a JSON object\n", r->status);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int dlq_cli_fetch(const struct dlq_cli_conn *c, const char *method, const char *path,
                  const char *json_body, int json, dlq_cli_render_fn *render, void *arg)
{
    struct dlq_cli_reply r = {0};
    int rc = dlq_cli_call(c, method, path, json_body, &r);
    if (rc == DLQ_EXIT_OK) {
        if (json) {
            rc = dlq_cli_print_json(&r);
        } else {
            json_t *doc = dlq_cli_reply_object(&r);
            rc = doc ? render(doc, arg) : DLQ_EXIT_ERROR;
            json_decref(doc);
        }
    }
    dlq_cli_reply_free(&r);
    return rc;
}
