"""A company's statement as a PDF (fpdf2, with the DejaVu Sans shipped in the package)."""

from __future__ import annotations

from contextlib import ExitStack
from importlib.resources import as_file, files

from fpdf import FPDF
from fpdf.fonts import FontFace

from billing_sync.statements.csv_out import quantity
from billing_sync.statements.model import CompanyStatement, Statement

FAMILY = "DejaVu"
FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
REPLACEMENT = "\ufffd"  # shown for a character DejaVu Sans has no glyph for (e.g. CJK)
WHEN = "%Y-%m-%d %H:%M"
HEADING = FontFace(emphasis="BOLD", fill_color=(230, 233, 238))


class _Document(FPDF):
    """A4 pages with the statement's title line and page numbers in the footer."""

    def __init__(self, footer_text: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(12, 12, 12)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FAMILY, size=7)
        self.cell(0, 5, self.footer_text, align="L")
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def _document(footer_text: str) -> _Document:
    pdf = _Document(footer_text)
    with ExitStack() as stack:
        for style, name in FONTS.items():
            # The fonts travel inside the package: a statement never depends on the host's fonts.
            path = stack.enter_context(as_file(files("billing_sync") / "data" / "fonts" / name))
            pdf.add_font(FAMILY, style, str(path))
    return pdf


class _Writer:
    """Lays out one statement; every string goes through `safe` first."""

    def __init__(self, pdf: _Document):
        self.pdf = pdf
        self.glyphs = pdf.fonts[FAMILY.lower()].cmap

    def safe(self, value: object) -> str:
        """Text the font can draw: characters it lacks become U+FFFD, controls a space."""
        text = "" if value is None else str(value)
        return "".join(
            " " if ch < " " else ch if ord(ch) in self.glyphs else REPLACEMENT for ch in text
        )

    def heading(self, text: str, size: float = 11) -> None:
        self.pdf.set_font(FAMILY, "B", size)
        self.pdf.ln(2)
        self.pdf.multi_cell(0, 6, self.safe(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font(FAMILY, size=8.5)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        self.pdf.set_font(FAMILY, size=8.5)
        for label, value in rows:
            self.pdf.set_font(FAMILY, "B", 8.5)
            self.pdf.cell(38, 5, self.safe(label))
            self.pdf.set_font(FAMILY, size=8.5)
            self.pdf.multi_cell(0, 5, self.safe(value), new_x="LMARGIN", new_y="NEXT")

    def table(self, columns: tuple[str, ...], widths: tuple[int, ...], rows: list[tuple]) -> None:
        if not rows:
            self.pdf.cell(0, 5, "None.", new_x="LMARGIN", new_y="NEXT")
            return
        with self.pdf.table(
            col_widths=widths, headings_style=HEADING, line_height=4.6, text_align="LEFT"
        ) as table:
            table.row([self.safe(c) for c in columns])
            for row in rows:
                table.row([self.safe(c) for c in row])


def _facts(statement: Statement, company: CompanyStatement) -> list[tuple[str, str]]:
    state = "closed (counts frozen)" if statement.closed else "not closed yet"
    return [
        ("Partner", statement.partner),
        ("Company", f"{company.name} (external id {company.external_id})"),
        ("ConnectWise company", company.cw_company or "not mapped"),
        ("Agreement", company.agreement or "none"),
        ("Month", f"{statement.period}, {state}"),
        ("Zone", statement.timezone),
        ("Counted at", f"{statement.boundary:{WHEN}} (first instant of the next month)"),
        ("Generated", f"{statement.generated_at:{WHEN}}"),
    ]


def _totals(company: CompanyStatement) -> list[tuple]:
    billed = dict(company.billed)
    products = sorted(company.totals().keys() | billed.keys())
    return [(p, company.totals().get(p, 0), billed.get(p, "")) for p in products]


def company_pdf(statement: Statement, company: CompanyStatement) -> bytes:
    """The statement of one company as PDF bytes."""
    pdf = _document(f"{statement.partner} · {company.external_id} · {statement.period}")
    writer = _Writer(pdf)
    pdf.footer_text = writer.safe(pdf.footer_text)
    pdf.add_page()
    writer.heading(f"Statement {statement.period}: {company.name}", size=15)
    writer.facts(_facts(statement, company))
    writer.heading("Totals per product")
    writer.table(
        ("Product", "Users at month end", "Billed (frozen)"), (60, 60, 60), _totals(company)
    )
    for problem in company.mismatches():
        pdf.multi_cell(0, 5, writer.safe(f"Seats changed after the month closed: {problem}"))
    writer.heading(f"Counted at month end ({len(company.counted)})")
    writer.table(
        ("User id", "E-mail", "Product", "Since"),
        (40, 70, 35, 41),
        [(u.user_id, u.email, u.product, f"{u.since:{WHEN}}") for u in company.counted],
    )
    writer.heading(f"Left during the month ({len(company.left)})")
    writer.table(
        ("User id", "E-mail", "Product", "Since", "Left"),
        (34, 58, 30, 32, 32),
        [
            (u.user_id, u.email, u.product, f"{u.since:{WHEN}}", f"{u.left_at:{WHEN}}")
            for u in company.left
        ],  # fmt: skip
    )
    writer.heading(f"Written to ConnectWise ({len(company.writes)})")
    writer.table(
        (
            "Run",
            "When",
            "Trigger",
            "Agreement",
            "Addition",
            "Product",
            "Action",
            "Quantity",
            "State",
        ),
        (12, 26, 20, 20, 18, 25, 19, 22, 24),
        [_write_row(w) for w in company.writes],
    )
    return bytes(pdf.output())


def _write_row(write) -> tuple:
    change = f"{quantity(write.quantity_before) or '–'} → {quantity(write.quantity_after)}"
    return (
        write.run_id,
        f"{write.run_at:{WHEN}}",
        write.trigger,
        write.agreement_id or "",
        write.addition_id or "",
        write.product,
        write.action,
        change,
        write.state,
    )
