"""`atrium audit` runs the engine without a server and writes the report."""

import io
import json

from pypdf import PdfReader
from typer.testing import CliRunner

from atrium.cli import cli
from tests.audits import fixtures


def test_audit_a_directory_to_each_format(tmp_path):
    root = fixtures.planted_repository(tmp_path / "repo")
    runner = CliRunner()
    for fmt in ("json", "html", "pdf"):
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(cli, ["audit", str(root), "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "3 findings, risk 75/100 (critical)" in result.output
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema_version"] == "1.0" and data["summary"]["files"] == 10
    assert "agpl-server" in (tmp_path / "report.html").read_text()
    pdf = PdfReader(io.BytesIO((tmp_path / "report.pdf").read_bytes()))
    assert "GPL-3.0-or-later" in " ".join(page.extract_text() for page in pdf.pages)


def test_bad_target_and_format_exit_non_zero(tmp_path):
    runner = CliRunner()
    bad_url = runner.invoke(cli, ["audit", "ftp://example.com/r.git"])
    assert bad_url.exit_code == 1 and "Only http(s) and ssh" in bad_url.output
    bad_format = runner.invoke(cli, ["audit", str(tmp_path), "--format", "docx"])
    assert bad_format.exit_code == 2 and "unknown format" in bad_format.output
