"""What the domains' HTML and PDF reports share: a Jinja2 environment per package, and a small
PDF writer (headings, wrapped lines, tables cut at a row limit) on fpdf2's core fonts."""

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def templates(package: str) -> Environment:
    """The autoescaping environment over `package`'s `templates/` folder."""
    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def latin1(text: object) -> str:
    # the PDF core fonts cover Latin-1; anything else is shown as '?'
    return str(text).encode("latin-1", "replace").decode("latin-1")


class PdfDocument:
    """An A4 document; `rows_listed` cuts long tables (the JSON report has every row)."""

    def __init__(self, title: str, rows_listed: int) -> None:
        from fpdf import FPDF  # imported on first use: only report requests need it

        self.pdf: Any = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.add_page()
        self.pdf.set_title(latin1(title))
        self.rows_listed = rows_listed

    def heading(self, text: str) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("Helvetica", "B", 13)
        self.pdf.cell(0, 8, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("Helvetica", "", 9)

    def line(self, text: str) -> None:
        self.pdf.multi_cell(0, 5, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def table(
        self,
        headers: list[str],
        rows: list[list[object]],
        widths: list[int],
        *,
        empty_text: str | None = None,
    ) -> None:
        if not rows and empty_text is not None:
            self.line(empty_text)
            return
        self.pdf.set_font("Helvetica", "", 8)
        with self.pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5) as grid:
            grid.row([latin1(h) for h in headers])
            for row in rows[: self.rows_listed]:
                grid.row([latin1(cell if cell is not None else "") for cell in row])
        if len(rows) > self.rows_listed:
            self.line(f"... and {len(rows) - self.rows_listed} more (see the JSON report)")
        self.pdf.set_font("Helvetica", "", 9)

    def output(self) -> bytes:
        return bytes(self.pdf.output())
