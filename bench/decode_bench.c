/*
 * decode_bench.c: a decode-only microbenchmark of the ingest path: it reads
 * a batch body (default bench/decode_batch.json, 100 entries) and runs
 * dlq_entries_from_json_batch over it N times (default 1000), freeing the
 * entries each time, so callgrind or `perf stat -e instructions` can count
 * the instructions per entry of the decoder alone, without HTTP or SQLite.
 * Usage: dlq-decode-bench [file [iterations]].
 */
#include <stdio.h>
#include <stdlib.h>

#include "dlq/core.h"

/* read_file returns the malloc'd contents of path and its length in *len,
 * or NULL when it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap) {
            cap = cap * 2 + 65536;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bench/decode_batch.json";
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
    size_t len = 0, total = 0;
    char *text = read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "dlq-decode-bench: cannot read %s\n", path);
        return 1;
    }
    for (long i = 0; i < iters; i++) {
        struct dlq_entry *items;
        size_t n;
        struct dlq_errors errs = {0};
        if (dlq_entries_from_json_batch(text, len, DLQ_MAX_BATCH, &items, &n, &errs) != DLQ_OK) {
            fprintf(stderr, "dlq-decode-bench: rejected: %s: %s\n", errs.items[0].field,
                    errs.items[0].detail);
            free(text);
            return 1;
        }
        total += n;
        for (size_t j = 0; j < n; j++)
            dlq_entry_clear(&items[j]);
        free(items);
    }
    printf("%zu entries decoded from %zu bytes x %ld\n", total, len, iters);
    free(text);
    return 0;
}
