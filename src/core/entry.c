/*
 * entry.c: ownership helpers for the shared domain types of types.h: freeing
 * an entry's strings, an array of history events and a page of entries.
 * Every layer that fills these structs relies on them, so they live in core
 * beside the codec.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"

void dlq_entry_clear(struct dlq_entry *e)
{
    if (e == NULL)
        return;
    free(e->dlq_id);
    free(e->original_task_id);
    free(e->task_name);
    free(e->task_args);
    free(e->task_kwargs);
    free(e->exc_type);
    free(e->exc_message);
    free(e->exc_traceback);
    free(e->tenant_id);
    free(e->retry_task_id);
    free(e->resolution_notes);
    free(e->queue);
    free(e->error_code);
    free(e->fingerprint);
    free(e->resolution_type);
    free(e->resolved_by);
    free(e->metadata);
    free(e->context);
    free(e->idempotency_key);
    free(e->replay_of);
    memset(e, 0, sizeof *e);
}

void dlq_events_free(struct dlq_event *ev, size_t n)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(ev[i].event);
        free(ev[i].actor);
        free(ev[i].details);
    }
    free(ev);
}

/* dlq_page_free releases the entries of p and leaves it empty; the page
 * struct itself is the caller's. */
void dlq_page_free(struct dlq_page *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        dlq_entry_clear(&p->items[i]);
    free(p->items);
    p->items = NULL;
    p->n = 0;
    p->total = 0;
    p->next_cursor[0] = '\0';
}

void dlq_audit_clear(struct dlq_audit *a)
{
    if (a == NULL)
        return;
    free(a->actor);
    free(a->tenant_id);
    free(a->action);
    free(a->target_ids);
    free(a->filter);
    free(a->reason);
    free(a->ticket_url);
    free(a->details);
    memset(a, 0, sizeof(*a));
}
