/*
 * sq_job_queue.c: queues as a whole: their settings, their depths (from
 * the queue_counts counters, never a count of jobs; the oldest ready job
 * through the ready index, one probe per priority level), purging finished
 * jobs in bounded batches, and the replay job an entry replay creates
 * (sq_act.c calls dlq_sq_job_from_entry in the replay's own transaction:
 * one INSERT .. SELECT from the entry row just updated, so a bulk replay
 * pays one statement per job and reads no JSON).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"
#include "sq_int.h"

/* ---- the replay job ---- */

/* dlq_sq_job_args returns the entry's task_args as a job's args (a JSON
 * array): as it is when it is one, else wrapped as [value]; *owned is set
 * when the result is malloc'd. NULL when out of memory. */
const char *dlq_sq_job_args(const char *args, char **owned)
{
    *owned = NULL;
    if (args == NULL)
        return "[]";
    if (args[0] == '[')
        return args;
    size_t n = strlen(args);
    if ((*owned = malloc(n + 3)) == NULL)
        return NULL;
    (*owned)[0] = '[';
    memcpy(*owned + 1, args, n);
    (*owned)[n + 1] = ']';
    (*owned)[n + 2] = '\0';
    return *owned;
}

/* dlq_sq_job_bind binds the replay job of e to SQ_JOB_INSERT_TUPLE's
 * parameters, numbered from off + 1. */
void dlq_sq_job_bind(sqlite3_stmt *st, int off, const struct dlq_entry *e, const char *job_id,
                     const struct dlq_act *a, const char *args, const char *kwargs,
                     const char *metadata)
{
    sqlite3_bind_text(st, off + 1, job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, off + 2, e->queue && e->queue[0] ? e->queue : "default", -1,
                      SQLITE_STATIC);
    dlq_sq_bind_text(st, off + 3, e->task_name);
    sqlite3_bind_text(st, off + 4, e->tenant_id ? e->tenant_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, off + 5, e->priority);
    sqlite3_bind_int64(st, off + 6, a->now);
    sqlite3_bind_int(st, off + 7, a->keep_attempts ? e->retries_attempted : 0);
    sqlite3_bind_int(st, off + 8,
                     a->edit && a->edit->max_retries >= 0 ? a->edit->max_retries
                                                          : DLQ_JOB_MAX_RETRIES_DEFAULT);
    sqlite3_bind_int(st, off + 9, DLQ_JOB_TIMEOUT_S_DEFAULT);
    sqlite3_bind_int64(st, off + 10, DLQ_JOB_BACKOFF_BASE_MS);
    sqlite3_bind_double(st, off + 11, DLQ_JOB_BACKOFF_FACTOR);
    sqlite3_bind_int64(st, off + 12, DLQ_JOB_BACKOFF_MAX_MS);
    dlq_sq_bind_text(st, off + 13, e->dlq_id);
    sqlite3_bind_text(st, off + 14, args, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, off + 15, kwargs && kwargs[0] == '{' ? kwargs : "{}", -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, off + 16, metadata);
}

/* insert_job inserts the replay job of r with the entry's args, kwargs and
 * metadata (NULL: none). */
