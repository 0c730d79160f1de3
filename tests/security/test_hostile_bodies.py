"""Answers are capped as they stream in, and no over-long ConnectWise string is stored."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_sync.connectwise import errors
from billing_sync.connectwise.client import ConnectWiseClient, Credentials
from billing_sync.models import CompanyMapping, Connection, ProductMapping
from tests.security.hostile import (
    add_partner,
    agreement_row,
    answer_json,
    client_for_site,
    endless_chunked_json,
)
from tests.security.test_hostile_deadlines import cli, cli_env

ROOT = Path(__file__).resolve().parents[2]
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
MB = 2**20

# Runs in a fresh interpreter, so its peak RSS is this one call's, not the test session's.
# VmHWM, not ru_maxrss: the latter keeps the forking parent's size across exec.
MEASURE = """
import json, sys
from billing_sync.connectwise.client import ConnectWiseClient, Credentials

def status_kb(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])

credentials = Credentials(sys.argv[1], "acme", "pub-key", "private", "client-guid")
client = ConnectWiseClient(
    credentials, allow_private_hosts=True, codebase="v4_6_release", timeout=30
)
before = status_kb("VmRSS")
try:
    client.system_info()
    outcome = "read it all"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps({"before_kb": before, "peak_kb": status_kb("VmHWM"), "outcome": outcome}))
"""


def test_an_endless_answer_stops_at_the_cap_with_memory_bounded(hostile):
    server = hostile(endless_chunked_json)

    result = subprocess.run(
        [sys.executable, "-c", MEASURE, server.site],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    measured = json.loads(result.stdout)
    growth_mb = (measured["peak_kb"] - measured["before_kb"]) / 1024

    assert measured["outcome"].startswith("ResponseTooLarge: GET /system/info: the answer is")
    assert "larger than 20 MB (BILLING_SYNC_CW_MAX_BODY_MB)" in measured["outcome"]
    assert growth_mb < 30  # the 20 MB kept before the cap tripped, never the 655 MB offered
    assert server.bytes_sent < 40 * MB  # reading stopped: the server could not push it all
    print(f"huge body: RSS grew {growth_mb:.1f} MB; server sent {server.bytes_sent / MB:.1f} MB")


def test_a_declared_huge_length_is_refused_before_reading(hostile):
    def declared(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(10**10))
        handler.end_headers()
        handler.write(b"[" + b" " * MB)
        handler.close_connection = True

    server = hostile(declared)
    with (
        client_for_site(server.site, max_body_bytes=MB) as client,
        pytest.raises(errors.ResponseTooLarge, match="larger than 1 MB"),
    ):
        client.system_info()


def test_a_huge_answer_to_a_create_leaves_its_outcome_unknown(hostile):
    server = hostile(endless_chunked_json)

    with (
        client_for_site(server.site, timeout=10, max_body_bytes=MB) as client,
        pytest.raises(errors.WriteOutcomeUnknown, match="may have been created"),
    ):
        client.create_addition(9, product_id=77, quantity=4, effective_date=JAN_1, description="x")


def test_a_huge_error_answer_still_maps_by_its_status(hostile):
    server = hostile(answer_json({"message": "x" * (2 * MB)}, 503))

    with (
        client_for_site(server.site, max_body_bytes=MB) as client,
        pytest.raises(errors.ServerError, match="503"),
    ):
        client.system_info()


def test_connection_test_against_a_huge_answer_stores_nothing_long(
    hostile, settings, session_factory
):
    server = hostile(endless_chunked_json)
    partner_id = add_partner(session_factory, settings, "bloated", server.site)

    result, _took = cli(
        cli_env(settings, BILLING_SYNC_CW_MAX_BODY_MB="1"), "connection", "test", "bloated"
    )

    assert result.returncode == 1
    assert "GET /system/info: the answer is larger than 1 MB" in result.stderr
    with session_factory() as session:
        connection = session.scalar(select(Connection).where(Connection.partner_id == partner_id))
    assert connection.cw_version is None
    assert len(connection.last_check_message) < 1000


@pytest.mark.parametrize(
    ("answer", "stored"),
    [
        ({"version": "v" * 65}, "version"),
        ({"version": "v2025.8", "serverTimeZone": "z" * 101}, "serverTimeZone"),
    ],
)
def test_an_over_long_version_is_refused_not_stored(
    hostile, settings, session_factory, answer, stored
):
    server = hostile(answer_json(answer))
    partner_id = add_partner(session_factory, settings, "verbose", server.site)

    result, _took = cli(cli_env(settings), "connection", "test", "verbose")

    assert result.returncode == 1
    assert "unexpected SystemInfo" in result.stderr and stored in result.stderr
    assert "Longer than maximum length" in result.stderr
    with session_factory() as session:
        connection = session.scalar(select(Connection).where(Connection.partner_id == partner_id))
    assert connection.cw_version is None and connection.last_check_ok is False


def test_companies_map_refuses_an_over_long_agreement_name(hostile, settings, session_factory):
    server = hostile(answer_json([agreement_row(555, 10, name="N" * 256)]))
    partner_id = add_partner(session_factory, settings, "longnames", server.site)
    env = cli_env(settings)

    result, _took = cli(
        env, "companies", "map", "longnames", "c0", "--cw-company-id", "10", "--agreement-id", "555"
    )

    assert result.returncode == 1
    assert "unexpected Agreement (id 555)" in result.stderr
    assert "Traceback" not in result.stderr
    with session_factory() as session:
        mapping = session.scalar(
            select(CompanyMapping).where(CompanyMapping.partner_id == partner_id)
        )
    assert mapping.agreement_id == 100  # the mapping add_partner made is untouched


def test_products_map_refuses_an_over_long_catalog_description(hostile, settings, session_factory):
    item = {"id": 78, "identifier": "SEATS2", "description": "d" * 256, "inactiveFlag": False}
    server = hostile(answer_json(item))
    partner_id = add_partner(session_factory, settings, "longdesc", server.site)

    result, _took = cli(
        cli_env(settings), "products", "map", "longdesc", "longdesc-seats", "--cw-product-id", "78"
    )

    assert result.returncode == 1
    assert "unexpected CatalogItem (id 78)" in result.stderr
    with session_factory() as session:
        mapping = session.scalar(
            select(ProductMapping).where(ProductMapping.partner_id == partner_id)
        )
    assert mapping.cw_product_id == 77


def test_an_over_long_codebase_is_refused(hostile):
    server = hostile(answer_json({"version": "v1"}))
    server.companyinfo = answer_json({"Codebase": "v" * 5000 + "/"})
    credentials = Credentials(server.site, "acme", "pub-key", "private", "client-guid")
    with (
        ConnectWiseClient(credentials, allow_private_hosts=True) as client,
        pytest.raises(errors.InvalidSite, match="Invalid ConnectWise codebase"),
    ):
        client.system_info()
