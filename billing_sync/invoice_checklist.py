"""The invoice checklist as pure rules: its window, what each agreement invoices with, the summary.

Agreements invoice on their `nextInvoiceDate`; a month's counts must be written before then.
From `checklist_days` before a partner's month boundary until that month's close has succeeded
(or as many days after the boundary), the checklist lists the agreements invoicing within those
days, what they will invoice with, what billing-sync will write, and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from billing_sync.periods import Period, period_containing, require_aware

DEFAULT_DAYS = 3
MAX_DAYS = 31
TOLERANCE = 1e-6  # ConnectWise keeps quantities as doubles


def checklist_days(setting: int | None) -> int:
    """The partner's setting in force: None is the default; 0 turns the checklist off."""
    return DEFAULT_DAYS if setting is None else setting


def local_midnight(day: date, tz: str) -> datetime:
    """The first instant of `day` in `tz`, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_today(now: datetime, tz: str) -> date:
    """The calendar date `now` falls on in `tz`."""
    return require_aware(now).astimezone(ZoneInfo(tz)).date()


@dataclass(frozen=True)
class Window:
    """An open checklist window: the month closing, and the invoice dates it looks at."""

    period: Period  # the month whose counts the coming invoices carry
    boundary: datetime  # its end B, aware UTC
    today: date  # in the partner's zone
    days: int

    @property
    def until(self) -> date:
        """The last invoice date the checklist lists (today + days)."""
        return self.today + timedelta(days=self.days)

    @property
    def before_boundary(self) -> bool:
        """True while the month is still running (counts are live until B)."""
        return self.today < self.period.next().first_day

    def invoices(self, next_invoice: date | None) -> bool:
        """Whether an agreement with this nextInvoiceDate invoices inside the window."""
        return next_invoice is not None and self.today <= next_invoice <= self.until


def close_matters(now: datetime, tz: str, days: int) -> bool:
    """Whether `now` is within `days` after the latest boundary (where a pending close counts)."""
    after = period_containing(now, tz).first_day + timedelta(days=days)
    return days > 0 and local_today(now, tz) < after


def open_window(now: datetime, tz: str, days: int, *, closed: bool) -> Window | None:
    """The window open at `now`, or None.

    `closed`: whether the close of the month that ended at the latest boundary has succeeded.
    A month whose close is still pending keeps its window open up to `days` after the boundary.
    """
    if days <= 0:
        return None
    today = local_today(now, tz)
    current = period_containing(now, tz)
    ended = current.previous()
    if not closed and today < current.first_day + timedelta(days=days):
        return Window(ended, ended.end(tz), today, days)
    if today >= current.next().first_day - timedelta(days=days):
        return Window(current, current.end(tz), today, days)
    return None


def next_opening(now: datetime, tz: str, days: int) -> date | None:
    """The local date the next window opens (None when the checklist is off)."""
    if days <= 0:
        return None
    return period_containing(now, tz).next().first_day - timedelta(days=days)


@dataclass(frozen=True)
class ProductLine:
    """One mapped product on an invoicing agreement: what it carries and what comes."""

    code: str
    written: float | None  # the addition's quantity as billing-sync last wrote it
    will_write: int  # the count billing-sync writes for the closing month
    holds: int = 0  # open holds on this item

    @property
    def unwritten(self) -> bool:
        """A change billing-sync has not written yet (nothing written counts as 0)."""
        return abs((self.written or 0) - self.will_write) > TOLERANCE


@dataclass(frozen=True)
class AgreementLine:
    """One agreement that invoices inside the window."""

    company_id: int
    company: str
    external_id: str
    agreement_id: int
    agreement: str | None
    next_invoice_date: date
    products: tuple[ProductLine, ...]
    level: str | None = None  # green | amber | red from the latest health check; None: unchecked
    reason: str | None = None  # the health check's first (worst) reason

    @property
    def unwritten(self) -> bool:
        return any(p.unwritten for p in self.products)

    @property
    def holds(self) -> int:
        return sum(p.holds for p in self.products)

    @property
    def red(self) -> bool:
        return self.level == "red"


@dataclass(frozen=True)
class Summary:
    """N agreements invoicing; M with changes not yet written, K with holds, J red."""

    invoicing: int = 0
    unwritten: int = 0
    held: int = 0
    red: int = 0

    def sentence(self, days: int) -> str:
        """The checklist's headline."""
        noun = "agreement invoices" if self.invoicing == 1 else "agreements invoice"
        span = f"in the next {days} day{'s' if days != 1 else ''}"
        return (
            f"{self.invoicing} {noun} {span}; {self.unwritten} of them "
            f"{'has' if self.unwritten == 1 else 'have'} changes not yet written, "
            f"{self.held} {'has' if self.held == 1 else 'have'} holds, {self.red} "
            f"{'is' if self.red == 1 else 'are'} red"
        )

    def __add__(self, other: Summary) -> Summary:
        return Summary(
            self.invoicing + other.invoicing,
            self.unwritten + other.unwritten,
            self.held + other.held,
            self.red + other.red,
        )


def summarize(lines: list[AgreementLine]) -> Summary:
    """Count the agreements invoicing, unwritten, held and red."""
    return Summary(
        invoicing=len(lines),
        unwritten=sum(line.unwritten for line in lines),
        held=sum(bool(line.holds) for line in lines),
        red=sum(line.red for line in lines),
    )


def pushed_boundary_day(period: Period | None, effective_month: date) -> date:
    """The local date the pushed period ends: a month_end run's month, else the current month."""
    return period.next().first_day if period is not None else effective_month


def bills_next_invoice(
    next_invoice: date | None, prorate: bool | None, boundary_day: date
) -> bool | None:
    """Whether a written change bills only from the next invoice; None when unknown.

    The invoice for the pushed period was generated when the agreement's next invoice is
    already later than the period's boundary; a non-prorating agreement then bills the change
    only from that next invoice.
    """
    if prorate is True:
        return False
    if prorate is None or next_invoice is None:
        return None
    return next_invoice > boundary_day
