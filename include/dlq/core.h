/*
 * core.h: the pure domain logic: names of statuses, reasons and roles, ids,
 * times, the entry codec and its validation, list filters and cursors,
 * fingerprints and token secrets. Nothing here does I/O or reads the clock
 * or the random source: callers pass time and random bytes in, so every
 * function is deterministic and unit-testable.
 */
#ifndef DLQ_CORE_H
#define DLQ_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/error.h"
#include "dlq/types.h"
#include "dlq/util.h"

/* ---- names ---- */
const char *dlq_status_name(enum dlq_status s);  /* "pending_review"; NULL if unknown */
enum dlq_status dlq_status_parse(const char *s); /* DLQ_STATUS_NONE if unknown */
const char *dlq_reason_name(enum dlq_reason r);  /* "max_retries_exceeded"; NULL if unknown */
enum dlq_reason dlq_reason_parse(const char *s); /* DLQ_REASON_NONE if unknown */
const char *dlq_role_name(enum dlq_role r);      /* "admin"; NULL if unknown */
enum dlq_role dlq_role_parse(const char *s);     /* DLQ_ROLE_NONE if unknown */
/* dlq_role_allows returns 1 when role may do what perm guards. */
int dlq_role_allows(enum dlq_role role, enum dlq_perm perm);

/* ---- ids: "<prefix>_<ULID>", e.g. dlq_01JH...; time-ordered ---- */
#define DLQ_ID_MAX 40
/* dlq_id_make writes prefix "_" ULID(ms, rnd) into out (at least DLQ_ID_MAX bytes). */
void dlq_id_make(const char *prefix, int64_t ms, const uint8_t rnd[10], char *out, size_t outlen);

/* ---- times: RFC 3339 UTC ---- */
#define DLQ_TIME_MAX 32
/* dlq_time_format writes "2026-01-25T10:30:00Z" (".123" added when ms % 1000 != 0). */
void dlq_time_format(int64_t ms, char out[DLQ_TIME_MAX]);
/* dlq_time_parse accepts RFC 3339 ("2026-01-25T10:30:00Z", fractions, "+02:00"
 * offsets, a space for T) and returns DLQ_OK with *ms set, or DLQ_E_INVAL. */
int dlq_time_parse(const char *s, int64_t *ms);

/* ---- entries ---- */
/* Limits on ingested fields (bytes). */
#define DLQ_MAX_NAME    512   /* task_name */
#define DLQ_MAX_SHORT   256   /* ids, queue, tenant, keys, exception type, error_code */
#define DLQ_MAX_MESSAGE 65536 /* exception.message, resolution notes */
#define DLQ_MAX_BATCH   1000

/* dlq_entry_from_json parses one ingest body into out (zeroed first). Accepts
 * the fields of DESIGN.md section 3 that a producer may set; task_args and
 * task_kwargs may be JSON text in a string or a JSON value. Unknown and
 * server-owned fields are errors. Defaults: queue "default", reason external,
 * max_replays 3, task_args "[]", task_kwargs "{}". Ids, status, processed_at
 * and fingerprint are left for the caller. Returns DLQ_OK, or DLQ_E_INVAL with
 * every problem in errs (field names prefixed with `prefix`, may be "") and
 * out cleared. */
int dlq_entry_from_json(const char *text, size_t len, struct dlq_entry *out,
                        struct dlq_errors *errs);

/* dlq_entries_from_json_batch parses {"entries":[...]} (or a bare array) of
 * 1..max entries. On DLQ_OK *out is a calloc'd array of *n entries (caller
 * frees each with dlq_entry_clear, then free()). On error *out is NULL, *n 0,
 * and errs names each bad item as "entries[i].field". */
int dlq_entries_from_json_batch(const char *text, size_t len, size_t max, struct dlq_entry **out,
                                size_t *n, struct dlq_errors *errs);

/* dlq_entry_to_json appends e as the seed 000 JSON object to out; with
 * with_history, a "history" array of the n events too. Returns DLQ_OK or
 * DLQ_E_NOMEM. */
int dlq_entry_to_json(const struct dlq_entry *e, const struct dlq_event *hist, size_t n,
                      int with_history, struct dlq_buf *out);

/* dlq_fingerprint writes the failure group key of an entry into out: 16 hex
 * characters of SHA-256 over task name, exception type and the normalised
 * message. */
void dlq_fingerprint(const char *task_name, const char *exc_type, const char *message,
                     char out[17]);
/* A memo of the last fingerprint computed: a batch often repeats one
 * failure, and then the hash is not computed again. Zero-initialise it
 * ({0}); dlq_fp_memo_free releases it. */
struct dlq_fp_memo {
    struct dlq_buf key; /* what was hashed */
    char fp[17];
};
/* dlq_fingerprint_memo is dlq_fingerprint through the memo m. */
void dlq_fingerprint_memo(struct dlq_fp_memo *m, const char *task_name, const char *exc_type,
                          const char *message, char out[17]);
void dlq_fp_memo_free(struct dlq_fp_memo *m);
/* dlq_fingerprint_normalize returns msg with numbers, hex, uuids and quoted
 * values masked ("user 42 not found" -> "user <n> not found"). Caller frees. */
char *dlq_fingerprint_normalize(const char *msg);

/* ---- list filters ---- */
struct dlq_kv {
    const char *key;
    const char *value;
};

/* dlq_filter_parse fills f from query parameters (borrowed: f points into kv
 * values). Keys: limit offset status task_name tenant_id queue reason
 * exception_type fingerprint failed_after failed_before q sort cursor.
 * status may be a comma-separated list. Unknown keys, repeated keys, bad
 * numbers, limit outside 1..100, unknown statuses or reasons, bad dates and
 * bad cursors are errors. Returns DLQ_OK or DLQ_E_INVAL with errs filled. */
int dlq_filter_parse(struct dlq_filter *f, const struct dlq_kv *kv, size_t n,
                     struct dlq_errors *errs);
/* dlq_filter_init sets the defaults (limit 50, newest first, no bounds). */
void dlq_filter_init(struct dlq_filter *f);

/* dlq_cursor_encode writes an opaque cursor for "after this row" into out. */
void dlq_cursor_encode(enum dlq_sort sort, int64_t failed_at, const char *id, char *out,
                       size_t outlen);
/* dlq_cursor_decode parses a cursor into f (has_cursor, cursor_failed_at,
 * cursor_id) and checks it was made for f->sort. DLQ_OK or DLQ_E_INVAL. */
int dlq_cursor_decode(const char *s, struct dlq_filter *f);

/* ---- tokens ---- */
#define DLQ_SECRET_MAX 64
/* dlq_token_secret_make writes "dlq_" + base64url(rnd) (47 chars) into out. */
void dlq_token_secret_make(const uint8_t rnd[32], char out[DLQ_SECRET_MAX]);
/* dlq_token_request_from_json parses {name, role, tenant_id?}. DLQ_OK or
 * DLQ_E_INVAL with errs filled. */
int dlq_token_request_from_json(const char *text, size_t len, char name[128], enum dlq_role *role,
                                char tenant[128], struct dlq_errors *errs);
/* dlq_token_to_json appends {id,name,role,tenant_id,created_at,last_used_at,revoked_at}. */
int dlq_token_to_json(const struct dlq_token *t, struct dlq_buf *out);

#endif
