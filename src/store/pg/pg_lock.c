/*
 * pg_lock.c: named locks between dlq servers sharing one database, as
 * PostgreSQL session-level advisory locks held on a session of their own.
 * A lock lasts as long as that session: when a server dies, PostgreSQL
 * ends its session and frees its locks, so another server's next try
 * takes the work over. The key is a hash of the schema and the name, so
 * deployments in different schemas of one database do not meet.
 *
 * Holding a lock is only as good as the session: every try of a lock
 * already held checks the session is alive, and a lost session forgets
 * every lock (the caller stops the work it guarded at its next try).
 */
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "dlq/error.h"
#include "pg_int.h"

#define LOCK_KEY "hashtextextended(current_schema() || ':' || $1, 0)"

static ssize_t find_held(struct pg_store *s, const char *name)
{
    for (size_t i = 0; i < s->nheld; i++)
        if (strcmp(s->held[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

static void forget_all(struct pg_store *s)
{
    for (size_t i = 0; i < s->nheld; i++)
        free(s->held[i]);
    free(s->held);
    s->held = NULL;
    s->nheld = 0;
}

/* session returns the lock session, opening a new one (with no locks) when
 * there is none or it was lost. Caller holds lock_mu. */
static struct pg_conn *session(struct pg_store *s, char *err, size_t errlen)
{
    if (s->lock_conn && (s->lock_conn->broken || PQstatus(s->lock_conn->pc) != CONNECTION_OK)) {
        dlq_pg_disconnect(s->lock_conn);
        s->lock_conn = NULL;
        forget_all(s);
    }
    if (s->lock_conn == NULL)
        s->lock_conn = dlq_pg_connect(s, err, errlen);
    return s->lock_conn;
}

int dlq_pg_lock_try(struct dlq_store *base, const char *name, int *held, char *err, size_t errlen)
{
    struct pg_store *s = PG(base);
    *held = 0;
    pthread_mutex_lock(&s->lock_mu);
    struct pg_conn *c = session(s, err, errlen);
    int code = c ? DLQ_OK : DLQ_E_UNAVAILABLE;
    PGresult *r = NULL;
    if (c && find_held(s, name) >= 0) {
        code = dlq_pg_exec(c, "SELECT 1", NULL, NULL, "check the lock session", err, errlen);
        if (code == DLQ_OK)
            *held = 1;
        else
            forget_all(s); /* the session, and its locks, may be gone */
    } else if (c) {
        struct pg_params p;
        dlq_pg_p_init(&p);
        dlq_pg_p_text(&p, name);
        code = dlq_pg_exec(c, "SELECT pg_try_advisory_lock(" LOCK_KEY ")", &p, &r, "take a lock",
                           err, errlen);
        if (code == DLQ_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
            char **nh = realloc(s->held, (s->nheld + 1) * sizeof *nh);
            char *copy = strdup(name);
            if (nh)
                s->held = nh;
            if (nh && copy) {
                s->held[s->nheld++] = copy;
                *held = 1;
            } else {
                free(copy);
                struct pg_params q = p;
                dlq_pg_exec(c, "SELECT pg_advisory_unlock(" LOCK_KEY ")", &q, NULL, "unlock", NULL,
                            0);
                code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            }
        }
        PQclear(r);
    }
    pthread_mutex_unlock(&s->lock_mu);
    return code;
}

void dlq_pg_lock_release(struct dlq_store *base, const char *name)
{
    struct pg_store *s = PG(base);
    pthread_mutex_lock(&s->lock_mu);
    ssize_t i = find_held(s, name);
    if (i >= 0) {
        struct pg_params p;
        dlq_pg_p_init(&p);
        dlq_pg_p_text(&p, name);
        char err[128];
        if (s->lock_conn)
            dlq_pg_exec(s->lock_conn, "SELECT pg_advisory_unlock(" LOCK_KEY ")", &p, NULL, "unlock",
                        err, sizeof err);
        free(s->held[i]);
        s->held[i] = s->held[--s->nheld];
    }
    pthread_mutex_unlock(&s->lock_mu);
}

void dlq_pg_locks_close(struct pg_store *s)
{
    pthread_mutex_lock(&s->lock_mu);
    dlq_pg_disconnect(s->lock_conn);
    s->lock_conn = NULL;
    forget_all(s);
    pthread_mutex_unlock(&s->lock_mu);
}
