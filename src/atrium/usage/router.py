"""/api/v1/llm/prices and /api/v1/llm/usage: the price table (seed 002) and usage analytics."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request

from atrium.db import SessionDep
from atrium.usage import analytics
from atrium.usage import service as usage_service
from atrium.usage.auth import LlmAdmin, LlmRead, UsageRead
from atrium.usage.pricebook import PriceBook
from atrium.usage.schemas import (
    PriceList,
    PricesRead,
    TopModels,
    TopUsers,
    UsageByModel,
    UsageByUser,
    UsageCosts,
    UsageForecast,
    UsageHistory,
    UsageOverview,
)
from atrium.usage.writer import UsageWriter

Days = Annotated[int, Query(ge=1, le=365)]
Limit = Annotated[int, Query(ge=1, le=500)]

prices_router = APIRouter(prefix="/api/v1/llm/prices", tags=["llm prices"])
usage_router = APIRouter(prefix="/api/v1/llm/usage", tags=["llm usage"])
routers = [prices_router, usage_router]


# --- prices ---------------------------------------------------------------------------


@prices_router.get("", response_model=PricesRead)
async def list_prices(principal: LlmRead, session: SessionDep) -> dict[str, Any]:
    return {
        "prices": [
            usage_service.price_read(row) for row in await usage_service.list_prices(session)
        ]
    }


@prices_router.put("", response_model=PricesRead)
async def put_prices(
    body: PriceList, principal: LlmAdmin, session: SessionDep, request: Request
) -> dict[str, Any]:
    rows = await usage_service.put_prices(session, body.prices, prices=request.app.state.price_book)
    return {"prices": [usage_service.price_read(row) for row in rows]}


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


async def _start_usage(app: FastAPI) -> None:
    async with app.state.db.sessions() as session:
        await usage_service.seed_prices(session)
        await session.commit()
    await app.state.price_book.load()
    app.state.usage_writer.start()


async def _stop_usage(app: FastAPI) -> None:
    await app.state.usage_writer.stop()


def setup(app: FastAPI) -> None:
    state = app.state
    state.usage_writer = UsageWriter(state.db.sessions, state.settings.usage_flush_seconds)
    state.price_book = PriceBook(state.db.sessions)
    state.startup_hooks.append(_start_usage)
    state.shutdown_hooks.append(_stop_usage)
