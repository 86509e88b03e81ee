"""One bench run: start the servers, run each scenario's setup, measure its targets with wrk.

Each wrk scenario is measured in rounds, each round a hello-world run immediately followed by
the scenario's run (and its comparison target's), so that both see the same machine state; the
figures are medians over the rounds, with the server's CPU µs per request beside them.
"""

import dataclasses
import inspect
import statistics
import tempfile
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import admin as admin_setup
from bench.context import BenchContext
from bench.cpu import CpuMeter
from bench.errors import ScenarioFailed, Skip
from bench.registry import (
    BASELINE,
    Measurement,
    Plan,
    Scenario,
    SetupResult,
    Target,
    check_samples,
)
from bench.report import ScenarioResult
from bench.rss import RssSampler
from bench.servers import Launch, Server, atrium_launch, hello_launch, serve, server_env
from bench.wrk import LoadSettings, Wrk, WrkResult, lua_script

SERVER_ENV = {  # the Atriums a scenario may run on, by name; "atrium" is the default
    "atrium": {},
    "stock": {"ATRIUM_STOCK_LIBRARIES": "aiosqlite,httpx"},
    "stock_httpx": {"ATRIUM_STOCK_LIBRARIES": "httpx"},  # only the outbound transport differs
}


@dataclass(frozen=True)
class RunOptions:
    duration_s: int | None
    connections: int | None
    threads: int
    warmup_s: int
    quick: bool
    server_cpus: str
    wrk_cpus: str
    stand_in: bool
    ready_timeout_s: float
    server_env: dict[str, str] = field(default_factory=dict)
    rounds: int = 3

    def load_for(self, scenario: Scenario) -> LoadSettings:
        duration = self.duration_s or (1 if self.quick else scenario.duration_s or 2)
        connections = self.connections or scenario.connections or 50
        return LoadSettings(duration, connections, self.threads, self.warmup_s)

    @property
    def round_count(self) -> int:
        return 1 if self.quick else self.rounds


class Servers:
    """Atrium (and the hello-world) started at the beginning; the stock-library Atriums only
    when a scenario asks for one (as its server or its peer)."""

    def __init__(self, stack: AsyncExitStack, workdir: Path, options: RunOptions) -> None:
        self.stack = stack
        self.workdir = workdir
        self.options = options
        self.contexts: dict[str, BenchContext] = {}

    async def context_for(self, scenario: Scenario) -> BenchContext:
        ctx = await self.server(scenario.server)
        ctx.peer = await self.server(scenario.peer) if scenario.peer else None
        return ctx

    async def server(self, name: str) -> BenchContext:
        if name not in self.contexts:
            self.contexts[name] = await start_atrium(
                self.stack, self.workdir, self.options, self.contexts["atrium"], name=name
            )
        return self.contexts[name]


async def run(
    scenarios: list[Scenario], options: RunOptions, wrk_path: str
) -> list[ScenarioResult]:
    with tempfile.TemporaryDirectory(prefix="atrium-bench-") as tmp:
        workdir = Path(tmp)
        async with AsyncExitStack() as stack:
            servers = Servers(stack, workdir, options)
            servers.contexts["atrium"] = await start_servers(
                stack, workdir, options, needs_atrium(scenarios)
            )
            wrk = Wrk(wrk_path, options.wrk_cpus)
            results = []
            for s in scenarios:
                load = options.load_for(s)
                try:
                    ctx = await servers.context_for(s)
                except Exception as error:
                    results.append(ScenarioResult(s.name, "failed", [f"server: {error}"]))
                    continue
                results.append(await run_scenario(s, ctx, load, wrk, workdir, options))
            return results


def needs_atrium(scenarios: list[Scenario]) -> bool:
    return any(s.needs_atrium for s in scenarios)


async def start_servers(
    stack: AsyncExitStack, workdir: Path, options: RunOptions, with_atrium: bool
) -> BenchContext:
    hello = await stack.enter_async_context(start(hello_launch(workdir), options))
    if not with_atrium:
        return await new_context(stack, hello.url, hello, server_pid=None)
    if options.stand_in:
        stand_in = await stack.enter_async_context(
            start(hello_launch(workdir, "stand-in"), options)
        )
        return await new_context(stack, stand_in.url, hello, stand_in.pid)
    base = await new_context(stack, hello.url, hello, server_pid=None)
    return await start_atrium(stack, workdir, options, base, name="atrium")


