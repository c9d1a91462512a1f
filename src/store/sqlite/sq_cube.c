/*
 * sq_cube.c: the writer's accumulator for the counters a group commit
 * changes: the entry_counts cube, its per-dimension sums in stats_rollup,
 * the hourly capture counts and the failure groups. Requests add counter
 * changes here instead of updating those tables row by row; the writer
 * applies the sum once per distinct key just before the group commits, in
 * the same transaction. Bursts of failures share their keys (one task, one
 * exception, one tenant), so a group of hundreds of entries usually costs a
 * handful of upserts instead of several per entry.
 *
 * stats_rollup is not added to by requests: every rollup key is a
 * projection of a cube key (its tenant or all tenants; by status, or for
 * pending entries by task, queue, reason, exception, queue and task), so
 * the flush derives the rollup sums from the cube's final sums.
 *
 * A failed request's changes are taken back with a mark/undo log, so the
 * sums only ever hold the work of requests that will commit.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "sq_int.h"

enum { K_CUBE, K_HOUR, K_GROUP, K_ROLLUP };

/* struct acc_key is one key of any kind. s[] are "" for none and NULL when
 * the kind has no such field. */
struct acc_key {
    char *s[4];
    int64_t i[2];
    int kind;
    uint64_t hash;
    int64_t n, n2;       /* the sums: cube, hour, rollup n; group count n, pending n2 */
    int64_t first, last; /* group: seen range of its captures in this commit */
    char *sample[4];     /* group: task, exception, message, dlq_id of its first capture */
    int captured;        /* group: captures in this commit */
};

struct acc {
    struct acc_key *keys; /* stable indexes: the log and the table refer to them */
    size_t nkeys, capkeys;
    uint32_t *table; /* open addressing: key index + 1, 0 = empty */
    size_t tabsize;  /* power of two */
    int owns;        /* the key strings are copies to free */
};

struct cube_log {
    uint32_t key;
    int32_t d1, d2;
    int captured;
    int64_t prev_first, prev_last;
};

struct sq_cube {
    struct acc a;    /* what requests add: cube, hourly, groups */
    struct acc roll; /* derived at flush: its strings borrow from a */
    struct cube_log *log;
    size_t nlog, caplog;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    if (s == NULL)
        return (h ^ 0xfe) * 1099511628211ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* separator: "a","bc" != "ab","c" */
}

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* dlq_sq_cube_new returns an empty accumulator (free with
 * dlq_sq_cube_free), or NULL when out of memory. */
struct sq_cube *dlq_sq_cube_new(void)
{
    struct sq_cube *c = calloc(1, sizeof(struct sq_cube));
    if (c)
        c->a.owns = 1;
    return c;
}

static void acc_clear(struct acc *a)
{
    for (size_t i = 0; i < a->nkeys; i++) {
        for (int j = 0; j < 4; j++) {
            if (a->owns)
                free(a->keys[i].s[j]);
            free(a->keys[i].sample[j]);
        }
    }
    a->nkeys = 0;
    if (a->table)
        memset(a->table, 0, a->tabsize * sizeof *a->table);
}

static void acc_free(struct acc *a)
{
    acc_clear(a);
    free(a->keys);
    free(a->table);
}

/* dlq_sq_cube_reset forgets every pending change (the group is over). */
void dlq_sq_cube_reset(struct sq_cube *c)
{
    acc_clear(&c->roll);
    acc_clear(&c->a);
    c->nlog = 0;
}

void dlq_sq_cube_free(struct sq_cube *c)
{
    if (c == NULL)
        return;
    acc_free(&c->roll);
    acc_free(&c->a);
    free(c->log);
    free(c);
}

