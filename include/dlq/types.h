/*
 * types.h: the domain types every layer shares: entries (dead letters), their
 * history, list filters and pages, tokens and roles. Plain C structs; no
 * library types. Strings in an entry are owned by it (malloc'd) unless the
 * struct says otherwise; dlq_entry_clear() frees them.
 */
#ifndef DLQ_TYPES_H
#define DLQ_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Entry statuses, DESIGN.md section 3. The values are stable: they are stored. */
#define DLQ_STATUS_MAP(X)                                                                          \
    X(PENDING_REVIEW, 1, "pending_review")                                                         \
    X(REQUIRES_REVIEW, 2, "requires_review")                                                       \
    X(RETRIED, 3, "retried")                                                                       \
    X(RESOLVED, 4, "resolved")                                                                     \
    X(DISCARDED, 5, "discarded")                                                                   \
    X(EXPIRED, 6, "expired")                                                                       \
    X(ARCHIVED, 7, "archived")

enum dlq_status {
    DLQ_STATUS_NONE = 0,
#define DLQ_STATUS_ENUM(name, val, str) DLQ_STATUS_##name = (val),
    DLQ_STATUS_MAP(DLQ_STATUS_ENUM)
#undef DLQ_STATUS_ENUM
};
#define DLQ_STATUS_COUNT 8 /* one past the highest value */

/* Reasons a job reached the DLQ (seed 001), plus `external`. Stored values. */
#define DLQ_REASON_MAP(X)                                                                          \
    X(EXTERNAL, 1, "external")                                                                     \
    X(MAX_RETRIES_EXCEEDED, 2, "max_retries_exceeded")                                             \
    X(PERMANENT_FAILURE, 3, "permanent_failure")                                                   \
    X(JOB_NOT_FOUND, 4, "job_not_found")                                                           \
    X(INVALID_ARGUMENTS, 5, "invalid_arguments")                                                   \
    X(TIMEOUT, 6, "timeout")

enum dlq_reason {
    DLQ_REASON_NONE = 0,
#define DLQ_REASON_ENUM(name, val, str) DLQ_REASON_##name = (val),
    DLQ_REASON_MAP(DLQ_REASON_ENUM)
#undef DLQ_REASON_ENUM
};

/* A dead-letter entry. Field names follow seed 000 (see DESIGN.md section 3).
 * Times are ms since the epoch; 0 means null. task_args/task_kwargs/metadata/
 * context hold JSON text (task_args a JSON array or any JSON value,
 * task_kwargs/metadata/context objects); NULL means absent. */
struct dlq_entry {
    char *dlq_id;
    char *original_task_id;
    char *task_name;
    char *task_args;
    char *task_kwargs;
    char *exc_type;
    char *exc_message;
    char *exc_traceback;
    char *tenant_id;
    int retries_attempted;
    int64_t failed_at;
    int64_t processed_at;
    enum dlq_status status;
    int retry_count;
    int64_t last_retry_at;
    char *retry_task_id;
    int64_t resolved_at;
    char *resolution_notes;
    char *queue;
    int priority;
    enum dlq_reason reason;
    char *error_code;
    char *fingerprint;
    char *resolution_type;
    char *resolved_by;
    int max_replays;
    int64_t expires_at;
    char *metadata;
    char *context;
    char *idempotency_key;
    int64_t updated_at;
    /* issue 3 (slice A): ingest only, never stored: the dlq_id of the entry
     * whose replay this failure is (that entry is updated instead). */
    char *replay_of;
};

/* One event in an entry's history. */
struct dlq_event {
    int64_t at;
    char *event;   /* "captured", "replayed", "edited", "resolved", ... */
    char *actor;   /* token name, "system", or a worker id */
    char *details; /* JSON object text, or NULL */
};

/* dlq_entry_clear frees every string of e and zeroes it. */
void dlq_entry_clear(struct dlq_entry *e);
/* dlq_events_free frees n events and the array. NULL is a no-op. */
void dlq_events_free(struct dlq_event *ev, size_t n);

