/*
 * c1_types.c: release helpers and the shared histogram of slice C1's store
 * types (store.h): stats breakdowns, failure groups, /metrics numbers, and
 * the fixed bucket bounds every dlq histogram uses.
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/store.h"

/* Bucket upper bounds in seconds, Prometheus-style: from half a
 * millisecond (a fast commit) to 10 s (a stuck disk). */
const double dlq_hist_bounds[DLQ_HIST_NB - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  10};

/* dlq_hist_observe adds one observation of seconds to h. */
void dlq_hist_observe(struct dlq_hist *h, double seconds)
{
    int b = 0;
    while (b < DLQ_HIST_NB - 1 && seconds > dlq_hist_bounds[b])
        b++;
    h->counts[b]++;
    h->count++;
    h->sum += seconds;
}

static void counts_clear(struct dlq_counts *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].key);
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* dlq_stats_clear frees the breakdowns of st and zeroes it. */
void dlq_stats_clear(struct dlq_stats *st)
{
    counts_clear(&st->by_task);
    counts_clear(&st->by_queue);
    counts_clear(&st->by_reason);
    counts_clear(&st->by_exc);
    memset(st, 0, sizeof *st);
}

/* dlq_groups_free frees n groups and the array; NULL is a no-op. */
void dlq_groups_free(struct dlq_group *g, size_t n)
{
    if (!g)
        return;
    for (size_t i = 0; i < n; i++) {
        free(g[i].fingerprint);
        free(g[i].task_name);
        free(g[i].exc_type);
        free(g[i].sample_message);
        free(g[i].sample_dlq_id);
    }
    free(g);
}

/* dlq_store_metrics_clear frees m's pending list and zeroes it. */
void dlq_store_metrics_clear(struct dlq_store_metrics *m)
{
    for (size_t i = 0; i < m->npending; i++) {
        free(m->pending[i].queue);
        free(m->pending[i].task);
    }
    free(m->pending);
    memset(m, 0, sizeof *m);
}
