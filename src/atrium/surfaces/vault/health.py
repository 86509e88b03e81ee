"""Vault's `GET /vault/health` (public): the inference provider behind the default model, of
whatever type, and the GPUs, honestly reported."""

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request

from atrium import __version__
from atrium.auth.deps import Public
from atrium.system import telemetry

router = APIRouter(prefix="/vault", tags=["vault"], dependencies=[Public])
HEALTH_GPU_FIELDS = ("index", "name", "memory_total_mb", "memory_used_mb", "utilization_pct")


@router.get("/health")
async def get_vault_health(request: Request) -> dict[str, Any]:
    state = request.app.state
    inference = await state.service_monitor.probe.state(state.gateway)
    gpus, _reason = await asyncio.to_thread(telemetry.gpus)
    started = getattr(state, "started_monotonic", None)
    return {
        # nothing configured is not a fault; a provider that does not answer is
        "status": "degraded" if inference.status == "down" else "ok",
        "vllm_status": "connected" if inference.status == "running" else "disconnected",
        "gpu_count": len(gpus),
        "gpus": [{name: gpu[name] for name in HEALTH_GPU_FIELDS} for gpu in gpus],
        "uptime_seconds": round(time.monotonic() - started, 3) if started else 0.0,
        "version": __version__,
        "os_uptime_seconds": telemetry.os_uptime_seconds(),
    }
