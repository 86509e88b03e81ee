"""`/api/v1/system/{resources,gpu,services}`: host telemetry in Atrium's own shapes."""

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from atrium.system import telemetry
from atrium.system.auth import SystemRead
from atrium.system.schemas import GpuEnvelope, ResourcesRead, ServicesRead
from atrium.system.service import ServiceMonitor

router = APIRouter(prefix="/api/v1/system", tags=["system"])


@router.get("/resources", response_model=ResourcesRead)
async def get_resources(principal: SystemRead, request: Request) -> dict[str, Any]:
    return await request.app.state.resource_sampler.read()


@router.get("/gpu", response_model=GpuEnvelope)
async def get_gpus(principal: SystemRead) -> GpuEnvelope:
    gpus, reason = await asyncio.to_thread(telemetry.gpus)
    return GpuEnvelope(available=bool(gpus), reason=reason, gpus=gpus)


@router.get("/services", response_model=ServicesRead)
async def get_services(principal: SystemRead, request: Request) -> dict[str, Any]:
    states = await request.app.state.service_monitor.check()
    return {"services": [asdict(state) for state in states]}


def setup(app: FastAPI) -> None:
    state = app.state
    state.resource_sampler = telemetry.ResourceSampler(state.settings.data_dir)
    monitor = state.service_monitor = ServiceMonitor(state)

    async def start(_app: FastAPI) -> None:
        monitor.start()

    async def stop(_app: FastAPI) -> None:
        await monitor.stop()

    state.startup_hooks.append(start)
    state.shutdown_hooks.append(stop)
