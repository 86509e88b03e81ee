"""The audit of one directory tree: one pass over its files, then manifests, git history,
findings and the risk score. Synchronous and CPU-bound: callers run it off the event loop."""

import os
import stat
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atrium.audits.engine import copyrights, findings, history, inventory, manifests, secrets
from atrium.audits.engine import licenses as lic

SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://atrium.dev/schemas/audit-report/1.0"
LICENSE_FILE_STEMS = ("license", "licence", "copying", "unlicense")
Progress = Callable[[float, str], None]
# Share of the progress bar each stage fills.
FILES_DONE, HISTORY_DONE = 0.8, 0.97
PARALLEL_FROM = 2000  # files; below this, worker processes cost more than they save
CHUNK = 200


class AuditAborted(Exception):
    """The caller asked to stop between two chunks of files."""


def _is_license_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name.startswith(LICENSE_FILE_STEMS)


def analyse_file(root: str, path: str) -> dict[str, Any]:
    """Everything one read of a file tells: inventory, licenses, copyrights, secrets,
    and the dependencies when it is a manifest."""
    full = os.path.join(root, path)
    record: dict[str, Any] = {
        "path": path,
        "language": inventory.language_of(path),
        "bytes": 0,
        "lines": 0,
        "binary": False,
        "symlink": False,
        "vendored": inventory.is_vendored(path),
        "generated": False,
        "licenses": [],
        "copyrights": [],
    }
    extra: dict[str, Any] = {"secrets": [], "dependencies": [], "declared": None, "error": None}
    info = os.lstat(full)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        # never followed: a link may point outside the tree
        record["symlink"] = stat.S_ISLNK(info.st_mode)
        return {"record": record, **extra}
    head, size = inventory.read_head(Path(full))
    record["bytes"] = size
    if inventory.is_binary(head):
        record["binary"] = True
        return {"record": record, **extra}
    text = head.decode("utf-8", errors="replace")
    record["lines"] = inventory.count_lines(text)
    record["generated"] = inventory.is_generated(path, text)
    record["copyrights"] = copyrights.find(text)
    if not record["generated"]:
        extra["secrets"] = secrets.scan_text(text, path)
    parser = manifests.parser_for(path, record["vendored"])
    if parser is None:
        record["licenses"] = lic.detect(text)
    else:  # a manifest's license words are its dependencies', read by the parser
        try:
            extra["dependencies"], extra["declared"] = parser(text, path)
        except Exception as exc:  # a malformed manifest is reported, not fatal
            extra["error"] = f"{path}: could not parse ({type(exc).__name__}: {exc})"[:300]
    return {"record": record, **extra}


def _analyse_chunk(root: str, paths: list[str]) -> list[dict[str, Any]]:
    return [analyse_file(root, path) for path in paths]


def _analyse_all(root: Path, paths: list[str], progress: Progress, workers: int) -> list[dict]:
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    results: list[dict[str, Any]] = []
    done = 0

    def advance(batch: list[dict[str, Any]]) -> None:
        nonlocal done
        results.extend(batch)
        done += len(batch)
        progress(0.05 + (FILES_DONE - 0.05) * done / max(len(paths), 1), "scanning files")

    if workers > 1 and len(paths) >= PARALLEL_FROM:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for batch in pool.map(_analyse_chunk, [str(root)] * len(chunks), chunks):
                advance(batch)
    else:
        for chunk in chunks:
            advance(_analyse_chunk(str(root), chunk))
    return results


