"""BILLING_SYNC_LOG_FORMAT=json: one JSON object per line with partner, run and job fields."""

from __future__ import annotations

import io
import json
import logging
import threading
from contextvars import copy_context
from dataclasses import replace

import pytest

from billing_sync.logs import log_context, setup_logging
from billing_sync.models import Partner
from billing_sync.partners import create_user
from tests.web.conftest import PASSWORD, login
from web import create_app


@pytest.fixture
def json_logging(settings):
    """The process's logging set up for JSON into a buffer; put back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    json_settings = replace(settings, log_format="json")
    setup_logging(json_settings, info_from=("billing_sync.test",), stream=buffer)
    yield buffer
    root.handlers[:], root.level = saved


def lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines()]


def test_every_line_is_one_json_object_naming_partner_run_and_job(json_logging):
    log = logging.getLogger("billing_sync.test")
    log.info("outside")
    with log_context(partner_id=7, run_id=42, job_id="run-42"):
        log.info('inside "quoted"\nand two lines')
        worker = threading.Thread(target=copy_context().run, args=(log.info, "in a thread"))
        worker.start()
        worker.join()

    outside, inside, threaded = lines(json_logging.getvalue())
    assert (outside["partner_id"], outside["run_id"], outside["job_id"]) == (None, None, None)
    assert (inside["partner_id"], inside["run_id"], inside["job_id"]) == (7, 42, "run-42")
    assert inside["message"] == 'inside "quoted"\nand two lines' and inside["level"] == "INFO"
    assert threaded["run_id"] == 42


def test_web_request_lines_name_the_signed_in_partner(
    json_logging, settings, session_factory, world
):
    with session_factory.begin() as session:
        partner = session.get(Partner, world.partner_id)
        create_user(session, partner, "a@msp.test", PASSWORD, role="admin", now=partner.created_at)
    app = create_app(settings, session_factory=session_factory)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)

    @app.get("/_log_probe")
    def probe():
        logging.getLogger("billing_sync.test").warning("probe")
        return "ok"

    client = app.test_client()
    assert login(client, "a@msp.test").status_code == 302
    client.get("/_log_probe")

    [line] = [r for r in lines(json_logging.getvalue()) if r["message"] == "probe"]
    assert line["partner_id"] == world.partner_id
