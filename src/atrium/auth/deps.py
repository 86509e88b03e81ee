"""The one dependency every route uses to declare who may call it.

`require()` resolves the caller through `app.state.auth_cache` (built by `identity`), so this
module reaches no table and every domain can import it."""

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from atrium.auth.principal import Principal
from atrium.errors import Forbidden, Unauthorized
from atrium.security.tokens import InvalidToken, looks_like_jwt

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)

PUBLIC = "public"


async def authenticate(request: Request, credential: str) -> Principal:
    state = request.app.state
    cache = state.auth_cache  # identity.cache.AuthCache
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
        key = await cache.key_for_secret(credential)
        if key is None:
            raise Unauthorized()
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise Unauthorized("This API key has expired")
        owner = await cache.principal_for_user(key.user_id)
        if owner is None:
            raise Unauthorized()
        principal = owner.with_key(key)
    state.activity.touch(principal)
    request.scope["state"]["principal"] = principal
    return principal


def credential_of(request: Request) -> str | None:
    """`Authorization: Bearer <token or key>`, else `X-API-Key: <key>`.

    Read here rather than through the OAuth2/API-key security dependencies, which cost two
    extra dependency resolutions on every request; `security_schemes` puts them back into
    the OpenAPI document so that the /docs Authorize button still works.
    """
    headers = request.headers
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get("x-api-key") or None


_REQUEST_ONLY = inspect.Signature(
    [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)],
    return_annotation=Principal,
)


def require(
    resource: str | None = None, action: str | None = None, *, admin: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """Authenticate the caller and, when given, check `resource:action` on their role.

    `admin`: the grant is not enough, the caller must also be an administrator signed in
    as one (not through a scoped key) — for the few changes the role model keeps to admins.
    """

    async def dependency(
        request: Request, bearer: str | None = None, api_key: str | None = None
    ) -> Principal:
        # other dependencies may call this with credentials they already read
        credential = bearer or api_key or credential_of(request)
        if not credential:
            raise Unauthorized("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        principal = await authenticate(request, credential)
        if resource is not None and not principal.can(resource, action or "read"):
            raise Forbidden()
        if admin and not principal.is_admin:
            raise Forbidden("Only an administrator may do this")
        return principal

    dependency.permission = (resource, action)  # type: ignore[attr-defined]
    dependency.admin = admin  # type: ignore[attr-defined]
    # FastAPI resolves only `request`; the credentials come from the headers
    dependency.__signature__ = _REQUEST_ONLY  # type: ignore[attr-defined]
    return dependency


SECURITY_SCHEMES = {
    "OAuth2PasswordBearer": {
        "type": "oauth2",
        "flows": {"password": {"scopes": {}, "tokenUrl": "/api/v1/auth/token"}},
    },
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
SECURITY_REQUIREMENT = [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]


def _declares_access(dependant: Any) -> bool:
    return any(
        hasattr(dependency.call, "permission") or _declares_access(dependency)
        for dependency in dependant.dependencies
    )


def document_security(app: FastAPI) -> None:
    """Mark every operation guarded by `require(...)` as needing a bearer token or a key."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(
            SECURITY_SCHEMES
        )
        for route in app.routes:
            if not isinstance(route, APIRoute) or not _declares_access(route.dependant):
                continue
            operations = schema.get("paths", {}).get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is not None:
                    operation["security"] = SECURITY_REQUIREMENT
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def public() -> None:
    """Marks a route as deliberately open to anonymous callers (the route-walk test reads it)."""


CurrentPrincipal = Annotated[Principal, Depends(require())]
Public = Depends(public)