enum dlq_sort {
    DLQ_SORT_FAILED_DESC = 0, /* newest failure first: the default */
    DLQ_SORT_FAILED_ASC = 1,
};

/* A list filter. Every string is borrowed: it must outlive the call that uses
 * the filter (in the server they point into the request). NULL means "any".
 * status_mask has bit (1 << status) set for each wanted status; 0 means any.
 * Times are ms; 0 means no bound; failed_after is inclusive, failed_before
 * exclusive. */
struct dlq_filter {
    unsigned status_mask;
    const char *task_name;
    const char *tenant_id;
    const char *queue;
    const char *exception_type;
    const char *fingerprint;
    const char *q; /* full-text query */
    enum dlq_reason reason;
    int64_t failed_after;
    int64_t failed_before;
    int limit;      /* 1..100 */
    int64_t offset; /* ignored when a cursor is set */
    enum dlq_sort sort;
    int has_cursor;
    int64_t cursor_failed_at;
    char cursor_id[64];
};
#define DLQ_LIST_LIMIT_DEFAULT 50
#define DLQ_LIST_LIMIT_MAX     100

/* A page of entries. items is owned: dlq_page_free() releases it. next_cursor
 * is "" when there is no further page. */
struct dlq_page {
    struct dlq_entry *items;
    size_t n;
    int64_t total;
    char next_cursor[128];
};
void dlq_page_free(struct dlq_page *p);

/* Roles, DESIGN.md section 4. producer is not above viewer: it only ingests. */
enum dlq_role {
    DLQ_ROLE_NONE = 0,
    DLQ_ROLE_VIEWER = 1,
    DLQ_ROLE_OPERATOR = 2,
    DLQ_ROLE_ADMIN = 3,
    DLQ_ROLE_PRODUCER = 4,
};

/* Permissions a route can require; dlq_role_allows() maps roles to them. */
enum dlq_perm {
    DLQ_PERM_PUBLIC = 0, /* no token needed: healthz, readyz, dashboard assets */
    DLQ_PERM_READ,       /* viewer, operator, admin */
    DLQ_PERM_INGEST,     /* producer, admin */
    DLQ_PERM_ACT,        /* operator, admin: retry, resolve, discard, bulk, export */
    DLQ_PERM_ADMIN,      /* admin: force, cleanup, tokens, audit, settings */
};

/* An API token as stored. The secret itself is never stored: only its SHA-256. */
struct dlq_token {
    char id[40]; /* tok_<ULID> */
    char name[128];
    enum dlq_role role;
    char tenant_id[128]; /* "" when not bound to a tenant */
    char secret_hash[65];
    int64_t created_at;
    int64_t last_used_at; /* 0: never */
    int64_t revoked_at;   /* 0: active */
};

/* Who is acting: the authenticated token, as the service layer sees it. */
struct dlq_principal {
    char token_id[40];
    char name[128];
    enum dlq_role role;
    char tenant_id[128]; /* "" when the token sees every tenant */
};

/* The result of capturing one entry. created is 1 for a new entry, 0 when an
 * idempotency key matched an existing one (dlq_id is then that entry's). */
struct dlq_capture_result {
    int code; /* DLQ_OK or a negative error for this item */
    int created;
    char dlq_id[40];
    int updated; /* issue 3 (slice A): 1 when the failure updated the entry it replayed */
};

/* One audit record: an operator action, append-only. Strings are owned when
 * read back from a store (dlq_audit_clear frees them) and borrowed when
 * handed to a store to write. target_ids is a JSON array of dlq_ids,
 * filter and details JSON objects (or NULL). */
struct dlq_audit {
    char id[40]; /* aud_<ULID> */
    int64_t at;
    char *actor;
    char *tenant_id; /* the actor's tenant, NULL for none */
    char *action;    /* retry, force_redrive, edit, resolve, discard, outcome, replay_bulk, ... */
    char *target_ids;
    char *filter;
    char *reason;
    char *ticket_url;
    char *details;
};
void dlq_audit_clear(struct dlq_audit *a);

#endif