static int insert_job(struct sq_conn *w, const struct sq_act_row *r, const char *job_id,
                      const struct dlq_act *a, const char *args_text, const char *kwargs,
                      const char *metadata, struct sq_jdelta *d, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code =
        dlq_sq_stmt_dyn(w, SQ_JOB_INSERT_HEAD " VALUES(" SQ_JOB_INSERT_TUPLE ")", &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    const struct dlq_entry *e = &r->e;
    char *owned;
    const char *args = dlq_sq_job_args(args_text, &owned);
    if (args == NULL)
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    dlq_sq_job_bind(st, 0, e, job_id, a, args, kwargs, metadata);
    code = dlq_sq_job_step(w, st, err, errlen, "create replay job");
    free(owned);
    /* No change: the job id existed already (nothing new to count). */
    if (code == DLQ_OK && sqlite3_changes(w->db) == 1)
        dlq_sq_jdelta_add(d, e->queue && e->queue[0] ? e->queue : "default", e->tenant_id,
                          DLQ_JOB_QUEUED, 1);
    return code;
}

/* The entry's args, kwargs and metadata come from r when it holds them (a
 * row read ahead), else from the row, read by rowid and bound straight from
 * the read statement (the row as found by the action may lack them: a bulk
 * replay reads light rows). */
int dlq_sq_job_from_entry(struct sq_conn *w, const struct sq_act_row *r, const char *job_id,
                          const struct dlq_act *a, struct sq_jdelta *d, char *err, size_t errlen)
{
    if (r->payload)
        return insert_job(w, r, job_id, a, r->e.task_args, r->e.task_kwargs, r->e.metadata, d, err,
                          errlen);
    sqlite3_stmt *rd;
    int code = dlq_sq_stmt_dyn(w,
                               "SELECT task_args, task_kwargs, metadata FROM entries"
                               " WHERE id = ?1",
                               &rd, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(rd, 1, r->rowid);
    int rc = sqlite3_step(rd);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(rd);
        return dlq_sq_err(w->db, rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc, err, errlen,
                          "read replayed entry");
    }
    code = insert_job(w, r, job_id, a, (const char *)sqlite3_column_text(rd, 0),
                      (const char *)sqlite3_column_text(rd, 1),
                      (const char *)sqlite3_column_text(rd, 2), d, err, errlen);
    sqlite3_reset(rd);
    return code;
}

/* ---- settings ---- */

int dlq_sq_queue_settings_read(struct sq_conn *c, const char *queue, struct dlq_queue_settings *out,
                               char *err, size_t errlen)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    snprintf(out->queue, sizeof out->queue, "%s", queue ? queue : "");
    out->max_replays = -1;
    int code = dlq_sq_stmt_dyn(c,
                               "SELECT target, webhook_url, webhook_secret, max_replays, paused"
                               " FROM queue_settings WHERE queue = ?1",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    dlq_sq_bind_text(st, 1, queue);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->target = (enum dlq_target)sqlite3_column_int(st, 0);
        dlq_sq_col_copy(st, 1, out->webhook_url, sizeof out->webhook_url);
        dlq_sq_col_copy(st, 2, out->webhook_secret, sizeof out->webhook_secret);
        out->max_replays = sqlite3_column_int(st, 3);
        out->paused = sqlite3_column_int(st, 4);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, "read queue settings");
    return DLQ_OK;
}

/* dlq_sq_queue_settings_get implements queue_settings_get (store.h). */
int dlq_sq_queue_settings_get(struct dlq_store *base, const char *queue,
                              struct dlq_queue_settings *out, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_queue_settings_read(c, queue, out, err, errlen);
    dlq_sq_reader_put(s, c);
    return code;
}

static int settings_put_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    const struct dlq_queue_settings *in = arg;
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(
        w,
        "INSERT INTO queue_settings(queue, target, webhook_url, webhook_secret, max_replays,"
        " paused) VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(queue) DO UPDATE SET"
        " target = excluded.target, webhook_url = excluded.webhook_url,"
        " webhook_secret = excluded.webhook_secret, max_replays = excluded.max_replays,"
        " paused = excluded.paused",
        &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, in->queue, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, in->target);
    dlq_sq_bind_text(st, 3, in->webhook_url[0] ? in->webhook_url : NULL);
    dlq_sq_bind_text(st, 4, in->webhook_secret[0] ? in->webhook_secret : NULL);
    sqlite3_bind_int(st, 5, in->max_replays);
    sqlite3_bind_int(st, 6, in->paused != 0);
    return dlq_sq_job_step(w, st, err, errlen, "save queue settings");
}

/* dlq_sq_queue_settings_put implements queue_settings_put (store.h). */
int dlq_sq_queue_settings_put(struct dlq_store *base, const struct dlq_queue_settings *in,
                              char *err, size_t errlen)
{
    return dlq_sq_write((struct sq_store *)base, settings_put_fn, (void *)in, err, errlen);
}

/* ---- depths ---- */

/* oldest_ready finds the run_at of the longest-ready job of queue: the
 * ready index is ordered by priority first, so it takes the first job of
 * each priority level in turn (one index probe per level and target). */
static int oldest_ready(struct sq_conn *c, const char *queue, const char *tenant, int64_t *out,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt_dyn(c,
                               "SELECT priority, run_at FROM jobs WHERE state = 1 AND target = ?1"
                               " AND queue = ?2 AND priority < ?3 AND (?4 IS NULL OR"
                               " tenant_id = ?4) ORDER BY priority DESC, run_at, id LIMIT 1",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    *out = 0;
    for (int target = 0; target <= 1; target++) {
        int64_t below = INT64_MAX;
        for (int guard = 0; guard < 4096; guard++) {
            sqlite3_bind_int(st, 1, target);
            sqlite3_bind_text(st, 2, queue, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, below);
            dlq_sq_bind_text(st, 4, tenant);
            int rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                int64_t at = sqlite3_column_int64(st, 1);
                below = sqlite3_column_int64(st, 0);
                if (*out == 0 || at < *out)
                    *out = at;
            }
            sqlite3_reset(st);
            if (rc == SQLITE_DONE)
                break;
            if (rc != SQLITE_ROW)
                return dlq_sq_err(c->db, rc, err, errlen, "oldest ready job");
        }
    }
    return DLQ_OK;
}

