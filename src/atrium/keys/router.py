"""ForgeTrace's `/api/v1/tokens`: the caller's own API keys."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.keys import service as keys_service
from atrium.keys.schemas import Message, TokenCreate, TokenRead, TokenUpdate, token_read
from atrium.users.schemas import CursorQuery, IdPath

router = APIRouter(prefix="/api/v1/tokens", tags=["api keys"])

KeysRead = Annotated[Principal, Depends(require("api_keys", "read"))]
KeysWrite = Annotated[Principal, Depends(require("api_keys", "write"))]
KeysDelete = Annotated[Principal, Depends(require("api_keys", "delete"))]


@router.post("", response_model=TokenRead, status_code=201)
async def create_token(body: TokenCreate, principal: KeysWrite, session: SessionDep) -> dict:
    """Create a key; its full secret is in `token` in this response only."""
    key, secret = await keys_service.create_key(
        session,
        principal,
        name=body.name,
        surface="forgetrace",
        scopes=keys_service.checked_scopes(principal, body.scopes),
        expires_at=keys_service.expiry_from(body.expires_at, body.expires_in_days),
    )
    return token_read(key, secret)


@router.get("", response_model=list[TokenRead])
async def list_tokens(
    principal: KeysRead,
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: CursorQuery = None,
) -> list[dict[str, Any]]:
    keys = await keys_service.list_keys(session, principal, limit=limit, after_id=cursor)
    if len(keys) == limit:
        response.headers["X-Next-Cursor"] = str(keys[-1].id)
    return [token_read(key) for key in keys]


@router.get("/{token_id}", response_model=TokenRead)
async def read_token(token_id: IdPath, principal: KeysRead, session: SessionDep) -> dict:
    return token_read(await keys_service.get_key(session, principal, token_id))


@router.patch("/{token_id}", response_model=TokenRead)
async def update_token(
    token_id: IdPath, body: TokenUpdate, principal: KeysWrite, session: SessionDep
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return token_read(await keys_service.update_key(session, principal, token_id, changes))


@router.delete("/{token_id}", response_model=Message)
async def revoke_token(token_id: IdPath, principal: KeysDelete, session: SessionDep) -> dict:
    await keys_service.revoke_key(session, principal, token_id)
    return {"message": "Token revoked"}


@router.post("/{token_id}/refresh", response_model=Message)
async def refresh_token_use(token_id: IdPath, principal: KeysWrite, session: SessionDep) -> dict:
    """Record that the key was used now (ForgeTrace's `refresh`)."""
    await keys_service.mark_used(session, principal, token_id)
    return {"message": "Token refreshed"}
