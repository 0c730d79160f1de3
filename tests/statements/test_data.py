"""Statements count exactly what the month-close run pushed: re-activations, zones, isolation."""

from __future__ import annotations

from sqlalchemy import select

from billing_sync import counting, partners
from billing_sync.closing import frozen_counts
from billing_sync.models import Company, Partner, RunItem, Seat
from billing_sync.periods import Period
from billing_sync.statements.data import build_statement
from billing_sync.sync import run_sync
from tests.statements.conftest import LA, seat, utc
from tests.sync.conftest import NO_HOLDS, NOW, build_world

OCTOBER = Period(2026, 10)


def _closed(session_factory, settings, world):
    report = run_sync(session_factory, settings, world.partner_id, now=NOW, trigger="month_close")
    assert report.status == "succeeded", report
    with session_factory() as session:
        return build_statement(session, world.partner_id, OCTOBER, now=NOW)


def test_totals_equal_the_counts_the_month_close_run_froze_and_wrote(
    session_factory, settings, la_world
):
    statement = _closed(session_factory, settings, la_world)
    with session_factory() as session:
        frozen = frozen_counts(session, la_world.partner_id, OCTOBER)
        recount = counting.month_end_counts(session, la_world.partner_id, OCTOBER.end(LA))
        written = {
            (item.company_id, item.product_id): item.quantity_after
            for item in session.scalars(select(RunItem).where(RunItem.state == "done"))
        }
    codes = {product_id: code for code, product_id in la_world.products.items()}
    listed = {
        (company.company_id, product_id): company.totals()[code]
        for company in statement.companies
        for product_id, code in codes.items()
        if code in company.totals()
    }
    assert statement.closed and statement.boundary == utc(2026, 11, 1, 7)
    assert listed == frozen == recount
    assert listed == {key: int(q) for key, q in written.items() if q}
    assert all(dict(c.billed) == c.totals() and not c.mismatches() for c in statement.companies)


def test_reactivated_users_count_once_since_their_return_and_are_not_listed_as_left(
    session_factory, settings, la_world
):
    statement = _closed(session_factory, settings, la_world)
    company = next(c for c in statement.companies if c.external_id == "ext-001")
    counted = {(u.user_id, u.product): u for u in company.counted}
    ivan = counted[("ivan", "pb-business")]
    assert ivan.email == "иван@пример.рф"
    assert ivan.since == utc(2026, 10, 20) and str(ivan.since.tzinfo) == LA
    assert counted[("anna", "pb-premium")].since == utc(2026, 6, 1)
    assert [u.user_id for u in company.counted].count("ivan") == 1
    assert company.left == ()


def test_the_month_ends_at_midnight_in_the_partners_zone_not_utc(
    session_factory, settings, la_world
):
    statement = _closed(session_factory, settings, la_world)
    by_id = {c.external_id: c for c in statement.companies}
    late = {(u.user_id, u.product) for u in by_id["ext-002"].counted}
    assert ("late", "pb-business") in late and ("gone", "pb-business") not in late
    assert [(u.user_id, u.left_at) for u in by_id["ext-002"].left] == [
        ("gone", utc(2026, 11, 1, 3))
    ]
    assert ("edge", "pb-business") in {(u.user_id, u.product) for u in by_id["ext-003"].counted}
    assert [u.user_id for u in by_id["ext-003"].left] == ["temp"]


def test_writes_list_the_run_items_that_set_the_quantity_on_each_addition(
    session_factory, settings, la_world
):
    statement = _closed(session_factory, settings, la_world)
    for company in statement.companies:
        additions = {a["id"]: a["quantity"] for a in la_world.additions(company.external_id)}
        written = {w.addition_id: w.quantity_after for w in company.writes}
        assert written == additions
        assert {w.agreement_id for w in company.writes} <= {
            la_world.agreements[company.external_id]
        }
        assert all(w.trigger == "month_close" and w.state == "done" for w in company.writes)
        assert all(str(w.run_at.tzinfo) == LA for w in company.writes)


def test_a_seat_changed_after_the_close_shows_as_a_mismatch_and_the_billed_count_stays(
    session_factory, settings, la_world
):
    _closed(session_factory, settings, la_world)
    with session_factory.begin() as session:
        session.add(seat(la_world, "ext-000", "pb-business", "backdated", utc(2026, 9, 1)))
    with session_factory() as session:
        statement = build_statement(session, la_world.partner_id, OCTOBER, now=NOW)
    company = next(c for c in statement.companies if c.external_id == "ext-000")
    assert company.totals()["pb-business"] == 2
    assert dict(company.billed)["pb-business"] == 1
    assert company.mismatches() == ["pb-business: 2 listed, 1 billed"]


def test_another_partners_companies_seats_and_runs_never_appear(
    session_factory, settings, la_world
):
    with session_factory.begin() as session:
        other = partners.create_partner(session, "globex", timezone=LA, now=NOW)
        session.flush()
        company = Company(partner_id=other.id, external_id="ext-000", name="Globex Secret")
        session.add(company)
        session.flush()
        session.add(
            Seat(
                partner_id=other.id,
                company_id=company.id,
                product_id=la_world.products["pb-business"],
                user_external_id="spy",
                user_email="spy@globex.test",
                active_from=utc(2026, 1, 1),
                updated_at=NOW,
            )
        )
    statement = _closed(session_factory, settings, la_world)
    names = {c.name for c in statement.companies}
    users = {u.user_id for c in statement.companies for u in c.counted}
    assert "Globex Secret" not in names and "spy" not in users
    with session_factory() as session:
        theirs = build_statement(session, other.id, OCTOBER, now=NOW)
    assert [c.name for c in theirs.companies] == ["Globex Secret"]
    assert [w for c in theirs.companies for w in c.writes] == []


def test_a_zone_ahead_of_utc_ends_the_month_before_utc_midnight(
    session_factory,
    settings,
    cw,
    cw_state,
):
    world = build_world(session_factory, settings, cw, cw_state, companies=1, rules=NO_HOLDS)
    with session_factory.begin() as session:
        session.get(Partner, world.partner_id).timezone = "Pacific/Auckland"  # B = 31 Oct 11:00Z
        session.add_all(
            [
                seat(world, "ext-000", "pb-premium", "early", utc(2026, 10, 31, 12)),  # November
                seat(
                    world, "ext-000", "pb-premium", "stays", utc(2026, 8, 1), utc(2026, 10, 31, 12)
                ),
            ]
        )
    statement = _closed(session_factory, settings, world)
    [company] = statement.companies
    assert statement.boundary == utc(2026, 10, 31, 11)
    assert [u.user_id for u in company.counted if u.product == "pb-premium"] == ["stays"]
    assert dict(company.billed) == company.totals() == {"pb-business": 1, "pb-premium": 1}
    assert {w.product: w.quantity_after for w in company.writes} == {
        "pb-business": 1.0,
        "pb-premium": 1.0,
    }
