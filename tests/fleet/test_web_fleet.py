"""The web app with workers: Sync now and previews queued, /metrics, /healthz and /readyz."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from billing_sync.db import make_engine, make_session_factory
from billing_sync.launch import Queued, start_run
from billing_sync.models import Partner, Run
from billing_sync.partners import create_user
from tests.api.conftest import make_token
from tests.fleet.conftest import wait_for
from tests.sync.conftest import expected_quantities
from tests.web.conftest import PASSWORD, login
from web import create_app

pytestmark = pytest.mark.slow


def make_app(settings, session_factory):
    app = create_app(settings, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    return app


@pytest.fixture
def admin_of(session_factory, world):
    """A signed-in admin of the world's partner on the given app."""
    with session_factory.begin() as session:
        partner = session.get(Partner, world.partner_id)
        create_user(
            session, partner, "admin@msp.test", PASSWORD, role="admin", now=partner.created_at
        )

    def sign_in(app):
        client = app.test_client()
        assert login(client, "admin@msp.test").status_code == 302
        return client

    return sign_in


def run_status(factory, run_id: int) -> str:
    with factory() as session:
        return session.get(Run, run_id).status


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}(\{{([^}}]*)\}})? (\S+)$"
    for match in re.finditer(pattern, body, re.M):
        have = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if have == wanted:
            return float(match.group(3))
    return 0.0


def test_sync_now_is_queued_in_the_request_and_followed_to_its_end(
    session_factory, fleet_settings, world, cw_state, admin_of, processes
):
    admin = admin_of(make_app(fleet_settings, session_factory))

    response = admin.post("/sync/now")
    run_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    status = admin.get(f"/runs/{run_id}/status.json").get_json()
    again = admin.post("/sync/now", follow_redirects=True).get_data(as_text=True)

    assert response.status_code == 302 and run_status(session_factory, run_id) == "queued"
    assert "Waiting for a worker" in page and "run.js" in page
    assert status["status"] == "queued"
    assert "already running" in again  # the lease was taken in the request
    assert cw_state.log == []  # the web process does no ConnectWise work

    processes.worker("w")
    wait_for(
        lambda: run_status(session_factory, run_id) not in ("queued", "running"),
        what="the queued run to end",
    )
    done = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    assert run_status(session_factory, run_id) == "succeeded"
    assert "Waiting for a worker" not in done and "run.js" not in done
    assert world.quantities() == expected_quantities(world)

    body = admin.get("/metrics").get_data(as_text=True)  # no login needed; here as an admin
    assert sample(body, "billing_sync_runs_total", trigger="manual", status="succeeded") == 1
    assert sample(body, "billing_sync_run_items_total", action="create") == len(
        expected_quantities(world)
    )
    assert sample(body, "billing_sync_cw_requests_total", method="POST", status="201") >= 1
    assert sample(body, "billing_sync_cw_request_duration_seconds_count", method="GET") >= 1
    assert sample(body, "billing_sync_queue_jobs", queue="interactive") == 0
    assert sample(body, "billing_sync_workers") == 1
    assert sample(body, "billing_sync_open_intents") == 0
    assert "billing_sync_month_close_pending" in body


def test_an_api_sync_is_queued_and_a_repeat_with_its_key_answers_the_same_run(
    session_factory, fleet_settings, world, cw_state, processes
):
    client = make_app(fleet_settings, session_factory).test_client()
    token = make_token(session_factory, world.partner_id, "write", now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "close-2026-11"}

    first = client.post("/api/v1/syncs", json={"dry_run": False}, headers=headers)
    repeat = client.post("/api/v1/syncs", json={"dry_run": False}, headers=headers)

    assert first.status_code == repeat.status_code == 202
    run_id = first.get_json()["run_id"]
    assert repeat.get_json()["run_id"] == run_id
    assert first.headers["Location"].endswith(f"/api/v1/runs/{run_id}")
    assert first.get_json()["status"] == "queued" and cw_state.log == []
    processes.worker("w", "--burst").wait(60)
    ended = client.get(f"/api/v1/runs/{run_id}", headers=headers).get_json()
    assert ended["status"] == "succeeded" and ended["trigger"] == "api"
    assert world.quantities() == expected_quantities(world)


