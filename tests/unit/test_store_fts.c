/*
 * test_store_fts.c: the full-text index kept off the ingest path
 * (src/store/sqlite/sq_fts.c). Captures do not index their text; the writer
 * catches up in bulk, and a search first makes it catch up, so a search
 * must still find every entry committed before it, the index must follow
 * text that changes before it is indexed, and rows deleted before they were
 * indexed must leave it intact (FTS5's integrity-check says so).
 * On PostgreSQL (DLQ_TEST_STORE) the text is a stored tsvector kept in the
 * commit: the same tests assert that the index is current at once and that
 * every entry's vector is the one of its text as it is now.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "test_store_fixture.h"

/* search returns the total of a list with q. */
static int64_t search(struct fx *x, const char *q)
{
    struct dlq_filter f = {.q = q, .limit = 10};
    struct dlq_page p;
    assert_int_equal(dlq_store_list(x->s, &f, &p, x->err, sizeof x->err), DLQ_OK);
    int64_t n = p.total;
    dlq_page_free(&p);
    return n;
}

/* capture_msg stores one entry with message msg; its dlq_id goes to id. */
static void capture_msg(struct fx *x, const char *id, const char *msg, int64_t at)
{
    struct dlq_entry e;
    struct dlq_capture_result r;
    mk_entry(&e, id, "app.tasks.fts", at);
    fset(&e.exc_message, msg);
    assert_int_equal(dlq_store_capture(x->s, &e, 1, "test", &r, x->err, sizeof x->err), DLQ_OK);
    dlq_entry_clear(&e);
}

/* The tsvector of an entry's text as pg_schema.c defines it. */
#define PG_FTS_OF_TEXT                                                                             \
    "to_tsvector('simple', left(regexp_replace(coalesce(task_name, '') || ' ' ||"                  \
    " coalesce(exc_type, '') || ' ' || coalesce(exc_message, '') || ' ' ||"                        \
    " coalesce(exc_traceback, ''), '[^[:alnum:]]+', ' ', 'g'), 200000))"

/* integrity is 0 when the index agrees with the entries it covers:
 * FTS5's integrity-check on SQLite; on PostgreSQL, no entry's vector
 * differs from the one of its current text. */
static int integrity(struct fx *x)
{
    if (fx_on_pg())
        return (int)fx_int(
            x, NULL, "SELECT count(*) FROM entries WHERE fts IS DISTINCT FROM " PG_FTS_OF_TEXT);
    return fx_exec(x, "INSERT INTO entries_fts(entries_fts) VALUES('integrity-check')", NULL);
}

/* indexed_upto is how far the index reaches: SQLite's catch-up mark; on
 * PostgreSQL every committed entry is indexed (the newest id). */
static int64_t indexed_upto(struct fx *x)
{
    return fx_int(x, "SELECT upto FROM fts_state",
                  "SELECT max(id) FROM entries WHERE fts IS NOT NULL");
}

static void test_search_sees_fresh_entries(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZA1", "zebra crossing failed", 1000);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZA2", "quokka timeout", 2000);
    /* At once, whether or not the writer has indexed them yet. */
    assert_int_equal(search(x, "zebra"), 1);
    assert_int_equal(search(x, "quokka"), 1);
    assert_int_equal(search(x, "narwhal"), 0);
    /* The search made the index current. */
    assert_int_equal(indexed_upto(x), fx_int(x, "SELECT max(id) FROM entries", NULL));
    assert_int_equal(integrity(x), 0);
}

static void test_idle_writer_catches_up(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZB1", "ibis", 1000);
    int64_t max = fx_int(x, "SELECT max(id) FROM entries", NULL);
    /* No search: the writer indexes on its own once it is idle. */
    int caught = 0;
    for (int i = 0; i < 200 && !caught; i++) {
        caught = indexed_upto(x) >= max;
        if (!caught)
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
    }
    assert_true(caught);
    assert_int_equal(fx_int(x, "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'ibis'",
                            "SELECT count(*) FROM entries WHERE fts @@ 'ibis'::tsquery"),
                     1);
}

static void test_text_changed_before_indexing(void **state)
{
    struct fx *x = *state;
    const char *id = "dlq_01HZZZZZZZZZZZZZZZZZZZZZC1";
    capture_msg(x, id, "alpha broke", 1000);
    struct dlq_act a = {.action = DLQ_ACTION_RETRY, .now = 2000, .actor = "op"};
    assert_int_equal(dlq_store_act(x->s, id, &a, "job_01HZZZZZZZZZZZZZZZZZZZZZC2", NULL, NULL,
                                   x->err, sizeof x->err),
                     DLQ_OK);
    struct dlq_act f = {.action = DLQ_ACTION_REPLAY_FAILED,
                        .now = 3000,
                        .actor = "system",
                        .error_json = "{\"type\":\"OmegaError\",\"message\":\"omega broke\"}"};
    assert_int_equal(dlq_store_act(x->s, id, &f, NULL, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
    /* The index holds the text as it is now, whichever path indexed it. */
    assert_int_equal(search(x, "omega"), 1);
    assert_int_equal(search(x, "alpha"), 0);
    assert_int_equal(integrity(x), 0);
}

static void test_delete_before_indexing(void **state)
{
    struct fx *x = *state;
    /* The first write of a store indexes at once; the second waits for
     * the next catch-up, and is deleted before it comes. */
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZD1", "gecko", 5000);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZD2", "gecko too", 1000);
    int64_t by[DLQ_STATUS_COUNT] = {0}, n = 0;
    assert_int_equal(dlq_store_cleanup(x->s, 1u << DLQ_STATUS_PENDING_REVIEW, 2000, NULL, 0, 100,
                                       by, &n, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(search(x, "gecko"), 1);
    assert_int_equal(integrity(x), 0);
}

static void test_backlog_larger_than_a_step(void **state)
{
    struct fx *x = *state;
    enum { N = 12000, B = 500 };
    static struct dlq_entry e[B];
    static struct dlq_capture_result r[B];
    for (int i = 0; i < N / B; i++) {
        for (int j = 0; j < B; j++) {
            char id[40];
            snprintf(id, sizeof id, "dlq_01HZZZZZZZZZZZZZZZZ%07d", i * B + j);
            mk_entry(&e[j], id, "app.tasks.bulk", 1000 + i * B + j);
            fset(&e[j].exc_message, "walrus stampede");
        }
        assert_int_equal(dlq_store_capture(x->s, e, B, "test", r, x->err, sizeof x->err), DLQ_OK);
        for (int j = 0; j < B; j++)
            dlq_entry_clear(&e[j]);
    }
    assert_int_equal(search(x, "walrus"), N);
    assert_int_equal(integrity(x), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_search_sees_fresh_entries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idle_writer_catches_up, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_text_changed_before_indexing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_before_indexing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backlog_larger_than_a_step, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
