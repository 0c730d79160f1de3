"""The invoice checklist's pure rules: its window, invoice dates in it, the summary, the flag."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing_sync.invoice_checklist import (
    AgreementLine,
    ProductLine,
    Summary,
    bills_next_invoice,
    checklist_days,
    close_matters,
    local_midnight,
    next_opening,
    open_window,
    pushed_boundary_day,
    summarize,
)
from billing_sync.periods import Period


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "tz", "days", "closed", "period"),
    [
        # Three days before 1 December (UTC): opens at local midnight of 28 November.
        ("2026-11-27T23:59:59+00:00", "UTC", 3, True, None),
        ("2026-11-28T00:00:00+00:00", "UTC", 3, True, "2026-11"),
        ("2026-11-30T23:59:59+00:00", "UTC", 3, True, "2026-11"),
        # After the boundary the window stays open while the close is pending, up to 3 days.
        ("2026-12-01T00:00:00+00:00", "UTC", 3, False, "2026-11"),
        ("2026-12-03T23:59:59+00:00", "UTC", 3, False, "2026-11"),
        ("2026-12-04T00:00:00+00:00", "UTC", 3, False, None),
        ("2026-12-01T00:30:00+00:00", "UTC", 3, True, None),  # closed: done
        # Auckland (UTC+13 in summer): 28 November starts on 27 November, 11:00 UTC.
        ("2026-11-27T10:59:59+00:00", "Pacific/Auckland", 3, True, None),
        ("2026-11-27T11:00:00+00:00", "Pacific/Auckland", 3, True, "2026-11"),
        # New York: 1 December starts on 1 December, 05:00 UTC; until then November runs.
        ("2026-12-01T04:59:59+00:00", "America/New_York", 3, False, "2026-11"),
        ("2026-12-04T04:59:59+00:00", "America/New_York", 3, False, "2026-11"),
        ("2026-12-04T05:00:00+00:00", "America/New_York", 3, False, None),
        # Amsterdam: 25 March starts at 23:00 UTC (CET); 1 April at 22:00 UTC (CEST, after DST).
        ("2026-03-24T22:59:59+00:00", "Europe/Amsterdam", 7, True, None),
        ("2026-03-24T23:00:00+00:00", "Europe/Amsterdam", 7, True, "2026-03"),
        ("2026-03-31T21:59:59+00:00", "Europe/Amsterdam", 7, True, "2026-03"),
        ("2026-03-31T22:00:00+00:00", "Europe/Amsterdam", 7, True, None),
        ("2026-11-29T12:00:00+00:00", "UTC", 0, False, None),  # 0: off
        ("2026-11-10T12:00:00+00:00", "UTC", 31, True, "2026-11"),  # a month ahead
    ],
)
def test_window_opens_days_before_the_boundary_and_closes_after_the_close(
    now, tz, days, closed, period
):
    window = open_window(at(now), tz, days, closed=closed)

    assert (str(window.period) if window else None) == period


def test_window_lists_invoice_dates_from_today_to_today_plus_days():
    window = open_window(at("2026-11-27T12:00:00+00:00"), "Pacific/Auckland", 3, closed=True)

    assert window.today == date(2026, 11, 28)  # already the 28th in Auckland
    assert window.boundary == local_midnight(date(2026, 12, 1), "Pacific/Auckland")
    assert window.boundary == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # another UTC day
    assert window.before_boundary
    assert [window.invoices(date(2026, 11, d)) for d in (27, 28, 30)] == [False, True, True]
    assert window.invoices(date(2026, 12, 1)) and not window.invoices(date(2026, 12, 2))
    assert not window.invoices(None)


def test_after_the_boundary_the_window_belongs_to_the_month_that_ended():
    window = open_window(at("2026-12-02T08:00:00+00:00"), "Europe/Amsterdam", 3, closed=False)

    assert window.period == Period(2026, 11) and not window.before_boundary
    assert window.until == date(2026, 12, 5)


@pytest.mark.parametrize(
    ("now", "tz", "days", "opens"),
    [
        ("2026-11-10T12:00:00+00:00", "UTC", 3, date(2026, 11, 28)),
        ("2026-02-10T12:00:00+00:00", "UTC", 3, date(2026, 2, 26)),
        ("2026-12-31T20:00:00+00:00", "Asia/Tokyo", 5, date(2027, 1, 27)),  # already January
        ("2026-11-10T12:00:00+00:00", "UTC", 0, None),
    ],
)
def test_next_opening_is_days_before_the_next_boundary(now, tz, days, opens):
    assert next_opening(at(now), tz, days) == opens


@pytest.mark.parametrize(("setting", "days"), [(None, 3), (0, 0), (7, 7)])
def test_an_unset_checklist_means_three_days(setting, days):
    assert checklist_days(setting) == days


def line(*products: ProductLine, level: str | None = "green") -> AgreementLine:
    return AgreementLine(1, "Acme", "ext-1", 70, "MSA", date(2026, 12, 1), products, level)


@pytest.mark.parametrize(
    ("product", "unwritten"),
    [
        (ProductLine("pb", 5.0, 5), False),
        (ProductLine("pb", 5.0, 6), True),
        (ProductLine("pb", None, 0), False),  # nothing written, nothing to write
        (ProductLine("pb", None, 2), True),
        (ProductLine("pb", 2.0000000001, 2), False),  # a double from ConnectWise
    ],
)
def test_a_change_is_unwritten_when_the_count_differs_from_the_written_quantity(product, unwritten):
    assert product.unwritten is unwritten


def test_summary_counts_agreements_not_products():
    lines = [
        line(ProductLine("a", 1, 2), ProductLine("b", 1, 3, holds=2), level="red"),
        line(ProductLine("a", 4, 4), level="amber"),
        line(ProductLine("a", 4, 4, holds=1), level=None),
    ]

    summary = summarize(lines)

    assert summary == Summary(invoicing=3, unwritten=1, held=2, red=1)
    assert summary.sentence(3) == (
        "3 agreements invoice in the next 3 days; 1 of them has changes not yet written, "
        "2 have holds, 1 is red"
    )
    assert summary + summary == Summary(6, 2, 4, 2)


@pytest.mark.parametrize(
    ("invoice", "prorate", "boundary", "flag"),
    [
        (date(2026, 12, 1), False, date(2026, 11, 1), True),  # November's invoice went out
        (date(2026, 11, 1), False, date(2026, 11, 1), False),  # it has not yet
        (date(2026, 12, 1), True, date(2026, 11, 1), False),  # prorates
        (None, False, date(2026, 11, 1), None),
        (date(2026, 12, 1), None, date(2026, 11, 1), None),
        (None, True, date(2026, 11, 1), False),
    ],
)
def test_a_change_bills_from_the_next_invoice_when_the_period_was_invoiced(
    invoice, prorate, boundary, flag
):
    assert bills_next_invoice(invoice, prorate, boundary) is flag


def test_the_pushed_boundary_is_the_month_after_the_period_or_the_current_month():
    assert pushed_boundary_day(Period(2026, 10), date(2026, 11, 1)) == date(2026, 11, 1)
    assert pushed_boundary_day(Period(2026, 12), date(2027, 1, 1)) == date(2027, 1, 1)
    assert pushed_boundary_day(None, date(2026, 11, 1)) == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("now", "tz", "days", "matters"),
    [
        ("2026-12-03T23:59:59+00:00", "UTC", 3, True),
        ("2026-12-04T00:00:00+00:00", "UTC", 3, False),
        ("2026-11-30T23:30:00+00:00", "Europe/Amsterdam", 3, True),  # 1 December there
        ("2026-11-30T12:00:00+00:00", "Europe/Amsterdam", 3, False),
        ("2026-12-01T00:00:00+00:00", "UTC", 0, False),
    ],
)
def test_the_close_only_matters_within_days_after_the_boundary(now, tz, days, matters):
    assert close_matters(at(now), tz, days) is matters
