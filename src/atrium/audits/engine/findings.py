"""Findings with severities, and the risk score that sums them.

The score is explained, not opaque: each severity is worth a fixed number of points
(critical 30, high 15, medium 5, low 1), the points of every finding are added and the total is
capped at 100. The report lists each kind of finding with its count and the points it added.
"""

from collections import Counter
from typing import Any

from atrium.audits.engine import licenses as lic

SEVERITY_POINTS = {"critical": 30, "high": 15, "medium": 5, "low": 1}
SEVERITIES = tuple(SEVERITY_POINTS)
LEVELS = ((70, "critical"), (40, "high"), (15, "medium"), (1, "low"), (0, "none"))
RISK_METHOD = (
    "Each finding adds points by severity (critical 30, high 15, medium 5, low 1); the sum is "
    "capped at 100. Levels: 0 none, 1-14 low, 15-39 medium, 40-69 high, 70-100 critical."
)
MAX_LISTED_PATHS = 50


def _finding(kind: str, severity: str, title: str, detail: str, **where: Any) -> dict[str, Any]:
    return {"kind": kind, "severity": severity, "title": title, "detail": detail, **where}


def _is_unknown(expression: str) -> bool:
    return any(
        key.startswith("LicenseRef-") and not key.startswith(("LicenseRef-proprietary",
                                                              "LicenseRef-public-domain",
                                                              "LicenseRef-commercial"))
        for key in lic.license_keys(expression)
    )  # fmt: skip


def _file_findings(files: list[dict[str, Any]], project: str | None, category: str | None):
    for record in files:
        expression = record.get("license")
        if not expression:
            continue
        path, file_class = record["path"], record["license_category"]
        where = " (vendored)" if record["vendored"] else ""
        if category == lic.PERMISSIVE and file_class in (lic.STRONG_COPYLEFT, lic.WEAK_COPYLEFT):
            strong = file_class == lic.STRONG_COPYLEFT
            yield _finding(
                "copyleft_in_permissive_project",
                "high" if strong else "medium",
                f"{expression} file in a {project} project{where}",
                f"{path} is under {expression}, a {'strong' if strong else 'weak'} copyleft "
                f"license, while the project is {project}: "
                + (
                    "distributing the project may require releasing it under the file's terms."
                    if strong
                    else "changes to this file must be shared under its license."
                ),
                path=path,
                license=expression,
            )
        elif category in (lic.PERMISSIVE, lic.WEAK_COPYLEFT, lic.STRONG_COPYLEFT) and (
            file_class == lic.PROPRIETARY
        ):
            yield _finding(
                "proprietary_code",
                "high",
                f"Proprietary notice in {path}",
                f"{path} carries a proprietary notice inside a {project} project.",
                path=path,
                license=expression,
            )
        if _is_unknown(expression):
            yield _finding(
                "unknown_license",
                "medium",
                f"Unrecognised license in {path}",
                f"{path} names {expression}, which is not an SPDX license; review its terms.",
                path=path,
                license=expression,
            )


def _dependency_findings(dependencies, project: str | None, category: str | None):
    for dep in dependencies:
        expression, dep_class = dep.get("license"), dep.get("license_category")
        if not expression:
            continue
        label = f"{dep['name']} {dep.get('version') or ''}".strip()
        if category in (lic.PERMISSIVE, lic.WEAK_COPYLEFT) and dep_class in (
            lic.STRONG_COPYLEFT,
            lic.PROPRIETARY,
        ):
            network = "AGPL" in expression
            yield _finding(
                "incompatible_dependency_license",
                "critical" if network else "high",
                f"Dependency {dep['name']} is {expression}",
                f"{label} ({dep['ecosystem']}, declared in {dep['manifest']}) is under "
                f"{expression}, which is incompatible with distributing this {project} project "
                "under its own terms"
                + (" (and, for AGPL, with offering it as a network service)." if network else "."),
                path=dep["manifest"],
                dependency=dep["name"],
                license=expression,
            )
        elif _is_unknown(expression):
            yield _finding(
                "unknown_license",
                "low",
                f"Dependency {dep['name']} has an unrecognised license",
                f"{label} declares {expression}, which is not an SPDX license.",
                path=dep["manifest"],
                dependency=dep["name"],
                license=expression,
            )


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    project = result["project_license"]["expression"]
    category = result["project_license"]["category"]
    found: list[dict[str, Any]] = []
    for secret in result["secrets"]:
        found.append(
            _finding(
                "secret_committed",
                "critical",
                f"{secret['type']} committed in {secret['path']}",
                f"Line {secret['line']} of {secret['path']} holds what looks like a secret "
                f"({secret['type']}). Revoke it, then remove it from the history.",
                path=secret["path"],
                line=secret["line"],
            )
        )
    if project is None:
        found.append(
            _finding(
                "no_project_license",
                "high",
                "The project declares no license",
                "No LICENSE file or manifest license field was found: without one, nobody "
                "else may use, copy or change the code.",
            )
        )
        bare = [
            r["path"]
            for r in result["files"]
            if r["is_code"] and not r["license"] and not r["vendored"] and not r["generated"]
        ]
        if bare:
            found.append(
                _finding(
                    "file_without_license",
                    "medium",
                    f"{len(bare)} source files carry no license",
                    "Neither the project nor these files state a license: "
                    + ", ".join(bare[:MAX_LISTED_PATHS])
                    + (" …" if len(bare) > MAX_LISTED_PATHS else ""),
                    paths=bare[:MAX_LISTED_PATHS],
                    count=len(bare),
                )
            )
    found += _file_findings(result["files"], project, category)
    found += _dependency_findings(result["dependencies"], project, category)
    order = {severity: index for index, severity in enumerate(SEVERITIES)}
    found.sort(key=lambda f: (order[f["severity"]], f["kind"], f.get("path") or ""))
    for number, finding in enumerate(found, start=1):
        finding["id"] = f"F{number:04d}"
    return found


def risk(findings: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: Counter[tuple[str, str]] = Counter((f["kind"], f["severity"]) for f in findings)
    contributions = [
        {
            "kind": kind,
            "severity": severity,
            "count": count,
            "points_each": SEVERITY_POINTS[severity],
            "points": count * SEVERITY_POINTS[severity],
        }
        for (kind, severity), count in sorted(by_kind.items(), key=lambda item: -item[1])
    ]
    contributions.sort(key=lambda c: -c["points"])
    raw = sum(c["points"] for c in contributions)
    score = min(100, raw)
    level = next(name for floor, name in LEVELS if score >= floor)
    return {
        "score": score,
        "level": level,
        "uncapped_points": raw,
        "method": RISK_METHOD,
        "contributions": contributions,
    }