async def start_atrium(
    stack: AsyncExitStack, workdir: Path, options: RunOptions, base: BenchContext, *, name: str
) -> BenchContext:
    credentials = admin_setup.new_credentials()
    extra = {**credentials.env, **options.server_env, **SERVER_ENV[name]}
    name = name if name == "atrium" else "atrium-" + name.replace("_", "-")
    env = server_env(workdir / f"{name}-data", extra)
    launch = dataclasses.replace(atrium_launch(workdir, env), name=name)
    atrium = await stack.enter_async_context(start(launch, options))
    ctx = await new_context(stack, atrium.url, None, atrium.pid)
    ctx.hello_url, ctx.hello_pid = base.hello_url, base.hello_pid
    try:
        ctx.admin = await admin_setup.obtain_admin(ctx.client, credentials, env)
    except admin_setup.AdminUnavailable as error:
        ctx.admin_error = str(error)
    return ctx


def start(launch: Launch, options: RunOptions) -> AbstractAsyncContextManager[Server]:
    print(f"bench: starting {launch.name} on CPU {options.server_cpus}", flush=True)
    return serve(launch, options.server_cpus, options.ready_timeout_s)


async def new_context(
    stack: AsyncExitStack, base_url: str, hello: Server | None, server_pid: int | None
) -> BenchContext:
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
    scenario_stack = await stack.enter_async_context(AsyncExitStack())
    hello_url = hello.url if hello else ""
    ctx = BenchContext(base_url, hello_url, client, scenario_stack, server_pid)
    ctx.hello_pid = hello.pid if hello else None
    return ctx


async def run_scenario(
    scenario: Scenario,
    ctx: BenchContext,
    load: LoadSettings,
    wrk: Wrk,
    workdir: Path,
    options: RunOptions,
) -> ScenarioResult:
    rounds = options.round_count
    print(
        f"bench: {scenario.name} ({rounds} x {load.duration_s} s paired with hello, "
        f"{load.connections} connections)",
        flush=True,
    )
    try:
        prepared = await call_setup(scenario, ctx)
    except Skip as reason:
        return ScenarioResult(scenario.name, "skipped", [str(reason)])
    except Exception as error:
        return ScenarioResult(scenario.name, "failed", [f"setup: {describe(error)}"])
    if isinstance(prepared, Measurement):
        return from_measurement(scenario.name, prepared)
    plan = prepared if isinstance(prepared, Plan) else Plan(prepared)
    measurer = Measurer(wrk, load, workdir, ctx)
    try:
        return await measure_plan(scenario, plan, measurer, rounds)
    except Exception as error:
        return ScenarioResult(scenario.name, "failed", [describe(error)])


async def call_setup(scenario: Scenario, ctx: BenchContext) -> SetupResult:
    result = scenario.setup(ctx)
    return await result if inspect.isawaitable(result) else result


def describe(error: Exception) -> str:
    if isinstance(error, ScenarioFailed):
        return str(error)
    return f"{type(error).__name__}: {error}"


def from_measurement(name: str, measurement: Measurement) -> ScenarioResult:
    status = "failed" if measurement.problems else "ok"
    return ScenarioResult(name, status, measurement.problems, metrics=dict(measurement.metrics))


@dataclass
class Measurer:
    wrk: Wrk
    load: LoadSettings
    workdir: Path
    ctx: BenchContext

    def script(self, target: Target, name: str) -> Path:
        path = self.workdir / f"{name}.lua"
        path.write_text(lua_script(target.requests()))
        return path

    def pid_of(self, target: Target) -> int | None:
        if target.base_url == self.ctx.hello_url:
            return self.ctx.hello_pid
        peer = self.ctx.peer
        if peer is not None and target.base_url == peer.base_url:
            return peer.server_pid
        return self.ctx.server_pid if target.base_url is None else None

    async def warm_up(self, target: Target, name: str) -> None:
        await self.wrk.warm_up(self.url(target), self.script(target, name), self.load)

    async def measure(self, target: Target, name: str) -> tuple[WrkResult, float | None]:
        cpu = CpuMeter(self.pid_of(target))
        return await self.wrk.measure(self.url(target), self.script(target, name), self.load, cpu)

    def url(self, target: Target) -> str:
        return target.url(self.ctx.base_url)


