"""Property-based: schemathesis drives every documented operation with a write token.

No answer may be a 5xx, and every answer must be one the served document describes
(status code, content type, headers, body schema). Bounded: 20 examples per operation.
"""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import NOW, make_token
from web import create_app

pytestmark = pytest.mark.slow
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzzed_app(settings, session_factory, world):
    generous = dataclasses.replace(settings, api_rate_limit="100000/minute")
    app = create_app(generous, session_factory=session_factory)
    app.config.update(TESTING=True)
    app.extensions["billing_sync"].clock = lambda: NOW
    yield app
    app.extensions["billing_sync"].runs.join(timeout=60)


@pytest.fixture
def write_token(session_factory, world) -> str:
    return make_token(session_factory, world.partner_id, "write")


def _operations(app) -> list:
    # Loaded here rather than with schemathesis.pytest.from_fixture: its lazy loader reads a
    # pytest node attribute that pytest 9 no longer has.
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in loaded.get_all_operations()]


def _fuzz(operation, mode: GenerationMode, headers: dict, seen: dict[str, set[int]]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        seen.setdefault(operation.label, set()).add(response.status_code)

    fuzz()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_and_every_answer_matches_the_document(fuzzed_app, write_token, mode):
    operations = _operations(fuzzed_app)
    assert len(operations) == 7
    seen: dict[str, set[int]] = {}
    for operation in operations:
        _fuzz(operation, mode, {"Authorization": f"Bearer {write_token}"}, seen)
    print(f"schemathesis {mode}: " + "; ".join(f"{k} {sorted(v)}" for k, v in seen.items()))
    assert set(seen) == {operation.label for operation in operations}
