"""Usage metering and prices: what other domains call (the gateway meters through here,
billing reads metered usage, the limits read month-to-date figures)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.usage.checkpoint import INTERRUPTED, StreamCheckpoint
from atrium.usage.pricebook import PriceBook
from atrium.usage.prices import SEED_PRICES
from atrium.usage.schemas import PriceItem
from atrium.usage.tables import ModelPrice, UsageDaily, UsageRecord
from atrium.usage.writer import UsageWriter

__all__ = [
    "INTERRUPTED",
    "PriceBook",
    "StreamCheckpoint",
    "UsageWriter",
    "metered_usage",
    "month_counts",
    "month_spend",
    "on_usage_batch",
]


# --- the runtime objects, kept on app.state ---------------------------------------------


def writer_of(state: Any) -> UsageWriter:
    return state.usage_writer


def prices_of(state: Any) -> PriceBook:
    return state.price_book


def stream_checkpoint(state: Any) -> StreamCheckpoint:
    """The record of one stream in progress, written at most once per flush interval."""
    return StreamCheckpoint(state.db.sessions, state.settings.usage_flush_seconds)


def on_usage_batch(state: Any, hook: Any) -> None:
    """Have `await hook(records)` called after each batch of usage records is committed
    (records as the gateway metered them: user_id, provider, model, tokens, created_at)."""
    writer_of(state).batch_hooks.append(hook)


# --- prices ---------------------------------------------------------------------------


async def seed_prices(session: AsyncSession) -> int:
    """Fill an empty price table with the public list prices; edits are kept afterwards."""
    if await session.scalar(select(ModelPrice.id).limit(1)) is not None:
        return 0
    session.add_all(
        ModelPrice(provider_type=t, model=m, input_usd_per_mtok=i, output_usd_per_mtok=o)
        for t, m, i, o in SEED_PRICES
    )
    await session.flush()
    return len(SEED_PRICES)


async def list_prices(session: AsyncSession) -> list[ModelPrice]:
    return list(
        await session.scalars(
            select(ModelPrice).order_by(ModelPrice.provider_type, ModelPrice.model).limit(5000)
        )
    )


async def put_prices(
    session: AsyncSession, items: list[PriceItem], *, prices: PriceBook
) -> list[ModelPrice]:
    """Create or change the given prices (keyed by provider type and model)."""
    for item in items:
        row = await session.scalar(
            select(ModelPrice).where(
                ModelPrice.provider_type == item.provider_type.strip().lower(),
                ModelPrice.model == item.model.strip(),
            )
        )
        if row is None:
            row = ModelPrice(
                provider_type=item.provider_type.strip().lower(), model=item.model.strip()
            )
            session.add(row)
        row.input_usd_per_mtok = item.input_usd_per_mtok
        row.output_usd_per_mtok = item.output_usd_per_mtok
        row.updated_at = datetime.now(UTC)
    await session.flush()
    prices.invalidate_after_commit(session)
    return await list_prices(session)


def price_read(row: ModelPrice) -> dict[str, Any]:
    return {
        "provider_type": row.provider_type,
        "model": row.model,
        "input_usd_per_mtok": row.input_usd_per_mtok,
        "output_usd_per_mtok": row.output_usd_per_mtok,
        "updated_at": row.updated_at,
    }


# --- month-to-date figures, read by the gateway's limits ---------------------------------


async def month_spend(
    sessions: async_sessionmaker[AsyncSession], scope: str, ident: int, since: datetime
) -> float:
    """USD spent since `since` by a user (`scope` "user") or an API key ("key")."""
    column = UsageRecord.user_id if scope == "user" else UsageRecord.key_id
    async with sessions() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(UsageRecord.cost_usd), 0.0)).where(
                column == ident, UsageRecord.created_at >= since
            )
        )
    return float(total or 0.0)


async def month_counts(
    sessions: async_sessionmaker[AsyncSession], user_id: int, since: datetime
) -> tuple[int, int]:
    """(calls, tokens) of the user since `since`, from the daily roll-ups."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(
                    func.coalesce(func.sum(UsageDaily.calls), 0),
                    func.coalesce(
                        func.sum(UsageDaily.prompt_tokens + UsageDaily.completion_tokens), 0
                    ),
                ).where(UsageDaily.user_id == user_id, UsageDaily.day >= since.date())
            )
        ).one()
    return int(row[0]), int(row[1])


# --- metered usage, read by billing ------------------------------------------------------


async def metered_usage(
    session: AsyncSession, user_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A user's successful calls in [start, end) per provider and model: calls, tokens and
    their cost in USD (priced from the price table when each call was metered)."""
    rows = await session.execute(
        select(
            UsageRecord.provider,
            UsageRecord.provider_type,
            UsageRecord.model,
            func.count().label("calls"),
            func.coalesce(func.sum(UsageRecord.prompt_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(UsageRecord.completion_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(UsageRecord.cost_usd), 0.0).label("cost_usd"),
        )
        .where(
            UsageRecord.user_id == user_id,
            UsageRecord.created_at >= start,
            UsageRecord.created_at < end,
            UsageRecord.status == "ok",
        )
        .group_by(UsageRecord.provider, UsageRecord.provider_type, UsageRecord.model)
        .order_by(UsageRecord.provider, UsageRecord.model)
    )
    return [dict(row._mapping) for row in rows]
