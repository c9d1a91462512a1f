"""Security checks over every endpoint: credentials, roles, tenants, secrets.

The endpoints are the rows of the route table in src/http/router.c, parsed
at collection time (test_security_routes.py), so new routes are covered
without editing this module. What is checked, and why:

- No token, an unknown token, a revoked token: 401 on every protected route
  (the dispatcher authenticates before any handler runs, so no handler can
  forget it). A role too small for the route's permission: 403; a role that
  is allowed gets past authentication (never 401/403) and never a 5xx, even
  with a body no handler accepts.
- Tenants: a token bound to tenant B gets 404 (not 403: existence is not
  revealed) on every {id} route naming an entry, an operation or a job of
  tenant A, and the object is unchanged afterwards; no list-like GET route
  answers B with A's task names or ids. /metrics spans every tenant, so a
  tenant-bound token gets 403 there (fixed by this slice).
- Secrets never reach the logs: after requests with the admin secret, fresh
  token secrets, a revoked one and an unknown canary (in the Authorization
  header, in a query string, in a Basic header), none of them appears in the
  server's stdout or stderr (the access log names tokens, never secrets),
  nor in the database file (only SHA-256 hashes are stored). A queue's
  webhook secret and a job's lease token (stored: they sign and check) are
  never answered back (settings, queue, job, audit) nor logged either.
- Constant-time comparison: a secret is never compared with strcmp. The
  service hashes the presented secret (SHA-256), looks the hash up (in the
  auth cache or the store's unique index, which can at most leak timing
  about a hash, useless without a preimage), and compares the stored hash
  with dlq_ct_equal, which is OpenSSL's CRYPTO_memcmp. That is a property of
  the source, not measurable reliably over loopback, so test_secret_compare
  reads src/service/auth.c and src/util/sys.c and checks exactly that chain.
"""

import re

import pytest

from conftest import ENTRIES, REPO, TOKENS, DlqServer, assert_problem, stored_bytes, uid
from test_security_routes import (BODY_METHODS, PERM_ROLES, PROBE_BODY, PROTECTED, ROLES,
                                  ROUTES, fill, rid, send)


@pytest.fixture(scope="module")
def sec(server):
    """sec: clients of every role, a revoked token and a sample entry."""
    revoked = server.make_token("admin")
    assert server.admin.delete(f"{TOKENS}/{revoked['id']}").status_code == 204
    return {
        "srv": server,
        "tokens": {role: server.make_token(role)["token"] for role in ROLES},
        "revoked": revoked["token"],
    }


def probe(srv, rt, secret):
    method, pattern, _ = rt
    data = PROBE_BODY if method in BODY_METHODS else None
    return send(srv, method, fill(pattern), data=data, secret=secret)


@pytest.mark.parametrize("rt", PROTECTED, ids=rid)
def test_no_token_is_401(sec, rt):
    r = probe(sec["srv"], rt, None)
    assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers


@pytest.mark.parametrize("rt", PROTECTED, ids=rid)
def test_unknown_and_revoked_token_are_401(sec, rt):
    assert_problem(probe(sec["srv"], rt, "dlq_" + "A" * 43), 401)
    assert_problem(probe(sec["srv"], rt, sec["revoked"]), 401)


SELF_AUTH = [rt for rt in ROUTES if rt[2] == "PUBLIC" and rt[1].startswith("/api/")]


@pytest.mark.parametrize("rt", SELF_AUTH, ids=rid)
def test_public_api_routes_authenticate_themselves(sec, rt):
    """An /api/ route marked public in the table (whoami) must check the
    token itself: same 401s as the router, 200 for every valid role."""
    assert_problem(probe(sec["srv"], rt, None), 401)
    assert_problem(probe(sec["srv"], rt, sec["revoked"]), 401)
    assert_problem(probe(sec["srv"], rt, "dlq_" + "A" * 43), 401)
    for role in ROLES:
        assert probe(sec["srv"], rt, sec["tokens"][role]).status_code == 200


MATRIX = [(rt, role) for rt in ROUTES for role in ROLES]


@pytest.mark.parametrize("rt,role", MATRIX, ids=[f"{rid(rt)}-{ro}" for rt, ro in MATRIX])
def test_role_matrix(sec, rt, role):
    r = probe(sec["srv"], rt, sec["tokens"][role])
    if role in PERM_ROLES[rt[2]]:
        assert r.status_code not in (401, 403), r.text[:300]
        assert r.status_code < 500, r.text[:300]
    else:
        assert_problem(r, 403)


# ---- tenants ----

# Bodies that would be accepted if the object were the caller's, so that a
# 404 proves the object was looked up in the caller's tenant and not found.
ACTION_BODIES = {
    "retry": {}, "resolve": {"resolution_notes": "x"}, "outcome": {"succeeded": True},
    "ack": {"lease_token": "0" * 32}, "fail": {"lease_token": "0" * 32},
    "heartbeat": {"lease_token": "0" * 32},
}
ID_PREFIXES = {"/api/v1/dlq/entries/{id}": "entry", "/api/v1/dlq/operations/{id}": "op",
               "/api/v1/jobs/{id}": "job"}
