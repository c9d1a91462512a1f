/*
 * sq_act_rows.c: the rows a bulk action adds, gathered and inserted
 * together. A chunk of a bulk replay adds a history event and a replay job
 * per entry; one statement per row spent as much on starting the statement
 * (its cursors on the table and every index, its end) as on the row. Here
 * they go in statements of ROWS_MAX, 8 and 1 rows, in the order they came,
 * at the end of the chunk's request (sq_act.c), inside its transaction.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

#define ROWS_MAX 32
#define NSIZES   3
static const int sizes[NSIZES] = {ROWS_MAX, 8, 1};

/* The statements' text, one per size, built once (the same pointer each
 * time also finds the cached statement at once: dlq_sq_stmt_dyn). */
static char ev_sql[NSIZES][ROWS_MAX * 40 + 128];
static char job_sql[NSIZES][ROWS_MAX * 256 + 512];
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

/* grow makes room for one more element of size sz in *v (cap *cap). */
static int grow(void **v, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return DLQ_OK;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, ncap * sz);
    if (p == NULL)
        return DLQ_E_NOMEM;
    *v = p;
    *cap = ncap;
    return DLQ_OK;
}

/* values_sql writes "<head> VALUES <k tuples>" to buf: each tuple is tuple
 * with its ?N renumbered (?1..?per become ?(j*per+1)..). */
static void values_sql(char *buf, size_t len, const char *head, const char *tuple, int per, int k)
{
    size_t n = (size_t)snprintf(buf, len, "%s VALUES", head);
    for (int j = 0; j < k && n < len; j++) {
        n += (size_t)snprintf(buf + n, len - n, "%s(", j ? "," : "");
        for (const char *t = tuple; *t && n + 1 < len;) {
            if (*t == '?') {
                char *end;
                long p = strtol(t + 1, &end, 10);
                n += (size_t)snprintf(buf + n, len - n, "?%ld", (long)j * per + p);
                t = end;
            } else {
                buf[n++] = *t++;
                buf[n] = '\0';
            }
        }
        n += (size_t)snprintf(buf + n, len - n, ")");
    }
}

static void build_sql(void)
{
    for (int s = 0; s < NSIZES; s++) {
        values_sql(ev_sql[s], sizeof ev_sql[s],
                   "INSERT INTO entry_events(entry_id, at, event, actor, details)",
                   "?1,?2,?3,?4,?5", 5, sizes[s]);
        values_sql(job_sql[s], sizeof job_sql[s], SQ_JOB_INSERT_HEAD, SQ_JOB_INSERT_TUPLE,
                   SQ_JOB_INSERT_PER, sizes[s]);
    }
}

/* ---- history events ---- */

/* dlq_sq_evbuf_add keeps one event (details copied) for dlq_sq_evbuf_flush. */
int dlq_sq_evbuf_add(struct sq_evbuf *b, sqlite3_int64 entry_id, int64_t at, const char *event,
                     const char *actor, const char *details)
{
    if (grow((void **)&b->v, b->n, &b->cap, sizeof *b->v) != DLQ_OK)
        return DLQ_E_NOMEM;
    struct sq_evrow *r = &b->v[b->n];
    r->entry_id = entry_id;
    r->at = at;
    r->event = event;
    r->actor = actor;
    r->details = NULL;
    if (details && (r->details = strdup(details)) == NULL)
        return DLQ_E_NOMEM;
    b->n++;
    return DLQ_OK;
}

/* dlq_sq_evbuf_flush inserts the events kept and empties b. */
int dlq_sq_evbuf_flush(struct sq_conn *w, struct sq_evbuf *b, char *err, size_t errlen)
{
    int code = DLQ_OK;
    pthread_once(&sql_once, build_sql);
    size_t i = 0;
    for (int s = 0; code == DLQ_OK && i < b->n; s++) {
        int k = sizes[s];
        while (code == DLQ_OK && b->n - i >= (size_t)k) {
            sqlite3_stmt *st;
            if ((code = dlq_sq_stmt_dyn(w, ev_sql[s], &st, err, errlen)) != DLQ_OK)
                break;
            for (int j = 0; j < k; j++, i++) {
                const struct sq_evrow *r = &b->v[i];
                sqlite3_bind_int64(st, j * 5 + 1, r->entry_id);
                sqlite3_bind_int64(st, j * 5 + 2, r->at);
                dlq_sq_bind_text(st, j * 5 + 3, r->event);
                dlq_sq_bind_text(st, j * 5 + 4, r->actor);
                dlq_sq_bind_text(st, j * 5 + 5, r->details);
            }
            code = dlq_sq_job_step(w, st, err, errlen, "insert history events");
        }
    }
    dlq_sq_evbuf_clear(b);
    return code;
}

