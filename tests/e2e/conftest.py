"""Black-box test harness for dlq: starts the real `dlq serve` binary.

Every test talks to a real server over loopback HTTP. `DlqServer` starts the
binary on a free port with a fresh SQLite file under the test's tmp dir, with
DLQ_ADMIN_TOKEN set, waits for /healthz, and stops it with SIGTERM (it must
exit 0 within 10 s). The server's stdout and stderr go to files next to the
database; when a test fails, the tail of every running server's stderr is
attached to the report. Run with Debian's interpreter:

    /usr/bin/python3 -m pytest tests/e2e [--dlq-bin build/dlq]
"""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ADMIN_SECRET = "e2e-admin-" + "s3cr3t" * 4
BANNER_RE = re.compile(r"^dlq (\S+) listening on http://([0-9.]+):(\d+)/\s*$", re.M)
ID_RE = re.compile(r"^dlq_[0-9A-HJKMNP-TV-Z]{26}$")
TOK_RE = re.compile(r"^tok_[0-9A-HJKMNP-TV-Z]{26}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")

ENTRIES = "/api/v1/dlq/entries"
BATCH = "/api/v1/dlq/entries/batch"
TOKENS = "/api/v1/tokens"

# The seed 000 entry fields, then DESIGN.md section 3's additions, in order.
ENTRY_KEYS = [
    "dlq_id", "original_task_id", "task_name", "task_args", "task_kwargs",
    "exception", "tenant_id", "retries_attempted", "failed_at", "processed_at",
    "status", "retry_count", "last_retry_at", "retry_task_id", "resolved_at",
    "resolution_notes", "queue", "priority", "reason", "error_code",
    "fingerprint", "resolution_type", "resolved_by", "max_replays",
    "expires_at", "metadata", "context", "idempotency_key",
]

_RUNNING = []  # servers alive now, for failure reports


def pytest_addoption(parser):
    parser.addoption("--dlq-bin", default=os.environ.get("DLQ_BIN", str(REPO / "build" / "dlq")),
                     help="path of the dlq binary under test (default <repo>/build/dlq)")
    parser.addoption("--dlq-store", default=os.environ.get("DLQ_TEST_STORE", "sqlite"),
                     help="the backend every server runs on: sqlite (a file per server, the"
                          " default) or a postgres:// URL (a schema per server)")


# The backend under test: "sqlite", or the URL of a PostgreSQL database in
# which every server gets a schema of its own. Set once per session.
STORE = {"url": "sqlite"}


def pytest_configure(config):
    STORE["url"] = config.getoption("--dlq-store")


def pytest_ignore_collect(collection_path, config):
    """Tests of several servers on one database exist only on PostgreSQL (a
    SQLite file belongs to one process), tests of SQLite's search index file
    only on SQLite: not collected elsewhere, so never counted as passed or
    skipped there."""
    pg = config.getoption("--dlq-store").startswith(("postgres://", "postgresql://"))
    if collection_path.name == "test_multinode.py":
        return not pg
    # SQLite's index file (src/store/sqlite/sq_fts.c); PostgreSQL has none.
    if collection_path.name == "test_search_index.py":
        return pg
    return None


def on_postgres():
    return STORE["url"].startswith(("postgres://", "postgresql://"))


def store_location(workdir):
    """store_location names a fresh store for a server working in workdir."""
    if not on_postgres():
        return str(Path(workdir) / "dlq.db")
    sep = "&" if "?" in STORE["url"] else "?"
    return f"{STORE['url']}{sep}schema=e2e_{uuid.uuid4().hex[:16]}"


def pg_split(location):
    """pg_split takes dlq's own schema= parameter out of a postgres URL:
    returns (the URL libpq and psql understand, the schema name or None)."""
    parts = urllib.parse.urlsplit(location)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
    return urllib.parse.urlunsplit(parts._replace(query=rest)), schema


def psql(location, sql, timeout=30):
    """psql runs sql in the schema of a postgres store location and returns
    its unaligned output (psql of Debian's postgresql-client)."""
    url, schema = pg_split(location)
    env = dict(os.environ, PGOPTIONS=f"-c search_path={schema}" if schema else "")
    r = subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, env=env, timeout=timeout)
    assert r.returncode == 0, f"psql failed: {sql}\n{r.stderr}"
    return r.stdout


