/*
 * pg_job_queue.c: queues as a whole on PostgreSQL, ported from SQLite's
 * sq_job_queue.c with the same answers: their settings, their depths (from
 * the queue_counts counters the triggers keep, rows with n = 0 ignored;
 * the oldest ready job through the ready index, one probe per priority
 * level), and the replay job an entry replay creates (the actions slice
 * calls dlq_pg_job_from_entry in the replay's own transaction: one
 * INSERT .. SELECT from the entry row just updated, which also notifies
 * the queue's listeners).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "dlq/error.h"
#include "pg_job_int.h"

/* ---- the replay job ---- */

/* The entry's args become the job's args (a JSON array): as they are when
 * they are one, else wrapped as [value]; its kwargs when an object, else
 * {}. Read from the row by id: the row as found by the action (r->e) may
 * lack them (a bulk replay reads light rows). A job id that exists already
 * inserts nothing. */
int dlq_pg_job_from_entry(struct pg_conn *c, const struct pg_act_row *r, const char *job_id,
                          const struct dlq_act *a, char *err, size_t errlen)
{
    const struct dlq_entry *e = &r->e;
    const char *queue = e->queue && e->queue[0] ? e->queue : "default";
    char factor[32];
    struct pg_params p;
    PGresult *res = NULL;
    snprintf(factor, sizeof factor, "%.17g", DLQ_JOB_BACKOFF_FACTOR);
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, job_id);
    dlq_pg_p_text(&p, queue);
    dlq_pg_p_text(&p, e->task_name);
    dlq_pg_p_tenant(&p, e->tenant_id);
    dlq_pg_p_int(&p, e->priority);
    dlq_pg_p_int(&p, a->now);
    dlq_pg_p_int(&p, a->keep_attempts ? e->retries_attempted : 0);
    dlq_pg_p_int(&p, a->edit && a->edit->max_retries >= 0 ? a->edit->max_retries
                                                          : DLQ_JOB_MAX_RETRIES_DEFAULT);
    dlq_pg_p_int(&p, DLQ_JOB_TIMEOUT_S_DEFAULT);
    dlq_pg_p_int(&p, DLQ_JOB_BACKOFF_BASE_MS);
    dlq_pg_p_text(&p, factor);
    dlq_pg_p_int(&p, DLQ_JOB_BACKOFF_MAX_MS);
    dlq_pg_p_text(&p, e->dlq_id);
    dlq_pg_p_int(&p, r->id);
    int code = dlq_pg_exec(
        c,
        "INSERT INTO jobs(job_id, queue, task_name, tenant_id, state, priority, run_at, attempt,"
        " max_retries, timeout_s, backoff_base_ms, backoff_factor, backoff_max_ms, replay_of,"
        " target, created_at, updated_at, dlq_id, args, kwargs, metadata)"
        " SELECT $1::text, $2::text, $3::text, $4::text, 1, $5::int, $6::bigint, $7::int,"
        " $8::int, $9::int, $10::bigint, $11::float8, $12::bigint, $13::text,"
        " coalesce((SELECT target FROM queue_settings WHERE queue = $2::text), 0), $6::bigint,"
        " $6::bigint, $13::text,"
        " CASE WHEN e.task_args IS NULL THEN '[]' WHEN left(e.task_args, 1) = '['"
        " THEN e.task_args ELSE '[' || e.task_args || ']' END,"
        " CASE WHEN left(e.task_kwargs, 1) = '{' THEN e.task_kwargs ELSE '{}' END, e.metadata"
        " FROM entries e WHERE e.id = $14::bigint ON CONFLICT (job_id) DO NOTHING",
        &p, &res, "create replay job", err, errlen);
    if (code != DLQ_OK)
        return code;
    int inserted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!inserted)
        return DLQ_OK; /* no change: the job id existed already (or the entry is gone) */
    return dlq_pg_notify_queue(c, queue, err, errlen);
}

/* ---- settings ---- */

