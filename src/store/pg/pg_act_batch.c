/*
 * pg_act_batch.c: writing the rows of a bulk action (act_many) together.
 * Every statement on entries fires the counter triggers and recomputes the
 * stored text vector, so a bulk resolve or replay written row by row pays
 * that per entry; here the rows changed by one action (pg_act_apply.c's
 * dlq_pg_act_change, in memory) are written with one UPDATE from arrays and
 * their history events with one INSERT, in the caller's order. What is
 * written is exactly what dlq_pg_act_apply writes for each row; actions
 * with more to do per row (edits, purges, replay outcomes) still go through
 * it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/util.h"
#include "pg_act.h"

int dlq_pg_act_batchable(const struct dlq_act *a)
{
    if (a->edit)
        return 0;
    switch (a->action) {
    case DLQ_ACTION_RETRY:
    case DLQ_ACTION_FORCE_RETRY:
    case DLQ_ACTION_RESOLVE:
    case DLQ_ACTION_DISCARD:
    case DLQ_ACTION_EXPIRE:
    case DLQ_ACTION_ARCHIVE:
        return 1;
    default:
        return 0;
    }
}

/* int_array appends the array literal of the n values v(i) to b. */
static void int_array(struct dlq_buf *b, size_t n, int64_t (*v)(const void *, size_t),
                      const void *ctx)
{
    dlq_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        dlq_buf_printf(b, "%s%" PRId64, i ? "," : "", v(ctx, i));
    dlq_buf_putc(b, '}');
}

static int64_t row_id(const void *ctx, size_t i)
{
    return ((struct pg_act_row *const *)ctx)[i]->id;
}

static int64_t row_status(const void *ctx, size_t i)
{
    return ((struct pg_act_row *const *)ctx)[i]->e.status;
}

static int64_t row_retry_count(const void *ctx, size_t i)
{
    return ((struct pg_act_row *const *)ctx)[i]->e.retry_count;
}

static int64_t ev_id(const void *ctx, size_t i)
{
    return ((const int64_t *)ctx)[i];
}

/* The UPDATE of action a: arrays $1 ids, $2 statuses (and for a replay $3
 * retry counts, $4 retry task ids), then the values every row shares, taken
 * from the first row (dlq_pg_act_change set them alike). */
static int update_rows(struct pg_conn *c, struct pg_act_row *const *rows, size_t k,
                       const struct dlq_act *a, char *err, size_t errlen)
{
    const struct dlq_entry *e0 = &rows[0]->e;
    struct dlq_buf ids = {0}, st = {0}, rc = {0};
    char *rt = NULL;
    const char **rtv = NULL;
    const char *sql;
    struct pg_params p;
    int code = DLQ_OK;
    int_array(&ids, k, row_id, rows);
    int_array(&st, k, row_status, rows);
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, ids.data);
    dlq_pg_p_text(&p, st.data);
    dlq_pg_p_int_or_null(&p, e0->updated_at);
    switch (a->action) {
    case DLQ_ACTION_RETRY:
    case DLQ_ACTION_FORCE_RETRY:
        int_array(&rc, k, row_retry_count, rows);
        if ((rtv = calloc(k, sizeof *rtv)) == NULL) {
            code = DLQ_E_NOMEM;
            break;
        }
        for (size_t i = 0; i < k; i++)
            rtv[i] = rows[i]->e.retry_task_id;
        if ((rt = dlq_pg_text_array(rtv, k)) == NULL) {
            code = DLQ_E_NOMEM;
            break;
        }
        dlq_pg_p_text(&p, rc.data);
        dlq_pg_p_text(&p, rt);
        dlq_pg_p_int_or_null(&p, e0->last_retry_at);
        dlq_pg_p_text(&p, rows[0]->op_id);
        sql = "UPDATE entries e SET status = v.status, updated_at = $3, retry_count = v.rc,"
              " last_retry_at = $6, retry_task_id = v.rt, op_id = $7"
              " FROM unnest($1::bigint[], $2::int[], $4::int[], $5::text[]) AS v(id, status, rc,"
              " rt) WHERE e.id = v.id";
        break;
    case DLQ_ACTION_RESOLVE:
        dlq_pg_p_int_or_null(&p, e0->resolved_at);
        dlq_pg_p_text(&p, e0->resolution_type);
        dlq_pg_p_text(&p, e0->resolved_by);
        dlq_pg_p_text(&p, e0->resolution_notes);
        sql = "UPDATE entries e SET status = v.status, updated_at = $3, resolved_at = $4,"
              " resolution_type = $5, resolved_by = $6, resolution_notes = $7"
              " FROM unnest($1::bigint[], $2::int[]) AS v(id, status) WHERE e.id = v.id";
        break;
    default:
        sql = "UPDATE entries e SET status = v.status, updated_at = $3"
              " FROM unnest($1::bigint[], $2::int[]) AS v(id, status) WHERE e.id = v.id";
        break;
    }
    if (code == DLQ_OK && (ids.oom || st.oom || rc.oom))
        code = DLQ_E_NOMEM;
    if (code == DLQ_OK)
        code = dlq_pg_exec(c, sql, &p, NULL, "update entries", err, errlen);
    else
        code = dlq_errf(err, errlen, code, "out of memory");
    dlq_buf_free(&ids);
    dlq_buf_free(&st);
    dlq_buf_free(&rc);
    free(rt);
    free(rtv);
    return code;
}

int dlq_pg_act_write_many(struct pg_conn *c, struct pg_act_row *const *rows, size_t k,
                          const struct dlq_act *a, const int64_t *ev_row, char *const *ev_details,
                          size_t nev, char *err, size_t errlen)
{
    if (k == 0)
        return DLQ_OK;
    int code = update_rows(c, rows, k, a, err, errlen);
    if (code != DLQ_OK || nev == 0)
        return code;
    struct dlq_buf ids = {0};
    int_array(&ids, nev, ev_id, ev_row);
    char *det = dlq_pg_text_array((const char *const *)ev_details, nev);
    if (ids.oom || det == NULL) {
        dlq_buf_free(&ids);
        free(det);
        return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
    }
    struct pg_params p;
    dlq_pg_p_init(&p);
    dlq_pg_p_text(&p, ids.data);
    dlq_pg_p_text(&p, det);
    dlq_pg_p_int(&p, a->now);
    dlq_pg_p_text(&p, dlq_pg_act_event_name(a->action));
    dlq_pg_p_text(&p, a->actor);
    /* in the caller's order, so the events' seq numbers follow it */
    code = dlq_pg_exec(c,
                       "INSERT INTO entry_events(entry_id, at, event, actor, details)"
                       " SELECT v.id, $3::bigint, $4::text, $5::text, v.d"
                       " FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS v(id, d, o)"
                       " ORDER BY v.o",
                       &p, NULL, "insert history events", err, errlen);
    dlq_buf_free(&ids);
    free(det);
    return code;
}
