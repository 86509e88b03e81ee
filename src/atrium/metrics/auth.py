"""Who may scrape `/metrics`: the scrape token (`ATRIUM_METRICS_TOKEN`) as a bearer, or an
administrator's credentials."""

import hmac

from fastapi import Depends, Request

from atrium.auth.deps import authenticate, credential_of
from atrium.errors import Forbidden, Unauthorized


async def scraper(request: Request) -> None:
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
        raise Forbidden("Only an administrator or the scrape token may read the metrics")


Scraper = Depends(scraper)
