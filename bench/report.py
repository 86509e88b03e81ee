"""The results: a table on stdout and bench/results/latest.json."""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench.wrk import WrkResult

Status = Literal["ok", "failed", "skipped"]
COLUMNS = ["scenario", "rps", "p50 ms", "p99 ms", "vs hello"]
COMPARE_COLUMNS = ["compare", "rps", "p50 ms", "p99 ms", "vs compare"]


@dataclass
class ScenarioResult:
    name: str
    status: Status
    problems: list[str] = field(default_factory=list)
    main: WrkResult | None = None
    compare: WrkResult | None = None
    compare_label: str | None = None
    pct_of_hello: float | None = None
    pct_of_compare: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def add_ratios(results: list[ScenarioResult], baseline_name: str) -> None:
    baseline = next((r.main for r in results if r.name == baseline_name), None)
    for result in results:
        result.pct_of_hello = percent(result.main, baseline)
        result.pct_of_compare = percent(result.main, result.compare)


def percent(measured: WrkResult | None, reference: WrkResult | None) -> float | None:
    if measured is None or reference is None or reference.rps == 0:
        return None
    return 100 * measured.rps / reference.rps


def format_table(results: list[ScenarioResult]) -> str:
    with_compare = any(r.compare is not None for r in results)
    header = COLUMNS + (COMPARE_COLUMNS if with_compare else []) + ["status"]
    rows = [row(r, with_compare) for r in results]
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    lines = [join_cells(header, widths), join_cells(["-" * w for w in widths], widths)]
    lines += [join_cells(cells, widths) for cells in rows]
    lines += notes(results)
    return "\n".join(lines)


def row(result: ScenarioResult, with_compare: bool) -> list[str]:
    cells = [result.name, *figures(result.main), pct(result.pct_of_hello)]
    if with_compare:
        cells += [result.compare_label or "", *figures(result.compare), pct(result.pct_of_compare)]
    return [*cells, result.status]


def figures(measured: WrkResult | None) -> list[str]:
    if measured is None:
        return ["", "", ""]
    return [f"{measured.rps:,.0f}", f"{measured.p50_ms:.2f}", f"{measured.p99_ms:.2f}"]


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} %"


def join_cells(cells: list[str], widths: list[int]) -> str:
    first, *others = zip(cells, widths, strict=True)
    parts = [first[0].ljust(first[1])] + [cell.rjust(width) for cell, width in others]
    return "  ".join(parts).rstrip()


def notes(results: list[ScenarioResult]) -> list[str]:
    lines = []
    for result in results:
        details = result.problems + [f"{k} = {v:,.2f}" for k, v in result.metrics.items()]
        if details:
            lines.append(f"  {result.name}: " + "; ".join(details))
    return ["", *lines] if lines else []


def write_json(path: Path, results: list[ScenarioResult], run_info: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **run_info,
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