int dlq_pg_queue_settings_read(struct pg_conn *c, const char *queue, struct dlq_queue_settings *out,
                               char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    memset(out, 0, sizeof *out);
    snprintf(out->queue, sizeof out->queue, "%s", queue ? queue : "");
    out->max_replays = -1;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, queue);
    int code = dlq_pg_exec(c,
                           "SELECT target, webhook_url, webhook_secret, max_replays, paused"
                           " FROM queue_settings WHERE queue = $1",
                           &p, &r, "read queue settings", err, errlen);
    if (code != DLQ_OK)
        return code;
    if (PQntuples(r) > 0) {
        out->target = (enum dlq_target)dlq_pg_i64(r, 0, 0);
        dlq_pg_copy(r, 0, 1, out->webhook_url, sizeof out->webhook_url);
        dlq_pg_copy(r, 0, 2, out->webhook_secret, sizeof out->webhook_secret);
        out->max_replays = (int)dlq_pg_i64(r, 0, 3);
        out->paused = (int)dlq_pg_i64(r, 0, 4);
    }
    PQclear(r);
    return DLQ_OK;
}

struct settings_req {
    const char *queue;
    struct dlq_queue_settings *out;
};

static int settings_get_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct settings_req *q = ctx;
    return dlq_pg_queue_settings_read(c, q->queue, q->out, err, errlen);
}

int dlq_pg_queue_settings_get(struct dlq_store *s, const char *queue,
                              struct dlq_queue_settings *out, char *err, size_t errlen)
{
    struct settings_req q = {queue, out};
    return dlq_pg_read(PG(s), settings_get_body, &q, err, errlen);
}

static int settings_put_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    const struct dlq_queue_settings *in = ctx;
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, in->queue);
    dlq_pg_p_int(&p, in->target);
    dlq_pg_p_text(&p, in->webhook_url[0] ? in->webhook_url : NULL);
    dlq_pg_p_text(&p, in->webhook_secret[0] ? in->webhook_secret : NULL);
    dlq_pg_p_int(&p, in->max_replays);
    dlq_pg_p_int(&p, in->paused != 0);
    int code = dlq_pg_exec(
        c,
        "INSERT INTO queue_settings(queue, target, webhook_url, webhook_secret, max_replays,"
        " paused) VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (queue) DO UPDATE SET"
        " target = excluded.target, webhook_url = excluded.webhook_url,"
        " webhook_secret = excluded.webhook_secret, max_replays = excluded.max_replays,"
        " paused = excluded.paused",
        &p, NULL, "save queue settings", err, errlen);
    /* a queue resumed may have ready jobs that long polls wait for */
    if (code == DLQ_OK && !in->paused)
        code = dlq_pg_notify_queue(c, in->queue, err, errlen);
    return code;
}

int dlq_pg_queue_settings_put(struct dlq_store *s, const struct dlq_queue_settings *in, char *err,
                              size_t errlen)
{
    return dlq_pg_tx(PG(s), settings_put_body, (void *)in, err, errlen);
}

/* ---- depths ---- */

/* oldest_ready finds the run_at of the longest-ready job of queue: the
 * ready index is ordered by priority first, so it takes the first job of
 * each priority level in turn (one index probe per level and target). */
static int oldest_ready(struct pg_conn *c, const char *queue, const char *tenant, int64_t *out,
                        char *err, size_t errlen)
{
    *out = 0;
    for (int target = 0; target <= 1; target++) {
        int64_t below = INT64_MAX;
        for (int guard = 0; guard < 4096; guard++) {
            struct pg_params p;
            PGresult *r = NULL;
            dlq_pg_p_init(&p);
            dlq_pg_p_int(&p, target);
            dlq_pg_p_text(&p, queue);
            dlq_pg_p_int(&p, below);
            dlq_pg_p_text(&p, tenant);
            int code = dlq_pg_exec(c,
                                   "SELECT priority, run_at FROM jobs WHERE state = 1"
                                   " AND target = $1 AND queue = $2 AND priority < $3::bigint"
                                   " AND ($4::text IS NULL OR tenant_id = $4)"
                                   " ORDER BY priority DESC, run_at, id LIMIT 1",
                                   &p, &r, "oldest ready job", err, errlen);
            if (code != DLQ_OK)
                return code;
            int found = PQntuples(r) > 0;
            if (found) {
                int64_t at = dlq_pg_i64(r, 0, 1);
                below = dlq_pg_i64(r, 0, 0);
                if (*out == 0 || at < *out)
                    *out = at;
            }
            PQclear(r);
            if (!found)
                break;
        }
    }
    return DLQ_OK;
}

