"""A real `billing-sync serve` over HTTP: token create -> PUT seats -> POST syncs -> GET run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.test_cli_contract import CLIENT_ID, cli, connect_partner, cw, ok  # noqa: F401
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(settings, tmp_path):
    env = {
        **os.environ,
        "BILLING_SYNC_DATABASE_URL": settings.database_url,
        "BILLING_SYNC_SECRET_KEY": TEST_SECRET,
        "BILLING_SYNC_ALLOW_PRIVATE_HOSTS": "1",
        "BILLING_SYNC_SCHEDULER": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "billing_sync.cli", "serve", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "web app on " not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield log.read_text().split("web app on ")[1].split()[0], log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()


def test_token_seats_dry_run_and_the_run_over_http(cli, cw, server, tmp_path):  # noqa: F811
    sim, state = cw
    base, log = server
    connect_partner(cli, sim)
    ok(cli("products", "add", "pb-business", "Password Boss Business"))
    ok(cli("products", "map", "msp1", "pb-business", "--cw-product-id", "1"))
    token = ok(cli("token", "create", "msp1", "--scope", "write")).strip()
    auth = {"Authorization": f"Bearer {token}"}
    seats = [
        {
            "company_id": "C1",
            "company_name": "Acme Dental",
            "user_id": f"u{n}",
            "user_email": None,
            "product": "pb-business",
            "active_from": "2025-12-01T00:00:00Z",
            "active_to": None,
        }
        for n in range(3)
    ]

    pushed = requests.put(f"{base}/api/v1/seats", json={"seats": seats}, headers=auth, timeout=30)
    assert pushed.json() == {"created": 3, "updated": 0, "unchanged": 0}
    ok(cli("companies", "automatch", "msp1"))
    started = requests.post(
        f"{base}/api/v1/syncs", json={"dry_run": True}, headers=auth, timeout=30
    )
    assert started.status_code == 202, started.text
    run_url = base + started.headers["Location"]
    deadline = time.monotonic() + 30
    while (run := requests.get(run_url, headers=auth, timeout=30).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    assert run["status"] == "succeeded" and run["dry_run"] is True
    assert [(i["company"], i["action"], i["quantity_after"]) for i in run["items"]] == [
        ("C1", "create", 3)
    ]
    assert state.additions(1) == []  # a dry run writes nothing
    no_token = requests.get(run_url, timeout=30)
    assert no_token.status_code == 401
    assert no_token.headers["Content-Type"] == "application/problem+json"
    assert token not in log.read_text()
