"""Vault's `GET /vault/health` (public): inference backend and GPUs, honestly reported."""

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request

from atrium import __version__
from atrium.auth.deps import Public
from atrium.llm.adapters.base import UpstreamError
from atrium.llm.adapters.registry import get_adapter

router = APIRouter(prefix="/vault", tags=["vault"], dependencies=[Public])
PROBE_TTL = 10.0
PROBE_TIMEOUT = 3.0


def gpu_snapshot() -> list[dict[str, Any]]:
    """GPUs seen through NVML; none when the library or a driver is missing."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_total_mb": int(memory.total // 2**20),
                    "memory_used_mb": int(memory.used // 2**20),
                    "utilization_pct": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                }
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


class VllmProbe:
    """Whether an enabled global vLLM provider answers, asked at most every PROBE_TTL s."""

    def __init__(self) -> None:
        self.checked_at = 0.0
        self.status = "disconnected"
        self.configured = False
        self.lock = asyncio.Lock()

    async def status_of(self, gateway: Any) -> tuple[str, bool]:
        async with self.lock:
            if time.monotonic() - self.checked_at < PROBE_TTL:
                return self.status, self.configured
            entries = [e for e in await gateway.providers.global_entries() if e.enabled]
            vllm = [e for e in entries if e.type == "vllm"]
            self.configured = bool(vllm)
            self.status = "disconnected"
            for entry in vllm:
                if await _answers(gateway, entry):
                    self.status = "connected"
                    break
            self.checked_at = time.monotonic()
            return self.status, self.configured


async def _answers(gateway: Any, entry: Any) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await get_adapter(entry.type).list_models(gateway.client, entry.target)
    except (UpstreamError, TimeoutError):
        return False
    return True


@router.get("/health")
async def get_vault_health(request: Request) -> dict[str, Any]:
    state = request.app.state
    if not hasattr(state, "vllm_probe"):
        state.vllm_probe = VllmProbe()
    vllm_status, configured = await state.vllm_probe.status_of(state.gateway)
    gpus = await asyncio.to_thread(gpu_snapshot)
    started = getattr(state, "started_monotonic", None)
    return {
        "status": "ok" if vllm_status == "connected" or not configured else "degraded",
        "vllm_status": vllm_status,
        "gpu_count": len(gpus),
        "gpus": gpus,
        "uptime_seconds": round(time.monotonic() - started, 3) if started else 0.0,
        "version": __version__,
    }
