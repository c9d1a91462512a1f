/*
 * state.c: the entry state machine of DESIGN.md section 3. One table of
 * (action, statuses it may start from, where it leads); the few transitions
 * that depend on the replay budget are decided here too, so that no caller
 * re-implements a rule.
 */
#include <stddef.h>

#include "dlq/error.h"
#include "dlq/state.h"

#define BIT(s) (1u << (s))
#define ACTIVE                                                                                     \
    (BIT(DLQ_STATUS_PENDING_REVIEW) | BIT(DLQ_STATUS_REQUIRES_REVIEW) | BIT(DLQ_STATUS_RETRIED))
#define ALL_BUT_ARCHIVED                                                                           \
    (ACTIVE | BIT(DLQ_STATUS_RESOLVED) | BIT(DLQ_STATUS_DISCARDED) | BIT(DLQ_STATUS_EXPIRED))

struct rule {
    unsigned from;       /* statuses the action may start from */
    enum dlq_status to;  /* where it leads (REPLAY_FAILED is decided by the budget) */
    const char *refusal; /* the rule, said when the status is not in `from` */
};

static const struct rule rules[DLQ_ACTION_COUNT] = {
    [DLQ_ACTION_RETRY] = {BIT(DLQ_STATUS_PENDING_REVIEW), DLQ_STATUS_RETRIED,
                          "only a pending_review entry can be retried"},
    [DLQ_ACTION_FORCE_RETRY] =
        {BIT(DLQ_STATUS_PENDING_REVIEW) | BIT(DLQ_STATUS_REQUIRES_REVIEW), DLQ_STATUS_RETRIED,
         "only a pending_review or requires_review entry can be force-redriven"},
    [DLQ_ACTION_REPLAY_SUCCEEDED] = {BIT(DLQ_STATUS_RETRIED), DLQ_STATUS_RESOLVED,
                                     "only a retried entry has a replay outcome"},
    [DLQ_ACTION_REPLAY_FAILED] = {BIT(DLQ_STATUS_RETRIED), DLQ_STATUS_PENDING_REVIEW,
                                  "only a retried entry has a replay outcome"},
    [DLQ_ACTION_RESOLVE] =
        {ACTIVE, DLQ_STATUS_RESOLVED,
         "only a pending_review, requires_review or retried entry can be resolved"},
    [DLQ_ACTION_DISCARD] = {ALL_BUT_ARCHIVED & ~BIT(DLQ_STATUS_DISCARDED), DLQ_STATUS_DISCARDED,
                            "an archived or already discarded entry cannot be discarded"},
    [DLQ_ACTION_EXPIRE] = {BIT(DLQ_STATUS_PENDING_REVIEW), DLQ_STATUS_EXPIRED,
                           "only a pending_review entry can expire"},
    [DLQ_ACTION_ARCHIVE] = {BIT(DLQ_STATUS_RESOLVED) | BIT(DLQ_STATUS_DISCARDED) |
                                BIT(DLQ_STATUS_EXPIRED),
                            DLQ_STATUS_ARCHIVED,
                            "only a resolved, discarded or expired entry can be archived"},
    [DLQ_ACTION_PURGE] = {BIT(DLQ_STATUS_ARCHIVED), DLQ_STATUS_NONE,
                          "only an archived entry can be purged"},
};

static const char *const action_names[DLQ_ACTION_COUNT] = {
#define DLQ_ACTION_NAME(name, str) [DLQ_ACTION_##name] = str,
    DLQ_ACTION_MAP(DLQ_ACTION_NAME)
#undef DLQ_ACTION_NAME
};

const char *dlq_action_name(enum dlq_action a)
{
    if ((unsigned)a >= DLQ_ACTION_COUNT)
        return NULL;
    return action_names[a];
}

int dlq_state_next(const struct dlq_state_input *in, enum dlq_action action, enum dlq_status *to,
                   const char **why)
{
    static const char *const unknown = "unknown action";
    *to = DLQ_STATUS_NONE;
    *why = NULL;
    if ((unsigned)action >= DLQ_ACTION_COUNT) {
        *why = unknown;
        return DLQ_E_CONFLICT;
    }
    const struct rule *r = &rules[action];
    if ((unsigned)in->status >= 32 || !(r->from & BIT(in->status))) {
        *why = r->refusal;
        return DLQ_E_CONFLICT;
    }
    /* The replay budget: a plain retry at the cap needs force (admin). */
    if (action == DLQ_ACTION_RETRY && in->retry_count >= in->max_replays) {
        *why = "the entry has used its replay budget (retry_count reached max_replays): "
               "force=true with a reason is needed";
        return DLQ_E_CONFLICT;
    }
    if (action == DLQ_ACTION_REPLAY_FAILED && in->retry_count >= in->max_replays) {
        *to = DLQ_STATUS_REQUIRES_REVIEW;
        return DLQ_OK;
    }
    *to = r->to;
    return DLQ_OK;
}
