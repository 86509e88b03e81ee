"""Installing, running and parsing wrk (https://github.com/wg/wrk), pinned with taskset."""

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import CpuMeter
from bench.errors import BenchError

MISSING = "wrk is required: install the Debian package with `apt-get install -y wrk`"
_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_SCRIPT_NON_2XX = re.compile(r"^ATRIUM_NON2XX (\d+) (\d+)$", re.MULTILINE)
_SAMPLE = re.compile(r"^ATRIUM_SAMPLE (\d+) ([0-9a-f]*)$", re.MULTILINE)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class LoadSettings:
    duration_s: int
    connections: int
    threads: int
    warmup_s: int


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int  # every status outside 200-299, redirects included (counted by the script)
    socket_errors: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[int, bytes]] = field(default_factory=list)
    last_bad_status: int | None = None

    @property
    def problems(self) -> list[str]:
        found = []
        if self.requests == 0:
            found.append("no request completed")
        if self.non_2xx:
            found.append(f"{self.non_2xx} non-2xx responses (last {self.last_bad_status})")
        found += [f"{count} {kind} errors" for kind, count in self.socket_errors.items() if count]
        return found

    @property
    def failed(self) -> bool:
        fatal_errors = self.socket_errors.get("connect", 0) + self.socket_errors.get("timeout", 0)
        return self.requests == 0 or self.non_2xx > 0 or fatal_errors > 0


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise BenchError(f"{MISSING} (not running as root, so the harness cannot install it)")
    install_with_apt("wrk")
    path = shutil.which("wrk")
    if not path:
        raise BenchError(f"{MISSING} (apt-get could not install it; see the output above)")
    return path


def install_with_apt(package: str) -> None:
    if not shutil.which("apt-get"):
        raise BenchError(f"{MISSING} (no apt-get on this machine)")
    print(f"bench: installing {package} with apt-get", file=sys.stderr)
    if apt_get("install", "-y", package):
        return
    apt_get("update")
    apt_get("install", "-y", package)


def apt_get(*args: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    completed = subprocess.run(["apt-get", "-q", *args], env=env, check=False, stdout=sys.stderr)
    return completed.returncode == 0


def wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    lines = (completed.stdout or completed.stderr).splitlines()
    return lines[0].strip() if lines else "unknown"


REQUEST = tuple[str, str, Mapping[str, str], bytes | None]  # method, path, headers, body

# Counts every response outside 200-299 (wrk's own count skips 3xx) and keeps a few bodies
# (the first ones, then one in SAMPLE_EVERY) for the scenario's check; `done` prints them.
LUA_RESPONSES = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; seen = 0; last_bad = 0; samples = {} end
function response(status, headers, body)
  seen = seen + 1
  if status < 200 or status > 299 then bad = bad + 1; last_bad = status end
  if (seen <= 2 or seen %% %(every)d == 0) and #samples < 8 then
    local hex = string.sub(body, 1, 65536):gsub(".", function(c)
      return string.format("%%02x", string.byte(c)) end)
    table.insert(samples, status .. " " .. hex)
  end
end
function done(summary, latency, requests)
  local total, last = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
    if thread:get("last_bad") ~= 0 then last = thread:get("last_bad") end
    for _, sample in ipairs(thread:get("samples")) do io.write("ATRIUM_SAMPLE ", sample, "\\n") end
  end
  io.write("ATRIUM_NON2XX ", total, " ", last, "\\n")
end
"""
SAMPLE_EVERY = 997
# wrk's default (2 s) counts slow answers on a loaded machine as errors; a request that takes
# longer than this is stuck, not slow
TIMEOUT_S = 10


def lua_script(requests: list[REQUEST]) -> str:
    """One request repeated (static, wrk's fastest path), or several taken in turn."""
    lines = []
    if len(requests) == 1:
        method, _path, headers, body = requests[0]
        lines.append(f"wrk.method = {lua_string(method)}")
        lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"wrk.body = {lua_string(body)}")
    else:
        lines.append("local cycle = {}")
        for method, path, headers, body in requests:
            table = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
            payload = "nil" if body is None else lua_string(body)
            lines.append(
                f"table.insert(cycle, wrk.format({lua_string(method)}, {lua_string(path)}, "
                f"{{{table}}}, {payload}))"
            )
        lines.append("local turn = 0")
        lines.append(
            "function request() turn = turn + 1; return cycle[(turn - 1) % #cycle + 1] end"
        )
    lines.append(LUA_RESPONSES % {"every": SAMPLE_EVERY})
    return "\n".join(lines) + "\n"


def lua_string(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(lua_char(byte) for byte in data) + '"'


def lua_char(byte: int) -> str:
    if 32 <= byte < 127 and byte not in b'"\\':
        return chr(byte)
    return f"\\{byte:03d}"


class Wrk:
    def __init__(self, executable: str, cpus: str) -> None:
        self.executable = executable
        self.cpus = cpus

    async def warm_up(self, url: str, script: Path, load: LoadSettings) -> None:
        if load.warmup_s:
            await self.run(url, script, load.warmup_s, load)

    async def measure(
        self, url: str, script: Path, load: LoadSettings, cpu: CpuMeter | None = None
    ) -> tuple[WrkResult, float | None]:
        """One measured run; with `cpu`, also the server's CPU µs per request over it."""
        cpu = cpu or CpuMeter(None)
        cpu.start()
        output = await self.run(url, script, load.duration_s, load)
        cpu.stop()
        result = parse_output(output)
        return result, cpu.micros_per(result.requests)

    async def run(self, url: str, script: Path, duration_s: int, load: LoadSettings) -> str:
        command = self.command(url, script, duration_s, load)
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), duration_s + 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise BenchError(f"wrk did not finish within {duration_s + 60} s") from None
        if process.returncode != 0:
            raise BenchError(f"wrk exited with {process.returncode}: {stderr.decode().strip()}")
        return stdout.decode()

    def command(self, url: str, script: Path, duration_s: int, load: LoadSettings) -> list[str]:
        return [
            "taskset", "-c", self.cpus,
            self.executable, "--latency",
            "-t", str(min(load.threads, load.connections)),
            "-c", str(load.connections),
            "-d", f"{duration_s}s",
            "--timeout", f"{TIMEOUT_S}s",
            "-s", str(script),
            url,
        ]  # fmt: skip


def parse_output(output: str) -> WrkResult:
    percentiles = {float(p): to_ms(value, unit) for p, value, unit in _PERCENTILE.findall(output)}
    rps = _RPS.search(output)
    counted = _SCRIPT_NON_2XX.search(output)
    if rps is None or 50.0 not in percentiles or 99.0 not in percentiles or counted is None:
        raise BenchError(f"unexpected wrk output:\n{output}")
    last_bad = int(counted.group(2))
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=percentiles[50.0],
        p99_ms=percentiles[99.0],
        requests=first_int(_TOTAL, output),
        non_2xx=int(counted.group(1)),
        socket_errors=socket_errors(output),
        samples=[(int(status), bytes.fromhex(body)) for status, body in _SAMPLE.findall(output)],
        last_bad_status=last_bad or None,
    )


def to_ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS_MS[unit]


def first_int(pattern: re.Pattern[str], output: str) -> int:
    match = pattern.search(output)
    return int(match.group(1)) if match else 0


def socket_errors(output: str) -> dict[str, int]:
    match = _SOCKET_ERRORS.search(output)
    if match is None:
        return {}
    return dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
