/*
 * output.c: how the CLI puts things on a terminal: relative times, aligned
 * tables that cut long cells with "…", text made safe to print (entries come
 * from producers, and an escape sequence in an exception message must not
 * drive the operator's terminal), and the one-line rendering of an HTTP
 * problem+json answer. Everything but dlq_cli_term_width is pure, so the
 * unit tests check it byte for byte.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli_int.h"
#include "dlq/error.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */

void dlq_cli_reltime(int64_t then_ms, int64_t now_ms, char *out, size_t outlen)
{
    /* Work in a wide type: a garbage time must not overflow the subtraction. */
    long double diff = (long double)now_ms - (long double)then_ms;
    int future = diff < 0;
    long double s = (future ? -diff : diff) / 1000.0L;
    long long n;
    char unit;
    if (s < 60) {
        n = (long long)s;
        unit = 's';
    } else if (s < 3600) {
        n = (long long)(s / 60);
        unit = 'm';
    } else if (s < 86400) {
        n = (long long)(s / 3600);
        unit = 'h';
    } else {
        n = (long long)(s / 86400);
        unit = 'd';
    }
    if (future && n > 0)
        snprintf(out, outlen, "in %lld%c", n, unit);
    else
        snprintf(out, outlen, "%lld%c ago", n, unit);
}

/* utf8_seq returns the length of the valid UTF-8 sequence at p (at most n
 * bytes available) and its code point in *cp, or 0 when it is not valid
 * (overlong, surrogate, out of range or cut short). */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        c = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        c = p[0] & 0x0f;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* unsafe_cp says whether a code point may reorder or hide text on a
 * terminal: C1 controls and the bidirectional embeddings and isolates. */
static int unsafe_cp(uint32_t c)
{
    return (c >= 0x80 && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

int dlq_cli_sanitize(struct dlq_buf *b, const char *s, int keep_newlines)
{
    if (s == NULL)
        return b->oom ? DLQ_E_NOMEM : DLQ_OK;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_seq(p + i, n - i, &cp);
        if (len == 0) {
            dlq_buf_putc(b, '?');
            i++;
            continue;
        }
        if (cp == '\n' || cp == '\t')
            dlq_buf_putc(b, keep_newlines ? (char)cp : ' ');
        else if (cp == '\r' && keep_newlines)
            ; /* CRLF tracebacks: the \n that follows ends the line */
        else if (cp < 0x20 || cp == 0x7f || unsafe_cp(cp))
            dlq_buf_putc(b, '?');
        else
            dlq_buf_append(b, p + i, len);
        i += len;
    }
    return b->oom ? DLQ_E_NOMEM : DLQ_OK;
}

size_t dlq_cli_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            w++;
    return w;
}

int dlq_cli_truncate(struct dlq_buf *b, const char *s, size_t width, int cut_start)
{
    size_t w = dlq_cli_width(s);
    if (w <= width)
        return dlq_buf_puts(b, s);
    if (width == 0)
        return b->oom ? DLQ_E_NOMEM : DLQ_OK;
    /* Keep width - 1 code points and spend one column on the ellipsis. */
    size_t skip = cut_start ? w - (width - 1) : 0, keep = width - 1, i = 0, start = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (; p[i]; i++) {
        if ((p[i] & 0xc0) == 0x80)
            continue;
        if (skip > 0) {
            skip--;
            start = i + 1;
            continue;
        }
        if (keep == 0)
            break;
        keep--;
    }
    if (cut_start) {
        /* start is just past the first byte of the last skipped code point. */
        while (p[start] && (p[start] & 0xc0) == 0x80)
            start++;
        dlq_buf_puts(b, ELLIPSIS);
        return dlq_buf_append(b, s + start, i - start);
    }
    dlq_buf_append(b, s, i);
    return dlq_buf_puts(b, ELLIPSIS);
}

int dlq_cli_table_init(struct dlq_cli_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->headers = headers;
    t->cols = calloc(ncols, sizeof(*t->cols));
    return t->cols ? DLQ_OK : DLQ_E_NOMEM;
}

void dlq_cli_table_set_col(struct dlq_cli_table *t, size_t col, size_t min, size_t max,
                           int cut_start)
{
    if (t->cols && col < t->ncols)
        t->cols[col] = (struct dlq_cli_col){min, max, cut_start};
}

