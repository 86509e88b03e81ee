"""Host figures: CPU, memory, disk, network (rates between two samples) and GPUs via NVML."""

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MB = 2**20
GB = 2**30
# a previous network sample older than this is too stale to give a current rate
MAX_SAMPLE_AGE = 30.0
FRESH_SAMPLE_GAP = 0.5


@dataclass(frozen=True, slots=True)
class NetSample:
    at: float
    received: int
    sent: int


def _net() -> NetSample:
    counters = psutil.net_io_counters()
    return NetSample(time.monotonic(), int(counters.bytes_recv), int(counters.bytes_sent))


def _temperature() -> float | None:
    try:
        sensors = psutil.sensors_temperatures()
    except (AttributeError, OSError):
        return None
    readings = [entry.current for entries in sensors.values() for entry in entries if entry.current]
    return round(max(readings), 1) if readings else None


class ResourceSampler:
    """Keeps the previous network sample so that a reading can give rates, not only counters;
    CPU usage is psutil's figure since the previous reading (primed at start)."""

    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path
        self.previous: NetSample | None = None
        self.lock = asyncio.Lock()
        psutil.cpu_percent(interval=None)

    async def _two_samples(self) -> tuple[NetSample, NetSample]:
        async with self.lock:
            previous = self.previous
            if previous is None or time.monotonic() - previous.at > MAX_SAMPLE_AGE:
                previous = _net()
                await asyncio.sleep(FRESH_SAMPLE_GAP)
            current = _net()
            if current.at - previous.at < 0.05:
                # read twice in quick succession: keep the older baseline for a real interval
                return (self.previous or previous), current
            self.previous = current
            return previous, current

    async def read(self) -> dict[str, Any]:
        before, now = await self._two_samples()
        return await asyncio.to_thread(self._figures, before, now)

    def _figures(self, before: NetSample, now: NetSample) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self._existing(self.disk_path)))
        seconds = max(now.at - before.at, 1e-6)
        return {
            "cpu_usage_pct": round(psutil.cpu_percent(interval=None), 1),
            "cpu_count": psutil.cpu_count() or 0,
            "ram_total_mb": int(memory.total // MB),
            "ram_used_mb": int((memory.total - memory.available) // MB),
            "ram_usage_pct": round(memory.percent, 1),
            "disk_total_gb": round(disk.total / GB, 2),
            "disk_used_gb": round(disk.used / GB, 2),
            "disk_usage_pct": round(disk.percent, 1),
            "network_in_bytes": now.received,
            "network_out_bytes": now.sent,
            "network_in_bytes_per_sec": round(max(now.received - before.received, 0) / seconds, 1),
            "network_out_bytes_per_sec": round(max(now.sent - before.sent, 0) / seconds, 1),
            "network_sample_seconds": round(seconds, 3),
            "temperature_celsius": _temperature(),
            "load_average": [round(value, 2) for value in psutil.getloadavg()],
        }

    @staticmethod
    def _existing(path: Path) -> Path:
        path = path.resolve()
        while not path.exists() and path != path.parent:
            path = path.parent
        return path


def _gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    name = pynvml.nvmlDeviceGetName(handle)
    try:
        temperature = float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
    except pynvml.NVMLError:
        temperature = None
    try:
        power = round(pynvml.nvmlDeviceGetPowerUsage(handle) / 1000, 1)
    except pynvml.NVMLError:
        power = None
    return {
        "index": index,
        "name": name.decode() if isinstance(name, bytes) else name,
        "memory_total_mb": int(memory.total // MB),
        "memory_used_mb": int(memory.used // MB),
        "utilization_pct": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        "temperature_celsius": temperature,
        "power_draw_watts": power,
    }


def gpus() -> tuple[list[dict[str, Any]], str | None]:
    """(GPUs, None), or ([], the reason none can be read). Blocking: call in a thread."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return [], "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return [], f"NVML is not available on this host ({exc})"
    try:
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            return [], "NVML found no GPU"
        return [_gpu(pynvml, index) for index in range(count)], None
    except Exception as exc:
        return [], f"NVML could not read the GPUs ({exc})"
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def os_uptime_seconds() -> float:
    return round(time.time() - psutil.boot_time(), 1)
