/*
 * cluster.c: what a server does about other servers on the same store
 * (issue 7). The store's watch tells it of jobs made ready elsewhere, which
 * wakes the long polls waiting on that queue here, and ticks about once a
 * second, which runs the job timers (leases and retries of a server that
 * died are taken over) and lets the bulk runner adopt operations whose
 * runner died. On a store only one process can open, none of this fires.
 */
#include "bulk_int.h"
#include "queue_int.h"
#include "service_int.h"

static void on_remote(void *ctx, const char *queue)
{
    struct dlq_service *svc = ctx;
    if (queue) {
        dlq_service_job_wake(svc, queue);
        return;
    }
    dlq_jobs_nudge(svc, dlq_mono_ns());
    dlq_ops_adopt_soon(svc);
}

int dlq_service_cluster_start(struct dlq_service *svc, char *err, size_t errlen)
{
    return dlq_store_watch(svc->store, on_remote, svc, err, errlen);
}

void dlq_service_cluster_stop(struct dlq_service *svc)
{
    if (svc)
        dlq_store_watch(svc->store, NULL, NULL, NULL, 0);
}
