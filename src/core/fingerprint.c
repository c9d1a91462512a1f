/*
 * fingerprint.c: the failure group key. Two failures belong to one group
 * when they come from the same task with the same exception type and their
 * messages differ only in the values inside them (ids, numbers, addresses,
 * quoted names), so the message is normalised by masking those before it is
 * hashed. The masks are applied left to right in one pass; at each position
 * the most specific one wins (quote, uuid, hex, number).
 */
#include <stdlib.h>
#include <string.h>

#include "dlq/core.h"

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* match_uuid returns 36 if a canonical 8-4-4-4-12 UUID starts at s and is
 * not followed by another letter or digit, else 0. */
static size_t match_uuid(const unsigned char *s)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    size_t i = 0;
    for (int g = 0; g < 5; g++) {
        if (g > 0 && s[i++] != '-')
            return 0;
        for (int k = 0; k < groups[g]; k++, i++)
            if (!is_hex(s[i]))
                return 0;
    }
    return is_alnum(s[i]) ? 0 : i;
}

/* match_hex returns the length of "0x..." (one or more hex digits) or of a
 * whole word of at least 8 hex characters holding a letter a-f; pure digit
 * runs are numbers, so that "id 12345678" and "id 1234567" group together. */
static size_t match_hex(const unsigned char *s)
{
    size_t i = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && is_hex(s[2])) {
        i = 2;
        while (is_hex(s[i]))
            i++;
        return is_alnum(s[i]) ? 0 : i;
    }
    int letter = 0;
    while (is_hex(s[i])) {
        letter |= !is_digit(s[i]);
        i++;
    }
    return i >= 8 && letter && !is_alnum(s[i]) ? i : 0;
}

/* match_number returns the length of digits with an optional ".digits". */
static size_t match_number(const unsigned char *s)
{
    size_t i = 0;
    while (is_digit(s[i]))
        i++;
    if (i > 0 && s[i] == '.' && is_digit(s[i + 1])) {
        i++;
        while (is_digit(s[i]))
            i++;
    }
    return i;
}

/* match_quoted returns the length of a '...' or "..." substring starting at
 * s (backslash escapes skipped), or 0 when it is not closed. */
static size_t match_quoted(const unsigned char *s)
{
    unsigned char q = s[0];
    for (size_t i = 1; s[i] != '\0'; i++) {
        if (s[i] == '\\' && s[i + 1] != '\0')
            i++;
        else if (s[i] == q)
            return i + 1;
    }
    return 0;
}

char *dlq_fingerprint_normalize(const char *msg)
{
    struct dlq_buf b = {0};
    const unsigned char *s = (const unsigned char *)(msg != NULL ? msg : "");
    size_t i = 0;
    dlq_buf_reserve(&b, strlen((const char *)s));
    /* Once a quote of a kind finds no partner, later ones will not either:
     * remembering that keeps a message full of stray quotes linear. */
    int unclosed[2] = {0, 0};
    size_t run = 0; /* where the plain text not yet copied starts */
    while (s[i] != '\0') {
        /* A mask starts only at a word boundary, except for numbers: "user42"
         * and "user43" are the same failure. An apostrophe inside a word
         * ("can't") does not open a quote. */
        int boundary = i == 0 || !is_alnum(s[i - 1]);
        size_t n = 0;
        int qi = s[i] == '"';
        const char *mask = NULL;
        if (boundary && (s[i] == '\'' || s[i] == '"') && !unclosed[qi] &&
            (n = match_quoted(s + i)) > 0)
            mask = "<q>";
        else if (boundary && (n = match_uuid(s + i)) > 0)
            mask = "<uuid>";
        else if (boundary && (n = match_hex(s + i)) > 0)
            mask = "<hex>";
        else if ((n = match_number(s + i)) > 0)
            mask = "<n>";
        if (mask == NULL) {
            if (boundary && (s[i] == '\'' || s[i] == '"'))
                unclosed[qi] = 1;
            i++;
            continue;
        }
        dlq_buf_append(&b, s + run, i - run);
        dlq_buf_puts(&b, mask);
        i += n;
        run = i;
    }
    dlq_buf_append(&b, s + run, i - run);
    return dlq_buf_steal(&b);
}

/* fp_key builds what the fingerprint hashes into b: task name, exception
 * type and the normalised message, one per line. */
static void fp_key(struct dlq_buf *b, const char *task_name, const char *exc_type,
                   const char *message)
{
    char *norm = dlq_fingerprint_normalize(message);
    dlq_buf_puts(b, task_name != NULL ? task_name : "");
    dlq_buf_putc(b, '\n');
    dlq_buf_puts(b, exc_type != NULL ? exc_type : "");
    dlq_buf_putc(b, '\n');
    /* Out of memory: hash the raw message, still deterministic. */
    dlq_buf_puts(b, norm != NULL ? norm : (message != NULL ? message : ""));
    free(norm);
}

static void fp_hash(const struct dlq_buf *b, char out[17])
{
    char hex[65] = "0000000000000000";
    dlq_sha256_hex(b->data != NULL ? b->data : "", b->len, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

void dlq_fingerprint(const char *task_name, const char *exc_type, const char *message, char out[17])
{
    struct dlq_buf b = {0};
    fp_key(&b, task_name, exc_type, message);
    fp_hash(&b, out);
    dlq_buf_free(&b);
}

void dlq_fingerprint_memo(struct dlq_fp_memo *m, const char *task_name, const char *exc_type,
                          const char *message, char out[17])
{
    struct dlq_buf b = {0};
    fp_key(&b, task_name, exc_type, message);
    if (m->key.data != NULL && b.data != NULL && m->key.len == b.len &&
        memcmp(m->key.data, b.data, b.len) == 0) {
        memcpy(out, m->fp, 17);
        dlq_buf_free(&b);
        return;
    }
    fp_hash(&b, out);
    dlq_buf_free(&m->key);
    m->key = b; /* owns it now */
    memcpy(m->fp, out, 17);
}

void dlq_fp_memo_free(struct dlq_fp_memo *m)
{
    dlq_buf_free(&m->key);
}
