/*
 * jscan.c: the validating pull scanner of jscan.h. Strings are scanned
 * eight bytes at a time for the bytes that need a closer look ('"', '\\',
 * controls, non-ASCII); only non-ASCII bytes go through the UTF-8 checks,
 * and only strings with escapes are copied while scanning. Duplicate keys
 * are found on a stack of the open objects' keys: a walk over the hashes of
 * a small object's keys, a hash index for a big one, so even a body with
 * many keys costs linear time. Containers recurse at most JSCAN_MAX_DEPTH
 * levels.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "jscan.h"

struct jscan_key {
    uint32_t hash;
    uint32_t owned; /* p is a malloc'd decoded copy */
    size_t len;
    const char *p;
};

/* Objects with fewer keys than this are checked for duplicates by a linear
 * walk over their keys' hashes; larger ones get a hash index. */
#define LINEAR_KEYS 24

void jscan_init(struct jscan *s, const char *p, size_t len, int dup_check)
{
    memset(s, 0, sizeof *s);
    if (p == NULL) /* an empty body may come without a buffer */
        p = "";
    s->start = s->p = p;
    s->end = p + len;
    s->dup_check = dup_check;
}

/* pop_keys drops the keys above base and the index of depth d. */
static void pop_keys(struct jscan *s, size_t base, int d)
{
    while (s->nkeys > base) {
        s->nkeys--;
        if (s->keys[s->nkeys].owned)
            free((char *)s->keys[s->nkeys].p);
    }
    if (s->idx[d] != NULL) {
        free(s->idx[d]);
        s->idx[d] = NULL;
        s->idxcap[d] = 0;
    }
}

void jscan_free(struct jscan *s)
{
    for (int d = 0; d <= JSCAN_MAX_DEPTH; d++)
        pop_keys(s, 0, d);
    free(s->keys);
    s->keys = NULL;
    s->cap = s->nkeys = 0;
    dlq_buf_free(&s->tmp);
}

int jscan_fail(struct jscan *s, const char *at, const char *msg)
{
    if (s->err_at == NULL) {
        s->err_at = at;
        snprintf(s->err, sizeof s->err, "%s", msg);
    }
    return -1;
}

void jscan_where(const struct jscan *s, int *line, int *col)
{
    const char *at = s->err_at != NULL ? s->err_at : s->p;
    const char *bol = s->start;
    *line = 1;
    for (const char *q = s->start; q < at; q++)
        if (*q == '\n') {
            (*line)++;
            bol = q + 1;
        }
    *col = (int)(at - bol) + 1;
}

int jscan_peek(struct jscan *s)
{
    const char *p = s->p, *end = s->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    s->p = p;
    return p < end ? (unsigned char)*p : -1;
}

/* utf8_len returns the length of the valid UTF-8 sequence starting with a
 * byte >= 0x80 at p, or 0 (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        n = 2;
    else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* skip_plain returns the first byte at or after p that is '"', '\\', a
 * control or non-ASCII, or end. */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t q = x ^ (ones * 0x22), b = x ^ (ones * 0x5C);
        /* Exact for the lowest flagged byte: borrows only run upwards. */
        uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x;
        t &= highs;
        if (t != 0)
            return p + (__builtin_ctzll(t) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* hex4 reads four hex digits at p (end checked); -1 if not there. */
static long hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* put_utf8 writes code point cp into s->tmp, which has room for 4 bytes. */
static void put_utf8(struct dlq_buf *b, unsigned long cp)
{
    unsigned char *u = (unsigned char *)b->data + b->len;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        b->len += 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        b->len += 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        b->len += 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        b->len += 4;
    }
}

/* escape_u decodes the \\uXXXX escape (a surrogate pair counts as one) at
 * p into s->tmp; returns the byte after it or NULL on error. */
static const unsigned char *escape_u(struct jscan *s, const unsigned char *p,
                                     const unsigned char *end)
{
    long cp = hex4(p + 2, end);
    if (cp < 0)
        return jscan_fail(s, (const char *)p, "invalid escape"), NULL;
    p += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jscan_fail(s, (const char *)p - 6, "invalid Unicode surrogate"), NULL;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = end - p >= 2 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jscan_fail(s, (const char *)p - 6, "invalid Unicode surrogate"), NULL;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    if (cp == 0)
        return jscan_fail(s, (const char *)p - 6, "\\u0000 is not allowed"), NULL;
    put_utf8(&s->tmp, (unsigned long)cp);
    return p;
}

