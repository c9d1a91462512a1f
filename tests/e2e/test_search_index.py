"""SQLite's full-text index lives in a file of its own (<db>.fts), kept by an
indexer thread beside the writer. Through the real server: a search right
after an ingest finds it; the index follows a replay's new error text; and
after a kill -9 with the index file deleted, the restarted server rebuilds
the index from the database and every search is exact again.

PostgreSQL keeps its index in the entry's row: this module is not collected
there (conftest.pytest_ignore_collect).
"""

from pathlib import Path

from conftest import ENTRIES, uid


def words(api, word):
    return api.total(q=word)


def test_search_sees_every_ingest_at_once(fresh_server):
    srv = fresh_server().start()
    a = srv.admin
    w = uid("wombat")
    for i in range(5):
        a.ingest_batch([{"task_name": "app.tasks.index", "exception":
                         {"type": "E", "message": f"{w} {i}-{k}"}} for k in range(200)])
        # No pause: the search waits for the indexer to cover the ingest.
        assert words(a, w) == 200 * (i + 1)
    srv.stop()


def test_index_follows_replay_error_text(fresh_server):
    srv = fresh_server().start()
    a = srv.admin
    old, new = uid("kestrel"), uid("pelican")
    i = a.ingest(task_name="app.tasks.index", exception={"type": "E", "message": old})
    assert words(a, old) == 1
    r = a.post(f"{ENTRIES}/{i}/retry", {})
    assert r.status_code == 200, r.text
    r = a.post(ENTRIES, {"task_name": "app.tasks.index", "replay_of": i,
                         "exception": {"type": "E", "message": new}})
    assert r.status_code == 200, r.text
    assert words(a, new) == 1
    assert words(a, old) == 0
    srv.stop()


def test_lost_index_file_is_rebuilt(fresh_server):
    srv = fresh_server().start()
    a = srv.admin
    w, gone = uid("quokka"), uid("dodo")
    a.ingest_batch([{"task_name": "app.tasks.index", "exception":
                     {"type": "E", "message": f"{w} {k}"}} for k in range(300)])
    d = a.ingest(task_name="app.tasks.index", exception={"type": "E", "message": gone})
    assert words(a, w) == 300 and words(a, gone) == 1
    assert a.delete(f"{ENTRIES}/{d}").status_code in (200, 204)
    srv.kill9()
    fts = [Path(srv.db + s) for s in (".fts", ".fts-wal", ".fts-shm")]
    assert fts[0].exists()
    for p in fts:
        p.unlink(missing_ok=True)
    srv.start()
    a = srv.admin
    assert words(a, w) == 300
    # Discarded is still stored: found, like before the loss.
    assert words(a, gone) == 1
    assert fts[0].exists()
    a.ingest(task_name="app.tasks.index", exception={"type": "E", "message": w})
    assert words(a, w) == 301
    srv.stop()


def thread_nice(pid):
    """thread_nice maps each thread name of process pid to its nice values."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        nice = int(stat[stat.rindex(")") + 2:].split()[16])  # field 19
        out.setdefault(name, set()).add(nice)
    return out


def test_indexer_yields_the_cpu_to_requests(fresh_server):
    """The indexer is background work: it runs at nice 10, the threads that
    answer requests and the writer at the server's own priority."""
    srv = fresh_server().start()
    nice = thread_nice(srv.proc.pid)
    # Every thread of the server's own has a name that says what it does.
    assert {"dlq-writer", "dlq-index", "dlq-checkpoint", "dlq-ops", "dlq-maint",
            "dlq-alerts", "dlq-spool", "dlq-jobs-timer", "dlq-webhook"} <= set(nice), nice
    assert nice.get("dlq-index") == {10}, nice
    assert nice.get("dlq-writer") == {0}, nice
    assert nice.get("MHD-worker") == {0}, nice
    # Lowered, it still indexes: a search finds what was just ingested.
    w = uid("numbat")
    srv.admin.ingest_batch([{"task_name": "app.tasks.index",
                             "exception": {"type": "E", "message": f"{w} {k}"}}
                            for k in range(50)])
    assert words(srv.admin, w) == 50
    srv.stop()
