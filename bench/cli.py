"""`python -m bench`: parse the flags, check the machine, run, print and save the results."""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.registry import Scenario, load_scenarios
from bench.report import add_ratios, format_table, print_failures, write_json
from bench.runner import RunOptions, run
from bench.wrk import ensure_wrk, wrk_version

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--duration", type=positive_int, help="seconds per run of a target (default 3)"
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=3, help="paired rounds per scenario (default 3)"
    )
    parser.add_argument("--connections", type=positive_int, help="wrk connections (default 50)")
    parser.add_argument("--threads", type=positive_int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per target")
    parser.add_argument("--only", type=names, default=[], help="scenarios, comma-separated")
    parser.add_argument("--quick", action="store_true", help="one 1 s round (smoke run)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--all", action="store_true", help="also the long scenarios left out of the default run"
    )
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list for the servers")
    parser.add_argument("--wrk-cpus", default="1", help="taskset CPU list for wrk")
    parser.add_argument(
        "--stand-in", action="store_true", help="serve a second hello-world in Atrium's place"
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument(
        "--server-env", action="append", type=assignment, default=[], metavar="KEY=VALUE",
        help="extra environment for Atrium (repeatable)",
    )  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="JSON output path")
    return parser.parse_args(argv)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key, value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        scenarios = select(load_scenarios(), args.only, every=args.all or args.list)
        if args.list:
            print("\n".join(f"{s.name}\t{s.description}" for s in scenarios))
            return 0
        check_cpus(args.server_cpus, args.wrk_cpus)
        return bench(scenarios, args)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2


def select(scenarios: list[Scenario], only: list[str], every: bool = False) -> list[Scenario]:
    """The scenarios --only names: a name, or a group: `list` takes every `list_*`, `stock`
    every `*_stock`. Each scenario brings its own paired hello-world runs. Without --only,
    the default run (the long scenarios only with --all)."""
    if not only:
        return [s for s in scenarios if every or s.in_default_run]
    chosen = [s for s in scenarios if any(matches(s.name, token) for token in only)]
    unknown = sorted(t for t in only if not any(matches(s.name, t) for s in scenarios))
    if unknown:
        known = ", ".join(s.name for s in scenarios)
        raise BenchError(f"unknown scenario(s) {', '.join(unknown)}; known: {known}")
    return chosen


def matches(name: str, token: str) -> bool:
    return name == token or name.startswith(f"{token}_") or name.endswith(f"_{token}")


def check_cpus(server_cpus: str, wrk_cpus: str) -> None:
    available = os.sched_getaffinity(0)
    server, load = cpu_set(server_cpus), cpu_set(wrk_cpus)
    if not (server | load) <= available:
        raise BenchError(
            f"CPUs {sorted(server | load)} are not all available ({sorted(available)})"
        )
    if server & load:
        raise BenchError("the server and wrk must be pinned to different CPUs")


def cpu_set(cpu_list: str) -> set[int]:
    cpus: set[int] = set()
    for part in cpu_list.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def bench(scenarios: list[Scenario], args: argparse.Namespace) -> int:
    wrk_path = ensure_wrk()
    options = run_options(args)
    results = asyncio.run(run(scenarios, options, wrk_path))
    add_ratios(results)
    print()
    print(format_table(results))
    print_failures(results)
    run_info = {
        "wrk": wrk_version(wrk_path),
        "options": vars(options) | {"stand_in": args.stand_in},
    }
    write_json(args.results, results, run_info)
    print(f"\nbench: results written to {args.results}")
    return 1 if any(r.status == "failed" for r in results) else 0


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        duration_s=args.duration,
        connections=args.connections,
        threads=args.threads,
        warmup_s=args.warmup,
        quick=args.quick,
        server_cpus=args.server_cpus,
        wrk_cpus=args.wrk_cpus,
        stand_in=args.stand_in,
        ready_timeout_s=args.ready_timeout,
        server_env=dict(args.server_env),
        rounds=args.rounds,
    )
