/*
 * jscan.h: a small validating pull scanner for RFC 8259 JSON, private to
 * core/. The ingest decoders walk a body with it and decode straight into
 * their structs instead of building a jansson tree first. It never reads
 * past the length it is given, nests at most JSCAN_MAX_DEPTH containers,
 * rejects everything jansson rejected with JSON_REJECT_DUPLICATES (bad
 * UTF-8, control characters, bad escapes, lone surrogates, \u0000, bad
 * numbers, integers outside long long, reals that overflow, duplicate keys,
 * trailing garbage) and keeps the first syntax error with its position.
 */
#ifndef DLQ_JSCAN_H
#define DLQ_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "dlq/util.h"

#define JSCAN_MAX_DEPTH 64

struct jscan_key;

struct jscan {
    const char *start, *p, *end;
    int depth;
    int dup_check;          /* 1: duplicate keys in any object are errors */
    struct jscan_key *keys; /* keys of the open objects, innermost last */
    size_t nkeys, cap;
    /* For an object at depth d with many keys: a hash index of them. */
    uint32_t *idx[JSCAN_MAX_DEPTH + 1];
    size_t idxcap[JSCAN_MAX_DEPTH + 1];
    struct dlq_buf tmp; /* decoded strings with escapes, number text */
    const char *err_at; /* NULL until the first syntax error */
    char err[64];
};

/* A decoded string: points into the input (no escapes) or into s->tmp,
 * valid until the next call that decodes. Never holds a NUL byte. */
struct jscan_str {
    const char *p;
    size_t len;
};

struct jscan_num {
    int is_int; /* 1: no fraction, no exponent; i holds the value */
    long long i;
    double d; /* is_int 0: the value */
    const char *p;
    size_t len; /* the number's text in the input */
};

/* An object or array being walked. */
struct jscan_iter {
    size_t base; /* objects: where their keys start in s->keys */
    int n;       /* members seen so far */
};

/* jscan_init prepares s to scan len bytes at p (borrowed). */
void jscan_init(struct jscan *s, const char *p, size_t len, int dup_check);
/* jscan_free releases what s allocated. */
void jscan_free(struct jscan *s);
/* jscan_fail records msg at position at as the error (the first one wins);
 * returns -1. */
int jscan_fail(struct jscan *s, const char *at, const char *msg);
/* jscan_where gives the 1-based line and byte column of the error. */
void jscan_where(const struct jscan *s, int *line, int *col);

/* jscan_peek skips whitespace and returns the next byte, or -1 at the end. */
int jscan_peek(struct jscan *s);
/* jscan_string decodes the string at the cursor (after jscan_peek gave
 * '"'). Returns 0 or -1 on a syntax error. */
int jscan_string(struct jscan *s, struct jscan_str *out);
/* jscan_number reads the number at the cursor. Returns 0 or -1. */
int jscan_number(struct jscan *s, struct jscan_num *out);
/* jscan_value validates the value at the cursor and, when out is not NULL,
 * appends it as compact JSON as dlq_json_encode would write jansson's tree
 * of it. Returns 0, or -1 on a syntax error (also for out of memory). */
int jscan_value(struct jscan *s, struct dlq_buf *out);

/* jscan_obj_begin consumes '{' at the cursor; 0 or -1 (too deep). */
int jscan_obj_begin(struct jscan *s, struct jscan_iter *it);
/* jscan_obj_next reads the next key and its ':' into key: 1, or 0 after the
 * closing '}', or -1 on a syntax error (a duplicate key too). */
int jscan_obj_next(struct jscan *s, struct jscan_iter *it, struct jscan_str *key);
/* jscan_arr_begin consumes '[' at the cursor; 0 or -1 (too deep). */
int jscan_arr_begin(struct jscan *s, struct jscan_iter *it);
/* jscan_arr_next: 1 when an element follows (cursor on it), 0 after the
 * closing ']', -1 on a syntax error. */
int jscan_arr_next(struct jscan *s, struct jscan_iter *it);
/* jscan_finish checks that only whitespace is left; 0 or -1. */
int jscan_finish(struct jscan *s);

/* jscan_text_check returns 1 when the len bytes at p are one JSON text of
 * any type (duplicate keys allowed, as jansson's default), with *first set
 * to its first byte; 0 otherwise. */
int jscan_text_check(const char *p, size_t len, int *first);

#endif
