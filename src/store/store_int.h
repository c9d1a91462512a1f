/*
 * store_int.h: what the generic store code (the registry in store.c) needs to
 * know about the backends: their open functions. Each backend keeps the rest
 * of its declarations in its own private header.
 */
#ifndef DLQ_STORE_INT_H
#define DLQ_STORE_INT_H

#include "dlq/store.h"

/* dlq_sqlite_open opens the SQLite backend (src/store/sqlite/). */
int dlq_sqlite_open(const struct dlq_store_config *cfg, struct dlq_store **out, char *err,
                    size_t errlen);

/* dlq_postgres_open opens the PostgreSQL backend (src/store/pg/). */
int dlq_postgres_open(const struct dlq_store_config *cfg, struct dlq_store **out, char *err,
                      size_t errlen);

#endif
