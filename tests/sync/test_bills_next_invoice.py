"""A change written after its period was invoiced on a non-prorating agreement is flagged."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from billing_sync.models import Partner, RunItem
from billing_sync.sync import run_sync
from billing_sync.sync.report import format_report
from tests.sync.conftest import NOW, add_seats


def set_agreement(state, agreement_id: int, *, invoice: str | None, prorate: bool) -> None:
    """Give a simulator agreement its nextInvoiceDate and prorateFlag."""
    with state.lock:
        record = state.table("agreements")[agreement_id]
        record["prorateFlag"] = prorate
        if invoice is None:
            record.pop("nextInvoiceDate", None)
        else:
            record["nextInvoiceDate"] = f"{invoice}T00:00:00Z"


def flags(factory, run_id: int) -> dict[tuple[int, str], bool | None]:
    with factory() as session:
        rows = session.execute(
            select(RunItem.company_id, RunItem.action, RunItem.bills_next_invoice).where(
                RunItem.run_id == run_id
            )
        )
        return {(company, action): flag for company, action, flag in rows}


def test_month_end_writes_flag_only_non_prorating_agreements_invoiced_already(
    session_factory, settings, world, cw_state
):
    # NOW = 2026-11-05: the run pushes October, whose invoice is due on 2026-11-01.
    set_agreement(cw_state, world.agreements["ext-000"], invoice="2026-12-01", prorate=False)
    set_agreement(cw_state, world.agreements["ext-001"], invoice="2026-12-01", prorate=True)
    set_agreement(cw_state, world.agreements["ext-002"], invoice="2026-11-01", prorate=False)
    set_agreement(cw_state, world.agreements["ext-003"], invoice=None, prorate=False)

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    found = flags(session_factory, report.run_id)
    company = world.companies
    assert found[(company["ext-000"], "create")] is True  # invoiced on the 1st, not prorated
    assert found[(company["ext-001"], "create")] is False  # prorates
    assert found[(company["ext-002"], "create")] is False  # its invoice has not happened yet
    assert found[(company["ext-003"], "create")] is None  # no invoice date known
    assert found[(company["ext-000"], "skipped")] is None  # nothing written: no flag
    text = format_report(report, dry_run=False)
    assert text.count("will bill from the next invoice, 2026-12-01") == 1


def test_live_runs_compare_with_the_first_of_the_current_month(
    session_factory, settings, world, cw_state
):
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).count_basis = "live"
    set_agreement(cw_state, world.agreements["ext-001"], invoice="2026-12-01", prorate=False)
    set_agreement(cw_state, world.agreements["ext-002"], invoice="2026-11-01", prorate=False)

    report = run_sync(session_factory, settings, world.partner_id, now=NOW)

    found = flags(session_factory, report.run_id)
    assert found[(world.companies["ext-001"], "create")] is True  # November was invoiced
    assert found[(world.companies["ext-002"], "create")] is False


def test_an_update_is_flagged_and_a_preview_shows_it_too(
    session_factory, settings, world, cw_state
):
    run_sync(session_factory, settings, world.partner_id, now=NOW)
    with session_factory.begin() as session:
        add_seats(
            session,
            world.partner_id,
            world.companies["ext-001"],
            world.products["pb-business"],
            2,
            prefix="new",
            start=datetime(2026, 11, 10, tzinfo=UTC),
        )
    set_agreement(cw_state, world.agreements["ext-001"], invoice="2027-01-01", prorate=False)
    december = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # pushes November, invoiced 2026-12-01

    preview = run_sync(session_factory, settings, world.partner_id, now=december, dry_run=True)
    report = run_sync(session_factory, settings, world.partner_id, now=december)

    for run in (preview, report):
        updates = [i for i in run.items if i.action == "update"]
        assert [(i.company, i.bills_from) for i in updates] == [("ext-001", date(2027, 1, 1))]
        assert flags(session_factory, run.run_id)[(world.companies["ext-001"], "update")] is True
