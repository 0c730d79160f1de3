"""Every answer carries the security headers; pages are never cached; no inline script or style."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from web.hardening import SECURITY_HEADERS

WEB = Path(__file__).resolve().parents[2] / "web"
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script without src is inline
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),  # onclick=, onload=, ...
    re.compile(r"javascript:", re.I),
]


def _get_urls(app, world) -> list[str]:
    values = {"company_id": world.company_id, "run_id": world.run_id}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static":
            urls.append(rule.build({name: values[name] for name in rule.arguments})[1])
    return urls


def _assert_headers(response, where: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (where, name)


def test_the_policy_allows_no_inline_code_and_no_framing():
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_page_has_the_headers_and_is_not_stored(app, world, request, role):
    client = request.getfixturevalue(role)
    urls = _get_urls(app, world)
    assert len(urls) >= 15
    for url in urls:
        response = client.get(url)
        _assert_headers(response, f"{role} {url} {response.status_code}")
        assert response.headers["Cache-Control"] == "no-store", url


def test_sign_in_error_and_static_answers_have_the_headers_too(app, admin, world):
    anonymous = app.test_client()
    answers = {
        "login page": anonymous.get("/login"),
        "redirect to login": anonymous.get("/runs/"),
        "failed sign-in": anonymous.post("/login", data={"email": "x@y.test", "password": "no"}),
        "404": admin.get("/no/such/page"),
        "400": admin.get("/runs/?page=0"),
        "404 for another partner's run": admin.get(f"/runs/{world.theirs_run_id}"),
        "json": admin.get(f"/runs/{world.run_id}/status.json"),
    }
    for where, response in answers.items():
        _assert_headers(response, where)
        assert response.headers["Cache-Control"] == "no-store", where
    static = anonymous.get("/static/run.js")
    _assert_headers(static, "static")
    assert "no-store" not in static.headers.get("Cache-Control", "")  # static files may cache


def test_templates_and_charts_hold_no_inline_script_style_or_handler():
    sources = [*(WEB / "templates").glob("*.html"), WEB / "charts.py"]
    for path in sources:
        text = path.read_text()
        for pattern in INLINE:
            assert not pattern.search(text), (path.name, pattern.pattern)
