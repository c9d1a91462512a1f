/*
 * cmd_worker.h: the generic worker of the native job queue, shared by
 * `dlq worker` (cmd_worker.c) and `dlq demo` (cmd_demo.c), which runs one
 * in process. A worker long-polls a queue for jobs, runs a command once per
 * job (cmd_worker_job.c), heartbeats while it runs, and acks or fails the
 * job from the command's exit status. Nothing here is seen outside src/cli/.
 */
#ifndef DLQ_CLI_WORKER_H
#define DLQ_CLI_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli_int.h"

#define DLQ_WORKER_MAX_CONCURRENCY 256
#define DLQ_WORKER_MAX_TASKS       100
#define DLQ_WORKER_STDERR_TAIL     4096

struct dlq_worker_slot;

/* A worker's settings and state. Fill the settings, zero the rest. */
struct dlq_worker {
    /* settings (borrowed) */
    struct dlq_cli_conn conn; /* where; its interrupt is ignored */
    const char *queue;
    int concurrency;    /* commands at once, 1..DLQ_WORKER_MAX_CONCURRENCY */
    long lease_s;       /* 0: each job's own timeout_s */
    const char **tasks; /* task names it runs; NULL/0: any */
    size_t ntasks;
    const char *worker_id; /* shown in the job's attempts */
    char **argv;           /* COMMAND ARGS..., NULL-terminated */
    int wait_ms;           /* long poll of a reserve, 0..30000 */
    /* Non-zero: stop reserving, finish the running commands, return. */
    const volatile sig_atomic_t *stop;
    /* Called after an empty reserve while no command runs; 1 ends the
     * worker as stop does. NULL: wait for stop only. */
    int (*idle)(void *ud);
    void *idle_ud;
    const char *log_prefix; /* outcome lines go to stderr after it ("dlq worker") */

    /* state */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dlq_worker_slot *slots;
    long acked, failed, dead; /* outcomes so far (under mu) */
    int killed;               /* dlq_worker_kill ran: report nothing more (under mu) */
};

/* One job being run: its thread, the job, the command's process group. */
struct dlq_worker_slot {
    struct dlq_worker *w;
    json_t *job; /* owned by the thread while busy */
    pthread_t th;
    int busy;   /* a thread was started and is not joined yet */
    int done;   /* the thread finished (under w->mu) */
    pid_t pgid; /* the running command's process group; 0: none (under w->mu) */
};

/* dlq_worker_run runs w until w->stop is set (or idle says so), then waits
 * for the running commands and their acks/fails. Returns DLQ_EXIT_OK, or
 * DLQ_EXIT_ERROR when it could not start (out of memory) or the server
 * refused the reserve for good (400, 401, 403, 404, 422: printed). */
int dlq_worker_run(struct dlq_worker *w);

/* dlq_worker_kill sends SIGKILL to the process group of every running
 * command (for a second SIGINT/SIGTERM); their leases return the jobs, so
 * no outcome is reported after it, and dlq_worker_run returns
 * DLQ_EXIT_ERROR. */
void dlq_worker_kill(struct dlq_worker *w);

/* dlq_worker_job is the thread body that runs slot's job to its ack or
 * fail (cmd_worker_job.c). */
void *dlq_worker_job(void *slot);

/* What a job's command did (cmd_worker_job.c fills it). */
struct dlq_worker_outcome {
    int spawned, exited, status, signo, timed_out, lease_lost;
    int spawn_errno;
    struct dlq_buf out; /* stdout, up to 1 MiB */
    int out_overflow;
    struct dlq_buf err; /* the end of stderr */
    int err_cut;
};

/* dlq_worker_request sends one request of the worker protocol with w's
 * connection (no interrupt) and timeout_s; returns the HTTP status with the
 * parsed answer in *answer (may be NULL; caller json_decref's), or -1 when
 * no answer came. err says why for -1 and >= 300. (cmd_worker_report.c) */
long dlq_worker_request(const struct dlq_worker *w, long timeout_s, const char *method,
                        const char *path, const char *body, json_t **answer, char *err,
                        size_t errlen);

/* dlq_worker_report acks or fails the job whose API path is base
 * ("/api/v1/jobs/ID") as o says, and logs one line. (cmd_worker_report.c) */
void dlq_worker_report(struct dlq_worker_slot *s, const struct dlq_worker_outcome *o,
                       const char *base, const char *job_id, const char *task, long long attempt,
                       const char *token, long lease, double secs);

/* dlq_worker_sleep sleeps s seconds (signals do not cut it short). */
void dlq_worker_sleep(double s);

#endif
