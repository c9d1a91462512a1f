/*
 * state.h: the entry state machine of DESIGN.md section 3 as a pure table.
 * For a status and an action it says the next status, or why the action is
 * refused. Every transition of an entry goes through dlq_state_next(); the
 * store applies the answer atomically, so of two concurrent actions on one
 * entry exactly one finds the status it expected.
 */
#ifndef DLQ_STATE_H
#define DLQ_STATE_H

#include "dlq/types.h"

#define DLQ_ACTION_MAP(X)                                                                          \
    X(RETRY, "retry")                                                                              \
    X(FORCE_RETRY, "force_redrive")                                                                \
    X(REPLAY_SUCCEEDED, "replay_succeeded")                                                        \
    X(REPLAY_FAILED, "replay_failed")                                                              \
    X(RESOLVE, "resolve")                                                                          \
    X(DISCARD, "discard")                                                                          \
    X(EXPIRE, "expire")                                                                            \
    X(ARCHIVE, "archive")                                                                          \
    X(PURGE, "purge")

enum dlq_action {
#define DLQ_ACTION_ENUM(name, str) DLQ_ACTION_##name,
    DLQ_ACTION_MAP(DLQ_ACTION_ENUM)
#undef DLQ_ACTION_ENUM
        DLQ_ACTION_COUNT
};

/* What an entry looks like to the state machine. */
struct dlq_state_input {
    enum dlq_status status;
    int retry_count; /* replays so far in the current budget */
    int max_replays; /* the budget */
};

/* dlq_state_next returns DLQ_OK with *to set when action is allowed from in,
 * or DLQ_E_CONFLICT with a static sentence naming the status and the rule in
 * *why ("entry is resolved: a resolved entry cannot be retried"). A
 * REPLAY_FAILED lands in requires_review once retry_count has reached
 * max_replays, else in pending_review. PURGE allows `archived` only; its *to
 * is DLQ_STATUS_NONE (the row is deleted). */
int dlq_state_next(const struct dlq_state_input *in, enum dlq_action action, enum dlq_status *to,
                   const char **why);

/* dlq_action_name returns "retry", "force_redrive", ...; NULL if unknown. */
const char *dlq_action_name(enum dlq_action a);

#endif
