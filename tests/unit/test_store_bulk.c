/*
 * test_store_bulk.c: the store methods behind bulk operations: selecting ids
 * by filter in keyset order from a stored position (and skipping entries an
 * op already replayed), the dry-run preview, and the operations table (a
 * final state is never undone by a late progress save; finish refuses an op
 * that is not running), and a bulk replay's progress saved in the replays'
 * own commit, whose call returns at the commit (still synced, with
 * durability full); and a replay op's rows read ahead by its select
 * (SQLite) are never used once the entry changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_store_fixture.h"

#define N 25

static int setup(void **state)
{
    static struct fx x;
    if (fx_mkdir(&x) != 0 || fx_open(&x, DLQ_DURABILITY_NORMAL, 1) != DLQ_OK)
        return -1;
    struct dlq_entry es[N];
    struct dlq_capture_result res[N];
    for (int i = 0; i < N; i++) {
        char id[40];
        snprintf(id, sizeof id, "dlq_%02d", i);
        /* failed_at descends with i, so keyset order is the reverse of ids */
        mk_entry(&es[i], id, i % 5 == 0 ? "task.b" : "task.a", 1000000 - i * 10);
        if (i % 2)
            fset(&es[i].exc_type, "KeyError");
    }
    int code = dlq_store_capture(x.s, es, N, "test", res, x.err, sizeof x.err);
    for (int i = 0; i < N; i++)
        dlq_entry_clear(&es[i]);
    *state = &x;
    return code == DLQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    fx_rm(*state);
    return 0;
}