/* fill_queue reads the counters, settings and oldest ready job of q->queue. */
static int fill_queue(struct pg_conn *c, const char *tenant, struct dlq_queue_info *q, char *err,
                      size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    char name[sizeof q->queue];
    memcpy(name, q->queue, sizeof name);
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, name);
    dlq_pg_p_text(&p, tenant);
    int code = dlq_pg_exec(c,
                           "SELECT state, sum(n) FROM queue_counts WHERE queue = $1"
                           " AND ($2::text IS NULL OR tenant_id = $2) GROUP BY state",
                           &p, &r, "read queue counts", err, errlen);
    if (code != DLQ_OK)
        return code;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t state = dlq_pg_i64(r, i, 0);
        if (state > 0 && state < DLQ_JOB_STATE_COUNT)
            q->n[state] = dlq_pg_i64(r, i, 1);
    }
    PQclear(r);
    if ((code = dlq_pg_queue_settings_read(c, name, &q->settings, err, errlen)) != DLQ_OK)
        return code;
    if (q->n[DLQ_JOB_QUEUED] > 0)
        code = oldest_ready(c, name, tenant, &q->oldest_ready_at, err, errlen);
    return code;
}

struct list_req {
    const char *tenant;
    struct dlq_queue_info *items;
    size_t n;
};

/* list_queues reads every queue's name, then fills each, in q's snapshot. */
static int list_queues(struct pg_conn *c, struct list_req *q, char *err, size_t errlen)
{
    struct pg_params p;
    PGresult *r = NULL;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, q->tenant);
    /* byte order, as SQLite sorts text */
    int code = dlq_pg_exec(c,
                           "SELECT queue FROM (SELECT queue FROM queue_counts WHERE ($1::text"
                           " IS NULL OR tenant_id = $1) GROUP BY queue HAVING sum(n) <> 0"
                           " UNION SELECT queue FROM queue_settings) u"
                           " ORDER BY queue COLLATE \"C\"",
                           &p, &r, "list queues", err, errlen);
    if (code != DLQ_OK)
        return code;
    size_t rows = (size_t)PQntuples(r);
    if (rows > 0 && (q->items = calloc(rows, sizeof *q->items)) == NULL) {
        PQclear(r);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < rows; i++)
        dlq_pg_copy(r, (int)i, 0, q->items[i].queue, sizeof q->items[i].queue);
    q->n = rows;
    PQclear(r);
    for (size_t i = 0; i < q->n && code == DLQ_OK; i++)
        code = fill_queue(c, q->tenant, &q->items[i], err, errlen);
    return code;
}

static int list_body(struct pg_conn *c, void *ctx, char *err, size_t errlen)
{
    struct list_req *q = ctx;
    /* one snapshot for the names and every queue's figures, as SQLite's read
     * transaction gives */
    int code = dlq_pg_exec_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                  "begin a read", err, errlen);
    if (code != DLQ_OK)
        return code;
    code = list_queues(c, q, err, errlen);
    if (code == DLQ_OK)
        code = dlq_pg_exec_simple(c, "COMMIT", "end a read", err, errlen);
    if (code != DLQ_OK && !c->broken) {
        char ignore[64];
        dlq_pg_exec_simple(c, "ROLLBACK", "rollback", ignore, sizeof ignore);
    }
    return code;
}

int dlq_pg_queue_list(struct dlq_store *s, const char *tenant, struct dlq_queue_info **out,
                      size_t *n, char *err, size_t errlen)
{
    struct list_req q = {tenant, NULL, 0};
    *out = NULL;
    *n = 0;
    int code = dlq_pg_read(PG(s), list_body, &q, err, errlen);
    if (code != DLQ_OK) {
        free(q.items);
        return code;
    }
    *out = q.items;
    *n = q.n;
    return DLQ_OK;
}