int dlq_cli_table_add(struct dlq_cli_table *t, const char *const *cells)
{
    if (t->cols == NULL)
        return DLQ_E_NOMEM;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
        if (p == NULL)
            return DLQ_E_NOMEM;
        t->cells = p;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        struct dlq_buf b = {0};
        dlq_cli_sanitize(&b, cells[c] ? cells[c] : "-", 0);
        if (b.data == NULL)
            dlq_buf_puts(&b, "");
        if (b.oom) {
            dlq_buf_free(&b);
            while (c > 0)
                free(row[--c]);
            return DLQ_E_NOMEM;
        }
        row[c] = dlq_buf_steal(&b);
    }
    t->nrows++;
    return DLQ_OK;
}

/* fit_width shrinks the cuttable columns of w, widest first and never below
 * their floor, until the line (columns plus two-space gaps) is at most max. */
static void fit_width(size_t *w, const size_t *floor, const struct dlq_cli_col *cols, size_t ncols,
                      size_t max)
{
    size_t total = 0;
    for (size_t c = 0; c < ncols; c++)
        total += w[c] + (c ? 2 : 0);
    while (total > max) {
        size_t widest = ncols;
        for (size_t c = 0; c < ncols; c++)
            if (cols[c].max && w[c] > floor[c] && (widest == ncols || w[c] > w[widest]))
                widest = c;
        if (widest == ncols)
            return; /* nothing left to give: the line stays long */
        w[widest]--;
        total--;
    }
}

static void render_row(const struct dlq_cli_table *t, const char *const *cells, const size_t *w,
                       struct dlq_buf *out)
{
    /* The last cell is not padded, so lines carry no trailing blanks. */
    size_t last = t->ncols;
    while (last > 0 && cells[last - 1][0] == '\0')
        last--;
    for (size_t c = 0; c < last; c++) {
        if (c)
            dlq_buf_puts(out, "  ");
        size_t before = out->len;
        dlq_cli_truncate(out, cells[c], w[c], t->cols[c].cut_start);
        if (c + 1 < last) {
            size_t shown = out->oom ? 0 : dlq_cli_width(out->data + before);
            for (; shown < w[c]; shown++)
                dlq_buf_putc(out, ' ');
        }
    }
    dlq_buf_putc(out, '\n');
}

int dlq_cli_table_render(const struct dlq_cli_table *t, size_t line_max, struct dlq_buf *out)
{
    if (t->cols == NULL)
        return DLQ_E_NOMEM;
    size_t *w = calloc(t->ncols * 2, sizeof(*w));
    if (w == NULL)
        return DLQ_E_NOMEM;
    size_t *floor = w + t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        const struct dlq_cli_col *col = &t->cols[c];
        floor[c] = dlq_cli_width(t->headers[c]);
        if (col->min > floor[c])
            floor[c] = col->min;
        w[c] = dlq_cli_width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = dlq_cli_width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
        if (col->max && w[c] > col->max)
            w[c] = col->max > floor[c] ? col->max : floor[c];
        if (w[c] < floor[c])
            floor[c] = w[c]; /* a narrow column has nothing to give */
    }
    if (line_max > 0)
        fit_width(w, floor, t->cols, t->ncols, line_max);
    render_row(t, t->headers, w, out);
    for (size_t r = 0; r < t->nrows; r++)
        render_row(t, (const char *const *)(t->cells + r * t->ncols), w, out);
    free(w);
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}

void dlq_cli_table_free(struct dlq_cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->cols);
    memset(t, 0, sizeof(*t));
}

const char *dlq_cli_status_text(long status)
{
    static const struct {
        long status;
        const char *text;
    } map[] = {
        {400, "bad request"},
        {401, "unauthorized"},
        {403, "forbidden"},
        {404, "not found"},
        {405, "method not allowed"},
        {406, "not acceptable"},
        {408, "request timeout"},
        {409, "conflict"},
        {410, "gone"},
        {413, "payload too large"},
        {414, "uri too long"},
        {415, "unsupported media type"},
        {422, "unprocessable content"},
        {429, "too many requests"},
        {431, "request header fields too large"},
        {500, "internal server error"},
        {501, "not implemented"},
        {502, "bad gateway"},
        {503, "service unavailable"},
        {504, "gateway timeout"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].status == status)
            return map[i].text;
    return NULL;
}

