"""A rollback with workers: its preview and the rollback itself are jobs a worker carries out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_sync.models import Partner, Run
from billing_sync.partners import create_user
from billing_sync.sync import run_sync
from tests.fleet.conftest import wait_for
from tests.fleet.test_web_fleet import make_app
from tests.sync.conftest import NOW
from tests.web.conftest import PASSWORD, login

pytestmark = pytest.mark.slow


@pytest.fixture
def admin(session_factory, fleet_settings, world):
    with session_factory.begin() as session:
        partner = session.get(Partner, world.partner_id)
        create_user(session, partner, "admin@msp.test", PASSWORD, role="admin", now=NOW)
    client = make_app(fleet_settings, session_factory).test_client()
    assert login(client, "admin@msp.test").status_code == 302
    return client


def ended(factory, run_id: int) -> bool:
    with factory() as session:
        return session.get(Run, run_id).status not in ("queued", "running")


def test_a_rollback_and_its_preview_are_queued_and_carried_out_by_a_worker(
    session_factory, fleet_settings, world, admin, processes
):
    first = run_sync(session_factory, fleet_settings, world.partner_id, now=NOW).run_id
    processes.worker("w")

    confirm = admin.post(f"/runs/{first}/rollback/preview").headers["Location"]
    preview_id = int(confirm.rsplit("=", 1)[1])
    wait_for(lambda: ended(session_factory, preview_id), what="the queued preview to end")
    assert "7 to put back" in admin.get(confirm).get_data(as_text=True)
    assert set(world.quantities().values()) != {0.0}

    started = admin.post(f"/runs/{first}/rollback", follow_redirects=True)
    assert "Rollback of run" in started.get_data(as_text=True)
    with session_factory() as session:
        rollback = session.scalars(
            select(Run).where(Run.dry_run.is_(False), Run.trigger == "rollback")
        ).one()
    wait_for(lambda: ended(session_factory, rollback.id), what="the queued rollback to end")
    with session_factory() as session:
        row = session.get(Run, rollback.id)
        assert (row.status, row.rollback_of_run_id) == ("succeeded", first)
    assert set(world.quantities().values()) == {0.0}