def test_a_preview_is_a_job_and_its_page_shows_the_table_once_done(
    session_factory, fleet_settings, world, cw_state, admin_of, processes
):
    admin = admin_of(make_app(fleet_settings, session_factory))

    location = admin.post("/sync/preview").headers["Location"]
    waiting = admin.get(location).get_data(as_text=True)
    processes.worker("w", "--burst").wait(60)
    shown = admin.get(location).get_data(as_text=True)

    assert "Waiting for a worker to compute it" in waiting
    assert "Waiting for a worker" not in shown and "to create" in shown
    assert [e for e in cw_state.log if e.method in ("POST", "PATCH")] == []  # a preview


def test_metrics_count_and_scrape_without_a_login_and_without_secrets(
    session_factory, fleet_settings, world, cw_state, processes
):
    fleet_settings.metrics_dir.mkdir()  # as `serve` makes it: every scrape reads the shared folder
    app = make_app(fleet_settings, session_factory)
    client = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    queue = app.extensions["billing_sync"].queue
    cw_state.faults.retry_after_seconds = 0
    cw_state.faults.seed = 7
    cw_state.faults.rate_limit_probability = 0.2  # some 429s, retried
    start_run(
        session_factory,
        fleet_settings,
        Queued(queue),
        world.partner_id,
        now=datetime.now(UTC),
        trigger="api",
    )
    queued = client.get("/metrics").get_data(as_text=True)
    # A call's timeout is its total deadline, retries included: room for the backoff after a 429.
    processes.worker("w", "--burst", BILLING_SYNC_CW_TIMEOUT="10").wait(60)
    after = client.get("/metrics").get_data(as_text=True)

    def moved(name: str, **labels: str) -> float:
        # Counters are per process and the suite's other tests count too: compare, not absolute.
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert sample(queued, "billing_sync_queue_jobs", queue="interactive") == 1
    assert sample(queued, "billing_sync_runs_open", status="queued") == 1
    assert moved("billing_sync_runs_total", trigger="api", status="succeeded") == 1
    throttled = sum(1 for e in cw_state.log if e.status == 429)
    assert throttled and moved("billing_sync_cw_rate_limited_total") == throttled
    assert sample(after, "billing_sync_queue_jobs", queue="interactive") == 0
    assert fleet_settings.secret_key not in after and "redis://" not in after


def test_healthz_answers_and_readyz_names_redis_when_it_is_down(settings, session_factory):
    down = replace(settings, redis_url="redis://:s3cret@127.0.0.1:1/0")  # nothing listens
    client = make_app(down, session_factory).test_client()

    health = client.get("/healthz")
    ready = client.get("/readyz")
    metrics = client.get("/metrics")

    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "not ready" and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("Redis unreachable: ConnectionError")
    assert "s3cret" not in ready.get_data(as_text=True)
    assert metrics.status_code == 200 and "billing_sync_open_intents 0.0" in metrics.get_data(
        as_text=True
    )  # the database gauges still answer


def test_readyz_is_ready_with_redis_up(fleet_settings, session_factory):
    ready = make_app(fleet_settings, session_factory).test_client().get("/readyz")

    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_names_the_database_when_it_is_down(settings, tmp_path):
    broken = replace(settings, database_url=f"sqlite:///{tmp_path}/missing/dir/x.sqlite3")
    engine = make_engine(broken.database_url)
    (tmp_path / "missing" / "dir").rmdir()  # make_engine made it; a database that cannot open
    ready = make_app(broken, make_session_factory(engine)).test_client().get("/readyz")

    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"].startswith("database unreachable")
    assert "redis" not in ready.get_json()["checks"]  # not configured: not checked
