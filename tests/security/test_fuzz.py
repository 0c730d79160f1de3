"""Hostile values in every route's path, query and form fields: no 500; a refusal writes nothing.

Every rule of `app.url_map` is tried with every method it takes, as an admin and as a viewer of one
partner, with each value of HOSTILE put in turn into each path argument and each field the endpoint
reads (READS; a test below keeps READS in step with the forms of the templates). The other fields
carry ordinary values, so a hostile one is read where it would be in real use.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask import got_request_exception

from billing_sync.usage import COLUMNS
from tests.security.conftest import misfits
from tests.web.conftest import NOW, PASSWORD, SIM_KEYS, connect, login
from web import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
MAX_ANSWER = 200_000  # bytes: no page repeats a megabyte it was sent

HOSTILE: dict[str, str | bytes] = {
    "empty": "",
    "blank": "   ",
    "negative": "-1",
    "zero": "0",
    "2**31": str(2**31),
    "2**63": str(2**63),
    "400 digits": "9" * 400,
    "decimal": "1.5",
    "exponent": "1e309",
    "superscript two": "\u00b2",
    "arabic-indic digits": "\u0661\u0662",
    "fullwidth digits": "\uff11\uff12",
    "underscored number": "1_000",
    "NUL": "\x00",
    "NUL inside": "acme\x00x",
    "ESC sequence": "\x1b[2J\x1b[31mred",
    "BEL and backspace": "a\x07\x08b",
    "CR LF": "a\r\nLocation: //evil.example",
    "DEL and C1": "a\x7f\x9bb",
    "right-to-left override": "\u202egnp.exe",
    "256 characters": "x" * 256,
    "1 MB": "x" * 1_000_000,
    "not UTF-8": b"\xff\xfe\xc3\x28",
    "surrogate bytes": b"\xed\xa0\x80",
    "markup": '"><script>alert(1)</script>',
    "SQL": "' OR 1=1 --",
    "path traversal": "../../../etc/passwd",
    "year 1": "0001-01-01T00:00:00+01:00",
    "year 9999": "9999-12-31T23:59:59-01:00",
    "format string": "%s%n{0}{__class__}",
}

CSV_ROW = {
    "company_id": "fz-1",
    "company_name": "Fuzz Co",
    "user_id": "u1",
    "user_email": "u1@fuzz.test",
    "product": "pb-business",
    "active_from": "2026-01-01T00:00:00Z",
    "active_to": "",
}

# The fields each endpoint reads besides its path arguments (query for GET, form for POST).
READS: dict[str, tuple[str, ...]] = {
    "static": (),
    "auth.login": ("email", "password", "next"),
    "auth.logout": (),
    "dashboard.index": (),
    "connection.show": (),
    "connection.save": ("site", "company_id", "public_key", "private_key", "client_id"),
    "connection.check": ("site", "company_id", "public_key", "private_key", "client_id"),
    "connection.integration": ("enabled",),
    "products.index": (),
    "products.save": ("cw_product_id",),
    "companies.index": ("tab", "q", "page", "health"),
    "companies.automatch_all": (),
    "companies.edit": ("q", "cw_company"),
    "companies.map_company": ("cw_company_id", "agreement_id", "q"),
    "companies.exclude": ("tab",),
    "companies.include": (),
    "schedule.show": (),
    "schedule.save": (
        "frequency",
        "weekday",
        "at_time",
        "timezone",
        "count_basis",
        "enabled",
        "confirm_zone",
    ),
    "sync.index": (),
    "sync.preview": (),
    "sync.show_preview": ("page",),
    "sync.apply": ("preview_id",),
    "sync.sync_now": (),
    "runs.index": ("page", "previews"),
    "runs.detail": ("action", "page"),
    "runs.status": (),
    "runs.statements": ("format",),
    "rollbacks.preview": (),
    "rollbacks.confirm": ("preview", "page"),
    "rollbacks.start": (),
    "usage.index": ("q", "page"),
    "usage.company": (),
    "usage.statements": ("month", "format"),
    "usage.company_statement": ("month", "format"),
    "ops.healthz": (),
    "ops.readyz": (),
    "ops.metrics": (),
    "tokens.index": (),
    "tokens.create": ("name", "scope", "expires_days"),
    "tokens.revoke": (),
    "usage.upload": ("file", "filename", *(f"csv:{column}" for column in COLUMNS)),
    "worklist.refresh": ("q",),
    "worklist.accept": ("cw_company_id", "q"),
    "worklist.reject": ("cw_company_id", "q"),
    "worklist.choose": ("cw_company", "q"),
    "worklist.accept_all": ("min_score", "q"),
    "worklist.exclude_selected": ("company", "q"),
    "worklist.cw_options": (),
    "holds.index": (),
    "holds.approve": ("hold_id", "all", "confirm"),
    "holds.reject": ("hold_id",),
    "rules.save_partner": (
        "rise_percent",
        "rise_users",
        "fall_percent",
        "fall_users",
        "hold_zero",
        "first_run_total",
        "drift_policy",
    ),
    "rules.save_company": (
        "rise_percent",
        "rise_users",
        "fall_percent",
        "fall_users",
        "hold_zero",
    ),
    "rules.remove_company": ("back",),
    "orphans.index": (),
    "orphans.adopt": ("addition_id", "agreement_id"),
    "orphans.zero": ("addition_id", "agreement_id", "confirm"),
    "schedule.save_checklist": ("checklist_days",),
    "checklist.index": ("page",),
    "agreements.accept": (),
    "agreements.dismiss": (),
    "agreements.create": ("cw_company_id", "template_id", "name", "start"),
    "health.check_now": (),
}
# Forms that post to the page they are on (no action attribute).
SELF_POSTING = {
    "login.html": "auth.login",
    "run_detail.html": "runs.detail",
    "schedule.html": "schedule.save",
    "usage.html": "usage.index",
    "usage_upload.html": "usage.upload",
}

BENIGN = {
    "email": "admin@acme.test",
    "password": PASSWORD,
    "next": "/runs/",
    "site": "",  # the simulator's, filled in by the fixture
    "company_id": SIM_KEYS["company_id"],
    "public_key": SIM_KEYS["public_key"],
    "private_key": "",  # keeps the stored key
    "client_id": SIM_KEYS["client_id"],
    "enabled": "1",
    "confirm_zone": "1",
    "cw_product_id": "1",
    "tab": "mapped",
    "q": "Acme",
    "page": "1",
    "cw_company": "1",
    "cw_company_id": "1",
    "agreement_id": "1",
    "frequency": "weekly",
    "weekday": "0",
    "at_time": "02:00",
    "timezone": "Europe/Amsterdam",
    "count_basis": "month_end",
    "preview_id": "",
    "previews": "1",
    "action": "error",
    "name": "seat pusher",
    "scope": "read",
    "expires_days": "30",
    "min_score": "90",
    "company": "1",
    "hold_id": "1",
    "all": "",
    "confirm": "1",
    "rise_percent": "50",
    "rise_users": "10",
    "fall_percent": "25",
    "fall_users": "5",
    "hold_zero": "yes",
    "first_run_total": "1000",
    "drift_policy": "overwrite",
    "back": "company",
    "addition_id": "1",
    "checklist_days": "3",
    "month": "2026-02",
    "format": "csv",
    "template_id": "1",
    "start": "2026-12-01",
    "unexpected": "x",
}


@dataclass
class Findings:
    """What the fuzz saw: request counts, server errors and refusals that wrote anyway."""

    requests: int = 0
    slots: set[tuple[str, str, str]] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    wrote_on_refusal: list[str] = field(default_factory=list)
    stored_badly: list[str] = field(default_factory=list)
    echoed_back: list[str] = field(default_factory=list)

    def summary(self) -> str:
        statuses = dict(sorted(self.statuses.items()))
        return (
            f"{self.requests} requests over {len(self.slots)} (route, method, input) slots x "
            f"{len(HOSTILE)} hostile values x 2 roles; statuses {statuses}"
        )


def _form_fields() -> dict[str, set[str]]:
    """Endpoint -> the input names of every template form that submits to it."""
    found: dict[str, set[str]] = {}
    for path in TEMPLATES.glob("*.html"):
        for form in re.finditer(r"<form\b([^>]*)>(.*?)</form>", path.read_text(), re.S):
            action = re.search(r"url_for\('([\w.]+)'", form.group(1))
            endpoint = action.group(1) if action else SELF_POSTING[path.name]
            names = set(re.findall(r'name="(\w+)"', form.group(2))) - {"csrf_token"}
            found.setdefault(endpoint, set()).update(names)
    return found


def test_the_fuzz_reads_every_field_of_every_form(app):
    forms = _form_fields()
    assert len(forms) >= 12
    for endpoint, names in forms.items():
        assert names <= set(READS[endpoint]), (endpoint, names - set(READS[endpoint]))
    # /api/v1 takes JSON, not forms: tests/api/test_schemathesis.py fuzzes it from its document.
    pages = {
        rule.endpoint for rule in app.url_map.iter_rules() if not rule.rule.startswith("/api/")
    }
    assert pages == set(READS)


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _csv(column: str | None, value: str | bytes) -> bytes:
    row = [_raw(CSV_ROW[name]) if name != column else _raw(value) for name in COLUMNS]
    return b",".join(_raw(name) for name in COLUMNS) + b"\n" + b",".join(row) + b"\n"


def _path(rule, field_name: str, value: str | bytes, world) -> str:
    ours = {
        "company_id": world.company_id,
        "run_id": world.run_id,
        "code": "pb-business",
        "filename": "style.css",
        "suggestion_id": 1,
    }
    path = rule.rule
    for name in rule.arguments:
        raw = value if name == field_name else str(ours[name])
        path = re.sub(rf"<(?:[^<>:]+:)?{name}>", quote(raw, safe=""), path)
    return path


def _send(client, rule, method: str, field_name: str, value: str | bytes, world, site: str):
    """One request with `value` in `field_name` and ordinary values everywhere else."""
    path = _path(rule, field_name, value, world)
    params: dict[str, str | bytes] = {
        name: BENIGN[name] for name in READS[rule.endpoint] if name in BENIGN
    }
    if "site" in params:
        params["site"] = site
    if field_name not in rule.arguments:
        params[field_name] = value
    if rule.endpoint == "usage.upload" and method == "POST":
        column = field_name.removeprefix("csv:") if field_name.startswith("csv:") else None
        content = _raw(value) if field_name == "file" else _csv(column, value)
        name = _raw(value).decode("latin-1") if field_name == "filename" else "seats.csv"
        return client.post(path, data={"file": (io.BytesIO(content), name)})
    query = urlencode(params)
    if method == "GET":
        return client.get(f"{path}?{query}")
    return client.post(
        f"{path}?{query}", data=query, content_type="application/x-www-form-urlencoded"
    )


@pytest.fixture
def fuzz_app(settings, session_factory, world, simulator):
    # Sign-in throttling would answer 429 before the login form is read: allow plenty here.
    app = create_app(
        dataclasses.replace(settings, login_rate_limit="1000000/1m", cw_max_retries=0),
        session_factory=session_factory,
    )
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)
    app.extensions["billing_sync"].clock = lambda: NOW
    yield app
    app.extensions["billing_sync"].runs.join(timeout=30)


@pytest.mark.slow
def test_no_hostile_value_anywhere_causes_a_500_or_a_write_when_refused(
    fuzz_app, world, simulator, dump
):
    findings = Findings()
    raised: list[BaseException] = []

    def remember(_sender, exception, **_extra) -> None:
        raised.append(exception)

    got_request_exception.connect(remember, fuzz_app)
    runs = fuzz_app.extensions["billing_sync"].runs
    for email, role in (("admin@acme.test", "admin"), ("viewer@acme.test", "viewer")):
        client = fuzz_app.test_client()
        assert login(client, email).status_code == 302
        if role == "admin":
            assert connect(client, simulator.site).status_code == 302
        baseline = dump()
        for rule in sorted(fuzz_app.url_map.iter_rules(), key=lambda rule: rule.rule):
            if rule.rule.startswith("/api/"):
                continue
            for method in sorted(rule.methods & {"GET", "POST"}):
                for field_name in [*rule.arguments, *READS[rule.endpoint]] or ["unexpected"]:
                    findings.slots.add((rule.endpoint, method, field_name))
                    for label, value in HOSTILE.items():
                        where = f"{role} {method} {rule.rule} {field_name}={label}"
                        raised.clear()
                        response = _send(
                            client, rule, method, field_name, value, world, simulator.site
                        )
                        runs.join(timeout=30)
                        findings.requests += 1
                        findings.statuses[response.status_code] += 1
                        if len(response.data) > MAX_ANSWER:
                            findings.echoed_back.append(f"{where}: {len(response.data)} bytes")
                        if response.status_code >= 500:
                            cause = type(raised[0]).__name__ if raised else "?"
                            findings.errors.append(f"{where}: {response.status_code} {cause}")
                        now = dump()
                        # 303: a refused form sent back to its page (web.common.refused).
                        refusal = 400 <= response.status_code < 500 or response.status_code == 303
                        if refusal and now != baseline:
                            findings.wrote_on_refusal.append(f"{where}: {response.status_code}")
                        if now != baseline:
                            new = set(misfits(now)) - set(misfits(baseline))
                            findings.stored_badly += [f"{where}: {m}" for m in sorted(new)]
                        baseline = now
                        if rule.endpoint == "auth.logout":
                            assert login(client, email).status_code == 302
    print(findings.summary())  # shown with -s: the size of the fuzz
    assert findings.requests > 4000, findings.summary()
    for problems in (
        findings.errors,
        findings.wrote_on_refusal,
        findings.stored_badly,
        findings.echoed_back,
    ):
        assert problems == [], "\n".join([findings.summary(), *problems[:30]])