TENANT_ROUTES = [rt for rt in ROUTES
                 if any(rt[1].startswith(p) for p in ID_PREFIXES) and "{id}" in rt[1]]
LISTS = [rt for rt in ROUTES if rt[0] == "GET" and "{" not in rt[1] and rt[2] != "PUBLIC"]


@pytest.fixture(scope="module")
def tenant_a(server):
    """tenant_a: an entry, an operation and (when the job queue is routed) a
    job of tenant A, and admin clients bound to A and to B."""
    srv = server
    ta, tb = uid("ta"), uid("tb")
    a_admin, b_admin = srv.client("admin", ta), srv.client("admin", tb)
    name = uid("app.tasks.secret_")
    objs = {"name": name, "entry": a_admin.ingest(task_name=name, tenant_id=ta)}
    r = a_admin.post("/api/v1/dlq/replay-bulk", {"task_name": uid("nomatch"), "max_tasks": 1})
    assert r.status_code == 202, r.text
    objs["op"] = r.json()["operation_id"]
    if any(p == "/api/v1/queues/{queue}/jobs" for _, p, _ in ROUTES):
        r = a_admin.post(f"/api/v1/queues/{uid('q')}/jobs", {"task_name": name, "delay_ms": 3600000})
        assert r.status_code == 201, r.text
        objs["job"] = r.json()["job_id"]
    return {"a": a_admin, "b": b_admin, "objs": objs}


def snapshot(api, objs):
    out = {"entry": api.entry(objs["entry"])["status"]}
    if "job" in objs:
        r = api.get(f"/api/v1/jobs/{objs['job']}")
        assert r.status_code == 200, r.text
        out["job"] = r.json()["state"]
    return out


@pytest.mark.parametrize("rt", TENANT_ROUTES, ids=rid)
def test_other_tenant_gets_404(tenant_a, rt):
    method, pattern, _ = rt
    kind = next(k for p, k in ID_PREFIXES.items() if pattern.startswith(p))
    objs = tenant_a["objs"]
    assert kind in objs, f"no {kind} of tenant A was made for {rid(rt)}"
    before = snapshot(tenant_a["a"], objs)
    path = fill(pattern, {"id": objs[kind]})
    body = ACTION_BODIES.get(pattern.rsplit("/", 1)[-1], {}) if method in BODY_METHODS else None
    r = tenant_a["b"].req(method, path, json_body=body)
    assert_problem(r, 404)
    assert snapshot(tenant_a["a"], objs) == before
    # The owner still sees it (the 404 was about the tenant, not the id).
    if method == "GET":
        assert tenant_a["a"].get(path).status_code == 200


@pytest.mark.parametrize("rt", LISTS, ids=rid)
def test_other_tenant_lists_show_nothing_of_a(tenant_a, rt):
    path = rt[1] + ("?format=ndjson" if rt[1].endswith("/export") else "")
    r = tenant_a["b"].get(path)
    if rt[1] in ("/metrics", "/api/v1/dlq/alerts"):
        assert_problem(r, 403)  # spans every tenant: unbound tokens only
        return
    assert r.status_code == 200, r.text[:300]
    for secret in (tenant_a["objs"]["name"], tenant_a["objs"]["entry"]):
        assert secret not in r.text, f"{path} shows tenant A's {secret}"


def test_unbound_token_reads_metrics(server):
    r = server.admin.get("/metrics")
    assert r.status_code == 200 and "dlq_" in r.text


# ---- secrets ----

def test_secret_compare_is_hash_then_constant_time():
    auth = (REPO / "src/service/auth.c").read_text()
    fn = auth[auth.index("int dlq_service_authenticate("):]
    fn = fn[:fn.index("\n}\n")]
    assert "dlq_sha256_hex(secret" in fn, "the presented secret must be hashed first"
    assert re.search(r"dlq_ct_equal\(tok\.secret_hash, hash, 64\)", fn)
    assert not re.search(r"(strcmp|strncmp|memcmp)\([^)]*(secret|hash)", auth), \
        "a secret or its hash is compared with a timing-dependent function"
    sys_c = (REPO / "src/util/sys.c").read_text()
    ct = sys_c[sys_c.index("int dlq_ct_equal("):]
    assert "CRYPTO_memcmp" in ct[:ct.index("\n}\n")]


