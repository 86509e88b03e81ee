"""/api/v1/llm: providers and prices (seed 002, DECISIONS 18) and usage analytics (DECISIONS 20)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.llm import analytics
from atrium.llm import service as llm_service
from atrium.llm.adapters.registry import available_providers
from atrium.llm.gateway import Gateway
from atrium.llm.schemas import (
    AvailableProviders,
    ModelMetadataRead,
    ModelMetadataUpdate,
    PriceList,
    PricesRead,
    ProviderCreate,
    ProviderDeleted,
    ProviderList,
    ProviderRead,
    ProviderTestResult,
    ProviderUpdate,
)
from atrium.llm.usage_schemas import (
    TopModels,
    TopUsers,
    UsageByModel,
    UsageByUser,
    UsageCosts,
    UsageForecast,
    UsageHistory,
    UsageOverview,
)
from atrium.params import IdPath, parse_id

LlmRead = Annotated[Principal, Depends(require("llm", "read"))]
LlmWrite = Annotated[Principal, Depends(require("llm", "write"))]
LlmAdmin = Annotated[Principal, Depends(require("llm", "write", admin=True))]
LlmDelete = Annotated[Principal, Depends(require("llm", "delete"))]
LlmExecute = Annotated[Principal, Depends(require("llm", "execute"))]
UsageRead = Annotated[Principal, Depends(require("usage", "read"))]

Days = Annotated[int, Query(ge=1, le=365)]
Limit = Annotated[int, Query(ge=1, le=500)]

providers_router = APIRouter(prefix="/api/v1/llm/providers", tags=["llm providers"])
prices_router = APIRouter(prefix="/api/v1/llm/prices", tags=["llm prices"])
usage_router = APIRouter(prefix="/api/v1/llm/usage", tags=["llm usage"])
routers = [providers_router, prices_router, usage_router]


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


# --- providers ------------------------------------------------------------------------


@providers_router.get("", response_model=ProviderList)
async def list_providers(
    principal: LlmRead, session: SessionDep, user_id: str | None = None
) -> dict[str, Any]:
    owner = None
    if user_id is not None:
        owner = parse_id(user_id, "user_id", "query")
    providers = await llm_service.list_providers(session, principal, owner)
    return {"providers": [llm_service.provider_read(p) for p in providers]}


@providers_router.get("/available", response_model=AvailableProviders)
async def list_available_providers(principal: LlmRead) -> dict[str, Any]:
    return {"available_providers": available_providers()}


@providers_router.post("", response_model=ProviderRead, status_code=201)
async def create_provider(
    body: ProviderCreate, principal: LlmWrite, session: SessionDep, request: Request
) -> dict[str, Any]:
    gateway = gateway_of(request)
    provider = await llm_service.create_provider(
        session,
        principal,
        body,
        fernet=request.app.state.secrets.fernet,
        cache=gateway.providers,
        client=gateway.client,
    )
    return llm_service.provider_read(provider)


@providers_router.get("/{provider_id}", response_model=ProviderRead)
async def get_provider(
    provider_id: IdPath, principal: LlmRead, session: SessionDep
) -> dict[str, Any]:
    provider = await llm_service.get_provider(session, principal, provider_id)
    return llm_service.provider_read(provider)


@providers_router.put("/{provider_id}", response_model=ProviderRead)
async def update_provider(
    provider_id: IdPath,
    body: ProviderUpdate,
    principal: LlmWrite,
    session: SessionDep,
    request: Request,
) -> dict[str, Any]:
    gateway = gateway_of(request)
    provider = await llm_service.update_provider(
        session,
        principal,
        provider_id,
        body,
        fernet=request.app.state.secrets.fernet,
        cache=gateway.providers,
        client=gateway.client,
    )
    return llm_service.provider_read(provider)


@providers_router.put("/{provider_id}/models/{model:path}", response_model=ModelMetadataRead)
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
    _provider, read = await llm_service.set_model_metadata(
        session, principal, provider_id, model, body, cache=gateway_of(request).providers
    )
    return read


@providers_router.delete("/{provider_id}", response_model=ProviderDeleted)
async def delete_provider(
    provider_id: IdPath, principal: LlmDelete, session: SessionDep, request: Request
) -> dict[str, Any]:
    deleted = await llm_service.delete_provider(
        session, principal, provider_id, cache=gateway_of(request).providers
    )
    return {"id": str(deleted), "deleted": True}


@providers_router.post("/{provider_id}/test", response_model=ProviderTestResult)
async def test_provider(
    provider_id: IdPath, principal: LlmExecute, session: SessionDep, request: Request
) -> dict[str, Any]:
    return await llm_service.test_provider(
        session, principal, provider_id, gateway=gateway_of(request)
    )


@providers_router.post("/{provider_id}/toggle", response_model=ProviderRead)
async def toggle_provider(
    provider_id: IdPath, principal: LlmWrite, session: SessionDep, request: Request
) -> dict[str, Any]:
    provider = await llm_service.toggle_provider(
        session, principal, provider_id, cache=gateway_of(request).providers
    )
    return llm_service.provider_read(provider)


# --- prices ---------------------------------------------------------------------------


@prices_router.get("", response_model=PricesRead)
async def list_prices(principal: LlmRead, session: SessionDep) -> dict[str, Any]:
    return {
        "prices": [llm_service.price_read(row) for row in await llm_service.list_prices(session)]
    }


@prices_router.put("", response_model=PricesRead)
async def put_prices(
    body: PriceList, principal: LlmAdmin, session: SessionDep, request: Request
) -> dict[str, Any]:
    gateway = gateway_of(request)
    rows = await llm_service.put_prices(
        session, body.prices, prices=gateway.prices, cache=gateway.providers
    )
    return {"prices": [llm_service.price_read(row) for row in rows]}


# --- usage analytics ------------------------------------------------------------------


@usage_router.get("/overview", response_model=UsageOverview)
async def usage_overview(
    principal: UsageRead,
    session: SessionDep,
    days: Days = 30,
    start_date: date | None = None,
    end_date: date | None = None,
) -> dict[str, Any]:
    return await analytics.overview(session, principal, days, start_date, end_date)


@usage_router.get("/by-model", response_model=UsageByModel)
async def usage_by_model(
    principal: UsageRead, session: SessionDep, days: Days = 30, model_filter: str | None = None
) -> dict[str, Any]:
    return await analytics.by_model(session, principal, days, model_filter)


@usage_router.get("/by-user", response_model=UsageByUser)
async def usage_by_user(
    principal: UsageRead,
    session: SessionDep,
    days: Days = 30,
    limit: Limit = 50,
    user_filter: str | None = None,
) -> dict[str, Any]:
    return await analytics.by_user(session, principal, days, limit, user_filter)


@usage_router.get("/costs", response_model=UsageCosts)
async def usage_costs(principal: UsageRead, session: SessionDep, days: Days = 30) -> dict[str, Any]:
    return await analytics.costs(session, principal, days)


@usage_router.get("/history", response_model=UsageHistory)
async def usage_history(
    principal: UsageRead, session: SessionDep, days: Days = 7
) -> dict[str, Any]:
    return await analytics.history(session, principal, days)


@usage_router.get("/top-users", response_model=TopUsers)
async def usage_top_users(
    principal: UsageRead,
    session: SessionDep,
    days: Days = 30,
    limit: Limit = 10,
    metric: analytics.Metric = "calls",
) -> dict[str, Any]:
    return await analytics.top_users(session, principal, days, limit, metric)


@usage_router.get("/top-models", response_model=TopModels)
async def usage_top_models(
    principal: UsageRead,
    session: SessionDep,
    days: Days = 30,
    limit: Limit = 10,
    metric: analytics.Metric = "calls",
) -> dict[str, Any]:
    return await analytics.top_models(session, principal, days, limit, metric)


@usage_router.get("/forecasts", response_model=UsageForecast)
async def usage_forecasts(
    principal: UsageRead, session: SessionDep, days: Days = 30
) -> dict[str, Any]:
    return await analytics.forecasts(session, principal, days)


# --- wiring ---------------------------------------------------------------------------


async def _start_gateway(app: FastAPI) -> None:
    async with app.state.db.sessions() as session:
        await llm_service.seed_prices(session)
        await session.commit()
    await app.state.gateway.start()


async def _stop_gateway(app: FastAPI) -> None:
    await app.state.gateway.close()


def setup(app: FastAPI) -> None:
    app.state.gateway = Gateway(app.state)
    app.state.startup_hooks.append(_start_gateway)
    app.state.shutdown_hooks.append(_stop_gateway)
