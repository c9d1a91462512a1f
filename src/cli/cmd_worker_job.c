/*
 * cmd_worker_job.c: one job of `dlq worker`, from the reserved JSON to the
 * ack or fail. The command is forked in its own process group (a Ctrl-C at
 * the terminal reaches the worker, which lets it finish; a kill reaches the
 * command's children too) and dies with the thread that started it
 * (PR_SET_PDEATHSIG: a worker killed with SIGKILL leaves no command running
 * on a job its lease gives back). It gets the job on stdin and DLQ_JOB_ID,
 * DLQ_TASK_NAME, DLQ_ATTEMPT and DLQ_QUEUE in its environment. One poll loop
 * feeds stdin, keeps stdout (the result when it is JSON) and the last 4 KiB
 * of stderr (the error message), heartbeats every lease/3 and kills the
 * command once it runs past its lease; cmd_worker_report.c then tells the
 * server: exit 0 acks, exit 3 fails for good (permanent_failure), anything
 * else fails retryably. A heartbeat refused with 409/404 (the lease is lost)
 * kills the command and nothing is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd_worker.h"
#include "dlq/error.h"

extern char **environ;

#define STDOUT_MAX    ((size_t)1 << 20) /* a larger stdout is no result */
#define HEARTBEAT_MAX 5                 /* seconds a heartbeat may take */

static double mono_s(void)
{
    return (double)dlq_mono_ns() / 1e9;
}

/* make_env returns environ plus the job's variables (the strings in vars
 * are owned by the caller), or NULL when memory ran out; free the array. */
static char **make_env(char *const *vars, size_t nvars)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + nvars + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "DLQ_JOB_ID=", 11) == 0 ||
            strncmp(environ[i], "DLQ_TASK_NAME=", 14) == 0 ||
            strncmp(environ[i], "DLQ_ATTEMPT=", 12) == 0 ||
            strncmp(environ[i], "DLQ_QUEUE=", 10) == 0)
            continue;
        env[k++] = environ[i];
    }
    for (size_t i = 0; i < nvars; i++)
        env[k++] = vars[i];
    return env;
}

/* heartbeat extends the lease; returns 0, 1 when the lease is lost (409,
 * 404), -1 when no answer came (the next one may). */
static int heartbeat(const struct dlq_worker *w, const char *base, const char *token, long lease)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/heartbeat", base);
    json_t *b = json_pack("{s:s, s:I}", "lease_token", token, "extend_s", (json_int_t)lease);
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (body == NULL)
        return -1;
    long st = dlq_worker_request(w, HEARTBEAT_MAX, "POST", path, body, NULL, err, sizeof(err));
    free(body);
    if (st == 409 || st == 404)
        return 1;
    return st >= 200 && st < 300 ? 0 : -1;
}

/* keep_tail keeps the last DLQ_WORKER_STDERR_TAIL bytes of b. */
static void keep_tail(struct dlq_worker_outcome *o)
{
    struct dlq_buf *b = &o->err;
    if (b->len <= 2 * DLQ_WORKER_STDERR_TAIL)
        return;
    memmove(b->data, b->data + b->len - DLQ_WORKER_STDERR_TAIL, DLQ_WORKER_STDERR_TAIL);
    b->len = DLQ_WORKER_STDERR_TAIL;
    b->data[b->len] = '\0';
    o->err_cut = 1;
}

/* drain reads what fd has; returns 1 at EOF or an error, else 0. */
static int drain(int fd, struct dlq_worker_outcome *o, int is_err)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            if (is_err) {
                dlq_buf_append(&o->err, buf, (size_t)n);
                keep_tail(o);
            } else if (o->out.len + (size_t)n <= STDOUT_MAX) {
                dlq_buf_append(&o->out, buf, (size_t)n);
            } else {
                o->out_overflow = 1;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        return 1;
    }
}

static void set_pgid(struct dlq_worker_slot *s, pid_t pgid)
{
    pthread_mutex_lock(&s->w->mu);
    s->pgid = pgid;
    pthread_mutex_unlock(&s->w->mu);
}

/* spawn starts the command with fds in/out/err as its 0/1/2 in a new
 * process group, killed if the thread that started it goes away (a worker
 * killed with SIGKILL leaves no command running on a job whose lease comes
 * back). Between fork and exec only async-signal-safe calls. Returns the
 * pid, or -1 with errno (also when exec failed: ENOENT, EACCES, ...). */