/* fill_queue reads the counters, settings and oldest ready job of q->queue. */
static int fill_queue(struct sq_conn *c, const char *tenant, struct dlq_queue_info *q, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st;
    char name[sizeof q->queue];
    memcpy(name, q->queue, sizeof name);
    int code = dlq_sq_stmt_dyn(c,
                               "SELECT state, sum(n) FROM queue_counts WHERE queue = ?1"
                               " AND (?2 IS NULL OR tenant_id = ?2) GROUP BY state",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    dlq_sq_bind_text(st, 2, tenant);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int state = sqlite3_column_int(st, 0);
        if (state > 0 && state < DLQ_JOB_STATE_COUNT)
            q->n[state] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(c->db, rc, err, errlen, "read queue counts");
    if ((code = dlq_sq_queue_settings_read(c, name, &q->settings, err, errlen)) != DLQ_OK)
        return code;
    if (q->n[DLQ_JOB_QUEUED] > 0)
        code = oldest_ready(c, name, tenant, &q->oldest_ready_at, err, errlen);
    return code;
}

/* dlq_sq_queue_list implements queue_list (store.h), in one read transaction. */
int dlq_sq_queue_list(struct dlq_store *base, const char *tenant, struct dlq_queue_info **out,
                      size_t *n, char *err, size_t errlen)
{
    struct sq_store *s = (struct sq_store *)base;
    struct sq_conn *c;
    sqlite3_stmt *st;
    struct dlq_queue_info *items = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    *n = 0;
    int code = dlq_sq_reader_get(s, &c, err, errlen);
    if (code != DLQ_OK)
        return code;
    code = dlq_sq_exec(c, SQ_BEGIN, err, errlen);
    if (code == DLQ_OK)
        code = dlq_sq_stmt_dyn(c,
                               "SELECT queue FROM queue_counts WHERE (?1 IS NULL OR tenant_id = ?1)"
                               " GROUP BY queue HAVING sum(n) <> 0"
                               " UNION SELECT queue FROM queue_settings ORDER BY 1",
                               &st, err, errlen);
    if (code == DLQ_OK) {
        int rc;
        dlq_sq_bind_text(st, 1, tenant);
        while (code == DLQ_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (len == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                struct dlq_queue_info *p = realloc(items, ncap * sizeof *p);
                if (p == NULL) {
                    code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
                    break;
                }
                items = p;
                cap = ncap;
            }
            memset(&items[len], 0, sizeof items[len]);
            dlq_sq_col_copy(st, 0, items[len].queue, sizeof items[len].queue);
            len++;
        }
        sqlite3_reset(st);
        if (code == DLQ_OK && rc != SQLITE_DONE)
            code = dlq_sq_err(c->db, rc, err, errlen, "list queues");
    }
    for (size_t i = 0; i < len && code == DLQ_OK; i++)
        code = fill_queue(c, tenant, &items[i], err, errlen);
    dlq_sq_reader_put(s, c);
    if (code != DLQ_OK) {
        free(items);
        return code;
    }
    *out = items;
    *n = len;
    return DLQ_OK;
}

/* ---- purge ---- */

struct purge_req {
    int64_t cutoff;
    int limit;
    int64_t n;
};

static int purge_fn(struct sq_conn *w, void *arg, char *err, size_t errlen)
{
    struct purge_req *q = arg;
    struct sq_jdelta d = {0};
    sqlite3_stmt *st;
    q->n = 0;
    int code = dlq_sq_stmt_dyn(w,
                               "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state >= 4"
                               " AND finished_at < ?1 ORDER BY finished_at LIMIT ?2)"
                               " RETURNING queue, tenant_id, state",
                               &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_int64(st, 1, q->cutoff);
    sqlite3_bind_int(st, 2, q->limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dlq_sq_jdelta_add(&d, (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2), -1);
        q->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        dlq_sq_jdelta_free(&d);
        return dlq_sq_err(w->db, rc, err, errlen, "purge jobs");
    }
    return dlq_sq_jdelta_flush(w, &d, err, errlen);
}

/* dlq_sq_job_purge implements job_purge (store.h). */
int dlq_sq_job_purge(struct dlq_store *base, int64_t cutoff, int limit, int64_t *n, char *err,
                     size_t errlen)
{
    struct purge_req q = {cutoff, limit > 0 ? limit : 1000, 0};
    int code = dlq_sq_write((struct sq_store *)base, purge_fn, &q, err, errlen);
    *n = code == DLQ_OK ? q.n : 0;
    return code;
}
