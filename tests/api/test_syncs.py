"""POST /api/v1/syncs: a run in the background like Sync now, 409s, and Idempotency-Key."""

from __future__ import annotations

from sqlalchemy import func, select

from billing_sync.lease import acquire_lease
from billing_sync.models import Partner, Run
from tests.web.test_pages import _ready_to_sync


def test_a_dry_run_answers_202_with_location_and_the_run_reads_back_done(
    app, api, admin, world, simulator, sim_state
):
    agreement_id = _ready_to_sync(admin, world, simulator, sim_state)
    response = api.post("/api/v1/syncs", json={"dry_run": True})
    assert response.status_code == 202
    started = response.get_json()
    assert response.headers["Location"] == f"/api/v1/runs/{started['run_id']}"
    assert (started["status"], started["dry_run"], started["trigger"]) == ("running", True, "api")
    app.extensions["billing_sync"].runs.join(timeout=30)
    done = api.get(response.headers["Location"]).get_json()
    assert done["status"] == "succeeded"
    assert [(i["company"], i["action"], i["quantity_after"]) for i in done["items"]] == [
        ("acme-1", "create", 1)
    ]
    assert sim_state.additions(agreement_id) == []  # a dry run writes nothing


def test_a_real_run_writes_and_an_idempotency_key_repeat_returns_the_same_run(
    app, api, admin, world, simulator, sim_state, session_factory
):
    agreement_id = _ready_to_sync(admin, world, simulator, sim_state)
    key = {"Idempotency-Key": "nightly-2026-03-10"}
    first = api.post("/api/v1/syncs", json={"dry_run": False}, headers=key)
    app.extensions["billing_sync"].runs.join(timeout=30)
    again = api.post("/api/v1/syncs", json={"dry_run": False}, headers=key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.get_json()["status"] == "succeeded"
    assert [a["quantity"] for a in sim_state.additions(agreement_id)] == [1]
    with session_factory() as session:
        assert session.scalar(select(func.count(Run.id)).where(Run.trigger == "api")) == 1
    other = api.post("/api/v1/syncs", json={"dry_run": True}, headers=key)
    assert other.status_code == 422 and "dry_run=false" in other.get_json()["detail"]


def test_a_run_while_another_holds_the_lease_is_409_at_once(api, world, session_factory):
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).integration_enabled = True
    assert acquire_lease(session_factory, world.partner_id, "someone-else", seconds=300)
    response = api.post("/api/v1/syncs", json={}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 409
    assert "already running" in response.get_json()["detail"]
    with session_factory() as session:
        assert session.scalar(select(func.count(Run.id)).where(Run.trigger == "api")) == 0


def test_a_real_run_is_refused_with_409_while_the_integration_is_disabled(api, session_factory):
    response = api.post("/api/v1/syncs", json={"dry_run": False})
    assert response.status_code == 409
    assert "integration is disabled" in response.get_json()["detail"]
    with session_factory() as session:
        assert session.scalar(select(func.count(Run.id)).where(Run.trigger == "api")) == 0
    # a refused request frees its key, so the same key works once the cause is gone
    dry = api.post("/api/v1/syncs", json={"dry_run": True}, headers={"Idempotency-Key": "x"})
    assert dry.status_code == 202


def test_sync_request_validation(api):
    response = api.post("/api/v1/syncs", json={"dry_run": "perhaps"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"pointer": "/dry_run", "message": "Not a valid boolean."}
    ]
    long_key = api.post(
        "/api/v1/syncs", json={"dry_run": True}, headers={"Idempotency-Key": "k" * 256}
    )
    assert long_key.status_code == 422
    assert long_key.get_json()["errors"][0]["parameter"] == "Idempotency-Key"
