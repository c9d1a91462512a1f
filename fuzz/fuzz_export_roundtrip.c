/*
 * fuzz_export_roundtrip.c: the export writers (CSV rows, NDJSON lines). The
 * input is an ingest body; an entry it decodes to (plus server-owned fields
 * picked from the input) is written as a CSV header and row and as one
 * NDJSON line, and both are read back: the CSV with a strict RFC 4180 reader
 * (every field must come back byte for byte, quoting must be well formed,
 * there must be exactly one record per row), the NDJSON with jansson (one
 * line, no raw newline, every string equal to the entry's).
 */
#include <jansson.h>

#include "dlq/core.h"
#include "dlq/csv.h"
#include "fuzz_util.h"

#define NCOLS 30

/* csv_read parses one CRLF-terminated record at *p into fields (malloc'd);
 * returns the field count, or -1 when the text is not RFC 4180. */
static int csv_read(const char **p, const char *end, char **fields, int max)
{
    int n = 0;
    const char *s = *p;
    for (;;) {
        struct dlq_buf f = {0};
        dlq_buf_putc(&f, '\0');
        f.len = 0;
        if (s < end && *s == '"') {
            s++;
            for (;;) {
                if (s >= end)
                    goto bad;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        dlq_buf_putc(&f, '"');
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                dlq_buf_putc(&f, *s++);
            }
        } else {
            while (s < end && *s != ',' && *s != '\r' && *s != '\n') {
                if (*s == '"')
                    goto bad; /* a quote in an unquoted field */
                dlq_buf_putc(&f, *s++);
            }
        }
        if (n == max)
            goto bad;
        fields[n++] = dlq_buf_steal(&f);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s + 1 < end && s[0] == '\r' && s[1] == '\n') {
            *p = s + 2;
            return n;
        }
        return -1;
    bad:
        dlq_buf_free(&f);
        return -1;
    }
}

static void expect(const char *got, const char *want)
{
    FUZZ_CHECK(strcmp(got, want != NULL ? want : "") == 0);
}

static void check_csv(const struct dlq_entry *e)
{
    struct dlq_buf b = {0};
    FUZZ_CHECK(dlq_csv_header(&b) == DLQ_OK);
    FUZZ_CHECK(dlq_entry_to_csv(e, &b) == DLQ_OK);
    FUZZ_CHECK(fuzz_utf8_ok(b.data, b.len));
    const char *p = b.data, *end = b.data + b.len;
    char *head[NCOLS + 1], *row[NCOLS + 1];
    int nh = csv_read(&p, end, head, NCOLS + 1);
    FUZZ_CHECK(nh == NCOLS);
    int nr = csv_read(&p, end, row, NCOLS + 1);
    FUZZ_CHECK(nr == NCOLS);
    FUZZ_CHECK(p == end);
    for (int i = 0; i < NCOLS; i++) {
        const char *h = head[i];
        if (strcmp(h, "task_name") == 0)
            expect(row[i], e->task_name);
        else if (strcmp(h, "dlq_id") == 0)
            expect(row[i], e->dlq_id);
        else if (strcmp(h, "task_args") == 0)
            expect(row[i], e->task_args);
        else if (strcmp(h, "exception_message") == 0)
            expect(row[i], e->exc_message);
        else if (strcmp(h, "exception_traceback") == 0)
            expect(row[i], e->exc_traceback);
        else if (strcmp(h, "metadata") == 0)
            expect(row[i], e->metadata);
        else if (strcmp(h, "queue") == 0)
            expect(row[i], e->queue);
        else if (strcmp(h, "resolution_notes") == 0)
            expect(row[i], e->resolution_notes);
        else if (strcmp(h, "idempotency_key") == 0)
            expect(row[i], e->idempotency_key);
    }
    for (int i = 0; i < NCOLS; i++) {
        free(head[i]);
        free(row[i]);
    }
    dlq_buf_free(&b);
}

static void same(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (want == NULL) {
        FUZZ_CHECK(v == NULL || json_is_null(v));
        return;
    }
    FUZZ_CHECK(json_is_string(v));
    FUZZ_CHECK(json_string_length(v) == strlen(want));
    FUZZ_CHECK(memcmp(json_string_value(v), want, strlen(want)) == 0);
}

static void check_ndjson(const struct dlq_entry *e)
{
    struct dlq_buf b = {0};
    FUZZ_CHECK(dlq_entry_to_json(e, NULL, 0, 0, &b) == DLQ_OK);
    FUZZ_CHECK(memchr(b.data, '\n', b.len) == NULL && memchr(b.data, '\r', b.len) == NULL);
    FUZZ_CHECK(fuzz_utf8_ok(b.data, b.len));
    json_error_t je;
    json_t *o = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    FUZZ_CHECK(o != NULL && json_is_object(o));
    same(o, "dlq_id", e->dlq_id);
    same(o, "task_name", e->task_name);
    same(o, "queue", e->queue);
    same(o, "resolution_notes", e->resolution_notes);
    json_t *x = json_object_get(o, "exception");
    FUZZ_CHECK(json_is_object(x));
    same(x, "message", e->exc_message);
    same(x, "traceback", e->exc_traceback);
    json_decref(o);
    dlq_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct dlq_entry e;
    struct dlq_errors errs = {0};
    if (dlq_entry_from_json((const char *)data + 1, size - 1, &e, &errs) != DLQ_OK)
        return 0;
    /* Server-owned fields, as the store would fill them. */
    e.dlq_id = strdup("dlq_01JH0000000000000000000000");
    e.status = (enum dlq_status)(1 + data[0] % 7);
    e.processed_at = e.failed_at;
    e.fingerprint = strdup("0123456789abcdef");
    if (data[0] & 0x80)
        e.resolution_notes = e.exc_message ? strdup(e.exc_message) : NULL;
    check_csv(&e);
    check_ndjson(&e);
    dlq_entry_clear(&e);
    return 0;
}
