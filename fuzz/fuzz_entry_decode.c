/*
 * fuzz_entry_decode.c: the ingest decoders (dlq_entry_from_json and
 * dlq_entries_from_json_batch) on arbitrary bytes. The first byte picks the
 * decoder (and the batch maximum); the rest is the body. Whatever the input,
 * a decoder must either fail with at least one field error and leave its
 * output cleared, or yield entries whose strings are valid UTF-8 within the
 * documented limits, whose JSON fields are JSON text, and which encode to a
 * JSON object jansson accepts.
 */
#include <jansson.h>

#include "dlq/core.h"
#include "fuzz_util.h"

static void check_str(const char *s, size_t max)
{
    if (s == NULL)
        return;
    size_t n = strlen(s);
    FUZZ_CHECK(n <= max);
    FUZZ_CHECK(fuzz_utf8_ok(s, n));
}

static void check_json(const char *s)
{
    if (s == NULL)
        return;
    json_error_t je;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
    FUZZ_CHECK(v != NULL);
    json_decref(v);
}

static void check_entry(const struct dlq_entry *e)
{
    FUZZ_CHECK(e->task_name != NULL && e->task_name[0] != '\0');
    check_str(e->task_name, DLQ_MAX_NAME);
    check_str(e->original_task_id, DLQ_MAX_SHORT);
    check_str(e->queue, DLQ_MAX_SHORT);
    check_str(e->tenant_id, DLQ_MAX_SHORT);
    check_str(e->exc_type, DLQ_MAX_SHORT);
    check_str(e->error_code, DLQ_MAX_SHORT);
    check_str(e->idempotency_key, DLQ_MAX_SHORT);
    check_str(e->exc_message, DLQ_MAX_MESSAGE);
    check_str(e->exc_traceback, (size_t)-1);
    check_json(e->task_args);
    check_json(e->task_kwargs);
    check_json(e->metadata);
    check_json(e->context);
    FUZZ_CHECK(e->reason != DLQ_REASON_NONE);

    struct dlq_buf b = {0};
    FUZZ_CHECK(dlq_entry_to_json(e, NULL, 0, 0, &b) == DLQ_OK);
    FUZZ_CHECK(fuzz_utf8_ok(b.data, b.len));
    json_error_t je;
    json_t *v = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    FUZZ_CHECK(v != NULL && json_is_object(v));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(v, "task_name")), e->task_name) == 0);
    json_decref(v);
    dlq_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct dlq_errors errs = {0};
    if ((mode & 1) == 0) {
        struct dlq_entry e;
        int rc = dlq_entry_from_json(body, len, &e, &errs);
        if (rc == DLQ_OK) {
            FUZZ_CHECK(errs.n == 0);
            check_entry(&e);
        } else {
            FUZZ_CHECK(rc == DLQ_E_INVAL && errs.n > 0);
            FUZZ_CHECK(e.task_name == NULL && e.metadata == NULL);
        }
        dlq_entry_clear(&e);
        return 0;
    }
    size_t max = (mode >> 1) % 8 == 0 ? DLQ_MAX_BATCH : (mode >> 1) % 8;
    struct dlq_entry *v = NULL;
    size_t n = 77;
    int rc = dlq_entries_from_json_batch(body, len, max, &v, &n, &errs);
    if (rc == DLQ_OK) {
        FUZZ_CHECK(v != NULL && n >= 1 && n <= max && errs.n == 0);
        for (size_t i = 0; i < n; i++) {
            check_entry(&v[i]);
            dlq_entry_clear(&v[i]);
        }
        free(v);
    } else {
        FUZZ_CHECK(v == NULL && n == 0 && errs.n > 0);
    }
    return 0;
}
