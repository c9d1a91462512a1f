/*
 * pg_read.c: get on PostgreSQL: an entry by dlq_id or else the newest by
 * original task id, with its history, in one read snapshot so the two
 * agree (as sq_read.c). The first event, "captured", is derived from the
 * entry row (who captured it, when, its reason and queue); later events are
 * rows of entry_events, oldest first.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "dlq/util.h"
#include "../store_json.h"
#include "pg_where.h"

struct get_req {
    const char *id, *tenant;
    struct dlq_entry *out;
    struct dlq_event **hist;
    size_t *nhist;
};

/* find_row runs one of the two lookups: 1 with *out filled, *id set and
 * *captured_by malloc'd (or NULL) when found, 0 when not, or a negative
 * code. */
static int find_row(struct pg_conn *c, const char *sql, const struct get_req *g, int64_t *id,
                    char **captured_by, char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, g->id);
    dlq_pg_p_text(&p, g->tenant);
    int code = dlq_pg_exec(c, sql, &p, &r, "get entry", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    int oom = 0;
    *id = dlq_pg_i64(r, 0, PG_ENTRY_NCOLS);
    *captured_by = dlq_pg_dup(r, 0, PG_ENTRY_NCOLS + 1, &oom);
    code = dlq_pg_entry_from_row(r, 0, 0, g->out);
    PQclear(r);
    if (code != DLQ_OK || oom) {
        free(*captured_by);
        *captured_by = NULL;
        dlq_entry_clear(g->out);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    return 1;
}

/* read_history collects the history of entry e (row id), oldest first, into
 * a malloc'd array (*hist, *n): the "captured" event, then the rows of
 * entry_events (after the attempts that led to the capture, when a job was
 * dead-lettered). captured_by is taken over by the event. */
static int read_history(struct pg_conn *c, const struct dlq_entry *e, int64_t id, char *captured_by,
                        struct dlq_event **hist, size_t *n, char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    int oom = 0;
    struct dlq_event *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        free(captured_by);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    ev[0].at = e->processed_at ? e->processed_at : e->failed_at;
    ev[0].event = strdup("captured");
    ev[0].actor = captured_by;
    ev[0].details = dlq_store_captured_details(e, &oom);
    if (ev[0].event == NULL || oom) {
        dlq_events_free(ev, 1);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    dlq_pg_p_init(&p);
    dlq_pg_p_int(&p, id);
    int code = dlq_pg_exec(c,
                           "SELECT at, event, actor, details FROM entry_events"
                           " WHERE entry_id = $1 ORDER BY at, seq",
                           &p, &r, "read history", err, errlen);
    if (code != DLQ_OK) {
        dlq_events_free(ev, 1);
        return code;
    }
    size_t rows = (size_t)PQntuples(r), len = 1;
    struct dlq_event *grown = realloc(ev, (rows + 1) * sizeof *ev);
    if (grown == NULL) {
        PQclear(r);
        dlq_events_free(ev, 1);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    ev = grown;
    for (size_t i = 0; i < rows; i++) {
        struct dlq_event *x = &ev[len++];
        x->at = dlq_pg_i64(r, (int)i, 0);
        x->event = dlq_pg_dup(r, (int)i, 1, &oom);
        x->actor = dlq_pg_dup(r, (int)i, 2, &oom);
        x->details = dlq_pg_dup(r, (int)i, 3, &oom);
        if (x->event == NULL)
            oom = 1; /* event is NOT NULL: only a failed copy leaves it NULL */
    }
    PQclear(r);
    if (oom) {
        dlq_events_free(ev, len);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    /* A job's failed attempts (dead-lettered by the queue) happened before
     * its capture: the derived event goes after them, in time order. */
    size_t k = 1;
    while (k < len && (ev[k].at < ev[0].at ||
                       (ev[k].at == ev[0].at && strcmp(ev[k].event, "attempt_failed") == 0)))
        k++;
    if (k > 1) {
        struct dlq_event cap0 = ev[0];
        memmove(ev, ev + 1, (k - 1) * sizeof *ev);
        ev[k - 1] = cap0;
    }
    *hist = ev;
    *n = len;
    return DLQ_OK;
}

static const char by_dlq_id[] = "SELECT " PG_ENTRY_COLS ", e.id, e.captured_by FROM entries e"
                                " WHERE e.dlq_id = $1 AND ($2::text IS NULL OR e.tenant_id = $2)";
static const char by_task_id[] =
    "SELECT " PG_ENTRY_COLS ", e.id, e.captured_by FROM entries e"
    " WHERE e.original_task_id = $1 AND ($2::text IS NULL OR e.tenant_id = $2)"
    " ORDER BY e.failed_at DESC, e.id DESC LIMIT 1";

static int get_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct get_req *g = ctx;
    int64_t id = 0;
    char *captured_by = NULL;
    int code = find_row(c, by_dlq_id, g, &id, &captured_by, err, errlen);
    if (code == 0)
        code = find_row(c, by_task_id, g, &id, &captured_by, err, errlen);
    if (code == 0)
        return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no entry %.100s", g->id);
    if (code < 0)
        return code;
    if (g->hist == NULL) {
        free(captured_by);
        return DLQ_OK;
    }
    code = read_history(c, g->out, id, captured_by, g->hist, g->nhist, err, errlen);
    if (code != DLQ_OK)
        dlq_entry_clear(g->out);
    return code;
}

static int get_read(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    return dlq_pg_snapshot(c, get_body, ctx, err, errlen);
}

int dlq_pg_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
               struct dlq_event **hist, size_t *nhist, char *err, size_t errlen)
{
    struct get_req g = {.id = id, .tenant = tenant, .out = out, .hist = hist, .nhist = nhist};
    memset(out, 0, sizeof *out);
    if (hist) {
        *hist = NULL;
        *nhist = 0;
    }
    /* no stored id or tenant is anything but UTF-8 (PostgreSQL would refuse it) */
    if (!dlq_pg_utf8_ok(id) || (tenant && !dlq_pg_utf8_ok(tenant)))
        return dlq_errf(err, errlen, DLQ_E_NOTFOUND, "no entry %.100s", id);
    int code = dlq_pg_read(PG(s), get_read, &g, err, errlen);
    if (code != DLQ_OK) {
        dlq_entry_clear(out);
        memset(out, 0, sizeof *out);
        if (hist && *hist) {
            dlq_events_free(*hist, *nhist);
            *hist = NULL;
            *nhist = 0;
        }
    }
    return code;
}
