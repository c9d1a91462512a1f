/*
 * pg_act.h: what the actions files of the PostgreSQL backend (pg_act.c,
 * pg_act_apply.c, pg_audit.c) share and nothing else needs: finding an
 * entry row to act on, locked for the rest of the transaction, and a text[]
 * literal for passing many ids as one parameter.
 */
#ifndef DLQ_PG_ACT_H
#define DLQ_PG_ACT_H

#include "pg_int.h"

/* How dlq_pg_act_find looks an entry up. */
enum pg_find {
    PG_FIND_DLQ_ID,       /* by dlq_id, the whole row */
    PG_FIND_DLQ_ID_LIGHT, /* by dlq_id, the big text columns left NULL */
    PG_FIND_TASK_ID,      /* the newest entry with that original_task_id */
    PG_FIND_RETRY_ID      /* the newest entry with that retry_task_id, exact tenant */
};

/* dlq_pg_act_find reads the entry key names (of tenant when non-NULL) with
 * SELECT ... FOR UPDATE, so whoever acts next on it waits for this
 * transaction and then sees its outcome. 1 with *out filled (clear it with
 * dlq_pg_act_row_clear), 0 when there is none, or a negative code. */
int dlq_pg_act_find(struct pg_conn *c, enum pg_find by, const char *key, const char *tenant,
                    struct pg_act_row *out, char *err, size_t errlen);

/* dlq_pg_act_row_fill fills out from a row of the act select (entry columns,
 * then entries.id and op_id). DLQ_OK or DLQ_E_NOMEM. */
int dlq_pg_act_row_fill(const PGresult *r, int row, struct pg_act_row *out);

/* dlq_pg_act_change is the first half of dlq_pg_act_apply: the state
 * machine's verdict (DLQ_E_CONFLICT with the refusal in err, nothing done)
 * and the new entry in r (status, fields; an edit-and-replay writes its
 * "edited" event, a replay failure reads its error). Nothing else is
 * written: pg_act_batch.c writes many rows changed so at once. */
int dlq_pg_act_change(struct pg_conn *c, struct pg_act_row *r, const struct dlq_act *a,
                      const char *rtid, char *err, size_t errlen);
/* dlq_pg_act_event_name names the history event of a (its details:
 * dlq_store_event_details, store_json.h). */
const char *dlq_pg_act_event_name(enum dlq_action a);

/* dlq_pg_act_batchable: a's rows can be written together (no edit, no
 * purge, no replay outcome). dlq_pg_act_write_many writes the k rows
 * changed by a (each once, the row as it is now) with one UPDATE, then the
 * nev history events (ev_row's ids, ev_details, in order) with one INSERT. */
int dlq_pg_act_batchable(const struct dlq_act *a);
int dlq_pg_act_write_many(struct pg_conn *c, struct pg_act_row *const *rows, size_t k,
                          const struct dlq_act *a, const int64_t *ev_row, char *const *ev_details,
                          size_t nev, char *err, size_t errlen);

/* dlq_pg_text_array returns the PostgreSQL array literal of the n strings
 * (a NULL one is SQL NULL), malloc'd; NULL when out of memory. */
char *dlq_pg_text_array(const char *const *v, size_t n);

#endif