static pid_t spawn(char **argv, char **env, int in, int out, int err)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        static const int dfl[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD};
        struct sigaction sa;
        sigset_t none;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&none);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
            sigaction(dfl[i], &sa, NULL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            goto fail;
        /* Nothing of the worker's (sockets, other jobs' pipes) leaks in. */
        if (ep[1] > 3)
            close_range(3, (unsigned)ep[1] - 1, 0);
        close_range((unsigned)ep[1] + 1, ~0U, 0);
        execvpe(argv[0], argv, env);
    fail:;
        int e = errno;
        ssize_t k = write(ep[1], &e, sizeof(e));
        (void)k;
        _exit(127);
    }
    setpgid(pid, pid); /* also here: a kill(-pid) may come before the child runs */
    close(ep[1]);
    int e = 0;
    ssize_t k;
    while ((k = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
        ;
    close(ep[0]);
    if (k == (ssize_t)sizeof(e)) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        errno = e;
        return -1;
    }
    return pid;
}

/* run_command runs the command for one job and fills o. */
static void run_command(struct dlq_worker_slot *s, struct dlq_worker_outcome *o,
                        const char *stdin_json, char **env, const char *base, const char *token,
                        long lease)
{
    struct dlq_worker *w = s->w;
    int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1};
    if (pipe2(p_in, O_CLOEXEC) != 0 || pipe2(p_out, O_CLOEXEC) != 0 ||
        pipe2(p_err, O_CLOEXEC) != 0) {
        o->spawn_errno = errno;
        goto close_all;
    }
    pid_t pid = spawn(w->argv, env, p_in[0], p_out[1], p_err[1]);
    if (pid < 0) {
        o->spawn_errno = errno;
        goto close_all;
    }
    o->spawned = 1;
    set_pgid(s, pid);
    close(p_in[0]);
    close(p_out[1]);
    close(p_err[1]);
    p_in[0] = p_out[1] = p_err[1] = -1;
    fcntl(p_in[1], F_SETFL, O_NONBLOCK);
    fcntl(p_out[0], F_SETFL, O_NONBLOCK);
    fcntl(p_err[0], F_SETFL, O_NONBLOCK);

    size_t in_len = strlen(stdin_json), in_off = 0;
    double start = mono_s(), deadline = start + (double)lease;
    double every = (double)lease / 3.0, next_hb = start + every, exited_at = 0;
    int status = 0, reaped = 0, killed = 0;
    while (p_out[0] >= 0 || p_err[0] >= 0 || !reaped) {
        double now = mono_s();
        if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
            reaped = 1;
            exited_at = now;
        }
        /* A background child of the command may hold the pipes open: do
         * not wait for it long once the command itself is gone. */
        if (reaped && now - exited_at > 1.0)
            break;
        if (!reaped && !killed && now >= deadline) {
            o->timed_out = 1;
            kill(-pid, SIGKILL);
            killed = 1;
        }
        if (!reaped && !killed && now >= next_hb) {
            if (heartbeat(w, base, token, lease) == 1) {
                o->lease_lost = 1;
                kill(-pid, SIGKILL);
                killed = 1;
            }
            next_hb = mono_s() + every;
        }
        struct pollfd pf[3];
        int n = 0;
        if (p_in[1] >= 0)
            pf[n++] = (struct pollfd){p_in[1], POLLOUT, 0};
        if (p_out[0] >= 0)
            pf[n++] = (struct pollfd){p_out[0], POLLIN, 0};
        if (p_err[0] >= 0)
            pf[n++] = (struct pollfd){p_err[0], POLLIN, 0};
        double wake = killed ? now + 0.05 : next_hb < deadline ? next_hb : deadline;
        int ms = (int)((wake - now) * 1000.0) + 1;
        if (ms > 100)
            ms = 100; /* also how soon an exit is seen when pipes stay open */
        if (n == 0) {
            dlq_worker_sleep(ms / 1000.0);
            continue;
        }
        if (poll(pf, (nfds_t)n, ms) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (pf[i].revents == 0)
                continue;
            if (pf[i].fd == p_in[1]) {
                ssize_t k = write(p_in[1], stdin_json + in_off, in_len - in_off);
                if (k > 0)
                    in_off += (size_t)k;
                if ((k < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
                    close(p_in[1]); /* EOF for the command (or it stopped reading) */
                    p_in[1] = -1;
                }
            } else if (drain(pf[i].fd, o, pf[i].fd == p_err[0])) {
                close(pf[i].fd);
                if (pf[i].fd == p_out[0])
                    p_out[0] = -1;
                else
                    p_err[0] = -1;
            }
        }
    }
    if (!reaped) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    set_pgid(s, 0);
    if (WIFEXITED(status)) {
        o->exited = 1;
        o->status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        o->signo = WTERMSIG(status);
    }