def test_secrets_never_logged_or_stored(dlq_bin, tmp_path):
    admin_secret = "e2e-admin-" + uid("canaryADM") + "x" * 16
    srv = DlqServer(dlq_bin, tmp_path / "logs", admin_secret=admin_secret).start()
    try:
        made = [srv.make_token(role) for role in ROLES]
        revoked = srv.make_token("viewer")
        assert srv.admin.delete(f"{TOKENS}/{revoked['id']}").status_code == 204
        canary = "dlq_" + uid("canaryUNK") + "Z" * 30
        secrets = [admin_secret, canary, revoked["token"]] + [t["token"] for t in made]
        hidden = []  # secrets that are stored (to sign, to check) but never shown or logged
        if ("PUT", "/api/v1/queues/{queue}/settings", "ADMIN") in ROUTES:
            q, hook = uid("q"), "whsec-" + uid("canaryHOOK")
            r = srv.admin.req("PUT", f"/api/v1/queues/{q}/settings",
                              json_body={"replay_target": "native", "webhook_secret": hook})
            assert r.status_code == 200, r.text
            assert hook not in r.text and hook not in srv.admin.get(f"/api/v1/queues/{q}").text
            assert hook not in srv.admin.get("/api/v1/audit").text
            hidden.append(hook)
        if ("POST", "/api/v1/queues/{queue}/reserve", "INGEST") in ROUTES:
            q = uid("q")
            job = srv.admin.post(f"/api/v1/queues/{q}/jobs", {"task_name": "app.tasks.lease"})
            assert job.status_code == 201, job.text
            r = srv.admin.post(f"/api/v1/queues/{q}/reserve", {"count": 1})
            assert r.status_code == 200, r.text
            lease = r.json()["jobs"][0]["lease_token"]
            jid = r.json()["jobs"][0]["job_id"]
            assert lease not in srv.admin.get(f"/api/v1/jobs/{jid}").text
            r = srv.admin.post(f"/api/v1/jobs/{jid}/heartbeat", {"lease_token": lease})
            assert r.status_code == 200, r.text
            hidden.append(lease)
        for s in secrets:
            api = srv.api(s)
            api.get(ENTRIES)
            api.post(ENTRIES, {"task_name": "app.tasks.logcheck"})
            api.get(f"{ENTRIES}?token={s}")  # 400; the query is never logged
            srv.api(None).get(ENTRIES, headers={"Authorization": f"Basic {s}"})
    finally:
        srv.stop()
    logs = list(srv.workdir.glob("std*.log"))
    assert logs
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert '"msg":"request"' in text or "request" in text, "no access log was written"
    for s in secrets + hidden:
        hits = [ln for ln in text.splitlines() if s in ln]
        assert not hits, f"a secret appears in the server's output: {hits[:2]}"
    stored = stored_bytes(srv)  # the SQLite files, or a pg_dump of the schema
    assert b"app.tasks.logcheck" in stored, "the stored bytes do not hold the entries"
    for s in secrets:
        assert s.encode() not in stored, "a secret is stored in clear in the database"


# ---- tenant-bound admins stay in their tenant ----

def test_bound_admin_cannot_mint_unbound_token(tenant_a):
    r = tenant_a["b"].post(TOKENS, {"name": uid("m-"), "role": "admin"})
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] not in (None, ""), "a bound admin minted an unbound token"


def test_bound_admin_cannot_revoke_foreign_tokens(server, tenant_a):
    root = [t for t in server.admin.get(TOKENS).json()["items"] if t["name"] == "admin"]
    assert root
    for tok in root:
        assert_problem(tenant_a["b"].delete(f"{TOKENS}/{tok['id']}"), 404)
    assert server.admin.get(TOKENS).status_code == 200


def test_bound_admin_cleanup_stays_in_tenant(tenant_a):
    objs = tenant_a["objs"]
    r = tenant_a["b"].post("/api/v1/dlq/cleanup",
                           {"older_than_days": 0, "statuses": ["pending_review"]})
    assert r.status_code in (200, 400, 422), r.text
    assert tenant_a["a"].get(f"{ENTRIES}/{objs['entry']}").status_code == 200


QUEUE_WRITES = [rt for rt in ROUTES if rt[1].startswith("/api/v1/queues/{queue}/")
                and rt[1].rsplit("/", 1)[-1] in ("settings", "pause", "resume")]


@pytest.mark.parametrize("rt", QUEUE_WRITES, ids=rid)
def test_bound_tokens_cannot_change_shared_queues(server, tenant_a, rt):
    """A queue's settings (webhook URL and secret, pause) are shared by every
    tenant: a tenant-bound admin pointing a queue's replays at its own URL
    would receive other tenants' jobs, so only unbound tokens may change them."""
    q = uid("shared")
    body = {"replay_target": "webhook", "webhook_url": "http://127.0.0.1:9/steal"} \
        if rt[1].endswith("/settings") else {}
    r = tenant_a["b"].req(rt[0], fill(rt[1], {"queue": q}), json_body=body)
    assert_problem(r, 403)
    r = server.admin.get(f"/api/v1/queues/{q}")
    assert r.status_code == 404 or (not r.json()["paused"] and r.json()["webhook_url"] is None), \
        r.text
