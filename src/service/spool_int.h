/*
 * spool_int.h: what the spool's files share. spool.c owns the file (its
 * record format, loading with torn-tail recovery, the fsynced append and the
 * in-memory queue and idempotency index); spool_drain.c owns the drain
 * thread and the ingest path that chooses between store and spool.
 */
#ifndef DLQ_SPOOL_INT_H
#define DLQ_SPOOL_INT_H

#include <pthread.h>
#include <stdint.h>

#include "service_int.h"

#define SPOOL_DEFAULT_MAX_BYTES (64LL * 1024 * 1024)
#define SPOOL_BUCKETS           4096
/* How many spooled entries one drain commit moves. */
#define SPOOL_DRAIN_BATCH 100
/* Backoff between drain attempts while the store keeps failing. */
#define SPOOL_BACKOFF_MIN_MS 50
#define SPOOL_BACKOFF_MAX_MS 2000

/* One spooled entry, in file order. */
struct spool_rec {
    struct spool_rec *next;  /* queue order */
    struct spool_rec *hnext; /* idempotency index chain (only with a key) */
    unsigned hash;
    struct dlq_entry e; /* owned, decoded from the record's own line */
    char *actor;        /* owned */
};

struct dlq_spool {
    pthread_mutex_t mu;      /* guards everything below but the counters' readers */
    pthread_cond_t cv;       /* the drain thread sleeps here */
    struct dlq_store *store; /* borrowed from the service */
    char *path, *rejected_path;
    int fd;
    int64_t max_bytes, bytes;
    struct spool_rec *head, *tail;
    int64_t pending;
    struct spool_rec *index[SPOOL_BUCKETS];
    int store_down, stop, thread_started;
    pthread_t thread;
    int64_t spooled, drained, skipped, rejected, torn;
};

/* spool_open opens or creates the file and loads its records (a torn tail
 * is cut off, a damaged record elsewhere is copied to the rejected file).
 * On DLQ_OK *out is ready, its thread not started. */
int dlq_spool_open(struct dlq_store *store, const char *path, int64_t max_bytes,
                   struct dlq_spool **out, char *err, size_t errlen);
/* dlq_spool_free closes the file and frees every record (thread stopped). */
void dlq_spool_free(struct dlq_spool *sp);
/* dlq_spool_append_locked writes the n stamped entries (those with skip[i]
 * 0) as one fsynced append and queues them. sp->mu held. DLQ_E_BUSY past
 * the size cap, DLQ_E_UNAVAILABLE when the write fails (nothing kept). */
int dlq_spool_append_locked(struct dlq_spool *sp, const char *actor, struct dlq_entry *e, size_t n,
                            const unsigned char *skip, char *err, size_t errlen);
/* dlq_spool_find_locked returns the dlq_id of the spooled entry with this
 * idempotency key in tenant (NULL or "" for none), or NULL. sp->mu held. */
const char *dlq_spool_find_locked(struct dlq_spool *sp, const char *tenant, const char *key);
/* dlq_spool_pop_locked drops the first n records (drained). When the queue
 * is then empty the file is truncated. sp->mu held. */
void dlq_spool_pop_locked(struct dlq_spool *sp, size_t n);
/* dlq_spool_reject appends one record's text to the rejected file (best
 * effort: the loss is logged either way). */
void dlq_spool_reject(struct dlq_spool *sp, const struct spool_rec *r, const char *why);

#endif