/* dlq_sq_evbuf_clear drops what b keeps (its memory stays for reuse). */
void dlq_sq_evbuf_clear(struct sq_evbuf *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].details);
    b->n = 0;
}

/* dlq_sq_evbuf_free frees b. */
void dlq_sq_evbuf_free(struct sq_evbuf *b)
{
    dlq_sq_evbuf_clear(b);
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* ---- replay jobs ---- */

/* dlq_sq_jobbuf_add keeps the replay job of r (which must outlive the
 * flush; its e holds the payload) for dlq_sq_jobbuf_flush. */
int dlq_sq_jobbuf_add(struct sq_jobbuf *b, const struct sq_act_row *r, const char *job_id)
{
    if (grow((void **)&b->v, b->n, &b->cap, sizeof *b->v) != DLQ_OK)
        return DLQ_E_NOMEM;
    struct sq_jobrow *j = &b->v[b->n];
    j->r = r;
    j->job_id = job_id;
    if ((j->args = dlq_sq_job_args(r->e.task_args, &j->owned)) == NULL)
        return DLQ_E_NOMEM;
    b->n++;
    return DLQ_OK;
}

/* dlq_sq_jobbuf_flush inserts the jobs kept (as dlq_sq_job_from_entry
 * would, one by one), counts them in d and empties b. A job id that exists
 * already cannot happen with ids made fresh for the chunk; should it, the
 * chunk fails rather than miscount. */
int dlq_sq_jobbuf_flush(struct sq_conn *w, struct sq_jobbuf *b, const struct dlq_act *a,
                        struct sq_jdelta *d, char *err, size_t errlen)
{
    int code = DLQ_OK;
    pthread_once(&sql_once, build_sql);
    size_t i = 0;
    for (int s = 0; code == DLQ_OK && i < b->n; s++) {
        int k = sizes[s];
        while (code == DLQ_OK && b->n - i >= (size_t)k) {
            sqlite3_stmt *st;
            if ((code = dlq_sq_stmt_dyn(w, job_sql[s], &st, err, errlen)) != DLQ_OK)
                break;
            size_t first = i;
            for (int j = 0; j < k; j++, i++)
                dlq_sq_job_bind(st, j * SQ_JOB_INSERT_PER, &b->v[i].r->e, b->v[i].job_id, a,
                                b->v[i].args, b->v[i].r->e.task_kwargs, b->v[i].r->e.metadata);
            code = dlq_sq_job_step(w, st, err, errlen, "create replay jobs");
            if (code == DLQ_OK && sqlite3_changes(w->db) != k)
                code = dlq_errf(err, errlen, DLQ_E_INTERNAL, "a replay job id exists already");
            for (size_t x = first; code == DLQ_OK && x < i; x++) {
                const struct dlq_entry *e = &b->v[x].r->e;
                dlq_sq_jdelta_add(d, e->queue && e->queue[0] ? e->queue : "default", e->tenant_id,
                                  DLQ_JOB_QUEUED, 1);
            }
        }
    }
    dlq_sq_jobbuf_clear(b);
    return code;
}

/* dlq_sq_jobbuf_clear drops what b keeps (its memory stays for reuse). */
void dlq_sq_jobbuf_clear(struct sq_jobbuf *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].owned);
    b->n = 0;
}

/* dlq_sq_jobbuf_free frees b. */
void dlq_sq_jobbuf_free(struct sq_jobbuf *b)
{
    dlq_sq_jobbuf_clear(b);
    free(b->v);
    memset(b, 0, sizeof *b);
}
