/*
 * cmd_worker_report.c: how `dlq worker` tells the server what a command did
 * (cmd_worker_job.c runs it): the ack (stdout as the result when it is JSON)
 * or the fail (permanent for exit 3, retryable otherwise, with a summary and
 * the end of stderr as the error), sent again while the server restarts, a
 * lost answer checked against the job's attempts, and one log line per job.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_worker.h"
#include "dlq/error.h"

#define SEND_TRIES 30 /* ack/fail attempts while the server is away */

void dlq_worker_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* dlq_worker_request sends one request of the worker protocol; returns the status,
 * or -1 when no answer came (err says why). */
long dlq_worker_request(const struct dlq_worker *w, long timeout_s, const char *method,
                        const char *path, const char *body, json_t **answer, char *err,
                        size_t errlen)
{
    struct dlq_cli_conn c = w->conn;
    struct dlq_cli_reply r = {0};
    c.interrupt = NULL;
    c.timeout_s = timeout_s;
    if (answer)
        *answer = NULL;
    if (dlq_cli_request(&c, method, path, body, &r, err, errlen) != DLQ_OK)
        return -1;
    long status = r.status;
    if (answer && r.body.len)
        *answer = json_loadb(r.body.data, r.body.len, 0, NULL);
    if (status >= 300) {
        json_t *p = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
        const char *d = dlq_cli_jstr(p, "detail");
        snprintf(err, errlen, "HTTP %ld%s%s", status, d ? ": " : "", d ? d : "");
        json_decref(p);
    }
    dlq_cli_reply_free(&r);
    return status;
}

/* landed tells whether an ack or fail whose answer was lost (a crash
 * between the commit and the answer) was applied after all: the job's
 * attempt number `attempt` is finished, by this worker, as the call said.
 * Returns the job (caller json_decref's) when it was, else NULL. */
static json_t *landed(const struct dlq_worker *w, const char *base, long long attempt, int ack)
{
    char err[512];
    json_t *j = NULL;
    if (dlq_worker_request(w, w->conn.timeout_s, "GET", base, NULL, &j, err, sizeof(err)) != 200)
        goto no;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(j, "attempts"), i, a)
    {
        const char *by = dlq_cli_jstr(a, "worker_id"), *out = dlq_cli_jstr(a, "outcome");
        if (dlq_cli_jint(a, "attempt", -1) == attempt && by && strcmp(by, w->worker_id) == 0 &&
            out && strcmp(out, ack ? "succeeded" : "failed") == 0)
            return j;
    }
no:
    json_decref(j);
    return NULL;
}

/* send_final posts an ack or fail, again and again while the server cannot
 * be reached or answers 5xx (a restart), until it answers. A 409 after a
 * try whose answer was lost is checked with landed(): the first try may have
 * been applied. Returns the status (-1: gave up) and the answer. */
static long send_final(const struct dlq_worker *w, const char *base, const char *path,
                       const char *body, long long attempt, int ack, json_t **answer, char *err,
                       size_t errlen)
{
    long status = -1;
    double pause = 0.2;
    int lost = 0;
    for (int i = 0; i < SEND_TRIES; i++) {
        json_decref(*answer);
        *answer = NULL;
        status = dlq_worker_request(w, w->conn.timeout_s, "POST", path, body, answer, err, errlen);
        if (status == 409 && lost) {
            json_t *j = landed(w, base, attempt, ack);
            if (j) {
                json_decref(*answer);
                *answer = j;
                return 200;
            }
        }
        if (status >= 0 && status < 500)
            return status;
        lost = 1;
        dlq_worker_sleep(pause);
        pause = pause * 2 > 2.0 ? 2.0 : pause * 2;
    }
    return status;
}

/* message writes the error of a failed run into b: a one-line summary of
 * what happened, then the last lines of stderr, at most 4 KiB in all.
 * Returns the error type. */
static const char *message(const struct dlq_worker_outcome *o, const struct dlq_worker *w,
                           long lease, struct dlq_buf *b)
{
    const char *type = "ExitStatus";
    char sum[256];
    if (!o->spawned) {
        snprintf(sum, sizeof(sum), "cannot run %.100s: %s", w->argv[0], strerror(o->spawn_errno));
    } else if (o->timed_out) {
        type = "Timeout";
        snprintf(sum, sizeof(sum), "killed after %lds: the command ran past its lease", lease);
    } else if (o->signo) {
        type = "Signal";
        snprintf(sum, sizeof(sum), "killed by signal %d (%s)", o->signo, strsignal(o->signo));
    } else {
        snprintf(sum, sizeof(sum), "exit status %d", o->status);
    }
    /* The tail: whole lines only, without trailing blank space. */
    const char *t = o->err.data ? o->err.data : "";
    size_t n = o->err.len;
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' ' || t[n - 1] == '\r' || t[n - 1] == '\t'))
        n--;
    size_t room = DLQ_WORKER_STDERR_TAIL - strlen(sum) - 1;
    int cut = o->err_cut;
    if (n > room) {
        t += n - room;
        n = room;
        cut = 1;
    }
    if (cut) {
        const char *nl = memchr(t, '\n', n);
        if (nl) {
            n -= (size_t)(nl + 1 - t);
            t = nl + 1;
        }
    }
    struct dlq_buf raw = {0};
    if (o->timed_out || n == 0 || !o->spawned) {
        dlq_buf_puts(&raw, sum);
        if (n)
            dlq_buf_putc(&raw, '\n');
    }
    dlq_buf_append(&raw, t, n);
    dlq_cli_sanitize(b, raw.data ? raw.data : "", 1);
    if (raw.oom)
        b->oom = 1;
    dlq_buf_free(&raw);
    return type;
}

