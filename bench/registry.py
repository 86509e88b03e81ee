"""Scenarios: one module per scenario in bench/scenarios/, each registering itself on import."""

import importlib
import json
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.context import BenchContext

BASELINE = "hello"


Check = Callable[[int, bytes], str | None]  # (status, body) -> what is wrong, or None


@dataclass(frozen=True)
class Target:
    """One request for wrk to repeat; `base_url` None means Atrium's. `then` are requests
    sent in turn with it (e.g. a write before each read); `check` judges sampled bodies."""

    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str | None = None
    json: Any = None
    base_url: str | None = None
    then: tuple["Target", ...] = ()
    check: Check | None = None

    def requests(self) -> list[tuple[str, str, dict[str, str], bytes | None]]:
        return [(t.method, t.path, t.all_headers(), t.body_bytes()) for t in (self, *self.then)]

    def url(self, default_base_url: str) -> str:
        return (self.base_url or default_base_url).rstrip("/") + self.path

    def all_headers(self) -> dict[str, str]:
        if self.json is None:
            return dict(self.headers)
        return {"Content-Type": "application/json", **self.headers}

    def body_bytes(self) -> bytes | None:
        if self.json is not None:
            return json.dumps(self.json).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Plan:
    """What a setup returns when a second target is measured alongside (e.g. direct upstream)."""

    target: Target
    compare_to: Target | None = None
    compare_label: str = "compare"


@dataclass(frozen=True)
class Measurement:
    """What a setup returns when it measured something itself instead of handing wrk a target."""

    metrics: Mapping[str, float]
    problems: list[str] = field(default_factory=list)


SetupResult = Target | Plan | Measurement
Setup = Callable[["BenchContext"], SetupResult | Awaitable[SetupResult]]


@dataclass(frozen=True)
class Scenario:
    name: str
    setup: Setup
    description: str = ""
    duration_s: int | None = None
    connections: int | None = None
    needs_atrium: bool = True
    track_rss: bool = False
    max_rss_growth_mib: float | None = None
    server: str = "atrium"  # or "stock": Atrium on the libraries it replaced (aiosqlite, httpx)
    peer: str | None = None  # a second server the setup gets as `ctx.peer` (a `SERVER_ENV` key)
    in_default_run: bool = True  # False: runs only when --only names it (or with --all)


_scenarios: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in _scenarios:
        raise ValueError(f"scenario {scenario.name!r} registered twice")
    _scenarios[scenario.name] = scenario
    return scenario


def scenario(name: str, **options: Any) -> Callable[[Setup], Setup]:
    """Register the decorated setup as scenario `name`; options are `Scenario`'s fields."""

    def decorate(setup: Setup) -> Setup:
        register(Scenario(name=name, setup=setup, **options))
        return setup

    return decorate


def load_scenarios() -> list[Scenario]:
    """Every registered scenario, the baseline first, then by name."""
    from bench import scenarios as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return sorted(_scenarios.values(), key=lambda s: (s.name != BASELINE, s.name))


def json_check(test: Callable[[Any], str | None]) -> Check:
    """A check that parses the body as JSON and hands it to `test`."""

    def check(status: int, body: bytes) -> str | None:
        try:
            document = json.loads(body)
        except ValueError:
            return f"HTTP {status}: the body is not JSON: {body[:80]!r}"
        return test(document)

    return check


def check_samples(target: Target, samples: list[tuple[int, bytes]]) -> list[str]:
    """What the target's check found wrong in the sampled 2xx bodies (one line per kind)."""
    if target.check is None:
        return []
    found: list[str] = []
    for status, body in samples:
        if not 200 <= status < 300:
            continue  # counted as a failure already
        wrong = target.check(status, body)
        if wrong and wrong not in found:
            found.append(wrong)
    if not samples:
        found.append("no response body was sampled")
    return [f"body check: {wrong}" for wrong in found]