/* escape decodes the escape after the '\\' at p into s->tmp, which has
 * room for 4 more bytes; returns the byte after it or NULL on error. */
static const unsigned char *escape(struct jscan *s, const unsigned char *p,
                                   const unsigned char *end)
{
    char *o = s->tmp.data + s->tmp.len;
    if (p + 1 >= end)
        return jscan_fail(s, (const char *)p, "premature end of input"), NULL;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
        *o = (char)p[1];
        break;
    case 'b':
        *o = '\b';
        break;
    case 'f':
        *o = '\f';
        break;
    case 'n':
        *o = '\n';
        break;
    case 'r':
        *o = '\r';
        break;
    case 't':
        *o = '\t';
        break;
    case 'u':
        return escape_u(s, p, end);
    default:
        return jscan_fail(s, (const char *)p, "invalid escape"), NULL;
    }
    s->tmp.len++;
    return p + 2;
}

int jscan_string(struct jscan *s, struct jscan_str *out)
{
    const unsigned char *start = (const unsigned char *)s->p + 1;
    const unsigned char *end = (const unsigned char *)s->end;
    const unsigned char *p = start, *run = start;
    int escaped = 0;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end)
            return jscan_fail(s, (const char *)p, "premature end of input");
        unsigned c = *p;
        if (c == '"')
            break;
        if (c >= 0x80) {
            size_t n = utf8_len(p, end);
            if (n == 0)
                return jscan_fail(s, (const char *)p, "invalid UTF-8 in string");
            p += n;
            continue;
        }
        if (c < 0x20)
            return jscan_fail(s, (const char *)p, "control character in string");
        /* a backslash */
        if (!escaped) {
            escaped = 1;
            dlq_buf_reset(&s->tmp);
        }
        /* Room for the run and the longest decoded escape (4 bytes). */
        if (dlq_buf_reserve(&s->tmp, (size_t)(p - run) + 4) != 0)
            return jscan_fail(s, (const char *)p, "out of memory");
        memcpy(s->tmp.data + s->tmp.len, run, (size_t)(p - run));
        s->tmp.len += (size_t)(p - run);
        p = escape(s, p, end);
        if (p == NULL)
            return -1;
        run = p;
    }
    if (escaped) {
        dlq_buf_append(&s->tmp, run, (size_t)(p - run)); /* NUL-terminates */
        if (s->tmp.oom)
            return jscan_fail(s, (const char *)p, "out of memory");
        out->p = s->tmp.data;
        out->len = s->tmp.len;
    } else {
        out->p = (const char *)start;
        out->len = (size_t)(p - start);
    }
    s->p = (const char *)p + 1;
    return 0;
}

static int is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

int jscan_number(struct jscan *s, struct jscan_num *out)
{
    const char *p = s->p, *end = s->end, *q = p;
    int neg = 0;
    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    if (!is_digit(q, end))
        return jscan_fail(s, p, "invalid number");
    const char *digits = q;
    if (*q == '0') {
        q++;
        if (is_digit(q, end))
            return jscan_fail(s, p, "invalid number: leading zero");
    } else
        while (is_digit(q, end))
            q++;
    size_t ndig = (size_t)(q - digits);
    out->is_int = 1;
    if (q < end && *q == '.') {
        q++;
        if (!is_digit(q, end))
            return jscan_fail(s, p, "invalid number");
        while (is_digit(q, end))
            q++;
        out->is_int = 0;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(q, end))
            return jscan_fail(s, p, "invalid number");
        while (is_digit(q, end))
            q++;
        out->is_int = 0;
    }
    out->p = p;
    out->len = (size_t)(q - p);
    if (out->is_int) {
        unsigned long long v = 0, lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
        if (ndig > 19)
            return jscan_fail(s, p, "too big integer");
        for (const char *d = digits; d < q; d++)
            v = v * 10 + (unsigned)(*d - '0');
        if (v > lim) /* 19 digits cannot wrap an unsigned long long */
            return jscan_fail(s, p, "too big integer");
        out->i = neg ? (long long)(0 - v) : (long long)v;
    } else {
        dlq_buf_reset(&s->tmp);
        dlq_buf_append(&s->tmp, p, out->len);
        if (s->tmp.oom)
            return jscan_fail(s, p, "out of memory");
        out->d = strtod(s->tmp.data, NULL);
        if (isinf(out->d))
            return jscan_fail(s, p, "real number overflow");
    }
    s->p = q;
    return 0;
}

