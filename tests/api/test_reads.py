"""GET /api/v1/counts, /companies, /runs and /runs/{id}: the partner's own data, documented."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from billing_sync.closing import close_period
from billing_sync.models import Run
from billing_sync.periods import Period
from tests.web.conftest import NOW

SEATS = [
    # acme-1 is the world's mapped company (Acme Dental); Europe/Amsterdam zone
    ("acme-1", "Acme Dental", "u1", "2026-01-10T00:00:00Z", None),
    ("acme-1", "Acme Dental", "u2", "2026-01-10T00:00:00Z", "2026-02-20T00:00:00Z"),
    ("n-2", "Nordic Bakers", "u3", "2026-02-27T00:00:00Z", None),
]


def push(api, seats=SEATS):
    body = [
        {
            "company_id": c,
            "company_name": n,
            "user_id": u,
            "user_email": None,
            "product": "pb-business",
            "active_from": f,
            "active_to": t,
        }
        for c, n, u, f, t in seats
    ]
    assert api.put("/api/v1/seats", json={"seats": body}).status_code == 200


def test_month_end_counts_of_a_closed_period(api, reader):
    push(api)
    january = reader.get("/api/v1/counts?period=2026-01").get_json()
    assert (january["basis"], january["period"], january["frozen"]) == (
        "month_end",
        "2026-01",
        False,
    )
    assert january["at"] == "2026-01-31T23:00:00+00:00"  # midnight in Amsterdam
    assert [(c["company_id"], c["count"]) for c in january["counts"]] == [("acme-1", 2)]
    february = reader.get("/api/v1/counts").get_json()  # default: the latest closed period
    assert february["period"] == "2026-02"
    assert [(c["company_id"], c["company_name"], c["count"]) for c in february["counts"]] == [
        ("acme-1", "Acme Dental", 1),
        ("n-2", "Nordic Bakers", 1),
    ]


def test_a_closed_period_answers_its_frozen_snapshot(api, world, session_factory):
    push(api)
    with session_factory.begin() as session:
        close_period(
            session,
            world.partner_id,
            Period(2026, 2),
            "Europe/Amsterdam",
            now=datetime(2026, 3, 1, tzinfo=UTC),
            run_id=None,
        )
    push(api, [("acme-1", "Acme Dental", "u9", "2026-02-01T00:00:00Z", None)])  # back-dated
    frozen = api.get("/api/v1/counts?period=2026-02").get_json()
    assert frozen["frozen"] is True
    assert [(c["company_id"], c["count"]) for c in frozen["counts"]] == [("acme-1", 1), ("n-2", 1)]


def test_live_counts_at_an_instant(api):
    push(api)
    live = api.get("/api/v1/counts?at=2026-02-19T12:00:00%2B01:00").get_json()
    assert (live["basis"], live["period"], live["frozen"]) == ("live", None, False)
    assert [(c["company_id"], c["count"]) for c in live["counts"]] == [("acme-1", 2)]


def test_counts_refuse_an_open_period_a_bad_period_and_both_parameters(api):
    open_period = api.get("/api/v1/counts?period=2026-03")
    assert open_period.status_code == 422 and "not ended" in open_period.get_json()["detail"]
    bad = api.get("/api/v1/counts?period=2026-13")
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == [
        {"parameter": "period", "message": "must be YYYY-MM (1970-9997)"}
    ]
    both = api.get("/api/v1/counts?period=2026-01&at=2026-01-01T00:00:00Z")
    assert both.status_code == 422
    assert both.get_json()["errors"][0]["parameter"] == "at"


def test_companies_with_mapping_last_sync_and_status(api, world, session_factory):
    push(api)
    companies = api.get("/api/v1/companies").get_json()
    assert companies["next"] is None
    acme, nordic = companies["companies"]
    assert (acme["company_id"], acme["status"]) == ("acme-1", "mapped")
    assert acme["mapping"]["agreement_id"] == 70
    assert acme["last_sync"]["ok"] is False
    assert acme["last_sync"]["errors"] == [
        {"error": "ambiguous additions 5, 6", "advice": "Cancel one of them", "product": None}
    ]
    assert (nordic["status"], nordic["mapping"], nordic["last_sync"]) == ("unmatched", None, None)
    first = api.get("/api/v1/companies?limit=1").get_json()
    assert [c["company_id"] for c in first["companies"]] == ["acme-1"]
    rest = api.get(first["next"]).get_json()
    assert [c["company_id"] for c in rest["companies"]] == ["n-2"]
    assert api.get(rest["next"]).get_json() == {"companies": [], "next": None}


def test_a_run_that_failed_as_a_whole_is_not_ok_for_the_companies_it_missed(
    api, world, session_factory
):
    with session_factory.begin() as session:
        session.add(
            Run(
                partner_id=world.partner_id,
                trigger="schedule",
                dry_run=False,
                status="failed",
                basis="month_end",
                message="GET /finance/agreements -> 401: credentials refused",
                started_at=NOW + timedelta(hours=2),
                finished_at=NOW + timedelta(hours=2),
            )
        )
    acme = api.get("/api/v1/companies").get_json()["companies"][0]
    assert acme["last_sync"]["ok"] is False
    first = acme["last_sync"]["errors"][0]
    assert first["error"].endswith("failed: GET /finance/agreements -> 401: credentials refused")
    assert first["product"] is None


def test_runs_newest_first_in_the_sync_json_shape_and_paged(api, world, session_factory):
    with session_factory.begin() as session:
        for n in range(3):
            session.add(
                Run(
                    partner_id=world.partner_id,
                    trigger="api",
                    dry_run=True,
                    status="succeeded",
                    basis="month_end",
                    started_at=datetime(2026, 3, 10, 10, n, tzinfo=UTC),
                    left_out=json.dumps(["Nordic Bakers (unmatched)"]),
                )
            )
    page = api.get("/api/v1/runs?limit=2").get_json()
    assert [r["run_id"] for r in page["runs"]] == [5, 4]  # ids 1, 2 are the world's
    assert page["runs"][0]["left_out"] == ["Nordic Bakers (unmatched)"]
    rest = api.get(page["next"]).get_json()
    assert [r["run_id"] for r in rest["runs"]] == [3, world.run_id]
    one = api.get(f"/api/v1/runs/{world.run_id}").get_json()
    assert (one["status"], one["dry_run"], one["trigger"]) == ("partial", False, "manual")
    assert one["items"] == [
        {
            "company": "acme-1",
            "product": "",
            "agreement_id": 70,
            "addition_id": None,
            "action": "error",
            "quantity_before": None,
            "quantity_after": None,
            "error": "ambiguous additions 5, 6",
        }
    ]


def test_run_ids_that_are_not_ours_or_not_runs_are_404(api, world):
    for run_id in (world.theirs_run_id, 999, 2**31, 2**63 - 1, 2**70):  # ids are INTEGER (int4)
        response = api.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 404, run_id
        assert "Globex" not in response.get_data(as_text=True)
    assert api.get("/api/v1/runs?before=0").status_code == 422
    # Above every INTEGER id: all runs, not a database error (PostgreSQL refused 2**31 as int4).
    assert api.get(f"/api/v1/runs?before={2**31}").status_code == 200
