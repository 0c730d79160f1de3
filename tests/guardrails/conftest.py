"""Guardrail tests share the sync tests' seeded world and the scheduler tests' webhook receiver."""

from tests.scheduler.conftest import webhook_receiver  # noqa: F401
from tests.sync.conftest import cw, cw_state, fast_settings, world  # noqa: F401
