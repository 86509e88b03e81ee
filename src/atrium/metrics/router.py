"""`GET /metrics`: Prometheus text, for administrators or a scrape token."""

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from atrium.auth.deps import Public, authenticate, credential_of
from atrium.db import SessionDep
from atrium.errors import Forbidden, Unauthorized
from atrium.metrics import service as metrics_service

router = APIRouter(tags=["metrics"])


async def _authorised(request: Request) -> None:
    """The scrape token (ATRIUM_METRICS_TOKEN) as a bearer, or an administrator."""
    credential = credential_of(request)
    if not credential:
        raise Unauthorized("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    token = request.app.state.settings.metrics_token
    if token is not None and hmac.compare_digest(
        credential.encode(), token.get_secret_value().encode()
    ):
        return
    principal = await authenticate(request, credential)
    if not principal.is_admin:
        raise Forbidden()


@router.get(
    "/metrics",
    dependencies=[Public],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    description="Prometheus text format. Authorised by the scrape token "
    "(`Authorization: Bearer $ATRIUM_METRICS_TOKEN`) or an administrator's credentials.",
)
async def get_metrics(request: Request, session: SessionDep) -> Response:
    await _authorised(request)
    figures = await metrics_service.snapshot(session, request.app.state)
    return Response(metrics_service.render(figures), media_type=CONTENT_TYPE_LATEST)
