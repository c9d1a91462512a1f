/*
 * test_store_fts.c: the full-text index. On SQLite it lives in a file of its
 * own (<db>.fts) kept by the indexer thread (src/store/sqlite/sq_fts.c):
 * captures do not index their text, and a search first waits for the
 * indexer, so a search must still find every entry committed before it; the
 * index must follow text that changes and entries that are deleted, before
 * or after they were indexed; a deleted entry's id is never given again
 * (the index could not tell the new entry from the old); and an index file
 * that is missing or belongs to another state of the database is rebuilt.
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
 * FTS5's integrity-check of the index file on SQLite; on PostgreSQL, no
 * entry's vector differs from the one of its current text. */
static int integrity(struct fx *x)
{
    if (fx_on_pg())
        return (int)fx_int(
            x, NULL, "SELECT count(*) FROM entries WHERE fts IS DISTINCT FROM " PG_FTS_OF_TEXT);
    return fx_exec(x, "INSERT INTO fts.entries_fts(entries_fts) VALUES('integrity-check')", NULL);
}

/* assert_agrees checks that a search for word finds exactly the entries
 * whose text holds it (word: lowercase letters, so LIKE is exact). */
static void assert_agrees(struct fx *x, const char *word)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM entries WHERE coalesce(task_name, '') || ' ' ||"
             " coalesce(exc_type, '') || ' ' || coalesce(exc_message, '') || ' ' ||"
             " coalesce(exc_traceback, '') LIKE '%%%s%%'",
             word);
    assert_int_equal(search(x, word), fx_int(x, sql, NULL));
}

/* indexed_upto is how far the index reaches: the indexer's mark on SQLite;
 * on PostgreSQL every committed entry is indexed (the newest id). */
static int64_t indexed_upto(struct fx *x)
{
    return fx_int(x, "SELECT upto FROM fts.fts_state",
                  "SELECT max(id) FROM entries WHERE fts IS NOT NULL");
}

