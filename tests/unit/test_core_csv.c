/*
 * test_core_csv.c: the export's RFC 4180 writer: plain fields unquoted,
 * quoting of commas, quotes, CR and LF with quotes doubled, null as an empty
 * field, the header row, and one entry row in header order (JSON text kept,
 * times RFC 3339, CRLF line end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlq/core.h"
#include "dlq/csv.h"

static void field_is(const char *in, const char *want)
{
    struct dlq_buf b = {0};
    assert_int_equal(dlq_csv_field(&b, in, in ? strlen(in) : 0, 1), DLQ_OK);
    assert_string_equal(b.data ? b.data : "", want);
    dlq_buf_free(&b);
}

static void test_field_quoting(void **state)
{
    (void)state;
    field_is("plain", "plain");
    field_is(NULL, "");
    field_is("", "");
    field_is("a,b", "\"a,b\"");
    field_is("say \"hi\"", "\"say \"\"hi\"\"\"");
    field_is("\"", "\"\"\"\"");
    field_is("line1\nline2", "\"line1\nline2\"");
    field_is("cr\rhere", "\"cr\rhere\"");
    field_is("{\"a\": [1, 2]}", "\"{\"\"a\"\": [1, 2]}\"");
    field_is("caf\xc3\xa9 ok", "caf\xc3\xa9 ok");
}

static void test_field_separators(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_csv_field(&b, "a", 1, 1);
    dlq_csv_field(&b, NULL, 0, 0);
    dlq_csv_field(&b, "b,c", 3, 0);
    dlq_csv_field(&b, "", 0, 0);
    assert_string_equal(b.data, "a,,\"b,c\",");
    dlq_buf_free(&b);
}

static void test_header(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    assert_int_equal(dlq_csv_header(&b), DLQ_OK);
    assert_non_null(strstr(b.data, "dlq_id,original_task_id,task_name,task_args,task_kwargs,"
                                   "exception_type,exception_message,exception_traceback,"
                                   "tenant_id,"));
    assert_non_null(strstr(b.data, ",metadata,context,idempotency_key\r\n"));
    assert_int_equal(b.data[b.len - 1], '\n');
    dlq_buf_free(&b);
}

/* count_fields counts the fields of one unquoted-newline row. */
static int count_fields(const char *row)
{
    int n = 1, inq = 0;
    for (const char *p = row; *p && !(!inq && *p == '\r'); p++) {
        if (*p == '"')
            inq = !inq;
        else if (*p == ',' && !inq)
            n++;
    }
    return n;
}

static void test_entry_row(void **state)
{
    (void)state;
    struct dlq_entry e;
    memset(&e, 0, sizeof e);
    e.dlq_id = dlq_strdup("dlq_01JH0000000000000000000000");
    e.task_name = dlq_strdup("send_email");
    e.task_args = dlq_strdup("[1, \"x\"]");
    e.task_kwargs = dlq_strdup("{}");
    e.exc_type = dlq_strdup("ValueError");
    e.exc_message = dlq_strdup("bad, very bad");
    e.exc_traceback = dlq_strdup("Traceback\n  line 1");
    e.failed_at = 1769337000000LL;
    e.processed_at = 1769337000123LL;
    e.status = DLQ_STATUS_PENDING_REVIEW;
    e.queue = dlq_strdup("default");
    e.reason = DLQ_REASON_TIMEOUT;
    e.max_replays = 3;
    e.metadata = dlq_strdup("{\"k\":\"v\"}");
    struct dlq_buf b = {0}, h = {0};
    assert_int_equal(dlq_entry_to_csv(&e, &b), DLQ_OK);
    dlq_csv_header(&h);
    assert_int_equal(count_fields(b.data), count_fields(h.data));
    assert_true(strncmp(b.data,
                        "dlq_01JH0000000000000000000000,,send_email,\"[1, \"\"x\"\"]\",{},"
                        "ValueError,\"bad, very bad\",\"Traceback\n  line 1\",,0,"
                        "2026-01-25T10:30:00Z,2026-01-25T10:30:00.123Z,pending_review,0,,,"
                        ",,default,0,timeout,,,,,3,,\"{\"\"k\"\":\"\"v\"\"}\",,\r\n",
                        b.len) == 0);
    assert_int_equal(b.len, strlen(b.data));
    dlq_buf_free(&b);
    dlq_buf_free(&h);
    dlq_entry_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_quoting),
        cmocka_unit_test(test_field_separators),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_entry_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
