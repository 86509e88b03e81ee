"""Waste findings: kept in step with each completed discovery; a dismissal survives
rediscoveries for as long as the resource still matches its rule."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.cloud.errors import FindingNotFound
from atrium.cloud.tables import CloudAccount, WasteFinding


async def apply(session: AsyncSession, account_id: int, found: list[dict[str, Any]]) -> None:
    existing = {
        (row.rule, row.resource_id): row
        for row in await session.scalars(
            select(WasteFinding).where(WasteFinding.account_id == account_id)
        )
    }
    seen = set()
    for item in found:
        key = (item["rule"], item["resource_id"])
        seen.add(key)
        row = existing.get(key)
        if row is None:
            session.add(WasteFinding(account_id=account_id, status="open", **item))
            continue
        row.evidence = item["evidence"]
        row.estimated_monthly_savings = item["estimated_monthly_savings"]
        row.region, row.resource_type = item["region"], item["resource_type"]
        if row.status == "remediated":
            row.status = "open"  # the change did not stick (or was undone)
    gone = [row.id for key, row in existing.items() if key not in seen]
    if gone:
        await session.execute(delete(WasteFinding).where(WasteFinding.id.in_(gone)))
    await session.flush()


def _scoped(principal: Principal, action: str = "read") -> Any:
    query = select(WasteFinding).join(CloudAccount, CloudAccount.id == WasteFinding.account_id)
    if not principal.reaches("cloud", action):
        query = query.where(CloudAccount.user_id == principal.user_id)
    return query


async def get_visible(
    session: AsyncSession, principal: Principal, finding_id: int, action: str = "read"
) -> WasteFinding:
    finding = await session.scalar(_scoped(principal, action).where(WasteFinding.id == finding_id))
    if finding is None:
        raise FindingNotFound()
    return finding


async def list_visible(
    session: AsyncSession,
    principal: Principal,
    *,
    account_id: int | None = None,
    rule: str | None = None,
    region: str | None = None,
    status: str | None = "open",
    limit: int = 100,
    after_id: int | None = None,
) -> tuple[list[WasteFinding], int | None]:
    query = _scoped(principal)
    if account_id is not None:
        query = query.where(WasteFinding.account_id == account_id)
    if rule:
        query = query.where(WasteFinding.rule == rule)
    if region:
        query = query.where(WasteFinding.region == region)
    if status and status != "all":
        query = query.where(WasteFinding.status == status)
    if after_id is not None:
        query = query.where(WasteFinding.id > after_id)
    rows = list(await session.scalars(query.order_by(WasteFinding.id).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


async def summary(
    session: AsyncSession, principal: Principal, account_id: int | None = None
) -> dict[str, Any]:
    query = (
        _scoped(principal)
        .with_only_columns(
            WasteFinding.rule,
            WasteFinding.status,
            func.count(WasteFinding.id),
            func.coalesce(func.sum(WasteFinding.estimated_monthly_savings), 0.0),
            func.count(WasteFinding.estimated_monthly_savings),
        )
        .group_by(WasteFinding.rule, WasteFinding.status)
    )
    if account_id is not None:
        query = query.where(WasteFinding.account_id == account_id)
    by_rule: dict[str, dict[str, Any]] = {}
    totals = {"open": 0, "dismissed": 0, "remediated": 0}
    savings = 0.0
    unpriced = 0
    for rule, status, count, amount, priced in await session.execute(query):
        totals[status] = totals.get(status, 0) + count
        if status != "open":
            continue
        entry = by_rule.setdefault(rule, {"count": 0, "estimated_monthly_savings": 0.0})
        entry["count"] += count
        entry["estimated_monthly_savings"] = round(entry["estimated_monthly_savings"] + amount, 2)
        savings += amount
        unpriced += count - priced
    return {
        "open": totals["open"],
        "dismissed": totals["dismissed"],
        "remediated": totals["remediated"],
        "estimated_monthly_savings": round(savings, 2),
        "unpriced_findings": unpriced,
        "by_rule": by_rule,
    }


async def dismiss(
    session: AsyncSession, principal: Principal, finding_id: int, reason: str
) -> WasteFinding:
    finding = await get_visible(session, principal, finding_id, "write")
    finding.status = "dismissed"
    finding.dismissed_reason = reason
    finding.dismissed_at = datetime.now(UTC)
    await session.flush()
    return finding


async def mark_remediated(session: AsyncSession, finding_id: int) -> None:
    finding = await session.get(WasteFinding, finding_id)
    if finding is not None:
        finding.status = "remediated"
