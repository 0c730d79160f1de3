"""The invoice checklist from the database: a simulator world, health rows written by the test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import delete, event, select

from billing_sync.checklist_queries import open_checklists, partner_checklist, totals
from billing_sync.invoice_checklist import Summary
from billing_sync.models import (
    Company,
    CompanyMapping,
    Hold,
    MappingHealth,
    Partner,
    ProductMapping,
    Run,
)
from billing_sync.sync import run_sync
from tests.sync.conftest import NOW, _add_company, add_seats
from tests.sync.test_bills_next_invoice import set_agreement

INSIDE = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # the window before 1 December (UTC)


def health(session, world, external: str, invoice: date | None, level: str = "green", **extra):
    """Write the latest health check of a mapped company, replacing the one a run recorded."""
    reasons = extra.pop("reasons", [])
    no_health(session, world, external)
    session.add(
        MappingHealth(
            partner_id=world.partner_id,
            company_id=world.companies[external],
            agreement_id=extra.pop("agreement_id", world.agreements[external]),
            level=level,
            reasons=json.dumps(reasons),
            next_invoice_date=invoice,
            prorate_flag=False,
            checked_at=NOW,
            **extra,
        )
    )


def no_health(session, world, external: str) -> None:
    """Forget a company's health check, so the checklist falls back to the run's view."""
    company_id = world.companies[external]
    session.execute(delete(MappingHealth).where(MappingHealth.company_id == company_id))
    session.flush()


def hold(session, world, external: str, product: str, run_id: int) -> None:
    session.add(
        Hold(
            partner_id=world.partner_id,
            run_id=run_id,
            company_id=world.companies[external],
            product_id=world.products[product],
            agreement_id=world.agreements[external],
            quantity_before=1,
            quantity_after=40,
            rule="rise",
            reason="rise of 39 users",
            created_at=NOW,
        )
    )


def setup_month(session_factory, settings, world, cw_state) -> int:
    """October written on 5 November; then a new seat, health checks and a hold."""
    set_agreement(cw_state, world.agreements["ext-002"], invoice="2026-12-01", prorate=False)
    run_id = run_sync(session_factory, settings, world.partner_id, now=NOW).run_id
    with session_factory.begin() as session:
        ext0 = world.companies["ext-000"]
        add_seats(session, world.partner_id, ext0, world.products["pb-business"], 1, prefix="n",
                  start=datetime(2026, 11, 10, tzinfo=UTC))  # fmt: skip
        health(session, world, "ext-000", date(2026, 12, 1))
        red = [{"level": "red", "code": "cancelled", "message": "agreement is cancelled"}]
        health(session, world, "ext-001", date(2026, 12, 1), "red", reasons=red)
        # ext-002 has no health row: the run's view of its agreement counts.
        no_health(session, world, "ext-002")
        health(session, world, "ext-003", date(2027, 1, 1), "amber")
        hold(session, world, "ext-002", "pb-premium", run_id)
    return run_id


def test_checklist_lists_agreements_invoicing_in_the_window_with_what_is_wrong(
    session_factory, settings, world, cw_state
):
    setup_month(session_factory, settings, world, cw_state)

    with session_factory() as session:
        checklist = partner_checklist(session, session.get(Partner, world.partner_id), INSIDE)

    assert checklist.summary == Summary(invoicing=3, unwritten=1, held=1, red=1)
    assert checklist.sentence().startswith("3 agreements invoice in the next 3 days; 1 of them")
    lines = {line.external_id: line for line in checklist.lines}
    assert set(lines) == {"ext-000", "ext-001", "ext-002"}  # ext-003 invoices in January
    products = {p.code: (p.written, p.will_write) for p in lines["ext-000"].products}
    assert products == {"pb-business": (1.0, 2), "pb-premium": (None, 0)}
    assert lines["ext-001"].red and lines["ext-001"].reason == "agreement is cancelled"
    assert lines["ext-002"].next_invoice_date == date(2026, 12, 1)  # from the run's items
    assert lines["ext-002"].holds == 1 and lines["ext-002"].level is None


def test_a_health_check_of_another_agreement_is_not_this_agreements(
    session_factory, settings, world, cw_state
):
    run_sync(session_factory, settings, world.partner_id, now=NOW)
    with session_factory.begin() as session:
        health(session, world, "ext-000", date(2026, 12, 1), "red", agreement_id=999)

    with session_factory() as session:
        checklist = partner_checklist(session, session.get(Partner, world.partner_id), INSIDE)

    assert checklist.lines == []  # the run saw January for the agreement mapped now


def test_outside_the_window_the_checklist_says_when_it_opens(session_factory, world):
    with session_factory() as session:
        checklist = partner_checklist(session, session.get(Partner, world.partner_id), NOW)

    assert checklist.window is None and checklist.opens_on == date(2026, 11, 28)


def test_after_the_boundary_the_month_end_counts_stand_until_the_close_succeeds(
    session_factory, settings, world, cw_state
):
    setup_month(session_factory, settings, world, cw_state)
    december = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with session_factory.begin() as session:  # a seat that starts in December does not count
        add_seats(session, world.partner_id, world.companies["ext-001"],
                  world.products["pb-business"], 5, prefix="dec", start=december)  # fmt: skip

    with session_factory() as session:
        partner = session.get(Partner, world.partner_id)
        before = partner_checklist(session, partner, december)
    report = run_sync(session_factory, settings, world.partner_id, now=december)
    with session_factory.begin() as session:
        session.get(Run, report.run_id).trigger = "month_close"  # as the scheduler runs it
    with session_factory() as session:
        after = partner_checklist(session, session.get(Partner, world.partner_id), december)

    assert before.window.period.month == 11
    lines = {line.external_id: line for line in before.lines}
    assert {p.code: p.will_write for p in lines["ext-001"].products}["pb-business"] == 2
    assert {p.code: p.will_write for p in lines["ext-000"].products}["pb-business"] == 2
    assert after.window is None and after.opens_on == date(2026, 12, 29)


def test_checklist_takes_the_same_number_of_queries_for_more_companies(
    session_factory, settings, world, cw_state, engine
):
    setup_month(session_factory, settings, world, cw_state)

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with session_factory() as session:
                partner_checklist(session, session.get(Partner, world.partner_id), INSIDE)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    with session_factory.begin() as session:
        for i in range(4, 14):
            _add_company(session, world, cw_state, i, (i, 1))
    for i in range(4, 14):
        with session_factory.begin() as session:
            health(session, world, f"ext-{i:03d}", date(2026, 12, 1), "green")

    assert statements() == few


def test_open_checklists_cover_partners_inside_their_windows_only(
    session_factory, settings, world, cw_state
):
    setup_month(session_factory, settings, world, cw_state)

    with session_factory() as session:
        inside = open_checklists(session, INSIDE)
        session.get(Partner, world.partner_id).checklist_days = 0
        off = open_checklists(session, INSIDE)
        outside = open_checklists(session, NOW)
        names = [p.name for p in session.scalars(select(Partner))]

    assert [(p.name, c.summary.invoicing) for p, c in inside] == [("msp", 3)]
    assert off == [] and outside == [] and names == ["msp"]


def add_small_partner(session, name: str, product_id: int) -> None:
    """Another partner with two mapped companies invoicing on 1 December and a seat each."""
    partner = Partner(name=name, timezone="UTC", count_basis="month_end", created_at=NOW)
    session.add(partner)
    session.flush()
    session.add(
        ProductMapping(partner_id=partner.id, product_id=product_id, cw_product_id=1,
                       updated_at=NOW)
    )  # fmt: skip
    for n in range(2):
        company = Company(partner_id=partner.id, external_id=f"{name}-{n}", name=f"{name} {n}")
        session.add(company)
        session.flush()
        session.add(CompanyMapping(partner_id=partner.id, company_id=company.id, status="mapped",
                                   agreement_id=company.id + 5000, updated_at=NOW))  # fmt: skip
        session.add(MappingHealth(partner_id=partner.id, company_id=company.id,
                                  agreement_id=company.id + 5000, level="green",
                                  next_invoice_date=date(2026, 12, 1), checked_at=NOW))  # fmt: skip
        add_seats(session, partner.id, company.id, product_id, 1)


def test_the_gauge_over_many_partners_takes_the_same_number_of_queries(
    session_factory, settings, world, cw_state, engine
):
    setup_month(session_factory, settings, world, cw_state)

    def statements() -> tuple[int, int]:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with session_factory() as session:
                found = open_checklists(session, INSIDE)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen), totals(found).invoicing

    few = statements()
    with session_factory.begin() as session:
        for n in range(5):
            add_small_partner(session, f"msp{n}", world.products["pb-business"])
    many = statements()

    assert few == (few[0], 3) and many == (few[0], 13)