@dataclass
class Rounds:
    """The runs of one target over the rounds."""

    runs: list[WrkResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def add(self, measured: tuple[WrkResult, float | None]) -> WrkResult:
        result, cpu = measured
        self.runs.append(result)
        if cpu is not None:
            self.cpu_us.append(cpu)
        return result

    def combined(self) -> WrkResult:
        errors: dict[str, int] = {}
        for run_ in self.runs:
            for kind, count in run_.socket_errors.items():
                errors[kind] = errors.get(kind, 0) + count
        bad = [r.last_bad_status for r in self.runs if r.last_bad_status]
        return WrkResult(
            rps=statistics.median(r.rps for r in self.runs),
            p50_ms=statistics.median(r.p50_ms for r in self.runs),
            p99_ms=statistics.median(r.p99_ms for r in self.runs),
            requests=sum(r.requests for r in self.runs),
            non_2xx=sum(r.non_2xx for r in self.runs),
            socket_errors=errors,
            samples=[sample for r in self.runs for sample in r.samples],
            last_bad_status=bad[-1] if bad else None,
        )

    def cpu(self) -> float | None:
        return statistics.median(self.cpu_us) if self.cpu_us else None


def hello_target(ctx: BenchContext) -> Target:
    return Target("/", base_url=ctx.hello_url)


async def measure_plan(
    scenario: Scenario, plan: Plan, measurer: Measurer, rounds: int
) -> ScenarioResult:
    result = ScenarioResult(scenario.name, "ok")
    paired = scenario.name != BASELINE
    hello, main, compare = Rounds(), Rounds(), Rounds()
    name, hello_at = scenario.name, hello_target(measurer.ctx)
    await measurer.warm_up(plan.target, name)
    if plan.compare_to is not None:
        await measurer.warm_up(plan.compare_to, f"{name}-compare")
    sampler = None
    if scenario.track_rss and measurer.ctx.server_pid is not None:
        sampler = RssSampler(measurer.ctx.server_pid)
        sampler.start()
    ratios = []
    try:
        for _ in range(rounds):
            if paired:
                base = hello.add(await measurer.measure(hello_at, f"{name}-hello"))
            run_ = main.add(await measurer.measure(plan.target, name))
            if paired and base.rps:
                ratios.append(100 * run_.rps / base.rps)
            if plan.compare_to is not None:
                compare.add(await measurer.measure(plan.compare_to, f"{name}-compare"))
    finally:
        if sampler is not None:
            sampler.stop()
    result.main, result.cpu_us, result.rounds = main.combined(), main.cpu(), rounds
    result.problems += result.main.problems + check_samples(plan.target, result.main.samples)
    if paired:
        result.hello, result.hello_cpu_us = hello.combined(), hello.cpu()
        result.pct_of_hello = statistics.median(ratios) if ratios else None
    if plan.compare_to is not None:
        result.compare, result.compare_label = compare.combined(), plan.compare_label
        result.compare_cpu_us = compare.cpu()
        result.problems += [f"{plan.compare_label}: {p}" for p in result.compare.problems]
    if sampler is not None:
        check_rss(result, scenario, sampler)
    if result.problems:
        result.status = "failed"
    return result


def check_rss(result: ScenarioResult, scenario: Scenario, sampler: RssSampler) -> None:
    growth = sampler.peak_growth_mib
    result.metrics["peak_rss_growth_mib"] = growth
    limit = scenario.max_rss_growth_mib
    if limit is not None and growth >= limit:
        result.problems.append(f"peak RSS grew by {growth:.1f} MiB (limit {limit} MiB)")
        result.status = "failed"
