/*
 * sq_cube.c: the writer's accumulator for the entry_counts cube. Requests
 * add counter changes here instead of updating entry_counts row by row; the
 * writer applies the sum once per distinct key just before the group
 * commits, in the same transaction. Bursts of failures share their keys (one
 * task, one exception, one tenant), so a group of hundreds of entries
 * usually costs a handful of upserts instead of one per entry.
 *
 * A failed request's changes are taken back with a mark/undo log, so the
 * sums only ever hold the work of requests that will commit.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "sq_int.h"

struct cube_key {
    char *tenant, *queue, *task, *exc; /* owned copies; "" for none */
    int status, reason;
    uint64_t hash;
    int64_t n;
};

struct cube_log {
    uint32_t key;
    int delta;
};

struct sq_cube {
    struct cube_key *keys; /* stable: the log and the table index into it */
    size_t nkeys, capkeys;
    uint32_t *table; /* open addressing: key index + 1, 0 = empty */
    size_t tabsize;  /* power of two */
    struct cube_log *log;
    size_t nlog, caplog;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* separator: "a","bc" != "ab","c" */
}

/* dlq_sq_cube_new returns an empty accumulator (free with
 * dlq_sq_cube_free), or NULL when out of memory. */
struct sq_cube *dlq_sq_cube_new(void)
{
    return calloc(1, sizeof(struct sq_cube));
}

static void free_keys(struct sq_cube *c)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        free(c->keys[i].tenant);
        free(c->keys[i].queue);
        free(c->keys[i].task);
        free(c->keys[i].exc);
    }
    c->nkeys = 0;
    c->nlog = 0;
    if (c->table)
        memset(c->table, 0, c->tabsize * sizeof *c->table);
}

/* dlq_sq_cube_reset forgets every pending change (the group is over). */
void dlq_sq_cube_reset(struct sq_cube *c)
{
    free_keys(c);
}

void dlq_sq_cube_free(struct sq_cube *c)
{
    if (c == NULL)
        return;
    free_keys(c);
    free(c->keys);
    free(c->table);
    free(c->log);
    free(c);
}

static int rehash(struct sq_cube *c)
{
    size_t size = c->tabsize ? c->tabsize * 2 : 64;
    uint32_t *t = calloc(size, sizeof *t);
    if (t == NULL)
        return DLQ_E_NOMEM;
    for (size_t i = 0; i < c->nkeys; i++) {
        size_t j = c->keys[i].hash & (size - 1);
        while (t[j])
            j = (j + 1) & (size - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(c->table);
    c->table = t;
    c->tabsize = size;
    return DLQ_OK;
}

/* find_or_add returns the index of the key, adding it with n 0; -1 when
 * out of memory. */
static long find_or_add(struct sq_cube *c, const char *tenant, int status, const char *queue,
                        const char *task, int reason, const char *exc)
{
    uint64_t h = 1469598103934665603ULL;
    h = fnv(fnv(fnv(fnv(h, tenant), queue), task), exc);
    h = (h ^ (uint64_t)status * 31 ^ (uint64_t)reason * 1031) * 1099511628211ULL;
    if ((c->nkeys + 1) * 2 > c->tabsize && rehash(c) != DLQ_OK)
        return -1;
    size_t j = h & (c->tabsize - 1);
    for (; c->table[j]; j = (j + 1) & (c->tabsize - 1)) {
        struct cube_key *k = &c->keys[c->table[j] - 1];
        if (k->hash == h && k->status == status && k->reason == reason &&
            strcmp(k->task, task) == 0 && strcmp(k->tenant, tenant) == 0 &&
            strcmp(k->queue, queue) == 0 && strcmp(k->exc, exc) == 0)
            return (long)(c->table[j] - 1);
    }
    if (c->nkeys == c->capkeys) {
        size_t cap = c->capkeys ? c->capkeys * 2 : 32;
        struct cube_key *p = realloc(c->keys, cap * sizeof *p);
        if (p == NULL)
            return -1;
        c->keys = p;
        c->capkeys = cap;
    }
    struct cube_key *k = &c->keys[c->nkeys];
    k->tenant = strdup(tenant);
    k->queue = strdup(queue);
    k->task = strdup(task);
    k->exc = strdup(exc);
    if (!k->tenant || !k->queue || !k->task || !k->exc) {
        free(k->tenant);
        free(k->queue);
        free(k->task);
        free(k->exc);
        return -1;
    }
    k->status = status;
    k->reason = reason;
    k->hash = h;
    k->n = 0;
    c->table[j] = (uint32_t)c->nkeys + 1;
    return (long)c->nkeys++;
}

/* dlq_sq_cube_add records delta entries for one key of the cube. NULL
 * strings count as "". DLQ_OK or DLQ_E_NOMEM. */
int dlq_sq_cube_add(struct sq_cube *c, const char *tenant, int status, const char *queue,
                    const char *task, int reason, const char *exc, int delta)
{
    long i = find_or_add(c, tenant ? tenant : "", status, queue ? queue : "", task ? task : "",
                         reason, exc ? exc : "");
    if (i < 0)
        return DLQ_E_NOMEM;
    if (c->nlog == c->caplog) {
        size_t cap = c->caplog ? c->caplog * 2 : 256;
        struct cube_log *p = realloc(c->log, cap * sizeof *p);
        if (p == NULL)
            return DLQ_E_NOMEM;
        c->log = p;
        c->caplog = cap;
    }
    c->log[c->nlog].key = (uint32_t)i;
    c->log[c->nlog++].delta = delta;
    c->keys[i].n += delta;
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
        c->nlog--;
        c->keys[c->log[c->nlog].key].n -= c->log[c->nlog].delta;
    }
}

/* dlq_sq_cube_flush applies every pending sum to entry_counts on the writer
 * connection (inside the group's transaction) and resets c. */
int dlq_sq_cube_flush(struct sq_conn *w, struct sq_cube *c, char *err, size_t errlen)
{
    int code = DLQ_OK;
    for (size_t i = 0; i < c->nkeys && code == DLQ_OK; i++) {
        struct cube_key *k = &c->keys[i];
        sqlite3_stmt *st;
        if (k->n == 0)
            continue;
        if ((code = dlq_sq_stmt(w, SQ_COUNT_ADD, &st, err, errlen)) != DLQ_OK)
            break;
        sqlite3_bind_text(st, 1, k->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, k->status);
        sqlite3_bind_text(st, 3, k->queue, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, k->task, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, k->reason);
        sqlite3_bind_text(st, 6, k->exc, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, k->n);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            code = dlq_sq_err(w->db, rc, err, errlen, "update counters");
    }
    dlq_sq_cube_reset(c);
    return code;
}
