"""Vault's system pages: resources, GPUs, inference, uptime, services, dev mode, and the
`/ws/system` live feed, in the shapes its frontend reads."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from atrium.auth.websocket import accept, websocket_principal
from atrium.db import SessionDep
from atrium.system import telemetry
from atrium.system.auth import SystemRead
from atrium.system.schemas import GpuRead, ResourcesRead
from atrium.usage import analytics as usage_analytics

router = APIRouter(prefix="/vault", tags=["vault"])
ws_router = APIRouter()
routers = [router, ws_router]
INFERENCE_WINDOW = 300
WS_EVERY_SECONDS = 2.0


class InferenceStats(BaseModel):
    requests_per_minute: float
    avg_latency_ms: float
    tokens_per_second: float
    active_requests: int
    window_seconds: int


class ServiceAvailability(BaseModel):
    service_name: str
    availability_24h: float | None
    availability_7d: float | None
    availability_30d: float | None
    current_status: str


class UptimeSummary(BaseModel):
    os_uptime_seconds: float
    api_uptime_seconds: float
    services: list[ServiceAvailability]
    incidents_24h: int


class ServiceStatus(BaseModel):
    name: str
    status: str
    uptime_seconds: float | None = None


class ServiceList(BaseModel):
    services: list[ServiceStatus]


class DevModeStatus(BaseModel):
    enabled: bool
    gpu_allocation: list[int]
    active_sessions: list[dict[str, Any]]


@router.get("/system/resources", response_model=ResourcesRead)
async def get_vault_resources(principal: SystemRead, request: Request) -> dict[str, Any]:
    return await request.app.state.resource_sampler.read()


@router.get(
    "/system/gpu",
    response_model=list[GpuRead],
    description="GPUs via NVML; `[]` without one, the reason in `X-GPU-Unavailable-Reason`.",
)
async def get_vault_gpus(principal: SystemRead, response: Response) -> list[dict[str, Any]]:
    gpus, reason = await asyncio.to_thread(telemetry.gpus)
    if reason:
        response.headers["X-GPU-Unavailable-Reason"] = reason
    return gpus


@router.get("/system/inference", response_model=InferenceStats)
async def get_vault_inference(
    principal: SystemRead, request: Request, session: SessionDep
) -> InferenceStats:
    since = datetime.now(UTC) - timedelta(seconds=INFERENCE_WINDOW)
    recent = await usage_analytics.recent_calls(session, since)
    calls = recent["calls"]
    return InferenceStats(
        requests_per_minute=round(calls * 60 / INFERENCE_WINDOW, 2),
        avg_latency_ms=round(recent["latency_ms_sum"] / calls, 1) if calls else 0.0,
        tokens_per_second=round(recent["completion_tokens"] / INFERENCE_WINDOW, 2),
        active_requests=request.app.state.in_flight["inference"],
        window_seconds=INFERENCE_WINDOW,
    )


@router.get("/system/uptime", response_model=UptimeSummary)
async def get_vault_uptime(principal: SystemRead, request: Request) -> UptimeSummary:
    monitor = request.app.state.service_monitor
    states = await monitor.check()
    return UptimeSummary(
        os_uptime_seconds=telemetry.os_uptime_seconds(),
        api_uptime_seconds=monitor.api_uptime(),
        services=[
            ServiceAvailability(
                service_name=state.name,
                availability_24h=monitor.availability(state.name, 24),
                availability_7d=monitor.availability(state.name, 24 * 7),
                availability_30d=monitor.availability(state.name, 24 * 30),
                current_status=state.status,
            )
            for state in states
        ],
        incidents_24h=monitor.incidents(24),
    )


@router.get("/system/services", response_model=ServiceList)
async def get_vault_services(principal: SystemRead, request: Request) -> ServiceList:
    states = await request.app.state.service_monitor.check()
    return ServiceList(
        services=[
            ServiceStatus(name=state.name, status=state.status, uptime_seconds=state.uptime_seconds)
            for state in states
        ]
    )


@router.get(
    "/admin/devmode/status",
    response_model=DevModeStatus,
    description="Atrium offers no developer mode (terminals, Jupyter): always disabled.",
)
async def get_vault_devmode(principal: SystemRead) -> DevModeStatus:
    return DevModeStatus(enabled=False, gpu_allocation=[], active_sessions=[])


@ws_router.websocket("/ws/system")
async def system_socket(websocket: WebSocket) -> None:
    """A resources and GPU sample every two seconds; `?token=`, a bearer header or the
    bearer subprotocol."""
    if await websocket_principal(websocket, "system", "read") is None:
        return
    await accept(websocket)
    sampler = websocket.app.state.resource_sampler
    try:
        while True:
            resources = await sampler.read()
            gpus, _reason = await asyncio.to_thread(telemetry.gpus)
            await websocket.send_json(
                {
                    "type": "system_metrics",
                    "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "resources": resources,
                    "gpus": gpus,
                }
            )
            await asyncio.sleep(WS_EVERY_SECONDS)
    except WebSocketDisconnect:
        return
