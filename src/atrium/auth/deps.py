"""The one dependency every route uses to declare who may call it."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from atrium.auth.principal import AuthCache, Principal
from atrium.errors import Forbidden, Unauthorized
from atrium.security.tokens import InvalidToken, looks_like_jwt

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)

PUBLIC = "public"


async def authenticate(request: Request, credential: str) -> Principal:
    state = request.app.state
    cache: AuthCache = state.auth_cache
    await cache.sync_epoch()
    if looks_like_jwt(credential):
        try:
            claims = cache.claims_of(state.secrets.jwt_key, credential)
        except InvalidToken:
            raise Unauthorized() from None
        if cache.is_denied(claims.jti):
            raise Unauthorized()
        principal = await cache.principal_for_user(claims.user_id)
        if principal is None:
            raise Unauthorized()
    else:
        cached = await cache.key_for_secret(credential)
        if cached is None:
            raise Unauthorized()
        if cached.expires_at is not None and cached.expires_at <= datetime.now(UTC):
            raise Unauthorized("This API key has expired")
        owner = await cache.principal_for_user(cached.key.user_id)
        if owner is None:
            raise Unauthorized()
        principal = owner.with_key(cached.key)
    state.activity.touch(principal)
    request.scope["state"]["principal"] = principal
    return principal


def require(
    resource: str | None = None, action: str | None = None
) -> Callable[..., Awaitable[Principal]]:
    """Authenticate the caller and, when given, check `resource:action` on their role."""

    async def dependency(
        request: Request,
        bearer: Annotated[str | None, Depends(bearer_scheme)],
        api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Principal:
        credential = bearer or api_key
        if not credential:
            raise Unauthorized("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        principal = await authenticate(request, credential)
        if resource is not None and not principal.can(resource, action or "read"):
            raise Forbidden()
        return principal

    dependency.permission = (resource, action)  # type: ignore[attr-defined]
    return dependency


async def public() -> None:
    """Marks a route as deliberately open to anonymous callers (the route-walk test reads it)."""


CurrentPrincipal = Annotated[Principal, Depends(require())]
Public = Depends(public)
