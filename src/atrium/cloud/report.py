"""A pipeline's report in three formats from the snapshot its report step kept: JSON (the
snapshot itself), a self-contained HTML page (Jinja2) and a PDF (fpdf2) with the same content."""

from functools import cache
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape

FORMATS = ("json", "html", "pdf")
MEDIA_TYPES = {"json": "application/json", "html": "text/html", "pdf": "application/pdf"}
LISTED_ROWS = 200  # findings in HTML and PDF; the JSON report has them all


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return orjson.dumps(report, option=orjson.OPT_INDENT_2)
    if fmt == "html":
        return render_html(report).encode()
    if fmt == "pdf":
        return render_pdf(report)
    raise ValueError(f"unknown report format {fmt!r}")


def label(report: dict[str, Any]) -> str:
    account = report["account"]
    name = account.get("account_name")
    aws_id = account.get("aws_account_id") or "not connected"
    return f"{name} (AWS {aws_id})" if name else f"AWS account {aws_id}"


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("atrium.cloud", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: dict[str, Any]) -> str:
    template = _environment().get_template("report.html")
    return template.render(r=report, label=label(report), limit=LISTED_ROWS)


def _latin1(text: object) -> str:
    # the PDF core fonts cover Latin-1; anything else is shown as '?'
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def render_pdf(report: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_title(_latin1(f"Cloud cost report: {label(report)}"))

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    def line(text: str) -> None:
        pdf.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def table(headers: list[str], rows: list[list[object]], widths: list[int]) -> None:
        if not rows:
            line("None.")
            return
        pdf.set_font("Helvetica", "", 8)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5) as grid:
            grid.row([_latin1(h) for h in headers])
            for row in rows[:LISTED_ROWS]:
                grid.row([_latin1(cell if cell is not None else "") for cell in row])
        if len(rows) > LISTED_ROWS:
            line(f"... and {len(rows) - LISTED_ROWS} more (see the JSON report)")
        pdf.set_font("Helvetica", "", 9)

    waste, costs = report["waste"], report["costs"]
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Cloud cost report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    line(f"{label(report)} - pipeline '{report['pipeline']['name']}'")
    line(f"Generated: {report['generated_at']}")
    heading("Summary")
    line(
        f"Open findings: {waste['open']} - savings found: "
        f"{_money(waste['estimated_monthly_savings'])} USD a month"
    )
    if costs.get("available"):
        line(
            f"Cost this month: {_money(costs['this_month'])} USD - last month: "
            f"{_money(costs['last_month'])} USD"
        )
    heading("Pipeline steps")
    table(["Step", "Status"], [[s["name"], s["status"]] for s in report["steps"]], [90, 60])
    heading("Inventory")
    table(
        ["Kind", "Count", "Monthly cost (USD)", "Size (GB)"],
        [
            [kind, t["count"], _money(t["monthly_cost"]), t["size_gb"]]
            for kind, t in report["inventory"].items()
        ],
        [50, 30, 50, 40],
    )
    heading("Waste by rule")
    table(
        ["Rule", "Findings", "Savings a month (USD)"],
        [
            [rule, e["count"], _money(e["estimated_monthly_savings"])]
            for rule, e in waste["by_rule"].items()
        ],
        [70, 30, 60],
    )
    heading("Findings")
    table(
        ["Rule", "Resource", "Region", "Savings (USD)"],
        [
            [f["rule"], f["resource_id"], f["region"], _money(f["estimated_monthly_savings"])]
            for f in report["findings"]
        ],
        [45, 75, 35, 35],
    )
    prices = report["prices"]
    line(f"Prices: {prices['source']} (as of {prices['as_of']}, {prices['currency']}).")
    return bytes(pdf.output())
