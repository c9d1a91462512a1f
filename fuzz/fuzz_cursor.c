/*
 * fuzz_cursor.c: the opaque list cursor. Two directions: the input as a
 * client-sent cursor (decode; when accepted, encoding what was decoded must
 * give back a cursor that decodes to the same position), and the input as a
 * position (sort, time, id) that is encoded and must decode to itself.
 */
#include <inttypes.h>

#include "dlq/core.h"
#include "fuzz_util.h"

static void roundtrip(enum dlq_sort sort, int64_t at, const char *id)
{
    char enc[128];
    dlq_cursor_encode(sort, at, id, enc, sizeof enc);
    if (enc[0] == '\0')
        return; /* refused: a bad id or time */
    struct dlq_filter g;
    dlq_filter_init(&g);
    g.sort = sort;
    FUZZ_CHECK(dlq_cursor_decode(enc, &g) == DLQ_OK);
    FUZZ_CHECK(g.has_cursor && g.cursor_failed_at == at && strcmp(g.cursor_id, id) == 0);
    /* A cursor is bound to its sort order. */
    g.sort = sort == DLQ_SORT_FAILED_ASC ? DLQ_SORT_FAILED_DESC : DLQ_SORT_FAILED_ASC;
    g.has_cursor = 0;
    FUZZ_CHECK(dlq_cursor_decode(enc, &g) != DLQ_OK && !g.has_cursor);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum dlq_sort sort = (data[0] & 1) ? DLQ_SORT_FAILED_ASC : DLQ_SORT_FAILED_DESC;
    char *s = fuzz_cstr(data + 1, size - 1);

    struct dlq_filter f;
    dlq_filter_init(&f);
    f.sort = sort;
    if (dlq_cursor_decode(s, &f) == DLQ_OK) {
        FUZZ_CHECK(f.has_cursor && f.cursor_failed_at >= 0);
        roundtrip(sort, f.cursor_failed_at, f.cursor_id);
    } else {
        FUZZ_CHECK(!f.has_cursor);
    }

    /* As a position: 8 bytes of time, then the id. */
    if (size >= 9) {
        uint64_t t = 0;
        memcpy(&t, data + 1, 8);
        int64_t at = (int64_t)(t >> 1);
        char *id = fuzz_cstr(data + 9, size - 9 > 80 ? 80 : size - 9);
        roundtrip(sort, at, id);
        free(id);
    }
    free(s);
    return 0;
}