/* hash_key hashes a key eight bytes at a time (keys are short). */
static uint32_t hash_key(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, x;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&x, p, 8);
        h = (h ^ x) * 0xFF51AFD7ED558CCDULL;
    }
    x = 0;
    memcpy(&x, p, n);
    h = (h ^ x) * 0xC4CEB9FE1A85EC53ULL;
    return (uint32_t)(h ^ (h >> 32));
}

static int same_key(const struct jscan_key *k, uint32_t h, const struct jscan_str *key)
{
    return k->hash == h && k->len == key->len && memcmp(k->p, key->p, key->len) == 0;
}

/* index_probe returns the slot of key in the index of depth d: a free one
 * (0) or one naming an equal key. */
static uint32_t *index_probe(struct jscan *s, int d, uint32_t h, const struct jscan_str *key)
{
    size_t mask = s->idxcap[d] - 1, i = h & mask;
    while (s->idx[d][i] != 0 && !same_key(&s->keys[s->idx[d][i] - 1], h, key))
        i = (i + 1) & mask;
    return &s->idx[d][i];
}

/* index_grow rebuilds the index of the object at depth d (keys from base)
 * with room for twice its keys. 0 or -1 when out of memory. */
static int index_grow(struct jscan *s, int d, size_t base)
{
    size_t n = s->nkeys - base, cap = 64;
    while (cap < 4 * (n + 1))
        cap *= 2;
    uint32_t *t = calloc(cap, sizeof *t);
    if (t == NULL || s->nkeys >= UINT32_MAX)
        return free(t), -1;
    free(s->idx[d]);
    s->idx[d] = t;
    s->idxcap[d] = cap;
    for (size_t i = base; i < s->nkeys; i++) {
        struct jscan_str k = {s->keys[i].p, s->keys[i].len};
        *index_probe(s, d, s->keys[i].hash, &k) = (uint32_t)(i + 1);
    }
    return 0;
}

/* add_key adds key to the keys of the innermost object (which start at
 * base); -1 on a duplicate or when out of memory. */
static int add_key(struct jscan *s, size_t base, const struct jscan_str *key, const char *at)
{
    uint32_t h = hash_key(key->p, key->len);
    size_t n = s->nkeys - base;
    int d = s->depth;
    if (n < LINEAR_KEYS) {
        for (size_t i = base; i < s->nkeys; i++)
            if (same_key(&s->keys[i], h, key))
                return jscan_fail(s, at, "duplicate object key");
    } else {
        if (s->idx[d] == NULL || 2 * (n + 1) > s->idxcap[d])
            if (index_grow(s, d, base) != 0)
                return jscan_fail(s, at, "out of memory");
        if (*index_probe(s, d, h, key) != 0)
            return jscan_fail(s, at, "duplicate object key");
    }
    if (s->nkeys == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 32;
        struct jscan_key *nk = realloc(s->keys, ncap * sizeof *nk);
        if (nk == NULL)
            return jscan_fail(s, at, "out of memory");
        s->keys = nk;
        s->cap = ncap;
    }
    const char *p = key->p;
    int owned = 0;
    if (p == s->tmp.data) { /* decoded: keep a copy that outlives tmp */
        char *copy = malloc(key->len + 1);
        if (copy == NULL)
            return jscan_fail(s, at, "out of memory");
        memcpy(copy, p, key->len);
        p = copy;
        owned = 1;
    }
    s->keys[s->nkeys] = (struct jscan_key){h, (uint32_t)owned, key->len, p};
    if (s->idx[d] != NULL)
        *index_probe(s, d, h, key) = (uint32_t)(s->nkeys + 1);
    s->nkeys++;
    return 0;
}

int jscan_obj_begin(struct jscan *s, struct jscan_iter *it)
{
    if (++s->depth > JSCAN_MAX_DEPTH)
        return jscan_fail(s, s->p, "nested too deeply");
    s->p++;
    it->base = s->nkeys;
    it->n = 0;
    return 0;
}

int jscan_obj_next(struct jscan *s, struct jscan_iter *it, struct jscan_str *key)
{
    int c = jscan_peek(s);
    if (it->n > 0) {
        if (c == '}')
            goto close;
        if (c != ',')
            return jscan_fail(s, s->p, "',' or '}' expected");
        s->p++;
        c = jscan_peek(s);
    } else if (c == '}')
        goto close;
    if (c != '"')
        return jscan_fail(s, s->p, "string or '}' expected");
    const char *at = s->p;
    if (jscan_string(s, key) != 0)
        return -1;
    if (s->dup_check && add_key(s, it->base, key, at) != 0)
        return -1;
    if (jscan_peek(s) != ':')
        return jscan_fail(s, s->p, "':' expected");
    s->p++;
    it->n++;
    return 1;
close:
    s->p++;
    if (s->dup_check)
        pop_keys(s, it->base, s->depth);
    s->depth--;
    return 0;
}