def _project_license(records: list[dict[str, Any]], declared: list[tuple[str, str]]):
    sources: list[dict[str, str]] = []
    for record in records:
        if "/" not in record["path"] and _is_license_file(record["path"]) and record["licenses"]:
            for expression in record["licenses"]:
                sources.append({"expression": expression, "source": record["path"]})
    for path, raw in declared:
        expression = lic.normalise_expression(raw)
        if expression and "/" not in path:
            sources.append({"expression": expression, "source": path})
    expression = lic.combine([s["expression"] for s in sources])
    return {
        "expression": expression,
        "category": lic.classify(expression) if expression else None,
        "sources": sources,
    }


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    languages: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "lines": 0})
    expressions: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for record in records:
        if record["language"] and not record["binary"]:
            languages[record["language"]]["files"] += 1
            languages[record["language"]]["lines"] += record["lines"]
        if record["license"]:
            expressions[record["license"]] += 1
            categories[record["license_category"]] += 1
    return {
        "files": len(records),
        "lines_of_code": sum(r["lines"] for r in records),
        "bytes": sum(r["bytes"] for r in records),
        "binary_files": sum(r["binary"] for r in records),
        "vendored_files": sum(r["vendored"] for r in records),
        "generated_files": sum(r["generated"] for r in records),
        "files_with_license": sum(1 for r in records if r["license"]),
        "languages": dict(sorted(languages.items(), key=lambda item: -item[1]["lines"])),
        "licenses": dict(expressions.most_common()),
        "license_categories": {c: categories.get(c, 0) for c in lic.CATEGORIES},
    }


def _holders(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_holder: dict[str, dict[str, Any]] = {}
    for record in records:
        for found in record["copyrights"]:
            entry = by_holder.setdefault(
                found["holder"], {"holder": found["holder"], "files": 0, "statements": []}
            )
            entry["files"] += 1
            if found["statement"] not in entry["statements"] and len(entry["statements"]) < 5:
                entry["statements"].append(found["statement"])
    return sorted(by_holder.values(), key=lambda h: (-h["files"], h["holder"]))


def audit(
    root: Path,
    *,
    source: dict[str, Any] | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    with_history: bool = True,
) -> dict[str, Any]:
    """Audit the tree at `root`; the JSON report's content (schema `SCHEMA_VERSION`)."""
    report = progress or (lambda _fraction, _stage: None)
    started = time.perf_counter()
    root = root.resolve()
    report(0.01, "listing files")
    paths = list(inventory.walk(root))
    report(0.05, "scanning files")
    analysed = _analyse_all(root, paths, report, workers)
    records = []
    all_secrets, dependencies, declared, errors = [], [], [], []
    for item in analysed:
        record = item["record"]
        record["license"] = lic.combine(record["licenses"])
        record["license_category"] = lic.classify(record["license"]) if record["license"] else None
        record["is_code"] = record["language"] not in inventory.NON_CODE and not record["binary"]
        records.append(record)
        all_secrets += item["secrets"]
        dependencies += item["dependencies"]
        if item["declared"]:
            declared.append((record["path"], item["declared"]))
        if item["error"]:
            errors.append(item["error"])
    report(FILES_DONE, "reading git history")
    text_files = {r["path"]: r["bytes"] for r in records if not r["binary"] and not r["symlink"]}
    git = history.analyse(root, text_files) if with_history else {"available": False,
                                                                   "reason": "skipped"}  # fmt: skip
    for record in records:
        record["owner"] = (git.get("owners") or {}).get(record["path"])
    report(HISTORY_DONE, "evaluating findings")
    result: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": source or {"path": str(root)},
        "project_license": _project_license(records, declared),
        "summary": _summary(records),
        "files": records,
        "copyright_holders": _holders(records),
        "dependencies": manifests.merge(dependencies),
        "secrets": all_secrets,
        "history": {k: v for k, v in git.items() if k != "owners"},
        "errors": errors,
    }
    result["findings"] = findings.evaluate(result)
    result["risk"] = findings.risk(result["findings"])
    result["summary"]["findings"] = {
        s: sum(1 for f in result["findings"] if f["severity"] == s) for s in findings.SEVERITIES
    }
    result["summary"]["duration_seconds"] = round(time.perf_counter() - started, 3)
    report(1.0, "done")
    return result
