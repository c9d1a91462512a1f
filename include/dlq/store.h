/*
 * store.h: the storage interface. Shaped like SQLite's sqlite3_io_methods: a
 * versioned table of function pointers (struct dlq_store_methods), a base
 * struct every backend embeds first (struct dlq_store), a registry that finds
 * a backend by name, and thin wrappers (dlq_store_capture() etc.) that assert
 * their arguments and are the one place where faults can be injected.
 *
 * Everything above src/store/ talks to storage only through this header:
 * no SQL, no backend types. Calls are synchronous and thread-safe: the server
 * calls them from many request threads at once. Backend error codes never
 * cross it: they become a dlq code plus detail text in err.
 */
#ifndef DLQ_STORE_H
#define DLQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/error.h"
#include "dlq/types.h"

enum dlq_durability {
    DLQ_DURABILITY_FULL = 0,   /* every commit reaches the disk (fsync) before it is acknowledged */
    DLQ_DURABILITY_NORMAL = 1, /* commits survive a process crash, not a power loss */
};

struct dlq_store_config {
    const char *path; /* sqlite: a file path; postgres: a conninfo string */
    enum dlq_durability durability;
    int busy_timeout_ms; /* how long a write may wait for a lock before failing */
    int migrate;         /* 1: create or upgrade the schema at open */
};

struct dlq_store;

/* Version 1 of the methods. A backend fills every pointer. Each returns DLQ_OK
 * or a negative dlq code with detail written to err (errlen bytes). */
struct dlq_store_methods {
    int version;
    const char *name;

    /* close flushes pending writes, stops backend threads and frees s. */
    void (*close)(struct dlq_store *s);

    /* migrate brings the schema to the newest version; *from and *to receive
     * the versions before and after. */
    int (*migrate)(struct dlq_store *s, int *from, int *to, char *err, size_t errlen);

    /* capture stores n entries in one durable commit. Each entry arrives
     * complete (dlq_id, status, processed_at, fingerprint set by the caller);
     * an entry whose idempotency_key (within its tenant) already exists is not
     * stored again: its result has created 0 and the existing dlq_id. actor
     * names who captured (recorded in the "captured" history event). The
     * entries stay owned by the caller. res has n slots. */
    int (*capture)(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                   const char *actor, struct dlq_capture_result *res, char *err, size_t errlen);

    /* get finds an entry by dlq_id or else by original_task_id (the newest
     * such). tenant non-NULL restricts the search to that tenant (others are
     * DLQ_E_NOTFOUND). On DLQ_OK *out is filled (caller clears it) and, when
     * hist is non-NULL, *hist and *nhist receive the history, oldest first
     * (caller frees with dlq_events_free). */
    int (*get)(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
               struct dlq_event **hist, size_t *nhist, char *err, size_t errlen);

    /* list returns one page matching f (f->tenant_id already forced by the
     * caller for tenant-bound tokens), with the exact total of matches and,
     * when more rows follow, next_cursor. Uses f->offset unless a cursor is set. */
    int (*list)(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                size_t errlen);

    /* Tokens. token_by_hash finds an active or revoked token by the SHA-256
     * of its secret. token_list returns every token, newest first (caller
     * frees the array with free()). token_revoke sets revoked_at (DLQ_E_NOTFOUND
     * when no such token, DLQ_E_CONFLICT when already revoked). token_touch
     * records a use (best effort, may be deferred). */
    int (*token_create)(struct dlq_store *s, const struct dlq_token *t, char *err, size_t errlen);
    int (*token_by_hash)(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                         char *err, size_t errlen);
    int (*token_list)(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                      size_t errlen);
    int (*token_revoke)(struct dlq_store *s, const char *id, int64_t now, char *err,
                        size_t errlen);
    int (*token_touch)(struct dlq_store *s, const char *id, int64_t now, char *err, size_t errlen);

    /* ping checks the store can serve reads and writes (readiness). */
    int (*ping)(struct dlq_store *s, char *err, size_t errlen);
};

/* The base every backend struct embeds as its first member. */
struct dlq_store {
    const struct dlq_store_methods *m;
};

/* dlq_store_open opens a store with the named backend ("sqlite"). On DLQ_OK
 * *out is the store (free with dlq_store_close); on error *out is NULL. */
int dlq_store_open(const char *backend, const struct dlq_store_config *cfg, struct dlq_store **out,
                   char *err, size_t errlen);

/* A registered backend: its name and its open function. */
struct dlq_store_backend {
    const char *name;
    int (*open)(const struct dlq_store_config *cfg, struct dlq_store **out, char *err,
                size_t errlen);
};
/* dlq_store_backends returns the registry, terminated by a {NULL, NULL} row. */
const struct dlq_store_backend *dlq_store_backends(void);

/* Wrappers: assert arguments, then call s->m->X. */
void dlq_store_close(struct dlq_store *s);
int dlq_store_migrate(struct dlq_store *s, int *from, int *to, char *err, size_t errlen);
int dlq_store_capture(struct dlq_store *s, const struct dlq_entry *entries, size_t n,
                      const char *actor, struct dlq_capture_result *res, char *err, size_t errlen);
int dlq_store_get(struct dlq_store *s, const char *id, const char *tenant, struct dlq_entry *out,
                  struct dlq_event **hist, size_t *nhist, char *err, size_t errlen);
int dlq_store_list(struct dlq_store *s, const struct dlq_filter *f, struct dlq_page *out, char *err,
                   size_t errlen);
int dlq_store_token_create(struct dlq_store *s, const struct dlq_token *t, char *err,
                           size_t errlen);
int dlq_store_token_by_hash(struct dlq_store *s, const char *hash_hex, struct dlq_token *out,
                            char *err, size_t errlen);
int dlq_store_token_list(struct dlq_store *s, struct dlq_token **out, size_t *n, char *err,
                         size_t errlen);
int dlq_store_token_revoke(struct dlq_store *s, const char *id, int64_t now, char *err,
                           size_t errlen);
int dlq_store_token_touch(struct dlq_store *s, const char *id, int64_t now, char *err,
                          size_t errlen);
int dlq_store_ping(struct dlq_store *s, char *err, size_t errlen);

/* dlq_store_fault_new wraps inner in a store that fails with DLQ_E_UNAVAILABLE
 * every call from the fail_from-th on (counting from 1, all methods but close
 * together) until fail_count calls have failed (-1: forever). It takes
 * ownership of inner: closing the wrapper closes inner. Used by tests. */
struct dlq_store *dlq_store_fault_new(struct dlq_store *inner, long fail_from, long fail_count);
/* dlq_store_fault_calls returns how many calls a fault store has seen. */
long dlq_store_fault_calls(const struct dlq_store *s);

#endif