int jscan_arr_begin(struct jscan *s, struct jscan_iter *it)
{
    if (++s->depth > JSCAN_MAX_DEPTH)
        return jscan_fail(s, s->p, "nested too deeply");
    s->p++;
    it->base = 0;
    it->n = 0;
    return 0;
}

int jscan_arr_next(struct jscan *s, struct jscan_iter *it)
{
    int c = jscan_peek(s);
    if (c == ']') {
        s->p++;
        s->depth--;
        return 0;
    }
    if (it->n > 0) {
        if (c != ',')
            return jscan_fail(s, s->p, "',' or ']' expected");
        s->p++;
        if (jscan_peek(s) == ']')
            return jscan_fail(s, s->p, "value expected");
    }
    it->n++;
    return 1;
}

int jscan_finish(struct jscan *s)
{
    if (jscan_peek(s) != -1)
        return jscan_fail(s, s->p, "end of file expected");
    return 0;
}

static int literal(struct jscan *s, const char *word, size_t n, struct dlq_buf *out)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return jscan_fail(s, s->p, "invalid token");
    s->p += n;
    if (out != NULL)
        dlq_buf_append(out, word, n);
    return 0;
}

int jscan_value(struct jscan *s, struct dlq_buf *out)
{
    struct jscan_iter it;
    struct jscan_str str;
    int c = jscan_peek(s), r;
    switch (c) {
    case '{':
        if (jscan_obj_begin(s, &it) != 0)
            return -1;
        if (out != NULL)
            dlq_buf_putc(out, '{');
        while ((r = jscan_obj_next(s, &it, &str)) == 1) {
            if (out != NULL) {
                if (it.n > 1)
                    dlq_buf_putc(out, ',');
                dlq_buf_json_string(out, str.p, str.len);
                dlq_buf_putc(out, ':');
            }
            if (jscan_value(s, out) != 0)
                return -1;
        }
        if (r < 0)
            return -1;
        if (out != NULL)
            dlq_buf_putc(out, '}');
        break;
    case '[':
        if (jscan_arr_begin(s, &it) != 0)
            return -1;
        if (out != NULL)
            dlq_buf_putc(out, '[');
        while ((r = jscan_arr_next(s, &it)) == 1) {
            if (out != NULL && it.n > 1)
                dlq_buf_putc(out, ',');
            if (jscan_value(s, out) != 0)
                return -1;
        }
        if (r < 0)
            return -1;
        if (out != NULL)
            dlq_buf_putc(out, ']');
        break;
    case '"': {
        const char *raw = s->p;
        if (jscan_string(s, &str) != 0)
            return -1;
        if (out == NULL)
            break;
        if (str.p == raw + 1) /* no escapes: the text is already compact */
            dlq_buf_append(out, raw, str.len + 2);
        else
            dlq_buf_json_string(out, str.p, str.len);
        break;
    }
    case 't':
        return literal(s, "true", 4, out);
    case 'f':
        return literal(s, "false", 5, out);
    case 'n':
        return literal(s, "null", 4, out);
    case -1:
        return jscan_fail(s, s->p, "unexpected end of input");
    default: {
        struct jscan_num num;
        if (c != '-' && (c < '0' || c > '9'))
            return jscan_fail(s, s->p, "invalid token");
        if (jscan_number(s, &num) != 0)
            return -1;
        if (out == NULL)
            break;
        if (!num.is_int)
            dlq_json_encode_real(num.d, out);
        else if (num.i == 0)
            dlq_buf_putc(out, '0'); /* "-0" is the integer 0 */
        else
            dlq_buf_append(out, num.p, num.len);
        break;
    }
    }
    if (out != NULL && out->oom)
        return jscan_fail(s, s->p, "out of memory");
    return 0;
}

int jscan_text_check(const char *p, size_t len, int *first)
{
    struct jscan s;
    jscan_init(&s, p, len, 0);
    *first = jscan_peek(&s);
    int ok = jscan_value(&s, NULL) == 0 && jscan_finish(&s) == 0;
    jscan_free(&s);
    return ok;
}