const char *dlq_cli_jstr(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* format_field_error appends "  field: detail" for one item of "errors":
 * {field|pointer|name, detail|message} objects, or plain strings. */
static void format_field_error(struct dlq_buf *out, const char *key, json_t *item)
{
    const char *field = key, *detail = NULL;
    if (json_is_string(item)) {
        detail = json_string_value(item);
    } else if (json_is_object(item)) {
        if (field == NULL)
            field = dlq_cli_jstr(item, "field");
        if (field == NULL)
            field = dlq_cli_jstr(item, "pointer");
        if (field == NULL)
            field = dlq_cli_jstr(item, "name");
        detail = dlq_cli_jstr(item, "detail");
        if (detail == NULL)
            detail = dlq_cli_jstr(item, "message");
    }
    if (detail == NULL)
        return;
    dlq_buf_puts(out, "  ");
    if (field && field[0]) {
        dlq_cli_sanitize(out, field, 0);
        dlq_buf_puts(out, ": ");
    }
    dlq_cli_sanitize(out, detail, 0);
    dlq_buf_putc(out, '\n');
}

/* detail_len returns how much of detail to print before the field lines. The
 * server's detail repeats its first field error ("invalid request: limit:
 * must be ...") for clients that show only the detail; the CLI prints every
 * field error on its own line, so that repetition is cut. */
static size_t detail_len(const char *detail, json_t *errs)
{
    json_t *first = json_array_get(errs, 0);
    const char *field = dlq_cli_jstr(first, "field"), *what = dlq_cli_jstr(first, "detail");
    if (field == NULL || what == NULL)
        return strlen(detail);
    char needle[512];
    snprintf(needle, sizeof(needle), ": %s: %s", field, what);
    const char *p = field[0] ? strstr(detail, needle) : NULL;
    return p && p > detail ? (size_t)(p - detail) : strlen(detail);
}

int dlq_cli_format_problem(struct dlq_buf *out, long status, const char *body, size_t len,
                           int no_token)
{
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    const char *text = dlq_cli_status_text(status);
    const char *title = doc ? dlq_cli_jstr(doc, "title") : NULL;
    const char *detail = doc ? dlq_cli_jstr(doc, "detail") : NULL;

    dlq_buf_printf(out, "dlq: %ld", status);
    if (text || title) {
        dlq_buf_putc(out, ' ');
        dlq_cli_sanitize(out, text ? text : title, 0);
    }
    if (detail == NULL && title && text && strcasecmp(title, text) != 0)
        detail = title; /* a title saying more than the reason phrase */
    json_t *errs = doc ? json_object_get(doc, "errors") : NULL;
    if (detail && detail[0]) {
        dlq_buf_puts(out, ": ");
        size_t n = detail_len(detail, errs);
        struct dlq_buf d = {0};
        dlq_buf_append(&d, detail, n);
        dlq_cli_sanitize(out, d.data, 0);
        if (d.oom)
            out->oom = 1;
        dlq_buf_free(&d);
    }
    if (status == 401 && no_token)
        dlq_buf_puts(out, " (set DLQ_TOKEN or pass --token)");
    dlq_buf_putc(out, '\n');

    if (json_is_array(errs)) {
        size_t i;
        json_t *item;
        json_array_foreach(errs, i, item) format_field_error(out, NULL, item);
    } else if (json_is_object(errs)) {
        /* {"limit": "must be ...", ...} or {"limit": ["...", "..."]} */
        const char *key;
        json_t *v;
        json_object_foreach(errs, key, v)
        {
            if (json_is_array(v)) {
                size_t i;
                json_t *item;
                json_array_foreach(v, i, item) format_field_error(out, key, item);
            } else {
                format_field_error(out, key, v);
            }
        }
    }
    json_decref(doc);
    return out->oom ? DLQ_E_NOMEM : DLQ_OK;
}

int dlq_cli_shell_word(struct dlq_buf *b, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_@%+=:,./-";
    if (s[0] && strspn(s, safe) == strlen(s))
        return dlq_buf_puts(b, s);
    dlq_buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            dlq_buf_puts(b, "'\\''");
        else
            dlq_buf_putc(b, *p);
    }
    return dlq_buf_putc(b, '\'');
}