class StoreLock:
    """StoreLock holds the store's write lock from outside the server, as
    another writer would, until release(): readers go on, writers wait
    (the server's busy timeout, then the spool). SQLite: BEGIN IMMEDIATE on
    the file. PostgreSQL: a psql session holds LOCK TABLE entries IN
    EXCLUSIVE MODE (plain SELECTs pass, every write waits) in the server's
    schema; release ends that session's backend."""

    def __init__(self, location):
        self.location = str(location)
        if not self.location.startswith(("postgres://", "postgresql://")):
            self.c = sqlite3.connect(self.location, timeout=10, isolation_level=None)
            self.c.execute("BEGIN IMMEDIATE")
            return
        self.c = None
        url, schema = pg_split(self.location)
        self.app = f"dlq-e2e-lock-{uuid.uuid4().hex[:12]}"
        env = dict(os.environ, PGOPTIONS=f"-c search_path={schema}", PGAPPNAME=self.app)
        self.proc = subprocess.Popen(
            ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
             "BEGIN; LOCK TABLE entries IN EXCLUSIVE MODE; SELECT pg_sleep(3600)"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 20
        while self._held() == 0:
            assert self.proc.poll() is None, f"lock session ended: {self.proc.stderr.read()}"
            assert time.monotonic() < deadline, "lock not granted within 20 s"
            time.sleep(0.05)

    def _held(self):
        return int(psql(self.location, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a"
                        f" USING (pid) WHERE a.application_name = '{self.app}'"
                        " AND l.mode = 'ExclusiveLock' AND l.granted"
                        " AND l.relation = 'entries'::regclass").strip())

    def release(self):
        if self.c is not None:
            self.c.execute("ROLLBACK")
            self.c.close()
            return
        psql(self.location, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             f" WHERE application_name = '{self.app}'")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


def stored_bytes(srv):
    """stored_bytes is everything the store of srv keeps on disk as bytes to
    grep: the SQLite files (dlq.db, -wal, -shm), or a pg_dump of the
    server's PostgreSQL schema (its rows as COPY text)."""
    if not srv.db.startswith(("postgres://", "postgresql://")):
        return b"".join(p.read_bytes() for p in Path(srv.db).parent.glob(Path(srv.db).name + "*"))
    url, schema = pg_split(srv.db)
    r = subprocess.run(["pg_dump", "--schema", schema, url], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


@pytest.fixture(scope="session")
def dlq_bin(pytestconfig):
    path = Path(pytestconfig.getoption("--dlq-bin")).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"dlq binary not found or not executable: {path} (build it, or pass --dlq-bin)")
    return str(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(_RUNNING):
            rep.sections.append((f"dlq stderr tail ({srv.stderr_path})", srv.stderr_tail()))


def free_port():
    """free_port returns a loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uid(prefix="t"):
    """uid returns a short unique string, to keep tests apart on a shared server."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Api:
    """Api is an HTTP client bound to one server and one bearer secret."""

    def __init__(self, base, secret):
        self.base = base
        self.secret = secret
        self.s = requests.Session()

    def headers(self, extra=None):
        h = {}
        if self.secret is not None:
            h["Authorization"] = f"Bearer {self.secret}"
        h.update(extra or {})
        return h

    def req(self, method, path, *, json_body=None, data=None, headers=None, params=None,
            timeout=30):
        h = self.headers(headers)
        if json_body is not None:
            data = json.dumps(json_body)
            h.setdefault("Content-Type", "application/json")
        return self.s.request(method, self.base + path, data=data, headers=h, params=params,
                              timeout=timeout)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    # Shortcuts that assert success.

    def ingest(self, **fields):
        r = self.post(ENTRIES, fields)
        assert r.status_code == 201, r.text
        return r.json()["dlq_id"]

    def ingest_batch(self, entries):
        r = self.post(BATCH, {"entries": entries})
        assert r.status_code == 200, r.text
        return [it["dlq_id"] for it in r.json()["items"]]

    def entry(self, ident):
        r = self.get(f"{ENTRIES}/{ident}")
        assert r.status_code == 200, r.text
        return r.json()

    def list(self, **params):
        r = self.get(ENTRIES, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def total(self, **params):
        params.setdefault("limit", 1)
        return self.list(**params)["total"]


class DlqServer:
    """DlqServer runs one `dlq serve` process over a database file."""

    def __init__(self, binary, workdir, db=None, admin_secret=ADMIN_SECRET, extra_args=(),
                 env=None):
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db = str(db or store_location(self.workdir))
        # where the spool goes by default (serve --help)
        self.spool_path = (str(self.workdir / "dlq.spool") if on_postgres()
                           else self.db + ".spool")
        self.admin_secret = admin_secret
        self.extra_args = list(extra_args)
        self.env_extra = dict(env or {})
        self.proc = None
        self.port = None
        self.version = None
        self.starts = 0

    # -- life cycle --

    def start(self, timeout=20.0):
        """start launches the server and waits until /healthz answers 200."""
        assert self.proc is None
        self.starts += 1
        self.stdout_path = self.workdir / f"stdout.{self.starts}.log"
        self.stderr_path = self.workdir / f"stderr.{self.starts}.log"
        env = dict(os.environ)
        env.pop("DLQ_ADMIN_TOKEN", None)
        if self.admin_secret is not None:
            env["DLQ_ADMIN_TOKEN"] = self.admin_secret
        env.update(self.env_extra)
        for attempt in range(3):
            self.port = free_port()
            args = [self.binary, "serve", "--store", self.db, "--listen",
                    f"127.0.0.1:{self.port}"] + self.extra_args
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                             env=env, cwd=self.workdir)
            _RUNNING.append(self)
            if self._wait_ready(timeout):
                return self
            rc = self.proc.poll()
            tail = self.stderr_tail()
            self._reap()
            if rc is not None and "in use" in tail.lower() and attempt < 2:
                continue  # lost the race for the port; pick another
            pytest.fail(f"dlq serve did not become ready (rc={rc}): {' '.join(args)}\n{tail}")
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                # Ready means both: /healthz answers and the banner (with a
                # generated admin token) is on stdout, which is printed just
                # after the listener starts.
                r = requests.get(self.base + "/healthz", timeout=1)
                m = BANNER_RE.search(self.stdout())
                if r.status_code == 200 and m:
                    self.version = m.group(1)
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def stop(self, timeout=10.0):
        """stop sends SIGTERM and asserts a clean exit (status 0) within timeout."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            tail = self.stderr_tail()
            self._reap()
            pytest.fail(f"dlq serve did not exit within {timeout}s of SIGTERM\n{tail}")
        tail = self.stderr_tail()
        self._reap()
        assert rc == 0, f"dlq serve exited {rc} after SIGTERM\n{tail}"

    def kill9(self):
        """kill9 kills the server without warning (SIGKILL) and reaps it."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._reap()

    def restart(self):
        self.stop()
        return self.start()

    def _reap(self):
        if self in _RUNNING:
            _RUNNING.remove(self)
        self.proc = None

    # -- access --

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def api(self, secret="__admin__"):
        """api returns a client using secret (default: the admin token; None: no header)."""
        return Api(self.base, self.admin_secret if secret == "__admin__" else secret)

    @property
    def admin(self):
        return self.api()

    def make_token(self, role, tenant=None, name=None):
        """make_token creates a token through the API and returns its JSON (with "token")."""
        body = {"name": name or uid(f"{role}-"), "role": role}
        if tenant is not None:
            body["tenant_id"] = tenant
        r = self.admin.post(TOKENS, body)
        assert r.status_code == 201, r.text
        return r.json()

    def client(self, role, tenant=None):
        """client returns an Api with a fresh token of role (bound to tenant if given)."""
        return self.api(self.make_token(role, tenant)["token"])

    def stdout(self):
        try:
            return self.stdout_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, n=1500):
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode(errors="replace")


@pytest.fixture(scope="module")
def server(dlq_bin, tmp_path_factory):
    """server is one running dlq shared by the tests of a module."""
    srv = DlqServer(dlq_bin, tmp_path_factory.mktemp("dlq")).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(dlq_bin, tmp_path):
    """fresh_server makes DlqServer objects (not started) owned by one test."""
    made = []

    def make(**kw):
        srv = DlqServer(dlq_bin, tmp_path / f"srv{len(made)}", **kw)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        if srv.proc is not None:
            srv.stop()


def assert_problem(r, status, field=None):
    """assert_problem checks r is an RFC 9457 problem with this status.

    With field, one entry of "errors" must name it. Returns the parsed body."""
    assert r.status_code == status, f"want {status}, got {r.status_code}: {r.text[:500]}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/problem+json"), ctype
    body = r.json()
    for k in ("type", "title", "status", "detail", "instance", "request_id"):
        assert k in body, f"problem lacks {k}: {body}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == r.headers.get("X-Request-Id")
    if field is not None:
        errs = body.get("errors")
        assert isinstance(errs, list) and errs, f"no errors list: {body}"
        for e in errs:
            assert set(e) >= {"field", "detail"}, e
        fields = [e["field"] for e in errs]
        assert field in fields, f"want error on {field!r}, got {fields}"
    return body


def all_ids(api, **params):
    """all_ids walks every page by cursor and returns the dlq_ids in order."""
    params = dict(params, limit=100)
    out = []
    while True:
        page = api.list(**params)
        out.extend(it["dlq_id"] for it in page["items"])
        if not page["next_cursor"]:
            return out
        params["cursor"] = page["next_cursor"]


def run_threads(n, fn):
    """run_threads runs fn(i) on n threads, re-raising the first exception."""
    errs = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: B902 - reported below
            errs.append(e)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is not a passing test (house rule): any skip fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; skips do not count as passing",
                            red=True)
        session.exitstatus = 1
