"""Authentication, the role x endpoint matrix, and tenant isolation.

viewer/operator/admin read; producer/admin ingest; admin manages tokens.
No, malformed, unknown or revoked credentials: 401. Too small a role: 403.
A tenant-bound token sees only its tenant: others' entries are 404 and
list filters naming another tenant come back empty.
"""

import pytest
import requests

from conftest import BATCH, ENTRIES, TOKENS, assert_problem, uid

ROLES = ["viewer", "operator", "admin", "producer"]


@pytest.fixture(scope="module")
def clients(server):
    return {role: server.client(role) for role in ROLES}


@pytest.fixture(scope="module")
def sample(server):
    return server.admin.ingest(task_name="app.tasks.auth.sample", original_task_id=uid("o"))


def call(server, api, op, sample):
    """call performs one endpoint operation; returns the response."""
    if op == "list":
        return api.get(ENTRIES)
    if op == "get":
        return api.get(f"{ENTRIES}/{sample}")
    if op == "ingest":
        return api.post(ENTRIES, {"task_name": "app.tasks.auth.ingest"})
    if op == "batch":
        return api.post(BATCH, {"entries": [{"task_name": "app.tasks.auth.batch"}]})
    if op == "token_list":
        return api.get(TOKENS)
    if op == "token_create":
        return api.post(TOKENS, {"name": uid("m-"), "role": "viewer"})
    if op == "token_revoke":
        victim = server.make_token("viewer")["id"]
        return api.delete(f"{TOKENS}/{victim}")
    if op == "healthz":
        return api.get("/healthz")
    if op == "readyz":
        return api.get("/readyz")
    raise AssertionError(op)


OK = {"list": 200, "get": 200, "ingest": 201, "batch": 200, "token_list": 200,
      "token_create": 201, "token_revoke": 204, "healthz": 200, "readyz": 200}
ALLOWED = {
    "list": {"viewer", "operator", "admin"},
    "get": {"viewer", "operator", "admin"},
    "ingest": {"producer", "admin"},
    "batch": {"producer", "admin"},
    "token_list": {"admin"},
    "token_create": {"admin"},
    "token_revoke": {"admin"},
    "healthz": set(ROLES),
    "readyz": set(ROLES),
}
MATRIX = [(op, role) for op in OK for role in ROLES]


@pytest.mark.parametrize("op,role", MATRIX, ids=[f"{o}-{r}" for o, r in MATRIX])
def test_role_matrix(server, clients, sample, op, role):
    r = call(server, clients[role], op, sample)
    if role in ALLOWED[op]:
        assert r.status_code == OK[op], r.text
    else:
        assert_problem(r, 403)


PROTECTED = [op for op in OK if op not in ("healthz", "readyz")]
BAD_AUTH = {
    "no-header": None,
    "basic-scheme": "Basic YWRtaW46YWRtaW4=",
    "bearer-empty": "Bearer ",
    "bearer-unknown": "Bearer dlq_unknown_secret_0123456789",
    "bare-secret": "__ADMIN__",  # the right secret without the scheme
    "bearer-admin-plus-junk": "Bearer __ADMIN__x",
}


@pytest.mark.parametrize("variant", list(BAD_AUTH))
@pytest.mark.parametrize("op", PROTECTED)
def test_401_variants(server, sample, op, variant):
    value = BAD_AUTH[variant]
    api = server.api(None)
    if value is not None:
        api.s.headers["Authorization"] = value.replace("__ADMIN__", server.admin_secret)
    assert_problem(call(server, api, op, sample), 401)


def test_revoked_token_is_401(server, sample):
    tok = server.make_token("admin")
    api = server.api(tok["token"])
    assert api.get(ENTRIES).status_code == 200
    assert server.admin.delete(f"{TOKENS}/{tok['id']}").status_code == 204
    for op in PROTECTED:
        assert_problem(call(server, api, op, sample), 401)


def test_no_write_happens_on_401_or_403(server, clients):
    name = uid("app.tasks.denied.")
    server.api(None).post(ENTRIES, {"task_name": name})
    server.api("wrong").post(ENTRIES, {"task_name": name})
    clients["viewer"].post(ENTRIES, {"task_name": name})
    clients["operator"].post(BATCH, {"entries": [{"task_name": name}]})
    assert server.admin.total(task_name=name) == 0


def test_public_endpoints_ignore_bad_token(server):
    r = requests.get(server.base + "/healthz", headers={"Authorization": "Bearer nope"},
                     timeout=5)
    assert r.status_code == 200


# ---- tenant isolation ----

@pytest.fixture(scope="module")
def tenants(server):
    a, b = uid("tenA-"), uid("tenB-")
    name = uid("app.tasks.tenancy.")
    ids = {a: [], b: [], None: []}
    for t in (a, a, a, b, b, None):
        body = {"task_name": name, "original_task_id": uid("o-"),
                "exception": {"type": "KeyError", "message": f"secret of {t}"}}
        if t:
            body["tenant_id"] = t
        ids[t].append((server.admin.ingest(**body), body["original_task_id"]))
    return a, b, name, ids


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_bound_reader_sees_only_its_tenant(server, tenants, role):
    a, b, name, ids = tenants
    api = server.client(role, a)
    page = api.list(task_name=name)
    assert page["total"] == 3
    assert {it["dlq_id"] for it in page["items"]} == {d for d, _ in ids[a]}
    assert all(it["tenant_id"] == a for it in page["items"])
    # the unfiltered list is also limited to the tenant
    assert {it["tenant_id"] for it in api.list(limit=100)["items"]} <= {a}
    # naming another tenant yields nothing
    other = api.list(task_name=name, tenant_id=b)
    assert other["items"] == [] and other["total"] == 0
    assert api.list(tenant_id=b)["total"] == 0
    # full text cannot reach across either
    assert api.list(q=b.replace("-", " "))["total"] == 0
    assert server.admin.list(q=b.replace("-", " "))["total"] == 2
    # own entries by both ids; others' are 404 (not 403: no existence leak)
    for d, o in ids[a]:
        assert api.get(f"{ENTRIES}/{d}").status_code == 200
        assert api.get(f"{ENTRIES}/{o}").status_code == 200
    for d, o in ids[b] + ids[None]:
        assert_problem(api.get(f"{ENTRIES}/{d}"), 404)
        assert_problem(api.get(f"{ENTRIES}/{o}"), 404)


def test_unbound_reader_sees_all_tenants(server, tenants):
    a, b, name, ids = tenants
    api = server.client("viewer")
    assert api.list(task_name=name)["total"] == 6
    assert api.list(task_name=name, tenant_id=b)["total"] == 2


def test_bound_admin_token_list_and_create_stay_in_tenant(server, tenants):
    a, b, _, _ = tenants
    api = server.client("admin", a)
    r = api.post(TOKENS, {"name": uid("x-"), "role": "viewer", "tenant_id": b})
    assert r.status_code in (400, 403), r.text
    r = api.post(TOKENS, {"name": uid("x-"), "role": "viewer", "tenant_id": a})
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == a
