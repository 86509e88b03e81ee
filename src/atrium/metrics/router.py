"""`GET /metrics`: Prometheus text, for administrators or a scrape token."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from atrium.auth.deps import Public
from atrium.db import SessionDep
from atrium.metrics import service as metrics_service
from atrium.metrics.auth import Scraper

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    dependencies=[Public, Scraper],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    description="Prometheus text format. Authorised by the scrape token "
    "(`Authorization: Bearer $ATRIUM_METRICS_TOKEN`) or an administrator's credentials.",
)
async def get_metrics(request: Request, session: SessionDep) -> Response:
    figures = await metrics_service.snapshot(session, request.app.state)
    return Response(metrics_service.render(figures), media_type=CONTENT_TYPE_LATEST)
