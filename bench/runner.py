"""One bench run: start the servers, run each scenario's setup, hand its targets to wrk."""

import inspect
import tempfile
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import admin as admin_setup
from bench.context import BenchContext
from bench.errors import ScenarioFailed, Skip
from bench.registry import Measurement, Plan, Scenario, SetupResult, Target
from bench.report import ScenarioResult
from bench.rss import RssSampler
from bench.servers import Launch, Server, atrium_launch, hello_launch, serve, server_env
from bench.wrk import LoadSettings, Wrk, WrkResult, lua_script


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

    def load_for(self, scenario: Scenario) -> LoadSettings:
        duration = self.duration_s or (2 if self.quick else scenario.duration_s or 10)
        connections = self.connections or scenario.connections or 50
        return LoadSettings(duration, connections, self.threads, self.warmup_s)


async def run(
    scenarios: list[Scenario], options: RunOptions, wrk_path: str
) -> list[ScenarioResult]:
    with tempfile.TemporaryDirectory(prefix="atrium-bench-") as tmp:
        workdir = Path(tmp)
        async with AsyncExitStack() as stack:
            ctx = await start_servers(stack, workdir, options, needs_atrium(scenarios))
            wrk = Wrk(wrk_path, options.wrk_cpus)
            return [
                await run_scenario(s, ctx, options.load_for(s), wrk, workdir) for s in scenarios
            ]


def needs_atrium(scenarios: list[Scenario]) -> bool:
    return any(s.needs_atrium for s in scenarios)


async def start_servers(
    stack: AsyncExitStack, workdir: Path, options: RunOptions, with_atrium: bool
) -> BenchContext:
    hello = await stack.enter_async_context(start(hello_launch(workdir), options))
    if not with_atrium:
        return await new_context(stack, hello.url, hello.url, server_pid=None)
    if options.stand_in:
        stand_in = await stack.enter_async_context(
            start(hello_launch(workdir, "stand-in"), options)
        )
        return await new_context(stack, stand_in.url, hello.url, stand_in.pid)
    credentials = admin_setup.new_credentials()
    env = server_env(workdir / "atrium-data", {**credentials.env, **options.server_env})
    atrium = await stack.enter_async_context(start(atrium_launch(workdir, env), options))
    ctx = await new_context(stack, atrium.url, hello.url, atrium.pid)
    try:
        ctx.admin = await admin_setup.obtain_admin(ctx.client, credentials, env)
    except admin_setup.AdminUnavailable as error:
        ctx.admin_error = str(error)
    return ctx


def start(launch: Launch, options: RunOptions) -> AbstractAsyncContextManager[Server]:
    print(f"bench: starting {launch.name} on CPU {options.server_cpus}", flush=True)
    return serve(launch, options.server_cpus, options.ready_timeout_s)


async def new_context(
    stack: AsyncExitStack, base_url: str, hello_url: str, server_pid: int | None
) -> BenchContext:
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30))
    scenario_stack = await stack.enter_async_context(AsyncExitStack())
    return BenchContext(base_url, hello_url, client, scenario_stack, server_pid)


async def run_scenario(
    scenario: Scenario, ctx: BenchContext, load: LoadSettings, wrk: Wrk, workdir: Path
) -> ScenarioResult:
    print(f"bench: {scenario.name} ({load.duration_s} s, {load.connections} connections)")
    try:
        prepared = await call_setup(scenario, ctx)
    except Skip as reason:
        return ScenarioResult(scenario.name, "skipped", [str(reason)])
    except Exception as error:
        return ScenarioResult(scenario.name, "failed", [f"setup: {describe(error)}"])
    if isinstance(prepared, Measurement):
        return from_measurement(scenario.name, prepared)
    plan = prepared if isinstance(prepared, Plan) else Plan(prepared)
    measurer = Measurer(wrk, load, workdir, ctx.base_url)
    try:
        return await measure_plan(scenario, plan, measurer, ctx.server_pid)
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


@dataclass(frozen=True)
class Measurer:
    wrk: Wrk
    load: LoadSettings
    workdir: Path
    default_base_url: str

    async def measure(self, target: Target, script_name: str) -> WrkResult:
        script = self.workdir / f"{script_name}.lua"
        script.write_text(lua_script(target.method, target.all_headers(), target.body_bytes()))
        return await self.wrk.measure(target.url(self.default_base_url), script, self.load)


async def measure_plan(
    scenario: Scenario, plan: Plan, measurer: Measurer, server_pid: int | None
) -> ScenarioResult:
    result = ScenarioResult(scenario.name, "ok")
    if scenario.track_rss and server_pid is not None:
        with RssSampler(server_pid) as sampler:
            result.main = await measurer.measure(plan.target, scenario.name)
        check_rss(result, scenario, sampler)
    else:
        result.main = await measurer.measure(plan.target, scenario.name)
    result.problems += result.main.problems
    if plan.compare_to is not None:
        result.compare = await measurer.measure(plan.compare_to, f"{scenario.name}-compare")
        result.compare_label = plan.compare_label
        result.problems += [f"{plan.compare_label}: {p}" for p in result.compare.problems]
    if result.main.failed or (result.compare and result.compare.failed):
        result.status = "failed"
    return result


def check_rss(result: ScenarioResult, scenario: Scenario, sampler: RssSampler) -> None:
    growth = sampler.peak_growth_mib
    result.metrics["peak_rss_growth_mib"] = growth
    limit = scenario.max_rss_growth_mib
    if limit is not None and growth >= limit:
        result.problems.append(f"peak RSS grew by {growth:.1f} MiB (limit {limit} MiB)")
        result.status = "failed"