/* reopen closes the store and opens it again on the same location. */
static void reopen(struct fx *x)
{
    dlq_store_close(x->s);
    x->s = NULL;
    assert_int_equal(fx_open(x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
}

/* cleanup_before deletes the pending entries that failed before `before`. */
static int64_t cleanup_before(struct fx *x, int64_t before)
{
    int64_t by[DLQ_STATUS_COUNT] = {0}, n = 0;
    assert_int_equal(dlq_store_cleanup(x->s, 1u << DLQ_STATUS_PENDING_REVIEW, before, NULL, 0, 100,
                                       by, &n, x->err, sizeof x->err),
                     DLQ_OK);
    return n;
}

/* replay_fails retries entry id and reports the replay failed with a new
 * exception whose message is msg (the entry's text changes). */
static void replay_fails(struct fx *x, const char *id, const char *rtid, const char *error_json)
{
    struct dlq_act a = {.action = DLQ_ACTION_RETRY, .now = 2000, .actor = "op"};
    assert_int_equal(dlq_store_act(x->s, id, &a, rtid, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
    struct dlq_act f = {.action = DLQ_ACTION_REPLAY_FAILED,
                        .now = 3000,
                        .actor = "system",
                        .error_json = error_json};
    assert_int_equal(dlq_store_act(x->s, id, &f, NULL, NULL, NULL, x->err, sizeof x->err), DLQ_OK);
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

static void test_indexer_catches_up_on_its_own(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZB1", "ibis", 1000);
    int64_t max = fx_int(x, "SELECT max(id) FROM entries", NULL);
    /* No search: the indexer indexes on its own. */
    int caught = 0;
    for (int i = 0; i < 200 && !caught; i++) {
        caught = indexed_upto(x) >= max;
        if (!caught)
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
    }
    assert_true(caught);
    assert_int_equal(fx_int(x,
                            "SELECT count(*) FROM fts.entries_fts WHERE entries_fts MATCH 'ibis'",
                            "SELECT count(*) FROM entries WHERE fts @@ 'ibis'::tsquery"),
                     1);
}

static void test_text_changed_before_indexing(void **state)
{
    struct fx *x = *state;
    const char *id = "dlq_01HZZZZZZZZZZZZZZZZZZZZZC1";
    capture_msg(x, id, "alpha broke", 1000);
    replay_fails(x, id, "job_01HZZZZZZZZZZZZZZZZZZZZZC2",
                 "{\"type\":\"OmegaError\",\"message\":\"omega broke\"}");
    /* The index holds the text as it is now, whichever path indexed it. */
    assert_int_equal(search(x, "omega"), 1);
    assert_int_equal(search(x, "alpha"), 0);
    assert_agrees(x, "broke");
    assert_int_equal(integrity(x), 0);
}

static void test_text_changed_after_indexing(void **state)
{
    struct fx *x = *state;
    const char *id = "dlq_01HZZZZZZZZZZZZZZZZZZZZZC3";
    capture_msg(x, id, "sigma broke", 1000);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZC4", "sigma stays", 1001);
    assert_int_equal(search(x, "sigma"), 2); /* both indexed now */
    replay_fails(x, id, "job_01HZZZZZZZZZZZZZZZZZZZZZC5",
                 "{\"type\":\"TauError\",\"message\":\"tau broke\"}");
    replay_fails(x, id, "job_01HZZZZZZZZZZZZZZZZZZZZZC6",
                 "{\"type\":\"UpsilonError\",\"message\":\"upsilon broke\"}");
    /* Two changes since it was indexed: the old text goes, the newest is in. */
    assert_int_equal(search(x, "sigma"), 1);
    assert_int_equal(search(x, "tau"), 0);
    assert_int_equal(search(x, "upsilon"), 1);
    assert_agrees(x, "broke");
    assert_int_equal(integrity(x), 0);
}

static void test_delete_before_indexing(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZD1", "gecko", 5000);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZD2", "gecko too", 1000);
    assert_int_equal(cleanup_before(x, 2000), 1);
    assert_int_equal(search(x, "gecko"), 1);
    assert_int_equal(integrity(x), 0);
}

static void test_delete_after_indexing(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZD3", "newt", 5000);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZD4", "newt too", 1000);
    assert_int_equal(search(x, "newt"), 2);
    assert_int_equal(cleanup_before(x, 2000), 1);
    assert_int_equal(search(x, "newt"), 1);
    assert_agrees(x, "newt");
    assert_int_equal(integrity(x), 0);
}

static void test_deleted_id_never_given_again(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZE1", "heron", 1000);
    int64_t old = fx_int(x, "SELECT max(id) FROM entries", NULL);
    assert_int_equal(search(x, "heron"), 1);
    /* The newest entry goes; across a restart, its id stays used. */
    assert_int_equal(cleanup_before(x, 2000), 1);
    reopen(x);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZE2", "ferret", 3000);
    assert_true(fx_int(x, "SELECT max(id) FROM entries", NULL) > old);
    assert_int_equal(search(x, "heron"), 0);
    assert_int_equal(search(x, "ferret"), 1);
    assert_int_equal(integrity(x), 0);
}

/* remove_index deletes SQLite's index file and its WAL and shared memory. */
static void remove_index(struct fx *x)
{
    static const char *const suffix[] = {".fts", ".fts-wal", ".fts-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s%s", x->path, suffix[i]);
        unlink(p);
    }
}

static void test_missing_index_is_rebuilt(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZF1", "lynx one", 1000);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZF2", "lynx two", 2000);
    assert_int_equal(search(x, "lynx"), 2);
    dlq_store_close(x->s);
    x->s = NULL;
    remove_index(x);
    assert_int_equal(fx_open(x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
    assert_int_equal(search(x, "lynx"), 2);
    assert_int_equal(integrity(x), 0);
}

static void test_index_of_another_state_is_rebuilt(void **state)
{
    struct fx *x = *state;
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZG1", "otter", 1000);
    assert_int_equal(search(x, "otter"), 1);
    dlq_store_close(x->s);
    x->s = NULL;
    /* As if dlq.db were replaced by another database (a restored backup)
     * whose entry says something else: the index file no longer fits. */
    assert_int_equal(fx_exec(x,
                             "UPDATE entries SET exc_message = 'badger';"
                             " UPDATE id_floor SET ident = 'another'",
                             NULL),
                     0);
    assert_int_equal(fx_open(x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
    assert_int_equal(search(x, "badger"), 1);
    assert_int_equal(search(x, "otter"), 0);
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

/* The SQLite store's own migration step (src/store/sqlite/sq_schema.c). */
int dlq_sq_schema_step(sqlite3 *db, int to, char *err, size_t errlen);

static void test_upgrade_moves_the_index_out(void **state)
{
    struct fx *x = *state;
    dlq_store_close(x->s);
    x->s = NULL;
    unlink(x->path);
    remove_index(x);
    /* A database as dlq left it before step 7: entries indexed in dlq.db
     * (and, before step 8, an index on op_id). */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(x->path, &db), SQLITE_OK);
    for (int step = 1; step <= 6; step++)
        assert_int_equal(dlq_sq_schema_step(db, step, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO entries(dlq_id, status, failed_at, task_name,"
                                  " processed_at, exc_message) VALUES"
                                  " ('dlq_01HZZZZZZZZZZZZZZZZZZZZZH1', 1, 1000, 'a.b', 1000,"
                                  " 'puffin one'), ('dlq_01HZZZZZZZZZZZZZZZZZZZZZH2', 1, 2000,"
                                  " 'a.b', 2000, 'puffin two');"
                                  "INSERT INTO entries_fts(entries_fts) VALUES('rebuild');"
                                  "UPDATE fts_state SET upto = 2;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(fx_open(x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
    assert_int_equal(
        fx_int(x, "SELECT count(*) FROM sqlite_schema WHERE name = 'entries_fts'", NULL), 0);
    /* Step 8 dropped the op_id index the database had since step 2. */
    assert_int_equal(
        fx_int(x, "SELECT count(*) FROM sqlite_schema WHERE name = 'ix_entries_op'", NULL), 0);
    assert_int_equal(search(x, "puffin"), 2);
    capture_msg(x, "dlq_01HZZZZZZZZZZZZZZZZZZZZZH3", "puffin three", 3000);
    assert_int_equal(search(x, "puffin"), 3);
    assert_agrees(x, "puffin");
    assert_int_equal(integrity(x), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_search_sees_fresh_entries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_indexer_catches_up_on_its_own, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_text_changed_before_indexing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_text_changed_after_indexing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_before_indexing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_after_indexing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_id_never_given_again, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backlog_larger_than_a_step, fx_setup, fx_teardown),
    };
    /* SQLite's index file: PostgreSQL has none to lose or mismatch. */
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test_setup_teardown(test_missing_index_is_rebuilt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_index_of_another_state_is_rebuilt, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_moves_the_index_out, fx_setup, fx_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!fx_on_pg())
        failed += cmocka_run_group_tests(sqlite_only, NULL, NULL);
    return failed;
}
