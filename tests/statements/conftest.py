"""Statement tests run on the sync tests' seeded world: a simulator and a mapped partner."""

from tests.sync.conftest import cw, cw_state, world  # noqa: F401
