/*
 * store_json.h: the JSON texts both backends store alike: the details of a
 * history event, of the derived "captured" event, and one job attempt. The
 * backends differ in how they store them, never in what they say, so
 * these are written once (store_json.c).
 */
#ifndef DLQ_STORE_JSON_H
#define DLQ_STORE_JSON_H

#include <stdint.h>

#include "dlq/store.h"

/* dlq_store_event_details returns the details of the history event of
 * action a on the entry as it now is (after), malloc'd, or NULL for none
 * (*oom set when out of memory). */
char *dlq_store_event_details(const struct dlq_entry *after, const struct dlq_act *a, int *oom);
/* dlq_store_captured_details returns {"reason": ..., "queue": ...} for e's
 * "captured" event (malloc'd), or NULL when it has neither (*oom on
 * failure). */
char *dlq_store_captured_details(const struct dlq_entry *e, int *oom);
/* dlq_store_job_attempt returns the JSON object of j's attempt ending at now
 * with outcome (malloc'd; NULL when out of memory); error_json is raw JSON
 * or NULL. */
char *dlq_store_job_attempt(const struct dlq_job *j, int64_t now, const char *outcome,
                            const char *error_json);

/* dlq_store_edit_apply applies an edit-and-replay ed to e (the fields
 * given and different change) and sets *details to the "edited" event's
 * JSON, {"changes":{field:{"before","after"}}} (malloc'd), or NULL when
 * nothing changed. DLQ_OK or DLQ_E_NOMEM (e may be partly changed then:
 * the caller's transaction rolls back). */
int dlq_store_edit_apply(struct dlq_entry *e, const struct dlq_edit *ed, char **details);
/* dlq_store_error_json returns e's exception as {"type","message",
 * "traceback"} (malloc'd; NULL when out of memory). */
char *dlq_store_error_json(const struct dlq_entry *e);

#endif
