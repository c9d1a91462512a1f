/*
 * id.c: time-ordered identifiers, "<prefix>_<ULID>". The ULID is 48 bits of
 * milliseconds then 80 random bits in Crockford base32 (26 characters), so
 * ids sort lexicographically by creation time, which keeps inserts at the
 * right edge of an index and makes ids usable as a tie-breaking sort key.
 */
#include <assert.h>
#include <string.h>

#include "dlq/core.h"

void dlq_id_make(const char *prefix, int64_t ms, const uint8_t rnd[10], char *out, size_t outlen)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t raw[16];
    size_t plen = strlen(prefix);
    assert(outlen >= plen + 1 + 26 + 1);
    if (outlen < plen + 1 + 26 + 1) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    uint64_t t = (uint64_t)ms & 0xFFFFFFFFFFFFull;
    for (int i = 0; i < 6; i++)
        raw[i] = (uint8_t)(t >> (8 * (5 - i)));
    memcpy(raw + 6, rnd, 10);

    memcpy(out, prefix, plen);
    out[plen] = '_';
    char *u = out + plen + 1;
    /* 128 bits as 26 groups of 5 bits, most significant first; the first
     * character carries only the top 3 bits (2 leading zero bits). */
    for (int k = 0; k < 26; k++) {
        int bit = k * 5 - 2; /* index of the group's first bit; -2 for k = 0 */
        unsigned v = 0;
        for (int j = 0; j < 5; j++) {
            int b = bit + j;
            v <<= 1;
            if (b >= 0)
                v |= (raw[b / 8] >> (7 - b % 8)) & 1u;
        }
        u[k] = alphabet[v];
    }
    u[26] = '\0';
}
