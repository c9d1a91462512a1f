"""Tokens: POST/GET/DELETE /api/v1/tokens and the bootstrap admin token."""

import time

import pytest

from conftest import ENTRIES, TIME_RE, TOK_RE, TOKENS, assert_problem, uid

LIST_KEYS = ["id", "name", "role", "tenant_id", "created_at", "last_used_at", "revoked_at"]


def listed(server, tok_id):
    r = server.admin.get(TOKENS)
    assert r.status_code == 200
    rows = [t for t in r.json()["items"] if t["id"] == tok_id]
    assert len(rows) == 1, tok_id
    return rows[0]


def test_bootstrap_admin_is_listed(server):
    r = server.admin.get(TOKENS)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["items"]
    admins = [t for t in body["items"] if t["name"] == "admin"]
    assert len(admins) == 1
    assert admins[0]["role"] == "admin" and admins[0]["tenant_id"] is None
    assert admins[0]["revoked_at"] is None


@pytest.mark.parametrize("role", ["viewer", "operator", "admin", "producer"])
def test_create_each_role(server, role):
    name = uid("tok-")
    r = server.admin.post(TOKENS, {"name": name, "role": role})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) >= {"id", "name", "role", "tenant_id", "created_at", "token"}
    assert TOK_RE.match(t["id"]), t["id"]
    assert t["name"] == name and t["role"] == role and t["tenant_id"] is None
    assert TIME_RE.match(t["created_at"])
    assert isinstance(t["token"], str) and len(t["token"]) >= 32
    assert t["token"] != server.admin_secret
    # the secret works
    probe = ENTRIES if role != "producer" else "/api/v1/tokens"
    code = server.api(t["token"]).get(probe).status_code
    assert code in (200, 403) and code != 401


def test_create_tenant_bound(server):
    tenant = uid("ten-")
    t = server.make_token("viewer", tenant)
    assert t["tenant_id"] == tenant
    assert listed(server, t["id"])["tenant_id"] == tenant


def test_secrets_are_unique(server):
    secrets = {server.make_token("viewer")["token"] for _ in range(5)}
    assert len(secrets) == 5


def test_list_shows_no_secret(server):
    t = server.make_token("operator")
    r = server.admin.get(TOKENS)
    assert t["token"] not in r.text
    row = listed(server, t["id"])
    assert list(row) == LIST_KEYS
    assert row["name"] == t["name"] and row["role"] == "operator"
    assert row["created_at"] == t["created_at"]
    assert row["revoked_at"] is None


def test_last_used_at_is_recorded(server):
    t = server.make_token("viewer")
    assert listed(server, t["id"])["last_used_at"] is None
    assert server.api(t["token"]).get(ENTRIES).status_code == 200
    deadline = time.monotonic() + 5
    while listed(server, t["id"])["last_used_at"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert TIME_RE.match(listed(server, t["id"])["last_used_at"] or "")


def test_revoke(server):
    t = server.make_token("viewer")
    api = server.api(t["token"])
    assert api.get(ENTRIES).status_code == 200
    r = server.admin.delete(f"{TOKENS}/{t['id']}")
    assert r.status_code == 204 and r.content == b""
    assert_problem(api.get(ENTRIES), 401)
    row = listed(server, t["id"])
    assert TIME_RE.match(row["revoked_at"] or "")
    assert_problem(server.admin.delete(f"{TOKENS}/{t['id']}"), 409)


def test_revoke_unknown_is_404(server):
    assert_problem(server.admin.delete(f"{TOKENS}/tok_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
    assert_problem(server.admin.delete(f"{TOKENS}/nonsense"), 404)


BAD = [
    ({"role": "viewer"}, "name"),
    ({"name": "", "role": "viewer"}, "name"),
    ({"name": 5, "role": "viewer"}, "name"),
    ({"name": "x"}, "role"),
    ({"name": "x", "role": "superuser"}, "role"),
    ({"name": "x", "role": 1}, "role"),
    ({"name": "x", "role": "viewer", "tenant_id": 5}, "tenant_id"),
    ({"name": "x", "role": "viewer", "secret": "mine"}, "secret"),
    ({"name": "x" * 200, "role": "viewer"}, "name"),
]


@pytest.mark.parametrize("body,field", BAD, ids=[f for _, f in BAD])
def test_create_rejects_bad_body(server, body, field):
    before = len(server.admin.get(TOKENS).json()["items"])
    assert_problem(server.admin.post(TOKENS, body), 400, field)
    assert len(server.admin.get(TOKENS).json()["items"]) == before


def test_create_rejects_non_json(server):
    before = len(server.admin.get(TOKENS).json()["items"])
    assert_problem(server.admin.req("POST", TOKENS, data="{nope",
                                    headers={"Content-Type": "application/json"}), 400)
    assert_problem(server.admin.req("POST", TOKENS, data="name=x&role=viewer",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"}),
                   415)
    assert len(server.admin.get(TOKENS).json()["items"]) == before
