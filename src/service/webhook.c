/*
 * webhook.c: the webhook dispatchers. Jobs whose target is webhook (replays
 * into a queue whose replay_target is webhook) are never handed to workers:
 * a few dispatcher threads lease them (job_reserve, target WEBHOOK, any queue) and POSTs
 * each to its queue's webhook_url with libcurl, signed:
 *   X-DLQ-Timestamp: <t>
 *   X-DLQ-Signature: t=<t>,v1=<hex HMAC-SHA256(webhook_secret, "<t>.<body>")>
 * A 2xx answer is a dispatch (its JSON "task_id", if any, becomes the
 * entry's retry_task_id); anything else is a failed attempt, retried with
 * the job's backoff by the timer and finally reported as a replay failure.
 * Each thread runs a round each time it is kicked (a replay, a timer tick
 * that made jobs ready, a queue resumed) and sleeps otherwise; the store's
 * lease makes sure each job goes to one of them.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

#define ROUND_MAX  8
#define LEASE_S    60
#define TIMEOUT_MS 10000L
#define ANSWER_MAX (64 * 1024)

struct answer {
    char buf[ANSWER_MAX];
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *u)
{
    struct answer *a = u;
    size_t len = size * n;
    size_t room = sizeof a->buf - 1 - a->len;
    size_t take = len < room ? len : room;
    memcpy(a->buf + a->len, p, take);
    a->len += take;
    a->buf[a->len] = '\0';
    return len;
}

/* aborted is libcurl's progress callback: a non-zero return ends the
 * transfer when the service stops. */
static int aborted(void *u, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct dlq_jobs *j = u;
    pthread_mutex_lock(&j->mu);
    int stop = j->stop;
    pthread_mutex_unlock(&j->mu);
    return stop;
}

static void put_kv(struct dlq_buf *b, const char *key, const char *s, int first)
{
    dlq_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    if (s && s[0])
        dlq_buf_json_string(b, s, strlen(s));
    else
        dlq_buf_puts(b, "null");
}

/* body_of writes the JSON body POSTed for job j. */
static void body_of(const struct dlq_job *j, struct dlq_buf *b)
{
    dlq_buf_putc(b, '{');
    put_kv(b, "job_id", j->job_id, 1);
    put_kv(b, "queue", j->queue, 0);
    put_kv(b, "task_name", j->task_name, 0);
    dlq_buf_printf(b, ",\"args\":%s,\"kwargs\":%s,\"attempt\":%d", j->args ? j->args : "[]",
                   j->kwargs ? j->kwargs : "{}", j->attempt);
    put_kv(b, "replay_of", j->replay_of, 0);
    put_kv(b, "tenant_id", j->tenant_id, 0);
    dlq_buf_printf(b, ",\"metadata\":%s}", j->metadata && j->metadata[0] ? j->metadata : "{}");
}

/* fail_job reports a failed delivery as a retryable failed attempt. */
static void fail_job(struct dlq_service *svc, const struct dlq_job *j, const char *msg)
{
    struct dlq_buf e = {0};
    dlq_buf_puts(&e, "{\"type\":\"WebhookError\",\"message\":");
    dlq_buf_json_string(&e, msg, strlen(msg));
    dlq_buf_putc(&e, '}');
    struct dlq_job_fail f = {.job_id = j->job_id,
                             .lease_token = j->lease_token,
                             .retryable = 1,
                             .error_json = e.oom ? NULL : e.data,
                             .now = dlq_now_ms()};
    struct dlq_job_result res;
    memset(&res, 0, sizeof res);
    char err[256] = "";
    if (dlq_store_job_fail(svc->store, &f, &res, err, sizeof err) != DLQ_OK)
        dlq_log(DLQ_LOG_WARN, "webhook: job %s: cannot record the failure: %s", j->job_id, err);
    else if (res.state == DLQ_JOB_SCHEDULED)
        dlq_jobs_nudge_wall(svc, res.next_run_at);
    dlq_buf_free(&e);
}

/* task_id_of returns the "task_id" string of a JSON answer (malloc'd) or NULL. */
static char *task_id_of(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    json_t *t = json_is_object(v) ? json_object_get(v, "task_id") : NULL;
    char *out = json_is_string(t) && json_string_length(t) > 0 && json_string_length(t) < 200
                    ? dlq_strdup(json_string_value(t))
                    : NULL;
    json_decref(v);
    return out;
}

