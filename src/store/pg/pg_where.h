/*
 * pg_where.h: what the entry readers of the PostgreSQL backend (pg_read.c,
 * pg_list.c, pg_bulk.c) share: a query buffer whose values are all bound
 * parameters ($N, each value sent once however often the text refers to
 * it), the normalized filter (struct pg_where) and the SQL its conditions
 * become, the full-text query built from user text, and a read snapshot.
 * Private to those files; SQLite's counterpart is sq_where.c.
 */
#ifndef DLQ_PG_WHERE_H
#define DLQ_PG_WHERE_H

#include <stdint.h>

#include "pg_int.h"

/* The filter values a query may refer to more than once. */
enum pg_key {
    PK_TENANT,
    PK_TASK,
    PK_QUEUE,
    PK_EXC,
    PK_FP,
    PK_REASON,
    PK_AFTER,
    PK_BEFORE,
    PK_CUR_AT,
    PK_CUR_ID,
    PK_MATCH,
    PK_STATUSES,
    PK_N
};

/* A query being built: text, parameters, and which filter value is which
 * parameter (0: not sent yet). Never copied: p points into itself. */
struct pg_sql {
    char buf[6144];
    size_t len;
    int overflow;
    int slot[PK_N];
    struct pg_params p;
};

/* dlq_pg_sql_init empties q. */
void dlq_pg_sql_init(struct pg_sql *q);
/* dlq_pg_sql_add appends s; past the buffer q->overflow is set and the
 * query is refused when run. */
void dlq_pg_sql_add(struct pg_sql *q, const char *s);
/* dlq_pg_sql_text / _int append s followed by "$N", N a new parameter
 * holding v (text v must outlive the query's run). */
void dlq_pg_sql_text(struct pg_sql *q, const char *s, const char *v);
void dlq_pg_sql_int(struct pg_sql *q, const char *s, int64_t v);
/* dlq_pg_sql_param adds a parameter (text v, or the integer i when v is
 * NULL) and returns its number N, for dlq_pg_sql_ref to append s and "$N"
 * wherever the query uses it. */
int dlq_pg_sql_param(struct pg_sql *q, const char *v, int64_t i);
void dlq_pg_sql_ref(struct pg_sql *q, const char *s, int n);
/* dlq_pg_sql_run runs q on c (as dlq_pg_exec); DLQ_E_INVAL when q overflowed. */
int dlq_pg_sql_run(struct pg_conn *c, const struct pg_sql *q, PGresult **res, const char *what,
                   char *err, size_t errlen);

/* A normalized filter (sq_where's twin). Strings are borrowed from the
 * dlq_filter except match. */
struct pg_where {
    int status[DLQ_STATUS_COUNT];
    int nstatus;
    char statuses[32]; /* "{1,2}": the statuses as an int[] literal */
    int empty;         /* the filter can match nothing: skip the queries */
    const char *tenant, *task, *queue, *exc, *fp;
    const char *q; /* the user's full-text query, or NULL */
    char *match;   /* the tsquery text made of q (dlq_pg_where_match), malloc'd */
    int reason;
    int64_t after, before;
    int desc;
    int has_cursor;
    int64_t cur_at, cur_id;
};
#define PG_WHERE_STATUS 1u /* dlq_pg_where_conds: test the statuses */
#define PG_WHERE_CURSOR 2u /* ... and the keyset position */
#define PG_WHERE_CUBE   4u /* ... on entry_counts' columns */

/* dlq_pg_where_init fills w from f; the cursor only with use_cursor. The
 * caller frees w with dlq_pg_where_free (also after an error). DLQ_E_INVAL
 * for a malformed cursor id. */
int dlq_pg_where_init(const struct dlq_filter *f, int use_cursor, struct pg_where *w, char *err,
                      size_t errlen);
void dlq_pg_where_free(struct pg_where *w);
/* dlq_pg_where_match turns w->q into w->match on c (when q is set and not
 * done yet); sets w->empty when no term of q has a token. */
int dlq_pg_where_match(struct pg_conn *c, struct pg_where *w, char *err, size_t errlen);
/* dlq_pg_where_status appends the test of w's statuses on column col. */
void dlq_pg_where_status(struct pg_sql *q, const struct pg_where *w, const char *col);
/* dlq_pg_where_conds appends " AND ..." for every filter of w (q's match
 * included), the statuses with PG_WHERE_STATUS, the keyset condition in w's
 * direction with PG_WHERE_CURSOR; PG_WHERE_CUBE: entry_counts' columns (no
 * alias; the caller makes sure w uses only those). */
void dlq_pg_where_conds(struct pg_sql *q, const struct pg_where *w, unsigned flags);

/* dlq_pg_utf8_ok says whether s is well-formed UTF-8: PostgreSQL refuses
 * other text as a parameter, and no stored value is anything else, so such
 * a filter value matches nothing. */
int dlq_pg_utf8_ok(const char *s);

/* dlq_pg_snapshot runs body on c inside one read-only repeatable-read
 * transaction, so every statement of it sees the same commits, each
 * planned for its parameters' values. */
int dlq_pg_snapshot(struct pg_conn *c, pg_tx_body body, void *ctx, char *err, size_t errlen);

#endif
