"""The three report formats carry every planted fact: JSON by value, HTML as text in a
self-contained page with an SVG chart, PDF as text extracted with pypdf."""

import io
import json
import re

import pytest
from pypdf import PdfReader

from atrium.audits import reports
from atrium.audits.engine import audit
from tests.audits import fixtures

PLANTED_TEXT = (
    "GPL-3.0-or-later",
    "app/gpl_part.py",
    "agpl-server",
    "AGPL-3.0-only",
    "apache-widget",
    "Apache-2.0",
    "app/settings.py",
    "AWS Access Key",
    "Alice Example",
    "Bob Builder",
    "alice@example.com",
    "bob@example.com",
    "MIT",
    "75 / 100",
)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return audit(fixtures.planted_repository(tmp_path_factory.mktemp("r") / "repo"))


def test_json_is_versioned_and_complete(result):
    data = json.loads(reports.render(result, "json"))
    assert data["schema_version"] == "1.0" and data["schema"].endswith("/1.0")
    assert data["risk"]["score"] == 75
    assert {f["kind"] for f in data["findings"]} == {
        "secret_committed",
        "copyleft_in_permissive_project",
        "incompatible_dependency_license",
    }


def test_html_is_self_contained_with_tables_and_chart(result):
    html = reports.render(result, "html").decode()
    assert "<svg" in html and "<table>" in html
    assert not re.search(r"<(?:script|link)\b|src=\"http", html)  # nothing fetched
    for text in PLANTED_TEXT:
        assert text in html, text
    assert "strong copyleft" in html  # the license mix chart's bar
    assert fixtures.AWS_KEY not in html


def test_pdf_text_has_the_key_figures(result):
    pdf = reports.render(result, "pdf")
    assert pdf.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    for needle in PLANTED_TEXT:
        assert needle in flat, needle
    assert "Files scanned: 10" in flat
    assert fixtures.AWS_KEY not in flat


def test_html_escapes_what_the_repository_says(tmp_path):
    fixtures.write(tmp_path, {"<img src=x onerror=alert(1)>.py": "print(1)\n"})
    html = reports.render(audit(tmp_path), "html").decode()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;.py" in html
