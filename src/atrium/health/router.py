import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from atrium import __version__
from atrium.auth.deps import Public
from atrium.health.service import ReadinessProbe

router = APIRouter(tags=["health"], dependencies=[Public])


class HealthRead(BaseModel):
    status: str
    version: str


@router.get("/health", response_model=HealthRead)
async def health() -> dict:
    return {"status": "ok", "version": __version__}


@router.get(
    "/ready",
    response_model=HealthRead,
    responses={503: {"description": "Not ready; `detail` names the cause"}},
)
async def ready(request: Request) -> JSONResponse:
    readiness = await request.app.state.readiness.check()
    if readiness.ready:
        return JSONResponse({"status": "ready", "version": __version__})
    return JSONResponse(
        {"status": "unavailable", "detail": readiness.cause, "code": "not_ready"}, status_code=503
    )


def setup(app: FastAPI) -> None:
    app.state.readiness = ReadinessProbe(app.state.db)
    app.state.started_monotonic = time.monotonic()
