"""The audit engine on repositories the tests build: every planted fact is found and nothing
planted as clean is flagged."""

from pathlib import Path

import pytest

from atrium.audits.engine import audit
from tests.audits import fixtures


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    root = fixtures.planted_repository(tmp_path_factory.mktemp("planted") / "repo")
    return audit(root)


def by_path(result: dict) -> dict:
    return {record["path"]: record for record in result["files"]}


def test_inventory_languages_lines_vendored(planted):
    files = by_path(planted)
    assert files["app/main.py"]["language"] == "Python"
    assert files["app/main.py"]["lines"] == 8
    assert files["vendor/tinylib/tiny.js"]["vendored"] is True
    assert files["vendor/tinylib/tiny.js"]["language"] == "JavaScript"
    assert files["package-lock.json"]["generated"] is True
    assert not any(r["vendored"] for p, r in files.items() if not p.startswith("vendor/"))
    assert planted["summary"]["files"] == 10
    assert planted["summary"]["languages"]["Python"]["files"] == 4


def test_licenses_declared_detected_and_classified(planted):
    assert planted["project_license"]["expression"] == "MIT"
    assert planted["project_license"]["category"] == "permissive"
    sources = {s["source"] for s in planted["project_license"]["sources"]}
    assert sources == {"LICENSE", "package.json", "pyproject.toml"}
    files = by_path(planted)
    assert files["app/gpl_part.py"]["license"] == "GPL-3.0-or-later"
    assert files["app/gpl_part.py"]["license_category"] == "strong_copyleft"
    assert files["app/main.py"]["license"] == "MIT"
    assert files["vendor/tinylib/tiny.js"]["license"] == "MIT"
    assert files["app/bob.py"]["license"] is None


def test_copyright_holders(planted):
    holders = {h["holder"] for h in planted["copyright_holders"]}
    assert {"Alice Example", "Bob Builder", "Gnu Hacker", "Tiny Lib Authors"} <= holders


def test_dependencies_with_versions_and_licenses(planted):
    deps = {(d["ecosystem"], d["name"]): d for d in planted["dependencies"]}
    apache = deps[("npm", "apache-widget")]
    assert apache["version"] == "^2.1.0" and apache["locked_version"] == "2.1.4"
    assert apache["license"] == "Apache-2.0" and apache["license_category"] == "permissive"
    agpl = deps[("npm", "agpl-server")]
    assert agpl["license"] == "AGPL-3.0-only" and agpl["license_category"] == "strong_copyleft"
    assert deps[("npm", "mit-tester")]["scope"] == "development"
    assert deps[("pypi", "requests")]["version"] == ">=2.31"
    assert deps[("pypi", "pyyaml")]["version"] == "==6.0.1"


def test_secret_found_and_never_stored(planted):
    assert [(s["path"], s["line"]) for s in planted["secrets"]] == [("app/settings.py", 3)]
    assert "AWS Access Key" in planted["secrets"][0]["type"]
    assert fixtures.AWS_KEY not in repr(planted)


def test_contributors_and_ownership(planted):
    history = planted["history"]
    assert history["available"] and history["commits"] == 2
    people = {c["email"]: c for c in history["contributors"]}
    assert set(people) == {"alice@example.com", "bob@example.com"}
    assert people["alice@example.com"]["commits"] == 1 and people["bob@example.com"]["commits"] == 1
    assert people["bob@example.com"]["lines"] == 10 + 9  # bob.py and gpl_part.py, non-blank lines
    assert sum(c["share"] for c in people.values()) == pytest.approx(1.0, abs=0.001)
    assert by_path(planted)["app/bob.py"]["owner"] == "Bob Builder"
    assert by_path(planted)["app/main.py"]["owner"] == "Alice Example"


def test_findings_are_exactly_the_planted_ones(planted):
    found = {(f["kind"], f.get("path"), f["severity"]) for f in planted["findings"]}
    assert found == {
        ("secret_committed", "app/settings.py", "critical"),
        ("copyleft_in_permissive_project", "app/gpl_part.py", "high"),
        ("incompatible_dependency_license", "package.json", "critical"),
    }
    risk = planted["risk"]
    assert risk["score"] == 30 + 15 + 30 and risk["level"] == "critical"
    assert {c["kind"] for c in risk["contributions"]} == {f[0] for f in found}
    assert "capped at 100" in risk["method"]


def test_clean_repository_has_no_findings(tmp_path: Path):
    result = audit(fixtures.clean_repository(tmp_path / "clean"))
    assert result["findings"] == []
    assert result["risk"]["score"] == 0 and result["risk"]["level"] == "none"
    assert result["secrets"] == []


def test_symlinks_are_not_followed(tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_text(f"KEY = '{fixtures.AWS_KEY}'\n")
    root = tmp_path / "tree"
    root.mkdir()
    (root / "link.txt").symlink_to(outside)
    result = audit(root)
    assert by_path(result)["link.txt"]["symlink"] is True
    assert result["secrets"] == []
    assert result["history"]["available"] is False


def test_project_without_license(tmp_path: Path):
    fixtures.write(tmp_path, {"main.py": "print('hi')\n"})
    kinds = {f["kind"] for f in audit(tmp_path)["findings"]}
    assert kinds == {"no_project_license", "file_without_license"}


def test_licenses_named_by_package_metadata(tmp_path: Path):
    fixtures.write(
        tmp_path,
        {
            "pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: pkg\nLicense: BSD\n"
            "Classifier: License :: OSI Approved :: MIT License\n",
            "notes.py": "# license: see the LICENSE file\n",
            "bsd_style.go": "// Use of this source code is governed by a BSD-style license\n",
        },
    )
    files = by_path(audit(tmp_path))
    assert files["pkg-1.0.dist-info/METADATA"]["licenses"] == ["MIT", "BSD-3-Clause"]
    assert files["notes.py"]["licenses"] == []
    assert files["bsd_style.go"]["licenses"] == ["BSD-3-Clause"]


def test_license_notices_short_references_and_code_fields(tmp_path: Path):
    fixtures.write(tmp_path, fixtures.LICENSE_PHRASINGS)
    files = by_path(audit(tmp_path))
    found = {path: files[path]["licenses"] for path in fixtures.LICENSE_PHRASINGS}
    assert found == {
        "asyncpg_style.pyx": ["Apache-2.0"],
        "apache_short.py": ["Apache-2.0"],
        "dual.py": ["Apache-2.0", "BSD-3-Clause"],
        "dns_style.py": ["ISC"],
        "isc_notice.py": ["ISC"],
        "mt19937.h": ["BSD-3-Clause"],
        "two_clause.c": ["BSD-2-Clause"],
        "pygments_style.py": ["BSD-3-Clause"],
        "module_field.py": ["BSD-2-Clause OR Apache-2.0"],
        "jsdoc.js": ["MIT"],
        # mentions of the same words that are no license notice
        "apache_server.py": [],
        "isc_dhcp.py": [],
        "license_variable.py": [],
        "docstring_prose.py": [],
    }
