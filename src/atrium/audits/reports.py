"""An audit's report in three formats from one result: JSON (the versioned schema), a
self-contained HTML page (Jinja2, inline CSS and SVG), and a PDF (fpdf2) with the same content."""

from typing import Any

import orjson

from atrium.documents import PdfDocument, latin1, templates

FORMATS = ("json", "html", "pdf")
MEDIA_TYPES = {"json": "application/json", "html": "text/html", "pdf": "application/pdf"}
CATEGORY_COLOURS = {
    "permissive": "#2e7d32",
    "weak_copyleft": "#f9a825",
    "strong_copyleft": "#c62828",
    "proprietary": "#6a1b9a",
    "unknown": "#757575",
}
PALETTE = ("#1565c0", "#00838f", "#6d4c41", "#ad1457", "#558b2f", "#ef6c00", "#4527a0", "#9e9d24")
TOP_LANGUAGES = 8
LISTED_ROWS = 200  # per table in HTML and PDF; the JSON report has every row


def render(result: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return orjson.dumps(result, option=orjson.OPT_INDENT_2)
    if fmt == "html":
        return render_html(result).encode()
    if fmt == "pdf":
        return render_pdf(result)
    raise ValueError(f"unknown report format {fmt!r}")


def _bars(items: list[tuple[str, int, str]], width: int = 460) -> list[dict[str, Any]]:
    total = sum(value for _, value, _ in items) or 1
    return [
        {
            "label": label,
            "value": value,
            "share": round(100 * value / total, 1),
            "width": max(1, round(width * value / total)) if value else 0,
            "colour": colour,
        }
        for label, value, colour in items
    ]


def chart_data(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    categories = result["summary"]["license_categories"]
    licenses = [
        (name.replace("_", " "), count, CATEGORY_COLOURS[name])
        for name, count in categories.items()
        if count
    ]
    languages = list(result["summary"]["languages"].items())[:TOP_LANGUAGES]
    return {
        "licenses": _bars(licenses),
        "languages": _bars(
            [
                (name, info["lines"], PALETTE[i % len(PALETTE)])
                for i, (name, info) in enumerate(languages)
            ]
        ),
    }


def render_html(result: dict[str, Any]) -> str:
    template = templates("atrium.audits").get_template("report.html")
    return template.render(r=result, charts=chart_data(result), limit=LISTED_ROWS)


def render_pdf(result: dict[str, Any]) -> bytes:
    doc = PdfDocument(f"Repository audit: {_source_label(result)}", LISTED_ROWS)
    pdf, heading, line, table = doc.pdf, doc.heading, doc.line, doc.table

    summary, risk = result["summary"], result["risk"]
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, latin1("Repository audit report"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    line(f"Source: {_source_label(result)}")
    line(f"Generated: {result['generated_at']}  -  schema {result['schema_version']}")
    heading("Summary")
    project = result["project_license"]
    line(f"Risk score: {risk['score']} / 100 ({risk['level']})")
    line(f"Project license: {project['expression'] or 'none declared'}")
    line(
        f"Files scanned: {summary['files']}  -  lines of code: {summary['lines_of_code']}  -  "
        f"vendored: {summary['vendored_files']}  -  generated: {summary['generated_files']}  -  "
        f"binary: {summary['binary_files']}"
    )
    findings_line = ", ".join(f"{k}: {v}" for k, v in summary["findings"].items())
    line(f"Findings: {findings_line}")
    heading("Risk score")
    line(risk["method"])
    table(
        ["Finding kind", "Severity", "Count", "Points"],
        [[c["kind"], c["severity"], c["count"], c["points"]] for c in risk["contributions"]],
        [80, 30, 30, 30],
    )
    heading("Findings")
    table(
        ["Id", "Severity", "Finding", "Detail"],
        [[f["id"], f["severity"], f["title"], f["detail"]] for f in result["findings"]],
        [14, 20, 60, 96],
    )
    heading("License mix (files)")
    table(["Class", "Files"], [[k, v] for k, v in summary["license_categories"].items()], [90, 40])
    table(["License", "Files"], [[k, v] for k, v in summary["licenses"].items()], [120, 40])
    heading("Languages")
    table(
        ["Language", "Files", "Lines"],
        [[k, v["files"], v["lines"]] for k, v in summary["languages"].items()],
        [80, 40, 40],
    )
    heading("Dependencies")
    table(
        ["Ecosystem", "Name", "Version", "License", "Manifest"],
        [
            [d["ecosystem"], d["name"], d["version"], d["license"] or "not declared", d["manifest"]]
            for d in result["dependencies"]
        ],
        [22, 50, 30, 40, 48],
    )
    heading("Secrets")
    table(
        ["File", "Line", "Type"],
        [[s["path"], s["line"], s["type"]] for s in result["secrets"]],
        [100, 20, 70],
    )
    heading("Copyright holders")
    table(
        ["Holder", "Files"],
        [[h["holder"], h["files"]] for h in result["copyright_holders"]],
        [140, 30],
    )
    _pdf_history(result, heading, line, table)
    return doc.output()


def _pdf_history(result, heading, line, table) -> None:
    heading("Contributors")
    history = result["history"]
    if not history.get("available"):
        line(f"Git history not available: {history.get('reason')}")
        return
    line(f"{history['commits']} commits; ownership from blame of {history['files_blamed']} files.")
    table(
        ["Name", "Email", "Commits", "Lines", "Share"],
        [
            [c["name"], c["email"], c["commits"], c["lines"], f"{100 * c['share']:.1f} %"]
            for c in history["contributors"]
        ],
        [45, 60, 25, 25, 25],
    )


def _source_label(result: dict[str, Any]) -> str:
    source = result.get("source") or {}
    label = source.get("repository") or source.get("filename") or source.get("path") or "?"
    if source.get("branch"):
        label += f" ({source['branch']})"
    return str(label)


def dumps(result: dict[str, Any]) -> bytes:
    return orjson.dumps(result)
