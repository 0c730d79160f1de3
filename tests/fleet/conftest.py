"""Fleet fixtures: the sync world of tests/sync, a real Redis database of our own, workers."""

from __future__ import annotations

from tests.sync.conftest import cw, cw_state, fast_settings, world  # noqa: F401 - fixtures
