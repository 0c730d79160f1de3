"""Month close: freeze a period's month-end counts once, and report seats changed afterwards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing_sync.counting import CountKey, month_end_counts
from billing_sync.models import Company, PeriodClose, Product, Snapshot
from billing_sync.periods import Period, require_aware


def _period_close(session: Session, partner_id: int, period: Period) -> PeriodClose | None:
    query = select(PeriodClose).where(
        PeriodClose.partner_id == partner_id, PeriodClose.period == period.first_day
    )
    return session.scalars(query).one_or_none()


def close_period(
    session: Session,
    partner_id: int,
    period: Period,
    tz: str,
    *,
    now: datetime,
    run_id: int | None,
) -> bool:
    """Freeze the period's month-end counts; True for the call that closed it, False after."""
    boundary = period.end(tz)
    if require_aware(now, "now") < boundary:
        raise ValueError(f"period {period} cannot close before its end {boundary.isoformat()}")
    if _period_close(session, partner_id, period) is not None:
        return False
    counts = month_end_counts(session, partner_id, boundary)
    marker = PeriodClose(
        partner_id=partner_id,
        period=period.first_day,
        boundary=boundary,
        closed_at=now,
        run_id=run_id,
    )
    rows = [
        {
            "partner_id": partner_id,
            "period": period.first_day,
            "company_id": company_id,
            "product_id": product_id,
            "quantity": quantity,
        }
        for (company_id, product_id), quantity in sorted(counts.items())
    ]
    try:
        # Another process may close the same period between our check and this insert; the
        # unique (partner_id, period) constraint decides, and the savepoint keeps our caller's
        # transaction usable when we lose.
        with session.begin_nested():
            session.add(marker)
            session.flush()
            if rows:
                session.execute(insert(Snapshot), rows)
    except IntegrityError:
        return False
    return True


def frozen_counts(session: Session, partner_id: int, period: Period) -> dict[CountKey, int] | None:
    """The counts frozen when the period closed, or None when it is not closed."""
    if _period_close(session, partner_id, period) is None:
        return None
    query = select(Snapshot.company_id, Snapshot.product_id, Snapshot.quantity).where(
        Snapshot.partner_id == partner_id, Snapshot.period == period.first_day
    )
    return {(company, product): n for company, product, n in session.execute(query)}


def late_changes(session: Session, partner_id: int, period: Period, tz: str) -> list[str]:
    """One warning per (company, product) whose month-end count now differs from the frozen one.

    `tz` is accepted for symmetry with close_period; the boundary stored at close time wins.
    """
    closed = _period_close(session, partner_id, period)
    if closed is None:
        return []
    frozen = frozen_counts(session, partner_id, period) or {}
    # Recount at the stored boundary, not period.end(tz): that instant is what was billed, and a
    # partner who changes zone later must not see every count reported as "changed".
    boundary = closed.boundary
    current = month_end_counts(session, partner_id, boundary)
    changed = sorted(
        key for key in frozen.keys() | current.keys() if frozen.get(key, 0) != current.get(key, 0)
    )
    if not changed:
        return []
    companies = _company_labels(session, partner_id, {company for company, _ in changed})
    products = _product_codes(session, {product for _, product in changed})
    warnings = [
        f"{companies.get(company, f'company #{company}')} / "
        f"{products.get(product, f'product #{product}')}: seats changed after {period} closed: "
        f"frozen {frozen.get((company, product), 0)}, now {current.get((company, product), 0)}; "
        "the frozen count stays billed"
        for company, product in changed
    ]
    return sorted(warnings)


def _company_labels(session: Session, partner_id: int, ids: set[int]) -> dict[int, str]:
    query = select(Company.id, Company.name, Company.external_id).where(
        Company.partner_id == partner_id, Company.id.in_(ids)
    )
    return {id_: f"{name} (ext {external})" for id_, name, external in session.execute(query)}


def _product_codes(session: Session, ids: set[int]) -> dict[int, str]:
    query = select(Product.id, Product.code).where(Product.id.in_(ids))
    return {key: value for key, value in session.execute(query)}
