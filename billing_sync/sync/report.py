"""What a run did, item by item: the records behind `sync --json`, the pages and the table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date


@dataclass(frozen=True)
class ItemReport:
    """The outcome of one (company, product) in a run, as `sync --json` prints it."""

    company: str
    company_name: str
    product: str
    agreement_id: int | None
    addition_id: int | None
    action: str
    quantity_before: float | None
    quantity_after: float | None
    error: str | None = None
    advice: str | None = None
    # A change written after its period was invoiced (not prorated): the invoice it bills from.
    bills_from: date | None = None


@dataclass
class RunReport:
    """What a run did, item by item."""

    run_id: int | None  # None when no run could start (another holds the lease)
    status: str
    items: list[ItemReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    message: str | None = None
    left_out: list[str] = field(default_factory=list)  # companies with seats no run pushes
    recorded: bool = True  # False: another process had closed the run row before this outcome

    def to_json(self) -> dict:
        """The `sync --json` object (DESIGN §5), plus warnings and message."""
        keys = (
            "company",
            "product",
            "agreement_id",
            "addition_id",
            "action",
            "quantity_before",
            "quantity_after",
            "error",
        )
        return {
            "run_id": self.run_id,
            "status": self.status,
            "items": [{k: asdict(i)[k] for k in keys} for i in self.items],
            "warnings": self.warnings,
            "left_out": self.left_out,
            "message": self.message,
        }


def format_report(report: RunReport, *, dry_run: bool) -> str:
    """A readable table of what changed (or would change), then totals and warnings."""
    header = f"{'company':<28} {'product':<16} {'agreement':>9} {'before':>7} {'after':>6}  action"
    lines = [header, "-" * len(header)]
    for item in report.items:
        before = "-" if item.quantity_before is None else f"{item.quantity_before:g}"
        after = "-" if item.quantity_after is None else f"{item.quantity_after:g}"
        action = (
            ("would " + item.action)
            if dry_run and item.action in ("create", "update")
            else item.action
        )
        line = (
            f"{item.company_name[:28]:<28} {item.product[:16]:<16} "
            f"{item.agreement_id or '-':>9} {before:>7} {after:>6}  {action}"
        )
        if item.error:
            line += f": {item.error}"
        elif item.bills_from:
            line += f" (will bill from the next invoice, {item.bills_from.isoformat()})"
        lines.append(line)
    totals = {}
    for item in report.items:
        totals[item.action] = totals.get(item.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(totals.items())) or "nothing to do"
    lines.append(f"run {report.run_id} {report.status}: {summary}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    if report.message:
        lines.append(report.message)
    return "\n".join(lines)
