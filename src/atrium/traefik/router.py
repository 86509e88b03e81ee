"""Seed 002's `/api/v1/traefik/services/{service_name}/{health,metrics,reload,lb-stats}`."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path, Request

from atrium.traefik import service as traefik_service
from atrium.traefik.auth import SystemRead, SystemWrite
from atrium.traefik.schemas import LbStats, ReloadRead, ReloadRequest, ServiceHealth, ServiceMetrics

router = APIRouter(prefix="/api/v1/traefik/services", tags=["traefik"])
ServiceName = Annotated[
    str, Path(max_length=200, pattern=r"^[A-Za-z0-9_.\-]+(@[A-Za-z0-9_.\-]+)?$")
]
ERRORS = {
    404: {"description": "Traefik has no such service"},
    503: {"description": "Traefik is not configured or unreachable; `detail` says which"},
}


@router.get(
    "/{service_name}/health",
    response_model=ServiceHealth,
    responses=ERRORS,
    description="Traefik's view of each server and Atrium's own probe of each URL.",
)
async def get_service_health(
    service_name: ServiceName, principal: SystemRead, request: Request
) -> dict[str, Any]:
    return await traefik_service.health(request.app.state.traefik, service_name)


@router.get(
    "/{service_name}/metrics",
    response_model=ServiceMetrics,
    responses=ERRORS,
    description="From Traefik's Prometheus output: requests by status code, the rate "
    "between two scrapes, the 5xx share and latency quantiles (since Traefik started).",
)
async def get_service_metrics(
    service_name: ServiceName, principal: SystemRead, request: Request
) -> dict[str, Any]:
    return await traefik_service.metrics(request.app.state.traefik, service_name)


@router.get("/{service_name}/lb-stats", response_model=LbStats, responses=ERRORS)
async def get_service_lb_stats(
    service_name: ServiceName, principal: SystemRead, request: Request
) -> dict[str, Any]:
    return await traefik_service.lb_stats(request.app.state.traefik, service_name)


@router.post(
    "/{service_name}/reload",
    response_model=ReloadRead,
    responses={**ERRORS, 504: {"description": "Traefik did not apply it in time"}},
    description="Rewrites the service's entry in the file provider's configuration "
    "atomically (its servers replaced by `servers` when given, else re-applied) and "
    "waits until Traefik serves it.",
)
async def reload_service(
    service_name: ServiceName,
    principal: SystemWrite,
    request: Request,
    body: Annotated[ReloadRequest | None, Body()] = None,
) -> dict[str, Any]:
    servers = None
    if body is not None and body.servers is not None:
        servers = [server.model_dump(exclude_none=True) for server in body.servers]
    return await traefik_service.reload(request.app.state.traefik, service_name, servers)


def setup(app: FastAPI) -> None:
    traefik = app.state.traefik = traefik_service.Traefik(app.state.settings)

    async def close(_app: FastAPI) -> None:
        await traefik.close()

    app.state.shutdown_hooks.append(close)
