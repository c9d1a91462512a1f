/*
 * core_int.h: helpers shared by the files of core/ and by nothing else:
 * base64url, and the jansson glue of the JSON codecs (loading with a field
 * error, a compact encoder into a dlq_buf, and the prefixed error writer the
 * decoders report through). jansson types stay behind this header.
 */
#ifndef DLQ_CORE_INT_H
#define DLQ_CORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dlq/core.h"

/* dlq_b64url_encode writes base64url without padding of n bytes into out
 * (NUL-terminated); returns the length, or 0 and "" if outlen is too small. */
size_t dlq_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outlen);
/* dlq_b64url_decode decodes canonical unpadded base64url s into out; returns
 * the byte count or -1 on a bad character, bad length, non-zero trailing bits
 * or an out buffer that is too small. */
long dlq_b64url_decode(const char *s, uint8_t *out, size_t outlen);

/* dlq_json_load parses a request body (object or array at the top, duplicate
 * keys rejected). Returns a new reference (caller json_decref()s) or NULL
 * with one error on field "body" carrying jansson's message and position. */
json_t *dlq_json_load(const char *text, size_t len, struct dlq_errors *errs);

/* dlq_json_encode appends v as compact JSON (reals in their shortest
 * round-tripping form). Errors show up as out->oom. */
void dlq_json_encode(const json_t *v, struct dlq_buf *out);

/* dlq_json_encode_real appends d in its shortest round-tripping form, with
 * ".0" added when that would read back as an integer. */
void dlq_json_encode_real(double d, struct dlq_buf *out);

/* dlq_json_encode_str returns v as a malloc'd compact JSON string (caller
 * frees), or NULL when out of memory. */
char *dlq_json_encode_str(const json_t *v);

/* A decoder's error sink: every problem gets prefix + field as its path. */
struct dlq_errsink {
    struct dlq_errors *errs;
    const char *prefix; /* "" or "entries[3]." */
    int bad;            /* problems found so far, kept or dropped */
};
void dlq_errsink_add(struct dlq_errsink *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
