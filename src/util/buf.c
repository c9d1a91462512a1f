/*
 * buf.c: the growable byte buffer every layer builds text in (JSON bodies,
 * SQL-free query strings, log lines), with a JSON string writer that escapes
 * and repairs UTF-8 so that anything a client sent can be echoed back as
 * valid JSON. A failed allocation sets `oom` once; later appends become
 * no-ops so a long chain of appends needs one check at the end.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/error.h"
#include "dlq/util.h"

int dlq_buf_reserve(struct dlq_buf *b, size_t extra)
{
    if (b->oom)
        return DLQ_E_NOMEM;
    /* +1 keeps room for the terminating NUL. */
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return DLQ_E_NOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return DLQ_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = 1;
        return DLQ_E_NOMEM;
    }
    p[b->len] = '\0'; /* a reserved, never-appended buffer still reads as "" */
    b->data = p;
    b->cap = cap;
    return DLQ_OK;
}

int dlq_buf_append(struct dlq_buf *b, const void *p, size_t n)
{
    if (dlq_buf_reserve(b, n) != DLQ_OK)
        return DLQ_E_NOMEM;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DLQ_OK;
}

int dlq_buf_puts(struct dlq_buf *b, const char *s)
{
    return dlq_buf_append(b, s, strlen(s));
}

int dlq_buf_putc(struct dlq_buf *b, char c)
{
    return dlq_buf_append(b, &c, 1);
}

int dlq_buf_printf(struct dlq_buf *b, const char *fmt, ...)
{
    if (dlq_buf_reserve(b, 64) != DLQ_OK)
        return DLQ_E_NOMEM;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return DLQ_E_INTERNAL;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (dlq_buf_reserve(b, (size_t)n) != DLQ_OK) {
            b->data[b->len] = '\0';
            return DLQ_E_NOMEM;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return DLQ_OK;
}

/* utf8_valid returns the length (1..4) of the well-formed UTF-8 sequence at
 * s (n bytes available), or 0 if it is ill-formed: overlong forms, UTF-16
 * surrogates and code points above U+10FFFF are rejected (RFC 3629). */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int dlq_buf_json_string(struct dlq_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (s == NULL)
        return dlq_buf_append(b, "null", 4);
    const unsigned char *p = (const unsigned char *)s;
    /* Most strings need no escaping: reserve once, then copy runs. */
    dlq_buf_reserve(b, len + 2);
    dlq_buf_putc(b, '"');
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
            i++;
        if (i > start)
            dlq_buf_append(b, p + start, i - start);
        if (i >= len)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_valid(p + i, len - i);
            if (n == 0) {
                dlq_buf_append(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                dlq_buf_append(b, p + i, n);
                i += n;
            }
            continue;
        }
        char esc[7];
        switch (c) {
        case '"':
            dlq_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            dlq_buf_append(b, "\\\\", 2);
            break;
        case '\b':
            dlq_buf_append(b, "\\b", 2);
            break;
        case '\f':
            dlq_buf_append(b, "\\f", 2);
            break;
        case '\n':
            dlq_buf_append(b, "\\n", 2);
            break;
        case '\r':
            dlq_buf_append(b, "\\r", 2);
            break;
        case '\t':
            dlq_buf_append(b, "\\t", 2);
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            dlq_buf_append(b, esc, 6);
            break;
        }
        i++;
    }
    return dlq_buf_putc(b, '"');
}

void dlq_buf_reset(struct dlq_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void dlq_buf_free(struct dlq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

/* dlq_buf_steal returns the text (caller frees with free()), "" for a buffer
 * never appended to, or NULL when an append failed (oom); b is left empty. */
char *dlq_buf_steal(struct dlq_buf *b)
{
    char *p = b->data;
    if (b->oom) {
        free(p);
        p = NULL;
    } else if (p == NULL) {
        p = calloc(1, 1);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
    return p;
}

char *dlq_strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

char *dlq_strndup(const char *s, size_t n)
{
    return s != NULL ? strndup(s, n) : NULL;
}
