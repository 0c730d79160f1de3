"""Guardrail tests share the sync tests' seeded world: a simulator and a mapped partner."""

from tests.sync.conftest import cw, cw_state, fast_settings, world  # noqa: F401