static void test_select_keyset(void **state)
{
    struct fx *x = *state;
    struct dlq_filter f;
    dlq_filter_init(&f);
    f.status_mask = 1u << DLQ_STATUS_PENDING_REVIEW;
    char ids[10][40], pos[128] = "";
    size_t n = 0, total = 0;
    int expect = N - 1;
    do {
        assert_int_equal(
            dlq_store_bulk_select(x->s, &f, pos, NULL, 10, ids, &n, pos, x->err, sizeof x->err),
            DLQ_OK);
        for (size_t i = 0; i < n; i++) {
            char want[40];
            snprintf(want, sizeof want, "dlq_%02d", expect--);
            assert_string_equal(ids[i], want);
        }
        total += n;
    } while (n == 10);
    assert_int_equal(total, N);
    /* a filter narrows; a malformed position is refused */
    f.task_name = "task.b";
    assert_int_equal(
        dlq_store_bulk_select(x->s, &f, "", NULL, 10, ids, &n, pos, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(n, 5);
    assert_string_equal(ids[0], "dlq_20");
    assert_int_equal(
        dlq_store_bulk_select(x->s, &f, "junk", NULL, 10, ids, &n, pos, x->err, sizeof x->err),
        DLQ_E_INVAL);
}

static void test_preview(void **state)
{
    struct fx *x = *state;
    struct dlq_filter f;
    struct dlq_bulk_preview p;
    dlq_filter_init(&f);
    assert_int_equal(dlq_store_bulk_preview(x->s, &f, 1000, &p, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(p.matched, N);
    assert_int_equal(p.ntask, 2);
    assert_string_equal(p.by_task[0].name, "task.a");
    assert_int_equal(p.by_task[0].n, 20);
    assert_int_equal(p.by_task[1].n, 5);
    assert_int_equal(p.nexc, 2);
    assert_int_equal(p.by_exc[0].n + p.by_exc[1].n, N);
    assert_int_equal(p.nsample, 20);
    assert_string_equal(p.sample_ids[0], "dlq_24");
    dlq_bulk_preview_clear(&p);
    assert_int_equal(dlq_store_bulk_preview(x->s, &f, 3, &p, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(p.matched, 3);
    assert_int_equal(p.nsample, 3);
    dlq_bulk_preview_clear(&p);
    f.q = "+++";
    assert_int_equal(dlq_store_bulk_preview(x->s, &f, 3, &p, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(p.matched, 0);
    dlq_bulk_preview_clear(&p);
}

/* mk_op fills op as a running replay op of 10 matches by alice, created at
 * 5000 (borrowed filter and params). */
static void mk_op(struct dlq_op *op, const char *id)
{
    memset(op, 0, sizeof *op);
    snprintf(op->id, sizeof op->id, "%s", id);
    snprintf(op->state, sizeof op->state, "running");
    snprintf(op->actor, sizeof op->actor, "alice");
    op->filter = (char *)"{}";
    op->params = (char *)"{}";
    op->matched = 10;
    op->created_at = op->updated_at = 5000;
}

static void test_ops_table(void **state)
{
    struct fx *x = *state;
    struct dlq_op op, got;
    mk_op(&op, "op_1");
    snprintf(op.tenant_id, sizeof op.tenant_id, "t1");
    op.filter = (char *)"{\"queue\":\"q\"}";
    assert_int_equal(dlq_store_op_save(x->s, &op, x->err, sizeof x->err), DLQ_OK);
    op.processed = 4;
    snprintf(op.cursor, sizeof op.cursor, "1:2");
    assert_int_equal(dlq_store_op_save(x->s, &op, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_op_get(x->s, "op_1", "t1", &got, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(got.processed, 4);
    assert_string_equal(got.cursor, "1:2");
    assert_string_equal(got.filter, "{\"queue\":\"q\"}");
    dlq_op_clear(&got);
    assert_int_equal(dlq_store_op_get(x->s, "op_1", "t2", &got, x->err, sizeof x->err),
                     DLQ_E_NOTFOUND);
    assert_int_equal(
        dlq_store_op_finish(x->s, "op_1", "t2", "cancelled", NULL, 6000, x->err, sizeof x->err),
        DLQ_E_NOTFOUND);
    assert_int_equal(
        dlq_store_op_finish(x->s, "op_1", NULL, "cancelled", NULL, 6000, x->err, sizeof x->err),
        DLQ_OK);
    assert_int_equal(
        dlq_store_op_finish(x->s, "op_1", NULL, "done", NULL, 7000, x->err, sizeof x->err),
        DLQ_E_CONFLICT);
    /* a late progress save keeps the final state */
    op.processed = 6;
    assert_int_equal(dlq_store_op_save(x->s, &op, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(dlq_store_op_get(x->s, "op_1", NULL, &got, x->err, sizeof x->err), DLQ_OK);
    assert_string_equal(got.state, "cancelled");
    assert_int_equal(got.finished_at, 6000);
    assert_int_equal(got.processed, 6);
    dlq_op_clear(&got);
    struct dlq_op *v;
    size_t n;
    assert_int_equal(dlq_store_op_list(x->s, NULL, "running", 10, &v, &n, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(n, 0);
    free(v);
    assert_int_equal(dlq_store_op_list(x->s, "t1", NULL, 10, &v, &n, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(n, 1);
    dlq_op_clear(&v[0]);
    free(v);
}

/* act_many with a->progress saves the op in the same commit: n more
 * processed, the refused ids more skipped, the cursor as given. */
static void test_progress_in_the_replays_commit(void **state)
{
    struct fx *x = *state;
    struct dlq_op op, got;
    mk_op(&op, "op_2");
    op.processed = 1;
    assert_int_equal(dlq_store_op_save(x->s, &op, x->err, sizeof x->err), DLQ_OK);

    const char *ids[3] = {"dlq_03", "dlq_nope", "dlq_04"};
    const char *rids[3] = {"job_p1", "job_p2", "job_p3"};
    struct dlq_act_result res[3];
    struct dlq_op progress = op;
    snprintf(progress.cursor, sizeof progress.cursor, "900:7");
    progress.updated_at = 6000;
    struct dlq_act a = {.action = DLQ_ACTION_RETRY,
                        .now = 6000,
                        .actor = "alice",
                        .op_id = "op_2",
                        .progress = &progress};
    assert_int_equal(dlq_store_act_many(x->s, ids, 3, &a, rids, NULL, res, x->err, sizeof x->err),
                     DLQ_OK);
    assert_int_equal(res[0].code, DLQ_OK);
    assert_int_equal(res[1].code, DLQ_E_NOTFOUND);
    assert_int_equal(res[2].code, DLQ_OK);
    assert_int_equal(dlq_store_op_get(x->s, "op_2", NULL, &got, x->err, sizeof x->err), DLQ_OK);
    assert_int_equal(got.processed, 4);
    assert_int_equal(got.skipped, 1);
    assert_string_equal(got.cursor, "900:7");
    assert_int_equal(got.updated_at, 6000);
    assert_string_equal(got.state, "running");
    dlq_op_clear(&got);
}

/* With durability full a chunk returns at its commit and the syncer still
 * syncs it: many chunks in a row, with durable writes between some, all end
 * up on the disk (reopened), and nothing waits forever. */
static void test_chunks_at_commit_with_full_durability(void **state)
{
    (void)state;
    enum { M = 40 };
    struct fx x;
    struct dlq_entry es[M];
    struct dlq_capture_result cr[M];
    char ids[M][40], rids[M][40];
    assert_int_equal(fx_mkdir(&x), 0);
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_FULL, 1), DLQ_OK);
    for (int i = 0; i < M; i++) {
        snprintf(ids[i], sizeof ids[i], "dlq_F%02d", i);
        snprintf(rids[i], sizeof rids[i], "job_F%02d", i);
        mk_entry(&es[i], ids[i], "task.full", 1000 + i);
    }
    assert_int_equal(dlq_store_capture(x.s, es, M, "test", cr, x.err, sizeof x.err), DLQ_OK);
    struct dlq_op op;
    mk_op(&op, "op_F");
    op.matched = M;
    assert_int_equal(dlq_store_op_save(x.s, &op, x.err, sizeof x.err), DLQ_OK);
    for (int i = 0; i < M; i += 2) {
        const char *idp[2] = {ids[i], ids[i + 1]}, *ridp[2] = {rids[i], rids[i + 1]};
        struct dlq_act_result res[2];
        struct dlq_act a = {.action = DLQ_ACTION_RETRY,
                            .now = 6000,
                            .actor = "t",
                            .op_id = "op_F",
                            .progress = &op};
        assert_int_equal(dlq_store_act_many(x.s, idp, 2, &a, ridp, NULL, res, x.err, sizeof x.err),
                         DLQ_OK);
        op.processed += 2;
        if (i % 10 == 0) { /* a durable write now and then */
            struct dlq_entry e;
            char id[40];
            snprintf(id, sizeof id, "dlq_G%02d", i);
            mk_entry(&e, id, "task.other", 1);
            assert_int_equal(dlq_store_capture(x.s, &e, 1, "test", cr, x.err, sizeof x.err),
                             DLQ_OK);
            dlq_entry_clear(&e);
        }
    }
    dlq_store_close(x.s);
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_FULL, 0), DLQ_OK);
    struct dlq_op got;
    assert_int_equal(dlq_store_op_get(x.s, "op_F", NULL, &got, x.err, sizeof x.err), DLQ_OK);
    assert_int_equal(got.processed, M);
    dlq_op_clear(&got);
    struct dlq_entry e;
    assert_int_equal(dlq_store_get(x.s, ids[M - 1], NULL, &e, NULL, NULL, x.err, sizeof x.err),
                     DLQ_OK);
    assert_int_equal(e.status, DLQ_STATUS_RETRIED);
    dlq_entry_clear(&e);
    for (int i = 0; i < M; i++)
        dlq_entry_clear(&es[i]);
    fx_rm(&x);
}

/* ra_select selects up to n pending "task.ra" entries from pos for op_R
 * (on SQLite this reads them ahead for the writer); returns how many. */
static size_t ra_select(struct fx *x, char *pos, char (*ids)[40], size_t n)
{
    struct dlq_filter f;
    dlq_filter_init(&f);
    f.status_mask = 1u << DLQ_STATUS_PENDING_REVIEW;
    f.task_name = "task.ra";
    size_t got = 0;
    assert_int_equal(
        dlq_store_bulk_select(x->s, &f, pos, "op_R", n, ids, &got, pos, x->err, sizeof x->err),
        DLQ_OK);
    return got;
}

/* ra_replay replays n ids as a chunk of op_R (job ids job_<id>). */
static void ra_replay(struct fx *x, char (*ids)[40], size_t n, const char *tenant,
                      struct dlq_act_result *res)
{
    const char *idp[8], *ridp[8];
    char rids[8][48];
    struct dlq_op op;
    mk_op(&op, "op_R");
    for (size_t i = 0; i < n; i++) {
        snprintf(rids[i], sizeof rids[i], "job_%s", ids[i]);
        idp[i] = ids[i];
        ridp[i] = rids[i];
    }
    struct dlq_act a = {.action = DLQ_ACTION_RETRY,
                        .now = 7000,
                        .actor = "t",
                        .tenant = tenant,
                        .op_id = "op_R",
                        .progress = &op};
    assert_int_equal(dlq_store_act_many(x->s, idp, n, &a, ridp, NULL, res, x->err, sizeof x->err),
                     DLQ_OK);
}

/* job_count counts the jobs of entry id whose args, queue and metadata are
 * those given. */
static int64_t job_count(struct fx *x, const char *id, const char *args, const char *queue,
                         const char *metadata)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM jobs WHERE dlq_id = '%s' AND args = '%s' AND queue = '%s'"
             " AND metadata = '%s'",
             id, args, queue, metadata);
    return fx_int(x, sql, NULL);
}

/* A replay op's next chunk is selected (and on SQLite read ahead) while
 * the current one is written. Whatever changes an entry between the two,
 * through the store or behind its back, the replay acts on the entry as it
 * is then; unchanged, the job carries the entry's args, kwargs, metadata. */
static void test_read_ahead_never_stale(void **state)
{
    (void)state;
    enum { M = 8 };
    struct fx x;
    struct dlq_entry es[M];
    struct dlq_capture_result cr[M];
    assert_int_equal(fx_mkdir(&x), 0);
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
    for (int i = 0; i < M; i++) {
        char id[40];
        snprintf(id, sizeof id, "dlq_RA%d", i);
        mk_entry(&es[i], id, "task.ra", 1000 + i);
        fset(&es[i].task_args, "[1,\"a\"]");
        fset(&es[i].metadata, "{\"m\":1}");
        fset(&es[i].tenant_id, "t1");
    }
    assert_int_equal(dlq_store_capture(x.s, es, M, "test", cr, x.err, sizeof x.err), DLQ_OK);
    for (int i = 0; i < M; i++)
        dlq_entry_clear(&es[i]);
    struct dlq_op op;
    mk_op(&op, "op_R");
    assert_int_equal(dlq_store_op_save(x.s, &op, x.err, sizeof x.err), DLQ_OK);
    char ids[M][40], pos[128] = "";
    struct dlq_act_result res[M];

    /* Changed through the store: resolved after the select, refused. */
    assert_int_equal(ra_select(&x, pos, ids, 2), 2);
    struct dlq_act r = {.action = DLQ_ACTION_RESOLVE, .now = 6500, .actor = "bob"};
    assert_int_equal(dlq_store_act(x.s, ids[0], &r, NULL, NULL, NULL, x.err, sizeof x.err), DLQ_OK);
    ra_replay(&x, ids, 2, NULL, res);
    assert_int_equal(res[0].code, DLQ_E_CONFLICT);
    assert_int_equal(res[1].code, DLQ_OK);
    assert_int_equal(job_count(&x, ids[0], "[1,\"a\"]", "default", "{\"m\":1}"), 0);
    assert_int_equal(job_count(&x, ids[1], "[1,\"a\"]", "default", "{\"m\":1}"), 1);

    /* Changed behind the store's back (another connection): the job has
     * the new args and queue. */
    assert_int_equal(ra_select(&x, pos, ids, 2), 2);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE entries SET task_args = '[\"fresh\"]', queue = 'q.fresh' WHERE dlq_id = '%s'",
             ids[0]);
    assert_int_equal(fx_exec(&x, sql, NULL), 0);
    ra_replay(&x, ids, 2, NULL, res);
    assert_int_equal(res[0].code, DLQ_OK);
    assert_int_equal(job_count(&x, ids[0], "[\"fresh\"]", "q.fresh", "{\"m\":1}"), 1);
    assert_int_equal(job_count(&x, ids[1], "[1,\"a\"]", "default", "{\"m\":1}"), 1);

    /* Another tenant's op finds none of them. */
    assert_int_equal(ra_select(&x, pos, ids, 2), 2);
    ra_replay(&x, ids, 2, "t2", res);
    assert_int_equal(res[0].code, DLQ_E_NOTFOUND);
    assert_int_equal(res[1].code, DLQ_E_NOTFOUND);

    /* Unchanged: replayed with the entry's payload, once each. */
    pos[0] = '\0';
    assert_int_equal(ra_select(&x, pos, ids, M), 4);
    ra_replay(&x, ids, 4, "t1", res);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(res[i].code, DLQ_OK);
        assert_int_equal(job_count(&x, ids[i], "[1,\"a\"]", "default", "{\"m\":1}"), 1);
    }
    assert_int_equal(fx_int(&x, "SELECT count(*) FROM jobs", NULL), 7);
    fx_rm(&x);
}

/* A chunk larger than the statements that insert its events and jobs
 * together (32, 8 and 1 rows): every entry gets one event and one job, with
 * its own payload, and the jobs are created in the chunk's order. */
static void test_chunk_rows_in_order(void **state)
{
    (void)state;
    enum { M = 43 };
    struct fx x;
    struct dlq_entry es[M];
    struct dlq_capture_result cr[M];
    char ids[M][40], rids[M][40], args[M][16];
    const char *idp[M], *ridp[M];
    assert_int_equal(fx_mkdir(&x), 0);
    assert_int_equal(fx_open(&x, DLQ_DURABILITY_NORMAL, 1), DLQ_OK);
    for (int i = 0; i < M; i++) {
        snprintf(ids[i], sizeof ids[i], "dlq_MR%02d", i);
        snprintf(rids[i], sizeof rids[i], "job_MR%02d", i);
        snprintf(args[i], sizeof args[i], "[%d]", i);
        mk_entry(&es[i], ids[i], "task.mr", 1000 + i);
        fset(&es[i].task_args, args[i]);
        idp[i] = ids[i];
        ridp[i] = rids[i];
    }
    assert_int_equal(dlq_store_capture(x.s, es, M, "test", cr, x.err, sizeof x.err), DLQ_OK);
    for (int i = 0; i < M; i++)
        dlq_entry_clear(&es[i]);
    struct dlq_op op;
    mk_op(&op, "op_MR");
    assert_int_equal(dlq_store_op_save(x.s, &op, x.err, sizeof x.err), DLQ_OK);
    struct dlq_filter f;
    dlq_filter_init(&f);
    f.task_name = "task.mr";
    char sel[M][40], pos[128] = "";
    size_t n = 0;
    assert_int_equal(
        dlq_store_bulk_select(x.s, &f, pos, "op_MR", M, sel, &n, pos, x.err, sizeof x.err), DLQ_OK);
    assert_int_equal(n, M);
    struct dlq_act_result res[M];
    struct dlq_act a = {
        .action = DLQ_ACTION_RETRY, .now = 7000, .actor = "t", .op_id = "op_MR", .progress = &op};
    assert_int_equal(dlq_store_act_many(x.s, idp, M, &a, ridp, NULL, res, x.err, sizeof x.err),
                     DLQ_OK);
    for (int i = 0; i < M; i++)
        assert_int_equal(res[i].code, DLQ_OK);
    assert_int_equal(fx_int(&x,
                            "SELECT count(*) FROM jobs j JOIN entries e ON e.dlq_id = j.dlq_id"
                            " WHERE e.task_name = 'task.mr' AND j.args = e.task_args"
                            " AND j.job_id = 'job_MR' || substr(e.dlq_id, 7)",
                            NULL),
                     M);
    assert_int_equal(fx_int(&x,
                            "SELECT count(*) FROM jobs a JOIN jobs b ON a.job_id < b.job_id"
                            " AND a.id > b.id WHERE a.task_name = 'task.mr'"
                            " AND b.task_name = 'task.mr'",
                            NULL),
                     0);
    assert_int_equal(fx_int(&x,
                            "SELECT count(DISTINCT v.entry_id) FROM entry_events v"
                            " JOIN entries e ON e.id = v.entry_id"
                            " WHERE e.task_name = 'task.mr' AND v.event = 'replayed'",
                            NULL),
                     M);
    assert_int_equal(fx_int(&x,
                            "SELECT count(*) FROM entry_events v JOIN entries e"
                            " ON e.id = v.entry_id WHERE e.task_name = 'task.mr'",
                            NULL),
                     M); /* one each, none twice */
    fx_rm(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_keyset),
        cmocka_unit_test(test_preview),
        cmocka_unit_test(test_ops_table),
        cmocka_unit_test(test_progress_in_the_replays_commit),
        cmocka_unit_test(test_chunks_at_commit_with_full_durability),
        cmocka_unit_test(test_read_ahead_never_stale),
        cmocka_unit_test(test_chunk_rows_in_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
