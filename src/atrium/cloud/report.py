"""A pipeline's report in three formats from the snapshot its report step kept: JSON (the
snapshot itself), a self-contained HTML page (Jinja2) and a PDF (fpdf2) with the same content."""

from functools import partial
from typing import Any

import orjson

from atrium.documents import PdfDocument, templates

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


def render_html(report: dict[str, Any]) -> str:
    template = templates("atrium.cloud").get_template("report.html")
    return template.render(r=report, label=label(report), limit=LISTED_ROWS)


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def render_pdf(report: dict[str, Any]) -> bytes:
    doc = PdfDocument(f"Cloud cost report: {label(report)}", LISTED_ROWS)
    pdf, heading, line, table = (
        doc.pdf,
        doc.heading,
        doc.line,
        partial(doc.table, empty_text="None."),
    )

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
    return doc.output()