size_t dlq_cli_term_width(void)
{
    struct winsize ws;
    if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 0;
    return ws.ws_col;
}

void dlq_cli_field(struct dlq_buf *b, const char *label, const char *value)
{
    size_t n = strlen(label) + 1;
    dlq_buf_printf(b, "%s:%*s", label, n < DLQ_CLI_LABEL_WIDTH ? (int)(DLQ_CLI_LABEL_WIDTH - n) : 1,
                   "");
    dlq_cli_sanitize(b, value ? value : "-", 0);
    dlq_buf_putc(b, '\n');
}

void dlq_cli_human_bytes(uint64_t n, char *out, size_t outlen)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(out, outlen, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, outlen, "%.1f %s", v, units[u]);
}

struct count_item {
    const char *name;
    json_int_t n;
};

/* by_count orders the biggest first, then by name so equal counts print in
 * the same order every time. */
static int by_count(const void *a, const void *b)
{
    const struct count_item *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

int dlq_cli_counts_render(struct dlq_buf *out, const char *header, const json_t *counts,
                          size_t max_rows, size_t line_max)
{
    size_t n = json_object_size(counts), k = 0;
    if (n == 0)
        return out->oom ? DLQ_E_NOMEM : DLQ_OK;
    struct count_item *items = calloc(n, sizeof(*items));
    if (items == NULL) {
        out->oom = 1;
        return DLQ_E_NOMEM;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)counts, key, v)
    {
        if (json_is_integer(v))
            items[k++] = (struct count_item){key, json_integer_value(v)};
    }
    qsort(items, k, sizeof(*items), by_count);

    const char *headers[2] = {header, "COUNT"};
    struct dlq_cli_table t;
    int rc = dlq_cli_table_init(&t, 2, headers);
    dlq_cli_table_set_col(&t, 0, 20, 60, 1);
    json_int_t rest = 0;
    for (size_t i = 0; i < k && rc == DLQ_OK; i++) {
        if (max_rows && i >= max_rows) {
            rest += items[i].n;
            continue;
        }
        char num[32];
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, items[i].n);
        const char *cells[2] = {items[i].name, num};
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc == DLQ_OK && max_rows && k > max_rows) {
        char label[48], num[32];
        snprintf(label, sizeof(label), "(%zu more)", k - max_rows);
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, rest);
        const char *cells[2] = {label, num};
        rc = dlq_cli_table_add(&t, cells);
    }
    if (rc == DLQ_OK)
        rc = dlq_cli_table_render(&t, line_max, out);
    dlq_cli_table_free(&t);
    free(items);
    if (rc != DLQ_OK)
        out->oom = 1;
    return rc;
}

int dlq_cli_table_print(struct dlq_cli_table *t)
{
    struct dlq_buf out = {0};
    int rc = dlq_cli_table_render(t, dlq_cli_term_width(), &out);
    dlq_cli_table_free(t);
    if (rc == DLQ_OK)
        fputs(out.data, stdout);
    else
        fprintf(stderr, "dlq: out of memory\n");
    dlq_buf_free(&out);
    return rc == DLQ_OK ? DLQ_EXIT_OK : DLQ_EXIT_ERROR;
}

int dlq_cli_print_buf(struct dlq_buf *b)
{
    int rc = DLQ_EXIT_OK;
    if (b->oom) {
        fprintf(stderr, "dlq: out of memory\n");
        rc = DLQ_EXIT_ERROR;
    } else if (b->data) {
        fputs(b->data, stdout);
    }
    dlq_buf_free(b);
    return rc;
}

long long dlq_cli_jint(const json_t *obj, const char *key, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return dflt;
}

const char *dlq_cli_jcount(const json_t *obj, const char *key, const char *missing, char *out,
                           size_t n)
{
    long long v = dlq_cli_jint(obj, key, -1);
    if (v < 0)
        snprintf(out, n, "%s", missing);
    else
        snprintf(out, n, "%lld", v);
    return out;
}
