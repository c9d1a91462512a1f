/*
 * metrics.c: the HTTP families of /metrics (slice C1): requests by route
 * pattern and status code, and a request-duration histogram by route. The
 * server counts every answered request from its completion callback, on
 * many threads at once, so the counters are lock-free atomics in a fixed
 * table: a route claims a slot the first time it is seen (by the address
 * of its pattern, which lives in the static route table), and a code is an
 * index into the slot's array. Labels are route patterns, never raw paths,
 * so the number of series stays bounded whatever clients send.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "http_int.h"

#define SLOTS     64
#define CODE_MIN  100
#define CODE_SPAN 500 /* 100..599 */

struct slot {
    _Atomic(const char *) route;
    atomic_uint codes[CODE_SPAN];
    _Atomic uint64_t hist[DLQ_HIST_NB];
    _Atomic uint64_t sum_ns;
};

static struct slot slots[SLOTS];
static const char unmatched[] = "unmatched";

/* slot_of finds or claims route's slot; NULL when the table is full. */
static struct slot *slot_of(const char *route)
{
    uintptr_t h = (uintptr_t)route;
    h ^= h >> 7;
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot *s = &slots[(h + i) % SLOTS];
        const char *cur = atomic_load_explicit(&s->route, memory_order_acquire);
        if (cur == route)
            return s;
        if (cur == NULL) {
            const char *expect = NULL;
            if (atomic_compare_exchange_strong(&s->route, &expect, route))
                return s;
            if (expect == route)
                return s;
        }
    }
    return NULL;
}

void dlq_http_metrics_observe(const char *route, unsigned status, double seconds)
{
    if (status < CODE_MIN || status >= CODE_MIN + CODE_SPAN)
        return; /* never answered (connection lost) */
    struct slot *s = slot_of(route ? route : unmatched);
    if (!s)
        return;
    atomic_fetch_add_explicit(&s->codes[status - CODE_MIN], 1, memory_order_relaxed);
    int b = 0;
    while (b < DLQ_HIST_NB - 1 && seconds > dlq_hist_bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->hist[b], 1, memory_order_relaxed);
    if (seconds > 0)
        atomic_fetch_add_explicit(&s->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

void dlq_http_metrics_text(struct dlq_buf *b)
{
    dlq_buf_puts(b, "# HELP dlq_http_requests_total HTTP requests answered, by route and code.\n"
                    "# TYPE dlq_http_requests_total counter\n");
    for (size_t i = 0; i < SLOTS; i++) {
        const char *route = atomic_load_explicit(&slots[i].route, memory_order_acquire);
        if (!route)
            continue;
        for (unsigned c = 0; c < CODE_SPAN; c++) {
            unsigned n = atomic_load_explicit(&slots[i].codes[c], memory_order_relaxed);
            if (n)
                dlq_buf_printf(b, "dlq_http_requests_total{route=\"%s\",code=\"%u\"} %u\n", route,
                               c + CODE_MIN, n);
        }
    }
    dlq_buf_puts(b, "# HELP dlq_http_request_duration_seconds Time to answer a request.\n"
                    "# TYPE dlq_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < SLOTS; i++) {
        const char *route = atomic_load_explicit(&slots[i].route, memory_order_acquire);
        if (!route)
            continue;
        uint64_t cum = 0;
        for (int k = 0; k < DLQ_HIST_NB; k++) {
            cum += atomic_load_explicit(&slots[i].hist[k], memory_order_relaxed);
            if (k < DLQ_HIST_NB - 1)
                dlq_buf_printf(b,
                               "dlq_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
                               " %llu\n",
                               route, dlq_hist_bounds[k], (unsigned long long)cum);
            else
                dlq_buf_printf(b,
                               "dlq_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"}"
                               " %llu\n",
                               route, (unsigned long long)cum);
        }
        double sum = (double)atomic_load_explicit(&slots[i].sum_ns, memory_order_relaxed) / 1e9;
        dlq_buf_printf(b, "dlq_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", route, sum);
        dlq_buf_printf(b, "dlq_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route,
                       (unsigned long long)cum);
    }
}
