"""The dashboard's files over HTTP: content types, the strict CSP and other
security headers, ETag revalidation (304), and 404 problems for unknown
files. Needs no browser."""

import requests

CSP_MUST = ["default-src 'self'", "script-src 'self'", "style-src 'self'",
            "frame-ancestors 'none'", "object-src 'none'"]


def test_index_and_assets_headers(server):
    for path, ctype in (("/", "text/html"), ("/assets/app.css", "text/css"),
                        ("/assets/js/app.js", "text/javascript"),
                        ("/assets/favicon.svg", "image/svg+xml")):
        r = requests.get(server.base + path, timeout=10)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith(ctype), (path, r.headers["Content-Type"])
        csp = r.headers["Content-Security-Policy"]
        for part in CSP_MUST:
            assert part in csp, (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-cache"
        etag = r.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
        r2 = requests.get(server.base + path, headers={"If-None-Match": etag}, timeout=10)
        assert r2.status_code == 304 and r2.content == b""
        assert r2.headers["ETag"] == etag
        r3 = requests.get(server.base + path, headers={"If-None-Match": f'W/"x", W/{etag}'},
                          timeout=10)
        assert r3.status_code == 304
        r4 = requests.get(server.base + path, headers={"If-None-Match": '"other"'}, timeout=10)
        assert r4.status_code == 200 and r4.content == r.content


def test_no_inline_script_or_style_in_the_page(server):
    html = requests.get(server.base + "/", timeout=10).text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert 'type="module" src="/assets/js/app.js"' in html


def test_unknown_asset_is_a_404_problem(server):
    for path in ("/assets/nope.js", "/assets/js/nope.js", "/assets/index.html/x",
                 "/index.html", "/assets/js/app.css"):
        r = requests.get(server.base + path, timeout=10)
        assert r.status_code in (400, 404), (path, r.status_code)
        assert r.headers["Content-Type"].startswith("application/problem+json"), path


def test_head_and_wrong_method(server):
    r = requests.head(server.base + "/assets/js/app.js", timeout=10)
    assert r.status_code == 200 and r.content == b""
    r = requests.post(server.base + "/", timeout=10)
    assert r.status_code == 405


def test_whoami(server):
    who = server.admin.get("/api/v1/whoami").json()
    assert who["role"] == "admin" and who["name"] == "admin" and who["tenant_id"] is None
    tok = server.make_token("producer", tenant="acme")
    who = server.api(tok["token"]).get("/api/v1/whoami").json()
    assert (who["role"], who["tenant_id"], who["name"]) == ("producer", "acme", tok["name"])
    r = server.api(None).get("/api/v1/whoami")
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    r = server.api("wrong").get("/api/v1/whoami")
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
