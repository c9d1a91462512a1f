/*
 * test_core_jscan.c: the pull scanner behind the ingest decoders. A table
 * of documents the scanner must accept or reject (every rule of RFC 8259
 * it enforces, unicode escapes, big numbers, nesting at and past the limit,
 * whitespace, duplicate keys), each checked against jansson too: accepted
 * documents must re-encode exactly as dlq_json_encode writes jansson's tree
 * of them, rejected ones must be rejected by jansson as well (except for
 * nesting, where our limit is lower). Then the decoders on top: error
 * positions and wording, values extracted compared with jansson's, and the
 * all-or-nothing rules of batches. Inputs are copied into buffers of their
 * exact length so the sanitizer build catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/core_int.h"
#include "core/jscan.h"
#include "dlq/core.h"

struct doc {
    const char *text;
    size_t len;
    int ok;      /* 1: valid JSON text */
    int jansson; /* 1: jansson agrees (0 only where our depth limit differs) */
};

#define OK(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1, 1, 1                                                                     \
    }
#define BAD(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1, 0, 1                                                                     \
    }

static const struct doc docs[] = {
    /* valid */
    OK("{}"),
    OK("[]"),
    OK("0"),
    OK("-0"),
    OK("1"),
    OK("-1"),
    OK("123456789"),
    OK("9223372036854775807"),
    OK("-9223372036854775808"),
    OK("1.5"),
    OK("-1.5e10"),
    OK("1E5"),
    OK("1e+2"),
    OK("0.1"),
    OK("1e-400"),
    OK("123456789012345678901234567890.5"),
    OK("true"),
    OK("false"),
    OK("null"),
    OK("\"\""),
    OK("\"abc\""),
    OK("\"\\u00e9\""),
    OK("\"\\ud83d\\ude00\""),
    OK("\"\\uD83D\\uDE00x\""),
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
    OK("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""),
    OK("\"\x7f\""),
    OK("\"\xef\xbf\xbf\""),
    OK("\"\xf4\x8f\xbf\xbf\""),
    OK("\"\\u2028\\u001f\\u007f\""),
    OK("\"a very long string without escapes that spans several words of eight\""),
    OK("\"mixed \\\"quotes\\\" and \\n newlines \xc3\xa9 and \\u00e9 at once\""),
    OK(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n"),
    OK("{\"a\":1,\"b\":{\"a\":2}}"),
    OK("{\"a\":{\"x\":1},\"b\":{\"x\":1}}"),
    OK("[{\"k\":1},{\"k\":1}]"),
    OK("[[[[]]]]"),
    OK("{\"\":1}"),
    OK("{\"\\u0061\":1,\"b\":2}"),
    OK("{\"format\": \"xlsx\", \"ratio\": 0.1, \"n\": [1, 2.5e10, true, null]}"),
    /* invalid */
    BAD(""),
    BAD("   "),
    BAD("{"),
    BAD("["),
    BAD("[1,]"),
    BAD("[,]"),
    BAD("[1,,2]"),
    BAD("{,}"),
    BAD("{\"a\":1,}"),
    BAD("{\"a\" 1}"),
    BAD("{\"a\"}"),
    BAD("{\"a\":}"),
    BAD("{a:1}"),
    BAD("{'a':1}"),
    BAD("[1 2]"),
    BAD("01"),
    BAD("-01"),
    BAD("-"),
    BAD("1."),
    BAD(".5"),
    BAD("1e"),
    BAD("1e+"),
    BAD("+1"),
    BAD("1x"),
    BAD("0x10"),
    BAD("tru"),
    BAD("nul"),
    BAD("True"),
    BAD("\"abc"),
    BAD("\"\\"),
    BAD("\"\\x\""),
    BAD("\"\\u12\""),
    BAD("\"\\u12g4\""),
    BAD("\"\\ud800\""),
    BAD("\"\\udc00\""),
    BAD("\"\\ud800\\u0041\""),
    BAD("\"\\ud800\\ud800\""),
    BAD("\"\\u0000\""),
    BAD("{\"k\\u0000\":1}"),
    BAD("\"a\x01\""),
    BAD("\"\x1f\""),
    BAD("\"\t\""),
    BAD("\"\n\""),
    BAD("\"\xff\""),
    BAD("\"\x80\""),
    BAD("\"\xc0\xaf\""),
    BAD("\"\xc1\xbf\""),
    BAD("\"\xe0\x80\xaf\""),
    BAD("\"\xf0\x80\x80\xaf\""),
    BAD("\"\xed\xa0\x80\""),
    BAD("\"\xf4\x90\x80\x80\""),
    BAD("\"\xf5\x80\x80\x80\""),
    BAD("\"\xc3\""),
    BAD("\"\xe2\x82\""),
    BAD("\"\xe2\x82"),
    BAD("{\"a\":1,\"a\":2}"),
    BAD("{\"a\":1,\"\\u0061\":2}"),
    BAD("[{\"x\":{\"k\":1,\"k\":1}}]"),
    BAD("{\"a\":{\"b\":1},\"a\":2}"),
    BAD("1 2"),
    BAD("{} x"),
    BAD("[] []"),
    BAD("[1]\0"),
    BAD("99999999999999999999"),
    BAD("9223372036854775808"),
    BAD("-9223372036854775809"),
    BAD("1e400"),
    BAD("-1e400"),
    /* A raw NUL after a number or literal: jansson takes it for the end of
     * the token and goes on; RFC 8259 allows no NUL outside strings. */
    {"[1\0]", 4, 0, 0},
    {"[true\0]", 7, 0, 0},
};

/* scan runs the scanner over an exact-size copy of d; returns 0 when it
 * accepted, with the compact re-encoding in *out (caller frees). */
static int scan(const char *text, size_t len, int dup_check, char **out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    struct jscan s;
    struct dlq_buf b = {0};
    jscan_init(&s, copy, len, dup_check);
    int r = jscan_value(&s, &b);
    if (r == 0)
        r = jscan_finish(&s);
    if (r != 0)
        assert_true(s.err[0] != '\0');
    jscan_free(&s);
    free(copy);
    *out = r == 0 ? dlq_buf_steal(&b) : NULL;
    dlq_buf_free(&b);
    return r;
}

static void test_scan_table(void **state)
{
    (void)state;
    assert_true(sizeof docs / sizeof docs[0] >= 60);
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        const struct doc *d = &docs[i];
        char *got = NULL;
        int r = scan(d->text, d->len, 1, &got);
        if ((r == 0) != d->ok)
            fail_msg("case %zu (%.*s): scanner %s", i, (int)d->len, d->text,
                     r == 0 ? "accepted" : "rejected");
        json_error_t jerr;
        json_t *v = json_loadb(d->text, d->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (d->jansson && (v != NULL) != d->ok)
            fail_msg("case %zu (%.*s): jansson disagrees", i, (int)d->len, d->text);
        if (d->ok) {
            /* differential: the same compact text as jansson's tree gives */
            char *want = dlq_json_encode_str(v);
            if (strcmp(got, want) != 0)
                fail_msg("case %zu: scanner %s, jansson %s", i, got, want);
            free(want);
        }
        json_decref(v);
        free(got);
    }
}

/* nested returns n '[' then n ']' (caller frees). */
static char *nested(size_t n, char open, char close)
{
    char *s = malloc(2 * n + 1);
    assert_non_null(s);
    memset(s, open, n);
    memset(s + n, close, n);
    s[2 * n] = '\0';
    return s;
}

static void test_scan_depth(void **state)
{
    (void)state;
    char *out;
    char *s = nested(JSCAN_MAX_DEPTH, '[', ']');
    assert_int_equal(scan(s, strlen(s), 1, &out), 0);
    free(out);
    free(s);
    s = nested(JSCAN_MAX_DEPTH + 1, '[', ']');
    assert_int_equal(scan(s, strlen(s), 1, &out), -1);
    free(s);
    /* far past the limit: no deep recursion, a clean error */
    s = nested(100000, '[', ']');
    struct jscan js;
    jscan_init(&js, s, strlen(s), 1);
    assert_int_equal(jscan_value(&js, NULL), -1);
    assert_string_equal(js.err, "nested too deeply");
    int line, col;
    jscan_where(&js, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, JSCAN_MAX_DEPTH + 1);
    jscan_free(&js);
    free(s);
}

/* Objects big enough for the hashed duplicate check. */
static void test_scan_many_keys(void **state)
{
    (void)state;
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "{");
    for (int i = 0; i < 2000; i++)
        dlq_buf_printf(&b, "%s\"k%d\":{\"k%d\":%d}", i ? "," : "", i, i, i);
    char *out;
    size_t len = b.len;
    dlq_buf_puts(&b, "}");
    assert_int_equal(scan(b.data, b.len, 1, &out), 0);
    free(out);
    b.len = len;
    dlq_buf_puts(&b, ",\"k1234\":0}"); /* a duplicate, late */
    assert_int_equal(scan(b.data, b.len, 1, &out), -1);
    assert_int_equal(scan(b.data, b.len, 0, &out), 0); /* jansson's default keeps it */
    free(out);
    b.len = len;
    dlq_buf_puts(&b, ",\"k\\u0031234\":0}"); /* the same key, escaped */
    assert_int_equal(scan(b.data, b.len, 1, &out), -1);
    dlq_buf_free(&b);
}

static int decode(const char *body, struct dlq_entry *e, struct dlq_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    return dlq_entry_from_json(body, strlen(body), e, errs);
}

struct reject_case {
    const char *body;
    const char *field;
    const char *detail; /* a substring of the only error's detail */
};

static void test_decode_errors(void **state)
{
    (void)state;
    static char deep[400];
    char *inner = nested(JSCAN_MAX_DEPTH, '[', ']');
    snprintf(deep, sizeof deep, "{\"task_name\":\"t\",\"task_args\":%s}", inner);
    free(inner);
    static const struct reject_case cases[] = {
        {deep, "body", "malformed JSON: nested too deeply (line 1, column 93)"},
        {"{\"bogus\":1,\n\"a\":\n    x}", "body", "invalid token (line 3, column 5)"},
        {"{\"task_name\":\"t\"} x", "body", "end of file expected (line 1, column 19)"},
        {"", "body", "'[' or '{' expected (line 1, column 1)"},
        {"42", "body", "'[' or '{' expected"},
        {"{\"task_name\":\"a\",\"task_name\":\"a\"}", "body", "duplicate object key"},
        {"{\"task_name\":\"t\",\"exception\":{\"type\":\"a\",\"type\":\"b\"}}", "body",
         "duplicate object key"},
        {"{\"task_name\":\"t\",\"metadata\":{\"k\\u0000\":1}}", "body", "\\u0000 is not allowed"},
        {"{\"task_name\":\"t\",\"metadata\":{\"a\":{\"b\":1,\"b\":2}}}", "body", "duplicate"},
        {"{\"task_name\":\"t\",\"priority\":99999999999999999999}", "body", "too big integer"},
        {"{\"task_name\":\"t\",\"priority\":1e2}", "priority", "must be an integer"},
        {"{\"task_name\":\"t\",\"priority\":-0.0}", "priority", "must be an integer"},
        {"{\"task_name\":\"t\",\"priority\":-1000001}", "priority",
         "must be an integer from -1000000 to 1000000"},
        {"{\"task_name\":\"t\",\"task_args\":\"[1,2\"}", "task_args", "must be JSON text"},
        {"{\"task_name\":\"t\",\"task_args\":\"[1] [2]\"}", "task_args", "must be JSON text"},
        {"{\"task_name\":\"t\",\"task_args\":\"\\\"\\\\ud800\\\"\"}", "task_args",
         "must be JSON text"},
        {"{\"task_name\":\"t\",\"task_kwargs\":\"[1]\"}", "task_kwargs",
         "must be a JSON object (or JSON text of one)"},
        {"{\"task_name\":\"t\",\"task_kwargs\":true}", "task_kwargs", "must be a JSON object"},
        {"{\"task_name\":\"t\",\"reason\":\"external_but_far_too_long_to_be_any_reason_at_all_"
         "really\"}",
         "reason", "must be one of"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_entry e;
        struct dlq_errors errs;
        if (decode(cases[i].body, &e, &errs) != DLQ_E_INVAL)
            fail_msg("case %zu accepted", i);
        if (errs.n != 1 || strcmp(errs.items[0].field, cases[i].field) != 0 ||
            strstr(errs.items[0].detail, cases[i].detail) == NULL)
            fail_msg("case %zu: %d errors, first %s: %s", i, errs.n, errs.items[0].field,
                     errs.items[0].detail);
        assert_null(e.task_name);
    }
}

/* The values the decoder extracts equal jansson's view of the same body. */
static void test_decode_matches_jansson(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"task_name\":\"t\\u00e9\\ud83d\\ude00\",\"exception\":{\"type\":\"E\",\"message\":"
        "\"line1\\nline2 \\\"q\\\" \\\\ \\/ \\t\\u0001\",\"traceback\":\"\xe2\x82\xac\"},"
        "\"priority\":-1000000,\"retries_attempted\":1000000,\"max_replays\":0,"
        "\"task_kwargs\":{\"a\" : [1, -0, 1.5e3, \"\\u00e9\", {\"b\":null}], \"c\":false},"
        "\"metadata\":{ \"x\" : { \"y\" : [ ] } },\"context\":{}}",
        " \n{ \"task_name\" : \"t\" , \"task_args\" : [ \"a\\tb\" , 1e-3 ] , "
        "\"task_kwargs\" : \"{\\\"x\\\": [1, 2]}\" , \"queue\" : \"q\" } \n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct dlq_entry e;
        struct dlq_errors errs;
        if (decode(bodies[i], &e, &errs) != DLQ_OK)
            fail_msg("body %zu: %s: %s", i, errs.items[0].field, errs.items[0].detail);
        json_t *root = json_loads(bodies[i], JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(root);
        assert_string_equal(e.task_name, json_string_value(json_object_get(root, "task_name")));
        json_t *exc = json_object_get(root, "exception");
        if (exc != NULL) {
            assert_string_equal(e.exc_message, json_string_value(json_object_get(exc, "message")));
            assert_string_equal(e.exc_traceback,
                                json_string_value(json_object_get(exc, "traceback")));
            assert_int_equal(e.priority, json_integer_value(json_object_get(root, "priority")));
        }
        static const char *const values[] = {"task_args", "task_kwargs", "metadata", "context"};
        char *const got[] = {e.task_args, e.task_kwargs, e.metadata, e.context};
        for (size_t k = 0; k < 4; k++) {
            json_t *v = json_object_get(root, values[k]);
            if (v == NULL)
                continue;
            char *want = json_is_string(v) ? strdup(json_string_value(v)) : dlq_json_encode_str(v);
            assert_string_equal(got[k], want);
            free(want);
        }
        json_decref(root);
        dlq_entry_clear(&e);
    }
}

static int batch(const char *body, size_t max, struct dlq_entry **out, size_t *n,
                 struct dlq_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    return dlq_entries_from_json_batch(body, strlen(body), max, out, n, errs);
}

static void test_batch_rules(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int nerr;
        const char *field, *detail;
    } cases[] = {
        /* a wrapper problem hides the items' problems */
        {"{\"entries\":[{\"queue\":1}],\"x\":1}", 1, "x", "unknown field"},
        /* too many: only the count, items past max only validated */
        {"[{\"queue\":1},{},{},{\"task_name\":\"a\"}]", 1, "entries", "must hold 1 to 3"},
        {"[{},{},{},[1,]]", 1, "body", "malformed JSON"},
        /* a syntax error late drops every earlier problem */
        {"[{\"queue\":1},{\"task_name\":\"a\"} ,]", 1, "body", "malformed JSON"},
        {"{\"entries\":[{\"task_name\":\"a\"}],\"entries\":[]}", 1, "body", "duplicate"},
        {"{\"entries\":null}", 1, "entries", "must be an array"},
        {"[{\"task_name\":\"a\"},null,{\"task_name\":\"b\",\"bogus\":1}]", 2, "entries[1]",
         "must be an object"},
        {"{\"entries\":[{\"task_name\":\"a\",\"exception\":{\"type\":7}}]}", 1,
         "entries[0].exception.type", "must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlq_entry *items;
        size_t n;
        struct dlq_errors errs;
        if (batch(cases[i].body, 3, &items, &n, &errs) != DLQ_E_INVAL)
            fail_msg("case %zu accepted", i);
        assert_null(items);
        if (errs.n != cases[i].nerr || strcmp(errs.items[0].field, cases[i].field) != 0 ||
            strstr(errs.items[0].detail, cases[i].detail) == NULL)
            fail_msg("case %zu: %d errors, first %s: %s", i, errs.n, errs.items[0].field,
                     errs.items[0].detail);
    }
    /* Many items: the array grows; each keeps its own values. */
    struct dlq_buf b = {0};
    dlq_buf_puts(&b, "[");
    for (int i = 0; i < 100; i++)
        dlq_buf_printf(&b, "%s{\"task_name\":\"t%d\",\"priority\":%d}", i ? "," : "", i, i);
    dlq_buf_puts(&b, "]");
    struct dlq_entry *items;
    size_t n;
    struct dlq_errors errs;
    assert_int_equal(batch(b.data, 100, &items, &n, &errs), DLQ_OK);
    assert_int_equal(n, 100);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "t%zu", i);
        assert_string_equal(items[i].task_name, want);
        assert_int_equal(items[i].priority, (int)i);
        dlq_entry_clear(&items[i]);
    }
    free(items);
    assert_int_equal(batch(b.data, 99, &items, &n, &errs), DLQ_E_INVAL);
    assert_string_equal(errs.items[0].detail, "must hold 1 to 99 entries");
    dlq_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_table),
        cmocka_unit_test(test_scan_depth),
        cmocka_unit_test(test_scan_many_keys),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_matches_jansson),
        cmocka_unit_test(test_batch_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
