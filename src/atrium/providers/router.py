"""/api/v1/llm/providers: providers, their test and their models' metadata (seed 002)."""

from typing import Any

from fastapi import APIRouter, FastAPI, Request

from atrium.db import SessionDep
from atrium.outbound.http import make_client
from atrium.params import IdPath, parse_id
from atrium.providers import service as providers_service
from atrium.providers.adapters.registry import available_providers
from atrium.providers.auth import LlmDelete, LlmExecute, LlmRead, LlmWrite
from atrium.providers.catalog import ProviderCache
from atrium.providers.discovery import OnDemandDiscovery
from atrium.providers.schemas import (
    AvailableProviders,
    ModelMetadataRead,
    ModelMetadataUpdate,
    ProviderCreate,
    ProviderDeleted,
    ProviderList,
    ProviderRead,
    ProviderTestResult,
    ProviderUpdate,
)

router = APIRouter(prefix="/api/v1/llm/providers", tags=["llm providers"])


def cache_of(request: Request) -> ProviderCache:
    return request.app.state.provider_cache


def client_of(request: Request) -> Any:
    return request.app.state.provider_client


# --- providers ------------------------------------------------------------------------


@router.get("", response_model=ProviderList)
async def list_providers(
    principal: LlmRead, session: SessionDep, user_id: str | None = None
) -> dict[str, Any]:
    owner = None
    if user_id is not None:
        owner = parse_id(user_id, "user_id", "query")
    providers = await providers_service.list_providers(session, principal, owner)
    return {"providers": [providers_service.provider_read(p) for p in providers]}


@router.get("/available", response_model=AvailableProviders)
async def list_available_providers(principal: LlmRead) -> dict[str, Any]:
    return {"available_providers": available_providers()}


@router.post("", response_model=ProviderRead, status_code=201)
async def create_provider(
    body: ProviderCreate, principal: LlmWrite, session: SessionDep, request: Request
) -> dict[str, Any]:
    provider = await providers_service.create_provider(
        session,
        principal,
        body,
        fernet=request.app.state.secrets.fernet,
        cache=cache_of(request),
        client=client_of(request),
    )
    return providers_service.provider_read(provider)


@router.get("/{provider_id}", response_model=ProviderRead)
async def get_provider(
    provider_id: IdPath, principal: LlmRead, session: SessionDep
) -> dict[str, Any]:
    provider = await providers_service.get_provider(session, principal, provider_id)
    return providers_service.provider_read(provider)


@router.put("/{provider_id}", response_model=ProviderRead)
async def update_provider(
    provider_id: IdPath,
    body: ProviderUpdate,
    principal: LlmWrite,
    session: SessionDep,
    request: Request,
) -> dict[str, Any]:
    provider = await providers_service.update_provider(
        session,
        principal,
        provider_id,
        body,
        fernet=request.app.state.secrets.fernet,
        cache=cache_of(request),
        client=client_of(request),
    )
    return providers_service.provider_read(provider)


@router.put("/{provider_id}/models/{model:path}", response_model=ModelMetadataRead)
async def set_model_metadata(
    provider_id: IdPath,
    model: str,
    body: ModelMetadataUpdate,
    principal: LlmWrite,
    session: SessionDep,
    request: Request,
) -> dict[str, Any]:
    """What is known of one of the provider's models (context window, vision), over what the
    provider reports; null clears a value."""
    _provider, read = await providers_service.set_model_metadata(
        session, principal, provider_id, model, body, cache=cache_of(request)
    )
    return read


@router.delete("/{provider_id}", response_model=ProviderDeleted)
async def delete_provider(
    provider_id: IdPath, principal: LlmDelete, session: SessionDep, request: Request
) -> dict[str, Any]:
    deleted = await providers_service.delete_provider(
        session, principal, provider_id, cache=cache_of(request)
    )
    return {"id": str(deleted), "deleted": True}


@router.post("/{provider_id}/test", response_model=ProviderTestResult)
async def test_provider(
    provider_id: IdPath, principal: LlmExecute, session: SessionDep, request: Request
) -> dict[str, Any]:
    # the gateway sends the request and meters it (`provider_probe`, set by its setup)
    return await providers_service.test_provider(
        session,
        principal,
        provider_id,
        cache=cache_of(request),
        probe=request.app.state.provider_probe,
    )


@router.post("/{provider_id}/toggle", response_model=ProviderRead)
async def toggle_provider(
    provider_id: IdPath, principal: LlmWrite, session: SessionDep, request: Request
) -> dict[str, Any]:
    provider = await providers_service.toggle_provider(
        session, principal, provider_id, cache=cache_of(request)
    )
    return providers_service.provider_read(provider)


# --- wiring ---------------------------------------------------------------------------


async def _stop_providers(app: FastAPI) -> None:
    await app.state.provider_client.aclose()


def setup(app: FastAPI) -> None:
    state = app.state
    stock = "httpx" in state.settings.stock_libraries  # the bench's comparison
    state.provider_client = make_client(stock=stock)
    state.provider_cache = ProviderCache(
        state.db.sessions,
        state.secrets.fernet,
        state.redis,
        providers_service.redis_namespace(state.settings.resolved_database_url),
    )
    state.provider_discovery = OnDemandDiscovery(
        state.db.sessions, state.provider_client, state.provider_cache
    )
    state.shutdown_hooks.append(_stop_providers)
