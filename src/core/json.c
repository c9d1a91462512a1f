/*
 * json.c: the jansson glue of core's decoders: loading a body into a tree
 * with a field error that says where parsing stopped, a compact encoder
 * that writes a tree into a dlq_buf (with reals in their shortest
 * round-tripping form, which json_dumps does not give: it prints 0.1 as
 * 0.10000000000000001), and the prefixed error sink.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

json_t *dlq_json_load(const char *text, size_t len, struct dlq_errors *errs)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        dlq_errors_add(errs, "body", "malformed JSON: %s (line %d, column %d)", jerr.text,
                       jerr.line, jerr.column);
    return root;
}

void dlq_json_encode_real(double d, struct dlq_buf *out)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    dlq_buf_puts(out, tmp);
    /* Keep it a real for the reader: 1.0 must not come back as 1. */
    if (strpbrk(tmp, ".eE") == NULL)
        dlq_buf_puts(out, ".0");
}

void dlq_json_encode(const json_t *v, struct dlq_buf *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        dlq_buf_putc(out, '{');
        /* json_object_foreach needs a non-const object; it does not modify it. */
        json_object_foreach((json_t *)v, key, val)
        {
            if (!first)
                dlq_buf_putc(out, ',');
            first = 0;
            dlq_buf_json_string(out, key, strlen(key));
            dlq_buf_putc(out, ':');
            dlq_json_encode(val, out);
        }
        dlq_buf_putc(out, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        dlq_buf_putc(out, '[');
        json_array_foreach((json_t *)v, i, val)
        {
            if (i > 0)
                dlq_buf_putc(out, ',');
            dlq_json_encode(val, out);
        }
        dlq_buf_putc(out, ']');
        break;
    }
    case JSON_STRING:
        dlq_buf_json_string(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        dlq_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        dlq_json_encode_real(json_real_value(v), out);
        break;
    case JSON_TRUE:
        dlq_buf_puts(out, "true");
        break;
    case JSON_FALSE:
        dlq_buf_puts(out, "false");
        break;
    case JSON_NULL:
        dlq_buf_puts(out, "null");
        break;
    }
}

char *dlq_json_encode_str(const json_t *v)
{
    struct dlq_buf b = {0};
    dlq_json_encode(v, &b);
    return dlq_buf_steal(&b);
}

void dlq_errsink_add(struct dlq_errsink *s, const char *field, const char *fmt, ...)
{
    char path[96], detail[160];
    snprintf(path, sizeof path, "%s%s", s->prefix, field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    dlq_errors_add(s->errs, path, "%s", detail);
    s->bad++;
}
