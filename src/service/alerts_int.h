/*
 * alerts_int.h: what slice C1's service files share: the notification
 * sender (notify.c), a queue drained by its own thread that POSTs JSON with
 * libcurl and retries with exponential backoff, and the alert evaluator's
 * answers that stats.c needs (alerts.c).
 */
#ifndef DLQ_ALERTS_INT_H
#define DLQ_ALERTS_INT_H

#include <stddef.h>

#include "dlq/service.h"

struct dlq_sender;

/* dlq_sender_start starts the sender thread; NULL when out of resources. */
struct dlq_sender *dlq_sender_start(void);
/* dlq_sender_stop waits for a send in progress, drops the rest of the
 * queue, stops the thread and frees the sender. NULL is a no-op. */
void dlq_sender_stop(struct dlq_sender *sd);
/* dlq_sender_post queues body (copied) for url (copied); 1 queued, 0 not
 * (queue full or out of memory). Never blocks on the network. */
int dlq_sender_post(struct dlq_sender *sd, const char *url, const char *body);

/* dlq_alerts_firing returns 1 and the first firing rule's text in reason
 * when any rule fires, else 0. */
int dlq_alerts_firing(struct dlq_service *svc, char *reason, size_t len);
/* dlq_alerts_pending_minutes returns the pending-age threshold. */
double dlq_alerts_pending_minutes(struct dlq_service *svc);

#endif
