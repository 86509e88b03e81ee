"""The results: a table on stdout, a loud list of failures, and bench/results/latest.json."""

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench.wrk import WrkResult

Status = Literal["ok", "failed", "skipped"]
COLUMNS = ["scenario", "rps", "p50 ms", "p99 ms", "CPU µs/req", "hello rps", "hello µs/req"]
COLUMNS += ["vs hello"]
COMPARE_COLUMNS = ["compare", "rps", "µs/req", "vs compare"]


@dataclass
class ScenarioResult:
    name: str
    status: Status
    problems: list[str] = field(default_factory=list)
    main: WrkResult | None = None
    compare: WrkResult | None = None
    compare_label: str | None = None
    hello: WrkResult | None = None
    pct_of_hello: float | None = None  # median over rounds of rps / the paired hello's rps
    pct_of_compare: float | None = None
    cpu_us: float | None = None  # the server's CPU µs per request, median over rounds
    compare_cpu_us: float | None = None  # the same for the compared server, when it is ours
    hello_cpu_us: float | None = None
    rounds: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def add_ratios(results: list[ScenarioResult]) -> None:
    for result in results:
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
    cells = [result.name, *figures(result.main), micros(result.cpu_us)]
    cells += [rps(result.hello), micros(result.hello_cpu_us), pct(result.pct_of_hello)]
    if with_compare:
        cells += [result.compare_label or "", rps(result.compare), micros(result.compare_cpu_us)]
        cells += [pct(result.pct_of_compare)]
    return [*cells, result.status.upper() if result.status == "failed" else result.status]


def figures(measured: WrkResult | None) -> list[str]:
    if measured is None:
        return ["", "", ""]
    return [rps(measured), f"{measured.p50_ms:.2f}", f"{measured.p99_ms:.2f}"]


def rps(measured: WrkResult | None) -> str:
    return "" if measured is None else f"{measured.rps:,.0f}"


def micros(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} %"


def join_cells(cells: list[str], widths: list[int]) -> str:
    first, *others = zip(cells, widths, strict=True)
    parts = [first[0].ljust(first[1])] + [cell.rjust(width) for cell, width in others]
    return "  ".join(parts).rstrip()


def notes(results: list[ScenarioResult]) -> list[str]:
    lines = []
    for result in results:
        details = [f"{k} = {v:,.2f}" for k, v in result.metrics.items()]
        if result.status != "failed":
            details = result.problems + details
        if details:
            lines.append(f"  {result.name}: " + "; ".join(details))
    return ["", *lines] if lines else []


def failure_banner(results: list[ScenarioResult]) -> str | None:
    """Every failed scenario with why, impossible to miss; None when none failed."""
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return None
    rule = "!" * 78
    lines = [rule, f"BENCH FAILED: {len(failed)} scenario(s) failed; their figures are not valid"]
    for result in failed:
        lines.append(f"  {result.name}:")
        lines += [f"    - {problem}" for problem in result.problems or ["(no reason given)"]]
    lines.append(rule)
    return "\n".join(lines)


def print_failures(results: list[ScenarioResult]) -> None:
    banner = failure_banner(results)
    if banner is not None:
        print(banner, flush=True)
        print(banner, file=sys.stderr, flush=True)


def write_json(path: Path, results: list[ScenarioResult], run_info: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **run_info,
        "results": [without_samples(asdict(r)) for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def without_samples(result: dict[str, Any]) -> dict[str, Any]:
    for key in ("main", "compare", "hello"):
        if result.get(key):
            result[key].pop("samples", None)
    return result