/* final_body is the ack or fail request for o (caller frees); sets *ack. */
static char *final_body(const struct dlq_worker_outcome *o, const struct dlq_worker *w,
                        const char *token, long lease, int *ack, const char **what)
{
    json_t *b = json_pack("{s:s}", "lease_token", token);
    *ack = o->spawned && o->exited && o->status == 0;
    if (b && *ack) {
        /* stdout is the result when it is JSON (surrounding space allowed). */
        json_t *res = o->out.len && !o->out_overflow
                          ? json_loadb(o->out.data, o->out.len, JSON_DECODE_ANY, NULL)
                          : NULL;
        if (res)
            json_object_set_new(b, "result", res);
        *what = "succeeded";
    } else if (b) {
        struct dlq_buf msg = {0};
        const char *type = message(o, w, lease, &msg);
        int permanent = o->spawned && o->exited && o->status == 3;
        json_object_set_new(b, "retryable", json_boolean(!permanent));
        if (permanent)
            json_object_set_new(b, "reason", json_string("permanent_failure"));
        json_object_set_new(
            b, "error",
            json_pack("{s:s, s:s}", "type", type, "message", msg.data && !msg.oom ? msg.data : ""));
        dlq_buf_free(&msg);
        *what = type;
    }
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return s;
}

/* report acks or fails the job and logs one line about it. */
void dlq_worker_report(struct dlq_worker_slot *s, const struct dlq_worker_outcome *o,
                       const char *base, const char *job_id, const char *task, long long attempt,
                       const char *token, long lease, double secs)
{
    struct dlq_worker *w = s->w;
    struct dlq_buf line = {0}, path = {0};
    char err[1024] = "";
    int ack = 0;
    const char *what = "";
    json_t *ans = NULL;
    dlq_buf_printf(&line, "%s: %s %s attempt %lld: ", w->log_prefix ? w->log_prefix : "dlq worker",
                   job_id, task, attempt);
    if (o->lease_lost) {
        dlq_buf_puts(&line, "lease lost (the job was taken back); not reported");
        goto log;
    }
    char *body = final_body(o, w, token, lease, &ack, &what);
    dlq_buf_printf(&path, "%s/%s", base, ack ? "ack" : "fail");
    if (body == NULL || path.oom) {
        dlq_buf_puts(&line, "out of memory");
        free(body);
        goto log;
    }
    long st = send_final(w, base, path.data, body, attempt, ack, &ans, err, sizeof(err));
    free(body);
    const char *state = dlq_cli_jstr(ans, "state");
    pthread_mutex_lock(&w->mu);
    if (st >= 200 && st < 300) {
        if (ack)
            w->acked++;
        else if (state && strcmp(state, "dead") == 0)
            w->dead++;
        else
            w->failed++;
    }
    pthread_mutex_unlock(&w->mu);
    if (ack)
        dlq_buf_printf(&line, "succeeded in %.2fs", secs);
    else if (!o->spawned)
        dlq_buf_printf(&line, "cannot run the command (%s)", strerror(o->spawn_errno));
    else if (o->timed_out)
        dlq_buf_printf(&line, "timed out after %lds (killed)", lease);
    else if (o->signo)
        dlq_buf_printf(&line, "killed by signal %d after %.2fs", o->signo, secs);
    else
        dlq_buf_printf(&line, "failed with exit status %d after %.2fs", o->status, secs);
    if (st < 200 || st >= 300) {
        dlq_buf_printf(&line, "; could not %s it: %s", ack ? "ack" : "fail", err);
    } else if (!ack && state && strcmp(state, "dead") == 0) {
        const char *dlq_id = dlq_cli_jstr(ans, "dlq_id");
        dlq_buf_printf(&line, "; dead-lettered%s%s%s", dlq_id ? " as " : "", dlq_id ? dlq_id : "",
                       o->exited && o->status == 3 ? " (permanent_failure)" : "");
    } else if (!ack) {
        const char *next = dlq_cli_jstr(ans, "next_run_at");
        dlq_buf_printf(&line, "; will retry%s%s", next ? " at " : "", next ? next : "");
    }
log:
    json_decref(ans);
    if (!line.oom) {
        struct dlq_buf clean = {0};
        dlq_cli_sanitize(&clean, line.data, 0);
        if (clean.data)
            fprintf(stderr, "%s\n", clean.data);
        dlq_buf_free(&clean);
    }
    dlq_buf_free(&line);
    dlq_buf_free(&path);
}
