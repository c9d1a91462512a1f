/*
 * notify.c: the notification sender. Alerts and reports are POSTed as JSON
 * to webhooks (Slack-compatible: a "text" field). A webhook may be slow or
 * down, so no request thread and no evaluator ever waits on one: they queue
 * the message and this thread sends it, retrying a failure after 1, 2, 4,
 * 8 and 16 seconds before giving up (logged). The queue is bounded: when it
 * is full a new message is dropped and logged, never blocking the caller.
 * Stopping drops what is still queued (a server stop must not wait on a
 * webhook); a send in progress finishes first (at most TIMEOUT_MS).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts_int.h"
#include "dlq/util.h"

#define QUEUE_MAX    256
#define ATTEMPTS_MAX 6     /* the first try and five retries */
#define TIMEOUT_MS   5000L /* per HTTP attempt */

struct msg {
    char *url, *body;
    int attempts;
    int64_t due_ns; /* monotonic: not before */
    struct msg *next;
};

struct dlq_sender {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct msg *head;
    size_t n;
    int stop;
    pthread_t thread;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void msg_free(struct msg *m)
{
    free(m->url);
    free(m->body);
    free(m);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* post sends one message; returns 1 on a 2xx answer. */
static int post(const struct msg *m)
{
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, m->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "dlq/" DLQ_VERSION);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        dlq_log(DLQ_LOG_WARN, "notify: POST %s failed: %s", m->url, curl_easy_strerror(rc));
    else if (status < 200 || status > 299)
        dlq_log(DLQ_LOG_WARN, "notify: POST %s answered %ld", m->url, status);
    return rc == CURLE_OK && status >= 200 && status <= 299;
}

/* take_due unlinks the first message that is due, or returns NULL and sets
 * *wait_ns to the time until the earliest one (or -1 for none). */
static struct msg *take_due(struct dlq_sender *sd, int64_t now, int64_t *wait_ns)
{
    *wait_ns = -1;
    for (struct msg **pp = &sd->head; *pp; pp = &(*pp)->next) {
        struct msg *m = *pp;
        if (m->due_ns <= now) {
            *pp = m->next;
            sd->n--;
            return m;
        }
        if (*wait_ns < 0 || m->due_ns - now < *wait_ns)
            *wait_ns = m->due_ns - now;
    }
    return NULL;
}

static void *sender_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-notify");
    struct dlq_sender *sd = arg;
    pthread_mutex_lock(&sd->mu);
    for (;;) {
        int64_t wait_ns;
        if (sd->stop)
            break;
        struct msg *m = take_due(sd, dlq_mono_ns(), &wait_ns);
        if (!m) {
            if (wait_ns < 0) {
                pthread_cond_wait(&sd->cv, &sd->mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t ns = (int64_t)ts.tv_nsec + wait_ns;
                ts.tv_sec += (time_t)(ns / 1000000000);
                ts.tv_nsec = (long)(ns % 1000000000);
                pthread_cond_timedwait(&sd->cv, &sd->mu, &ts);
            }
            continue;
        }
        pthread_mutex_unlock(&sd->mu);
        int ok = post(m);
        pthread_mutex_lock(&sd->mu);
        m->attempts++;
        if (ok || m->attempts >= ATTEMPTS_MAX) {
            if (!ok)
                dlq_log(DLQ_LOG_WARN, "notify: giving up on %s after %d attempts", m->url,
                        m->attempts);
            msg_free(m);
            continue;
        }
        /* Exponential backoff: 1, 2, 4, 8, 16 s. */
        m->due_ns = dlq_mono_ns() + (int64_t)1000000000 * (1LL << (m->attempts - 1));
        m->next = sd->head;
        sd->head = m;
        sd->n++;
    }
    pthread_mutex_unlock(&sd->mu);
    return NULL;
}

struct dlq_sender *dlq_sender_start(void)
{
    pthread_once(&curl_once, curl_init);
    struct dlq_sender *sd = calloc(1, sizeof *sd);
    if (!sd)
        return NULL;
    pthread_mutex_init(&sd->mu, NULL);
    pthread_cond_init(&sd->cv, NULL);
    if (pthread_create(&sd->thread, NULL, sender_main, sd) != 0) {
        pthread_mutex_destroy(&sd->mu);
        pthread_cond_destroy(&sd->cv);
        free(sd);
        return NULL;
    }
    return sd;
}

void dlq_sender_stop(struct dlq_sender *sd)
{
    if (!sd)
        return;
    pthread_mutex_lock(&sd->mu);
    sd->stop = 1;
    pthread_cond_signal(&sd->cv);
    pthread_mutex_unlock(&sd->mu);
    pthread_join(sd->thread, NULL);
    while (sd->head) {
        struct msg *m = sd->head;
        sd->head = m->next;
        msg_free(m);
    }
    pthread_mutex_destroy(&sd->mu);
    pthread_cond_destroy(&sd->cv);
    free(sd);
}

int dlq_sender_post(struct dlq_sender *sd, const char *url, const char *body)
{
    if (!sd || !url || !url[0])
        return 0;
    struct msg *m = calloc(1, sizeof *m);
    if (!m)
        return 0;
    m->url = dlq_strdup(url);
    m->body = dlq_strdup(body);
    if (!m->url || !m->body) {
        msg_free(m);
        return 0;
    }
    m->due_ns = dlq_mono_ns();
    pthread_mutex_lock(&sd->mu);
    int ok = !sd->stop && sd->n < QUEUE_MAX;
    if (ok) {
        /* Append: messages go out in the order they were queued. */
        struct msg **pp = &sd->head;
        while (*pp)
            pp = &(*pp)->next;
        *pp = m;
        sd->n++;
        pthread_cond_signal(&sd->cv);
    }
    pthread_mutex_unlock(&sd->mu);
    if (!ok) {
        dlq_log(DLQ_LOG_WARN, "notify: queue full, dropping a message for %s", url);
        msg_free(m);
    }
    return ok;
}