static int rehash(struct acc *a)
{
    size_t size = a->tabsize ? a->tabsize * 2 : 64;
    uint32_t *t = calloc(size, sizeof *t);
    if (t == NULL)
        return DLQ_E_NOMEM;
    for (size_t i = 0; i < a->nkeys; i++) {
        size_t j = a->keys[i].hash & (size - 1);
        while (t[j])
            j = (j + 1) & (size - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(a->table);
    a->table = t;
    a->tabsize = size;
    return DLQ_OK;
}

/* find_or_add returns the index of the key (kind, s, i), adding it with
 * zero sums (copying s when a owns its strings); -1 when out of memory. */
static long find_or_add(struct acc *a, int kind, const char *const s[4], const int64_t i[2])
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
    for (int j = 0; j < 4; j++)
        h = fnv(h, s[j]);
    h = (h ^ (uint64_t)i[0] * 31 ^ (uint64_t)i[1] * 1031) * 1099511628211ULL;
    if ((a->nkeys + 1) * 2 > a->tabsize && rehash(a) != DLQ_OK)
        return -1;
    size_t j = h & (a->tabsize - 1);
    for (; a->table[j]; j = (j + 1) & (a->tabsize - 1)) {
        struct acc_key *k = &a->keys[a->table[j] - 1];
        if (k->hash == h && k->kind == kind && k->i[0] == i[0] && k->i[1] == i[1] &&
            str_eq(k->s[0], s[0]) && str_eq(k->s[1], s[1]) && str_eq(k->s[2], s[2]) &&
            str_eq(k->s[3], s[3]))
            return (long)(a->table[j] - 1);
    }
    if (a->nkeys == a->capkeys) {
        size_t cap = a->capkeys ? a->capkeys * 2 : 32;
        struct acc_key *p = realloc(a->keys, cap * sizeof *p);
        if (p == NULL)
            return -1;
        a->keys = p;
        a->capkeys = cap;
    }
    struct acc_key *k = &a->keys[a->nkeys];
    memset(k, 0, sizeof *k);
    for (int x = 0; x < 4; x++) {
        if (s[x] == NULL || !a->owns) {
            k->s[x] = (char *)s[x];
        } else if ((k->s[x] = strdup(s[x])) == NULL) {
            for (int y = 0; y < x; y++)
                free(k->s[y]);
            return -1;
        }
    }
    k->kind = kind;
    k->i[0] = i[0];
    k->i[1] = i[1];
    k->hash = h;
    a->table[j] = (uint32_t)a->nkeys + 1;
    return (long)a->nkeys++;
}

/* log_push records a change of key so dlq_sq_cube_undo can take it back. */
static int log_push(struct sq_cube *c, const struct cube_log *l)
{
    if (c->nlog == c->caplog) {
        size_t cap = c->caplog ? c->caplog * 2 : 256;
        struct cube_log *p = realloc(c->log, cap * sizeof *p);
        if (p == NULL)
            return DLQ_E_NOMEM;
        c->log = p;
        c->caplog = cap;
    }
    c->log[c->nlog++] = *l;
    return DLQ_OK;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* add_sum adds delta to the n of a key without group fields. */
static int add_sum(struct sq_cube *c, int kind, const char *const s[4], const int64_t i[2],
                   int delta)
{
    long k = find_or_add(&c->a, kind, s, i);
    if (k < 0)
        return DLQ_E_NOMEM;
    struct cube_log l = {.key = (uint32_t)k, .d1 = delta};
    if (log_push(c, &l) != DLQ_OK)
        return DLQ_E_NOMEM;
    c->a.keys[k].n += delta;
    return DLQ_OK;
}

/* dlq_sq_cube_add records delta entries for one key of the cube. NULL
 * strings count as "". DLQ_OK or DLQ_E_NOMEM. */
int dlq_sq_cube_add(struct sq_cube *c, const char *tenant, int status, const char *queue,
                    const char *task, int reason, const char *exc, int delta)
{
    const char *s[4] = {nz(tenant), nz(queue), nz(task), nz(exc)};
    const int64_t i[2] = {status, reason};
    return add_sum(c, K_CUBE, s, i, delta);
}

/* dlq_sq_cube_hourly counts one capture in the hour starting at hour (ms)
 * for tenant (NULL is ""). DLQ_OK or DLQ_E_NOMEM. */
int dlq_sq_cube_hourly(struct sq_cube *c, int64_t hour, const char *tenant)
{
    const char *s[4] = {nz(tenant), NULL, NULL, NULL};
    const int64_t i[2] = {hour, 0};
    return add_sum(c, K_HOUR, s, i, 1);
}

/* dlq_sq_cube_group moves the failure group (fp, tenant; NULL tenant is
 * "") by dcount and dpending. With cap, a capture of cap's entry seen at
 * `at`: the group is created if new, with the first capture as its sample.
 * Without, the group is only adjusted if it exists. NULL or empty fp is a
 * no-op. DLQ_OK or DLQ_E_NOMEM. */
int dlq_sq_cube_group(struct sq_cube *c, const char *fp, const char *tenant, int dcount,
                      int dpending, const struct dlq_entry *cap, int64_t at)
{
    if (!fp || !fp[0] || (!cap && dcount == 0 && dpending == 0))
        return DLQ_OK;
    const char *s[4] = {fp, nz(tenant), NULL, NULL};
    const int64_t i[2] = {0, 0};
    long x = find_or_add(&c->a, K_GROUP, s, i);
    if (x < 0)
        return DLQ_E_NOMEM;
    struct acc_key *k = &c->a.keys[x];
    struct cube_log l = {.key = (uint32_t)x,
                         .d1 = dcount,
                         .d2 = dpending,
                         .captured = cap != NULL,
                         .prev_first = k->first,
                         .prev_last = k->last};
    if (cap && k->captured == 0) {
        const char *v[4] = {cap->task_name, cap->exc_type, cap->exc_message, cap->dlq_id};
        for (int j = 0; j < 4; j++) {
            if (v[j] && (k->sample[j] = strdup(v[j])) == NULL) {
                for (int y = 0; y <= j; y++) {
                    free(k->sample[y]);
                    k->sample[y] = NULL;
                }
                return DLQ_E_NOMEM;
            }
        }
    }
    if (log_push(c, &l) != DLQ_OK) {
        if (cap && k->captured == 0) {
            for (int j = 0; j < 4; j++) {
                free(k->sample[j]);
                k->sample[j] = NULL;
            }
        }
        return DLQ_E_NOMEM;
    }
    if (cap) {
        k->first = k->captured == 0 || at < k->first ? at : k->first;
        k->last = k->captured == 0 || at > k->last ? at : k->last;
        k->captured++;
    }
    k->n += dcount;
    k->n2 += dpending;
    return DLQ_OK;
}

/* dlq_sq_cube_mark returns a point that dlq_sq_cube_undo can return to. */
size_t dlq_sq_cube_mark(const struct sq_cube *c)
{
    return c->nlog;
}

/* dlq_sq_cube_undo takes back every change added since mark. */
void dlq_sq_cube_undo(struct sq_cube *c, size_t mark)
{
    while (c->nlog > mark) {
        const struct cube_log *l = &c->log[--c->nlog];
        struct acc_key *k = &c->a.keys[l->key];
        k->n -= l->d1;
        k->n2 -= l->d2;
        if (l->captured) {
            k->first = l->prev_first;
            k->last = l->prev_last;
            if (--k->captured == 0) {
                for (int j = 0; j < 4; j++) {
                    free(k->sample[j]);
                    k->sample[j] = NULL;
                }
            }
        }
    }
}

/* roll_add adds n to the rollup key (tenant, dim, text key k1 [char(31)
 * k2] or integer key ik when k1 is NULL). */
static int roll_add(struct sq_cube *c, const char *tenant, int dim, const char *k1, const char *k2,
                    int64_t ik, int64_t n)
{
    const char *s[4] = {tenant, k1, k2, NULL};
    const int64_t i[2] = {dim, k1 ? 0 : ik};
    long x = find_or_add(&c->roll, K_ROLLUP, s, i);
    if (x < 0)
        return DLQ_E_NOMEM;
    c->roll.keys[x].n += n;
    return DLQ_OK;
}

/* rollup_of adds the projections of one cube key with sum n to the rollup
 * (the rows of STATS_ROLLUP_ROWS in sq_schema.c's step 3). */
static int rollup_of(struct sq_cube *c, const struct acc_key *k)
{
    const char *t = k->s[0], *queue = k->s[1], *task = k->s[2], *exc = k->s[3];
    int64_t status = k->i[0], reason = k->i[1], n = k->n;
    int code = roll_add(c, t, 0, NULL, NULL, status, n);
    if (code == DLQ_OK)
        code = roll_add(c, "", 10, NULL, NULL, status, n);
    if (status != DLQ_STATUS_PENDING_REVIEW && status != DLQ_STATUS_REQUIRES_REVIEW)
        return code;
    for (int all = 0; all < 2 && code == DLQ_OK; all++) {
        const char *tt = all ? "" : t;
        int d = all ? 10 : 0;
        if ((code = roll_add(c, tt, d + 1, task, NULL, 0, n)) == DLQ_OK &&
            (code = roll_add(c, tt, d + 2, queue, NULL, 0, n)) == DLQ_OK &&
            (code = roll_add(c, tt, d + 3, NULL, NULL, reason, n)) == DLQ_OK)
            code = roll_add(c, tt, d + 4, exc, NULL, 0, n);
    }
    if (code == DLQ_OK)
        code = roll_add(c, "", 15, queue, task, 0, n);
    return code;
}

static const char sql_rollup[] =
    "INSERT INTO stats_rollup(tenant_id, dim, key, n) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(tenant_id, dim, key) DO UPDATE SET n = n + excluded.n";

/* flush_rollup applies the rollup sums; every key touched is upserted (as
 * the triggers of step 3 did), even when its sum is 0. */
static int flush_rollup(struct sq_conn *w, struct sq_cube *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->roll.nkeys; i++) {
        const struct acc_key *k = &c->roll.keys[i];
        sqlite3_stmt *st;
        int code = dlq_sq_stmt_dyn(w, sql_rollup, &st, err, errlen);
        if (code != DLQ_OK)
            return code;
        sqlite3_bind_text(st, 1, k->s[0], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, k->i[0]);
        if (k->s[1] == NULL) {
            /* the column's TEXT affinity stores it as text, as the triggers did */
            sqlite3_bind_int64(st, 3, k->i[1]);
        } else if (k->s[2] == NULL) {
            sqlite3_bind_text(st, 3, k->s[1], -1, SQLITE_STATIC);
        } else {
            size_t a = strlen(k->s[1]), b = strlen(k->s[2]);
            char *key = malloc(a + b + 2);
            if (key == NULL)
                return dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            memcpy(key, k->s[1], a);
            key[a] = 31;
            memcpy(key + a + 1, k->s[2], b + 1);
            sqlite3_bind_text(st, 3, key, (int)(a + b + 1), free);
        }
        sqlite3_bind_int64(st, 4, k->n);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            return dlq_sq_err(w->db, rc, err, errlen, "update stats rollup");
    }
    return DLQ_OK;
}

static int flush_count(struct sq_conn *w, const struct acc_key *k, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int code = dlq_sq_stmt(w, SQ_COUNT_ADD, &st, err, errlen);
    if (code != DLQ_OK)
        return code;
    sqlite3_bind_text(st, 1, k->s[0], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, k->i[0]);
    sqlite3_bind_text(st, 3, k->s[1], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->s[2], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->i[1]);
    sqlite3_bind_text(st, 6, k->s[3], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, k->n);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dlq_sq_err(w->db, rc, err, errlen, "update counters");
    return DLQ_OK;
}

/* dlq_sq_cube_flush applies every pending sum on the writer connection
 * (inside the group's transaction) and resets c. */
int dlq_sq_cube_flush(struct sq_conn *w, struct sq_cube *c, char *err, size_t errlen)
{
    int code = DLQ_OK;
    for (size_t i = 0; i < c->a.nkeys && code == DLQ_OK; i++) {
        struct acc_key *k = &c->a.keys[i];
        switch (k->kind) {
        case K_CUBE:
            if (k->n == 0)
                break;
            if ((code = flush_count(w, k, err, errlen)) == DLQ_OK && rollup_of(c, k) != DLQ_OK)
                code = dlq_errf(err, errlen, DLQ_E_NOMEM, "out of memory");
            break;
        case K_HOUR:
            if (k->n != 0)
                code = dlq_sq_hourly_apply(w, k->i[0], k->s[0], k->n, err, errlen);
            break;
        case K_GROUP:
            if (k->captured || k->n != 0 || k->n2 != 0) {
                struct sq_group_delta g = {.fp = k->s[0],
                                           .tenant = k->s[1],
                                           .task = k->sample[0],
                                           .exc = k->sample[1],
                                           .message = k->sample[2],
                                           .dlq_id = k->sample[3],
                                           .first = k->first,
                                           .last = k->last,
                                           .dcount = k->n,
                                           .dpending = k->n2,
                                           .captured = k->captured > 0};
                code = dlq_sq_group_apply(w, &g, err, errlen);
            }
            break;
        }
    }
    if (code == DLQ_OK)
        code = flush_rollup(w, c, err, errlen);
    dlq_sq_cube_reset(c);
    return code;
}
