"""The route table as the security tests see it: parsed from src/http/router.c.

The security modules (test_security.py, test_security_input.py) do not list
endpoints by hand: they read every `{"METHOD", "/pattern", handler,
DLQ_PERM_X}` row of the route table at collection time, so a route added
later (the job queue, the dashboard) is covered by the 401/403/tenant/body/
path checks without editing them. The one test here guards the parser
itself: if the table's shape changes and nothing parses, the checks would
silently cover nothing.
"""

import re
import socket

from conftest import REPO

ROUTER = REPO / "src" / "http" / "router.c"
ROW_RE = re.compile(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)"\s*,\s*"(/[^"]*)"\s*,\s*(\w+)\s*,'
                    r"\s*DLQ_PERM_(\w+)\s*\}")
ROLES = ["viewer", "operator", "admin", "producer"]
# DESIGN.md section 4 (and enum dlq_perm in include/dlq/types.h).
PERM_ROLES = {
    "PUBLIC": set(ROLES),
    "READ": {"viewer", "operator", "admin"},
    "INGEST": {"producer", "admin"},
    "ACT": {"operator", "admin"},
    "ADMIN": {"admin"},
}
# A body for routes that read one: a field no decoder knows, so an allowed
# caller gets a 4xx from the handler and nothing is written.
PROBE_BODY = b'{"zz_probe": 1}'
BODY_METHODS = {"POST", "PUT", "PATCH"}


def load_routes():
    """load_routes returns [(method, pattern, perm)] from router.c's table."""
    text = ROUTER.read_text()
    start = text.index("routes[] = {")
    end = text.index("{NULL, NULL", start)
    return [(m, p, perm) for m, p, _fn, perm in ROW_RE.findall(text[start:end])]


ROUTES = load_routes()
PROTECTED = [rt for rt in ROUTES if rt[2] != "PUBLIC"]
WITH_BODY = [rt for rt in ROUTES if rt[0] in BODY_METHODS]


def rid(rt):
    return f"{rt[0]} {rt[1]}"


def fill(pattern, values=None):
    """fill replaces each {param} of pattern with values[param] or a probe value."""
    values = values or {}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "zz_probe"), pattern)


def send(server, method, path, data=None, secret=None, headers=None):
    """send issues one request through `requests` (paths already encoded)."""
    api = server.api(secret)
    h = dict(headers or {})
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    return api.s.request(method, server.base + path, data=data, headers=api.headers(h),
                         timeout=30)


def raw_request(port, head, body=b"", timeout=10):
    """raw_request sends bytes as they are (no client-side path normalising)
    and returns (status, headers+body text); status 0 when the server closed
    the connection without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    text = data.decode(errors="replace")
    m = re.match(r"HTTP/1\.[01] (\d{3})", text)
    return (int(m.group(1)) if m else 0), text


def test_route_table_parses():
    assert len(ROUTES) >= 25, ROUTES
    assert ("GET", "/api/v1/dlq/entries", "READ") in ROUTES
    assert ("DELETE", "/api/v1/tokens/{id}", "ADMIN") in ROUTES
    unknown = {perm for _, _, perm in ROUTES} - set(PERM_ROLES)
    assert not unknown, f"new permission(s) {unknown}: teach PERM_ROLES who holds them"
