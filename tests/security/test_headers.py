"""Security headers on every page, API answer and error: CSP, X-Frame-Options,
Referrer-Policy, Cross-Origin-Opener-Policy, X-Content-Type-Options, Permissions-Policy; and
pages whose inline scripts and styles the CSP allows (its nonce), with no style or
event-handler attributes."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from tests.factories import make_user

EXPECTED = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
        "magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
    ),
}


def parameterless_paths(patterns=None, prefix=""):
    """Every route of the site that takes no parameter (admin included), walked from the URL
    resolver so a new page is checked without being listed here."""
    paths = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        pattern = entry.pattern
        if not isinstance(pattern, RoutePattern):
            continue  # regex routes: the API's catch-all and the admin's per-app indexes
        route = prefix + str(pattern)
        if "<" in route:
            continue
        if isinstance(entry, URLResolver):
            paths += parameterless_paths(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            paths.append("/" + route)
    return sorted(set(paths))


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_secure_headers(response, path):
    for name, value in EXPECTED.items():
        assert response.get(name) == value, (path, name, response.get(name))
    policy = csp_directives(response["Content-Security-Policy"])
    for directive in ("script-src", "style-src"):
        assert "'self'" in policy[directive], (path, policy)
        assert "'unsafe-inline'" not in policy[directive], (path, policy)
        assert "'unsafe-eval'" not in policy[directive], (path, policy)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    return policy


def assert_inline_code_carries_the_nonce(html: str, policy, path):
    """What the browser would refuse under this policy: inline code without the nonce."""
    nonces = {w[len("'nonce-") : -1] for w in policy["script-src"] if w.startswith("'nonce-")}
    for tag, attributes in re.findall(r"<(script|style)\b([^>]*)>", html):
        if tag == "script" and "src=" in attributes:
            continue
        if tag == "script" and re.search(r'type="application/(ld\+)?json"', attributes):
            continue  # data (json_script), never run
        nonce = re.search(r'nonce="([^"]+)"', attributes)
        assert nonce and nonce.group(1) in nonces, (path, tag, attributes)
    assert not re.search(r"<[a-z][^>]*\sstyle=", html), (path, "a style attribute")
    assert not re.search(r"<[a-z][^>]*\son[a-z]+=", html), (path, "an event-handler attribute")


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(make_user("boss", staff=True))
    return client


def test_every_parameterless_route_sends_the_headers(staff_client, user, account):
    paths = parameterless_paths()
    assert {"/", "/accounts/login/", "/accounts/tokens/", "/admin/", "/api/docs/"} <= set(paths)
    checked = {"html": 0, "other": 0}
    for path in paths:
        response = staff_client.get(path)
        assert response.status_code < 500, path
        policy = assert_secure_headers(response, path)
        if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
            assert_inline_code_carries_the_nonce(response.content.decode(), policy, path)
            checked["html"] += 1
        else:
            checked["other"] += 1
    print(f"headers checked on {len(paths)} routes: {checked}")
    assert checked["html"] >= 10


@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/admin/login/", "/api/v1/trading/accounts/", "/nowhere/", "/api/x/"],
)
def test_anonymous_answers_and_errors_send_them_too(db, path):
    response = Client().get(path)
    assert response.status_code in (200, 302, 401, 404), path
    policy = assert_secure_headers(response, path)
    if response["Content-Type"].startswith("text/html"):
        assert_inline_code_carries_the_nonce(response.content.decode(), policy, path)


def test_the_api_docs_have_no_inline_script(staff_client):
    page = staff_client.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200
    script = re.search(r'<script src="([^"]+\?script[^"]*)"', html)
    assert script, "the Swagger UI settings come from a script URL"
    js = staff_client.get(script.group(1).replace("&amp;", "&"))
    assert js.status_code == 200 and "SwaggerUIBundle" in js.content.decode()


def test_each_response_has_its_own_nonce(staff_client):
    first = csp_directives(staff_client.get("/strategies/")["Content-Security-Policy"])
    second = csp_directives(staff_client.get("/strategies/")["Content-Security-Policy"])
    nonce = [w for w in first["style-src"] if w.startswith("'nonce-")]
    assert nonce and nonce != [w for w in second["style-src"] if w.startswith("'nonce-")]
