/*
 * pg_listen.c: how servers sharing one database hear of each other's work.
 * A transaction that makes jobs of a queue ready notifies the channel of
 * its schema with the queue's name; PostgreSQL delivers it to every
 * listening session when (and only if) the transaction commits. Each
 * server's listener thread holds one session that LISTENs and hands the
 * queue names to the watcher (the service wakes that queue's long polls).
 *
 * The listener also calls the watcher with NULL about once a second, so
 * the job timers run on every server even when this one knows of nothing
 * due: the leases and retries of a server that died are taken over within
 * a second or so. At the same beat it folds the counter tables (dlq_fold(),
 * pg_schema.c; one server at a time, the others skip). A lost session is opened again; notices sent
 * meanwhile are lost, and the long polls they would have woken end at their deadline, as they would
 * with nothing to do.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlq/error.h"
#include "dlq/util.h"
#include "pg_int.h"

#define TIMER_EVERY_NS 1000000000LL
#define CHANNEL        "'dlq_jobs_' || current_schema()"

struct pg_listener {
    struct pg_store *s;
    pthread_t th;
    pthread_mutex_t mu; /* held while fn runs, so watch(NULL) can wait for it */
    void (*fn)(void *ctx, const char *queue);
    void *ctx;
    int stop;
    struct pg_conn *first; /* the session watch opened, handed to the thread */
};

int dlq_pg_notify_queue(struct pg_conn *c, const char *queue, char *err, size_t errlen)
{
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, queue ? queue : "");
    return dlq_pg_exec(c, "SELECT pg_notify(" CHANNEL ", $1)", &p, NULL, "notify", err, errlen);
}

static void deliver(struct pg_listener *l, const char *queue)
{
    pthread_mutex_lock(&l->mu);
    if (l->fn && !l->stop)
        l->fn(l->ctx, queue);
    pthread_mutex_unlock(&l->mu);
}

static int stopping(struct pg_listener *l)
{
    pthread_mutex_lock(&l->mu);
    int v = l->stop;
    pthread_mutex_unlock(&l->mu);
    return v;
}

/* listen_on opens a session and LISTENs on this schema's channel. */
static struct pg_conn *listen_on(struct pg_listener *l)
{
    char err[256];
    struct pg_conn *c = dlq_pg_connect(l->s, err, sizeof err);
    if (c == NULL)
        return NULL;
    PGresult *r = NULL;
    if (dlq_pg_exec(c, "SELECT quote_ident(" CHANNEL ")", NULL, &r, "channel", err, sizeof err) ==
        DLQ_OK) {
        char sql[200];
        snprintf(sql, sizeof sql, "LISTEN %s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (dlq_pg_exec_simple(c, sql, "listen", err, sizeof err) == DLQ_OK)
            return c;
    }
    dlq_log(DLQ_LOG_WARN, "postgres listener: %s", err);
    dlq_pg_disconnect(c);
    return NULL;
}

static int fold_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    return dlq_pg_exec(c, "SELECT dlq_fold()", NULL, NULL, "fold the counters", err, errlen);
}

/* fold folds the counter tables' rows of changes (a failure is only
 * logged: the rows stay correct unfolded, and the next beat tries again). */
static void fold(struct pg_store *s)
{
    char err[256];
    if (dlq_pg_tx(s, fold_body, NULL, err, sizeof err) != DLQ_OK)
        dlq_log(DLQ_LOG_WARN, "postgres: %s", err);
}

static void *listen_main(void *arg)
{
    struct pg_listener *l = arg;
    struct pg_conn *c = l->first;
    int64_t next_timer = dlq_mono_ns();
    while (!stopping(l)) {
        if (c == NULL && (c = listen_on(l)) == NULL) {
            struct timespec ts = {0, 500000000L};
            nanosleep(&ts, NULL);
            deliver(l, NULL);
            continue;
        }
        struct pollfd pfd = {.fd = PQsocket(c->pc), .events = POLLIN};
        int64_t left_ms = (next_timer - dlq_mono_ns()) / 1000000LL;
        if (left_ms > 200)
            left_ms = 200; /* look at the stop flag this often */
        if (left_ms < 0)
            left_ms = 0;
        int n = poll(&pfd, 1, (int)left_ms);
        if (n > 0 && PQconsumeInput(c->pc) == 0) {
            dlq_log(DLQ_LOG_WARN, "postgres listener: lost its session; opening another");
            dlq_pg_disconnect(c);
            c = NULL;
            continue;
        }
        PGnotify *nt;
        while (c && (nt = PQnotifies(c->pc)) != NULL) {
            deliver(l, nt->extra);
            PQfreemem(nt);
        }
        if (dlq_mono_ns() >= next_timer) {
            deliver(l, NULL);
            fold(l->s);
            next_timer = dlq_mono_ns() + TIMER_EVERY_NS;
        }
    }
    dlq_pg_disconnect(c);
    return NULL;
}

int dlq_pg_watch(struct dlq_store *base, void (*fn)(void *ctx, const char *queue), void *ctx,
                 char *err, size_t errlen)
{
    struct pg_store *s = PG(base);
    if (fn == NULL) {
        dlq_pg_listen_stop(s);
        return DLQ_OK;
    }
    if (s->listener)
        return dlq_errf(err, errlen, DLQ_E_CONFLICT, "a watcher is already set");
    struct pg_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    l->s = s;
    l->fn = fn;
    l->ctx = ctx;
    /* LISTEN before returning, so what commits after watch() is heard; if
     * the database is not there now, the thread keeps trying */
    l->first = listen_on(l);
    pthread_mutex_init(&l->mu, NULL);
    if (pthread_create(&l->th, NULL, listen_main, l) != 0) {
        dlq_pg_disconnect(l->first);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return dlq_errf(err, errlen, DLQ_E_INTERNAL, "cannot start the postgres listener");
    }
    s->listener = l;
    return DLQ_OK;
}

void dlq_pg_listen_stop(struct pg_store *s)
{
    struct pg_listener *l = s->listener;
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    pthread_mutex_destroy(&l->mu);
    free(l);
    s->listener = NULL;
}
