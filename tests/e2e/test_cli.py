"""The `dlq` command-line client against a real server.

DLQ_URL and DLQ_TOKEN (or --url/--token) point it at the server. Exit codes:
0 success, 1 an error (including an unreachable server, reported in one
line), 2 bad usage. --json prints the API's JSON.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import (BANNER_RE, ID_RE, TOK_RE, free_port, on_postgres, psql, store_location,
                      uid)


@pytest.fixture(scope="module")
def cli(server, dlq_bin):
    def run(*args, env=None, url="__default__", token="__default__", timeout=20):
        e = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
        e["NO_COLOR"] = "1"
        if url == "__default__":
            url = server.base
        if token == "__default__":
            token = server.admin_secret
        if url is not None:
            e["DLQ_URL"] = url
        if token is not None:
            e["DLQ_TOKEN"] = token
        e.update(env or {})
        return subprocess.run([dlq_bin, *args], env=e, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    return run


@pytest.fixture(scope="module")
def seeded(server):
    name = uid("app.tasks.cli.")
    rows = []
    for i in range(6):
        body = {"task_name": name, "original_task_id": uid("cli-"),
                "queue": "mail" if i % 2 else "default",
                "tenant_id": "t_cli" if i < 3 else "t_other",
                "reason": "timeout" if i == 0 else "external",
                "exception": {"type": "SMTPError", "message": f"mailbox unavailable {i}"}}
        if i == 4:
            body["exception"]["message"] = "the capybara refused"
        rows.append((server.admin.ingest(**body), body))
    return name, rows


def ids_of(out):
    return set(re.findall(r"dlq_[0-9A-HJKMNP-TV-Z]{26}", out))


def test_help(cli):
    r = cli("--help")
    assert r.returncode == 0, r.stderr
    for cmd in ("serve", "list", "show", "token", "migrate"):
        assert re.search(rf"\b{cmd}\b", r.stdout), cmd


def test_version_matches_server_banner(cli, server):
    r = cli("--version")
    assert r.returncode == 0
    m = BANNER_RE.search(server.stdout())
    assert m and m.group(1) in r.stdout
    assert len(r.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize("cmd", ["list", "show", "token", "serve", "migrate"])
def test_command_help(cli, cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert cmd in r.stdout


def test_list_help_names_options(cli):
    out = cli("list", "--help").stdout
    for opt in ("--limit", "--offset", "--status", "--task", "--queue", "--tenant", "--reason",
                "--filter", "--json"):
        assert opt in out, opt


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["list", "--bogus"], ["list", "--limit"],
                                  ["list", "--limit", "abc"], ["show"],
                                  ["token"], ["token", "create", "--role", "viewer"],
                                  ["token", "revoke"], ["token", "frob"]],
                         ids=lambda a: " ".join(a) or "no-args")
def test_bad_usage_exits_2(cli, args):
    r = cli(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip()


def test_list_table_shows_ids(cli, seeded):
    name, rows = seeded
    r = cli("list", "--task", name)
    assert r.returncode == 0, r.stderr
    assert ids_of(r.stdout) == {d for d, _ in rows}
    assert name in r.stdout or name[:20] in r.stdout


def test_list_json(cli, server, seeded):
    name, rows = seeded
    r = cli("list", "--task", name, "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body == server.admin.list(task_name=name)
    assert body["total"] == 6


@pytest.mark.parametrize("opts,pred", [
    (["--limit", "2"], None),
    (["--queue", "mail"], lambda b: b["queue"] == "mail"),
    (["--tenant", "t_cli"], lambda b: b["tenant_id"] == "t_cli"),
    (["--reason", "timeout"], lambda b: b["reason"] == "timeout"),
    (["--status", "pending_review"], lambda b: True),
    (["--status", "resolved"], lambda b: False),
    (["--filter", "capybara"], lambda b: "capybara" in b["exception"]["message"]),
], ids=lambda o: " ".join(o) if isinstance(o, list) else "")
def test_list_filters(cli, seeded, opts, pred):
    name, rows = seeded
    r = cli("list", "--task", name, "--json", *opts)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    got = {it["dlq_id"] for it in body["items"]}
    if pred is None:
        assert len(got) == 2 and body["total"] == 6 and body["limit"] == 2
    else:
        assert got == {d for d, b in rows if pred(b)}


def test_list_filter_matches_task_name(cli, seeded):
    name, rows = seeded
    part = name.split(".")[-1]  # the unique last component
    r = cli("list", "--filter", part, "--json")
    assert r.returncode == 0, r.stderr
    assert {it["dlq_id"] for it in json.loads(r.stdout)["items"]} == {d for d, _ in rows}


def test_list_offset(cli, server, seeded):
    name, _ = seeded
    r = cli("list", "--task", name, "--json", "--limit", "2", "--offset", "2")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == server.admin.list(task_name=name, limit=2, offset=2)


def test_show(cli, seeded):
    name, rows = seeded
    dlq_id, body = rows[4]
    r = cli("show", dlq_id)
    assert r.returncode == 0, r.stderr
    assert dlq_id in r.stdout and name in r.stdout and "capybara" in r.stdout
    r = cli("show", dlq_id, "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["dlq_id"] == dlq_id and e["history"][0]["event"] == "captured"
    r = cli("show", body["original_task_id"], "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dlq_id"] == dlq_id


def test_show_unknown_exits_1(cli):
    r = cli("show", "dlq_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert r.returncode == 1
    assert r.stderr.strip() and r.stdout == ""


def test_url_and_token_options_override_env(cli, server, seeded):
    r = cli("list", "--url", server.base, "--token", server.admin_secret, "--json",
            url="http://127.0.0.1:1", token="wrong")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total"] >= 6


def test_bad_token_exits_1(cli):
    r = cli("list", token="not-a-token")
    assert r.returncode == 1
    assert r.stderr.strip() and r.stdout == ""
    r = cli("list", token=None)
    assert r.returncode in (1, 2)
    assert r.stderr.strip()


def test_producer_token_forbidden_exits_1(cli, server):
    r = cli("list", token=server.make_token("producer")["token"])
    assert r.returncode == 1
    assert r.stderr.strip()


@pytest.mark.parametrize("args", [["list"], ["show", "dlq_01ARZ3NDEKTSV4RRFFQ69G5FAV"],
                                  ["token", "list"]], ids=lambda a: " ".join(a))
def test_unreachable_server_one_line(cli, args):
    r = cli(*args, url=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), r.stderr


def test_token_create_list_revoke(cli, server):
    name = uid("cli-tok-")
    r = cli("token", "create", "--name", name, "--role", "viewer", "--tenant", "t_cli")
    assert r.returncode == 0, r.stderr
    tok_ids = re.findall(r"tok_[0-9A-HJKMNP-TV-Z]{26}", r.stdout)
    secrets = re.findall(r"dlq_[A-Za-z0-9_-]{40,}", r.stdout)
    assert len(set(tok_ids)) == 1 and len(secrets) == 1, r.stdout
    tok_id, secret = tok_ids[0], secrets[0]
    assert TOK_RE.match(tok_id)
    viewer = server.api(secret)
    page = viewer.list(limit=100)
    assert all(it["tenant_id"] == "t_cli" for it in page["items"])

    r = cli("token", "list")
    assert r.returncode == 0, r.stderr
    assert tok_id in r.stdout and name in r.stdout and secret not in r.stdout

    r = cli("token", "revoke", tok_id)
    assert r.returncode == 0, r.stderr
    assert viewer.get("/api/v1/dlq/entries").status_code == 401
    r = cli("token", "revoke", tok_id)
    assert r.returncode == 1 and r.stderr.strip()


def test_token_list_json(cli, server):
    t = server.make_token("operator")
    r = cli("token", "list", "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["items"]
    assert t["id"] in {x["id"] for x in items}


def test_token_create_json(cli, server):
    r = cli("token", "create", "--name", uid("j-"), "--role", "producer", "--json")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    assert TOK_RE.match(t["id"]) and t["role"] == "producer"
    assert server.api(t["token"]).post("/api/v1/dlq/entries",
                                       {"task_name": "app.tasks.cli.prod"}).status_code == 201


def test_token_create_bad_role_fails(cli):
    r = cli("token", "create", "--name", uid("b-"), "--role", "superuser")
    assert r.returncode in (1, 2)
    assert r.stderr.strip()


def test_ids_printed_are_valid(cli, seeded):
    r = cli("list", "--limit", "3")
    assert r.returncode == 0
    for i in ids_of(r.stdout):
        assert ID_RE.match(i)


def test_migrate_creates_and_is_idempotent(dlq_bin, tmp_path, cli):
    db = store_location(tmp_path)  # a new file, or a new schema on PostgreSQL
    r = cli("migrate", "--store", db)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^schema at version (\d+) \(was 0\)$", r.stdout, re.M)
    assert m, r.stdout
    if on_postgres():
        assert psql(db, "SELECT max(version) FROM schema_version").strip() == m.group(1)
    else:
        assert os.path.getsize(db) > 0
    r = cli("migrate", "--store", db)
    assert r.returncode == 0, r.stderr
    assert f"schema up to date at version {m.group(1)}" in r.stdout


def test_migrate_bad_path_exits_1(cli, tmp_path):
    # a file in a missing directory, or a database server nobody runs
    bad = ("postgres://nobody@127.0.0.1:1/none?connect_timeout=2" if on_postgres()
           else str(tmp_path / "no" / "such" / "dir" / "m.db"))
    r = cli("migrate", "--store", bad)
    assert r.returncode == 1
    assert r.stderr.strip()