/* deliver POSTs one leased job and records the outcome. */
static void deliver(struct dlq_service *svc, const struct dlq_job *j)
{
    struct dlq_queue_settings st;
    memset(&st, 0, sizeof st);
    char err[256] = "";
    if (dlq_store_queue_settings_get(svc->store, j->queue, &st, err, sizeof err) != DLQ_OK) {
        fail_job(svc, j, err);
        return;
    }
    if (!st.webhook_url[0]) {
        fail_job(svc, j, "the queue has no webhook_url");
        return;
    }
    struct dlq_buf body = {0};
    body_of(j, &body);
    long long t = (long long)(dlq_now_ms() / 1000);
    struct dlq_buf signed_text = {0};
    dlq_buf_printf(&signed_text, "%lld.", t);
    dlq_buf_append(&signed_text, body.data, body.len);
    char mac[65];
    dlq_hmac_sha256_hex(st.webhook_secret, strlen(st.webhook_secret), signed_text.data,
                        signed_text.len, mac);
    memset(st.webhook_secret, 0, sizeof st.webhook_secret);
    char h_ts[64], h_sig[160];
    snprintf(h_ts, sizeof h_ts, "X-DLQ-Timestamp: %lld", t);
    snprintf(h_sig, sizeof h_sig, "X-DLQ-Signature: t=%lld,v1=%s", t, mac);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, h_ts);
    h = curl_slist_append(h, h_sig);
    struct answer *ans = calloc(1, sizeof *ans);
    CURL *c = curl_easy_init();
    if (!c || !h || !ans || body.oom || signed_text.oom) {
        fail_job(svc, j, "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, st.webhook_url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ans);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, aborted);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, svc->jobs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "dlq/" DLQ_VERSION);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        goto out; /* stopping: the lease returns the job later */
    if (rc != CURLE_OK) {
        char msg[700];
        snprintf(msg, sizeof msg, "POST %s failed: %s", st.webhook_url, curl_easy_strerror(rc));
        fail_job(svc, j, msg);
    } else if (status < 200 || status > 299) {
        char msg[700];
        snprintf(msg, sizeof msg, "POST %s answered HTTP %ld", st.webhook_url, status);
        fail_job(svc, j, msg);
    } else {
        char *task_id = task_id_of(ans->buf);
        if (dlq_store_job_dispatched(svc->store, j->job_id, j->lease_token, task_id, dlq_now_ms(),
                                     err, sizeof err) != DLQ_OK)
            dlq_log(DLQ_LOG_WARN, "webhook: job %s: cannot record the dispatch: %s", j->job_id,
                    err);
        free(task_id);
    }
out:
    if (c)
        curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(ans);
    dlq_buf_free(&body);
    dlq_buf_free(&signed_text);
}

/* round leases and delivers webhook jobs until none is ready. */
static void round_once(struct dlq_service *svc)
{
    struct dlq_job jobs[ROUND_MAX];
    for (;;) {
        pthread_mutex_lock(&svc->jobs->mu);
        int stop = svc->jobs->stop;
        pthread_mutex_unlock(&svc->jobs->mu);
        if (stop)
            return;
        memset(jobs, 0, sizeof jobs);
        size_t n = 0;
        char err[256] = "";
        struct dlq_reserve rq = {.queue = NULL,
                                 .max = ROUND_MAX,
                                 .lease_s = LEASE_S,
                                 .worker_id = "webhook",
                                 .target = DLQ_TARGET_WEBHOOK,
                                 .now = dlq_now_ms()};
        if (dlq_store_job_reserve(svc->store, &rq, jobs, &n, err, sizeof err) != DLQ_OK) {
            dlq_log(DLQ_LOG_WARN, "webhook: cannot lease jobs: %s", err);
            return;
        }
        if (n > 0)
            dlq_jobs_nudge_wall(svc, rq.now + LEASE_S * 1000LL);
        for (size_t i = 0; i < n; i++) {
            deliver(svc, &jobs[i]);
            dlq_job_clear(&jobs[i]);
        }
        if (n < ROUND_MAX)
            return;
    }
}

void *dlq_webhook_main(void *arg)
{
    pthread_setname_np(pthread_self(), "dlq-webhook");
    struct dlq_service *svc = arg;
    struct dlq_jobs *j = svc->jobs;
    uint64_t seen = 0;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        if (j->dkicks == seen) {
            pthread_cond_wait(&j->dcv, &j->mu);
            continue;
        }
        seen = j->dkicks;
        pthread_mutex_unlock(&j->mu);
        round_once(svc);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}