close_all:
    for (int i = 0; i < 2; i++) {
        if (p_in[i] >= 0)
            close(p_in[i]);
        if (p_out[i] >= 0)
            close(p_out[i]);
        if (p_err[i] >= 0)
            close(p_err[i]);
    }
}

void *dlq_worker_job(void *arg)
{
    struct dlq_worker_slot *s = arg;
    struct dlq_worker *w = s->w;
    json_t *job = s->job;
    struct dlq_worker_outcome o;
    memset(&o, 0, sizeof(o));
    char token[128] = "", *vars[4] = {NULL, NULL, NULL, NULL}, *stdin_json = NULL, **env = NULL;
    struct dlq_buf base = {0};
    const char *job_id = dlq_cli_jstr(job, "job_id"), *task = dlq_cli_jstr(job, "task_name");
    const char *queue = dlq_cli_jstr(job, "queue");
    long long attempt = dlq_cli_jint(job, "attempt", 0);
    long lease = w->lease_s ? w->lease_s : (long)dlq_cli_jint(job, "timeout_s", 30);
    if (lease < 1)
        lease = 30;
    if (job_id == NULL || dlq_cli_jstr(job, "lease_token") == NULL) {
        fprintf(stderr, "%s: a reserved job without job_id or lease_token; skipped\n",
                w->log_prefix ? w->log_prefix : "dlq worker");
        goto done;
    }
    snprintf(token, sizeof(token), "%s", dlq_cli_jstr(job, "lease_token"));
    json_object_del(job, "lease_token"); /* the command never sees it */
    stdin_json = json_dumps(job, JSON_COMPACT | JSON_ENCODE_ANY);
    dlq_buf_puts(&base, "/api/v1/jobs/");
    dlq_cli_escape(&base, job_id);
    if (asprintf(&vars[0], "DLQ_JOB_ID=%s", job_id) < 0)
        vars[0] = NULL;
    if (asprintf(&vars[1], "DLQ_TASK_NAME=%s", task ? task : "") < 0)
        vars[1] = NULL;
    if (asprintf(&vars[2], "DLQ_ATTEMPT=%lld", attempt) < 0)
        vars[2] = NULL;
    if (asprintf(&vars[3], "DLQ_QUEUE=%s", queue ? queue : w->queue) < 0)
        vars[3] = NULL;
    env = vars[0] && vars[1] && vars[2] && vars[3] ? make_env(vars, 4) : NULL;
    if (stdin_json == NULL || env == NULL || base.oom) {
        /* Without memory nothing can be reported: the lease returns it. */
        fprintf(stderr, "%s: %s: out of memory; the job's lease will return it\n",
                w->log_prefix ? w->log_prefix : "dlq worker", job_id);
        goto done;
    }
    double t0 = mono_s();
    run_command(s, &o, stdin_json, env, base.data, token, lease);
    /* A command killed by a second signal is not the job's failure: its
     * lease returns the job to the queue for another worker. */
    pthread_mutex_lock(&w->mu);
    int killed = w->killed;
    pthread_mutex_unlock(&w->mu);
    if (!killed)
        dlq_worker_report(s, &o, base.data, job_id, task ? task : "?", attempt, token, lease,
                          mono_s() - t0);
done:
    dlq_buf_free(&o.out);
    dlq_buf_free(&o.err);
    dlq_buf_free(&base);
    free(stdin_json);
    free(env);
    for (int i = 0; i < 4; i++)
        free(vars[i]);
    pthread_mutex_lock(&w->mu);
    s->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}
