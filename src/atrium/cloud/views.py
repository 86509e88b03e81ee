"""Read models over the stored inventory: discovery status, the client dashboard and summary,
storage, the administrators' overview. Aggregates run in SQL; only bounded rows are loaded."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.cloud import governance, prices
from atrium.cloud.errors import AccountNotFound
from atrium.cloud.tables import CloudAccount, CloudCost, CloudResource, DiscoveryRun, WasteFinding
from atrium.errors import Forbidden

INSTANCE_PAGE = 100
MESSAGES = {
    "not_started": "No discovery has run yet",
    "in_progress": "Discovery is running",
    "completed": "Discovery completed",
    "failed": "The last discovery failed",
}


def account_info(account: CloudAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "account_id": account.aws_account_id,
        "account_name": account.account_name,
        "status": account.status,
        "connection_method": account.connection_method,
        "region": account.region,
        "regions": account.regions,
        "discovery_status": account.discovery_status,
        "last_discovery_at": account.last_discovery_at,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }


async def _run(session: AsyncSession, account_id: int) -> DiscoveryRun | None:
    return await session.scalar(
        select(DiscoveryRun)
        .where(DiscoveryRun.account_id == account_id)
        .order_by(DiscoveryRun.id.desc())
        .limit(1)
    )


async def _instance_ids(session: AsyncSession, account_ids: list[int]) -> list[tuple[str, dict]]:
    rows = await session.execute(
        select(CloudResource.resource_id, CloudResource.attributes).where(
            CloudResource.account_id.in_(account_ids), CloudResource.kind == "instance"
        )
    )
    return [(resource_id, attributes) for resource_id, attributes in rows]


async def _optimizable(session: AsyncSession, account_ids: list[int]) -> int:
    return (
        await session.scalar(
            select(func.count(func.distinct(WasteFinding.resource_id))).where(
                WasteFinding.account_id.in_(account_ids),
                WasteFinding.resource_type == "instance",
                WasteFinding.status == "open",
            )
        )
        or 0
    )


async def discovery_status(
    session: AsyncSession, principal: Principal, account_id: int, account: CloudAccount
) -> dict[str, Any]:
    run = await _run(session, account.id)
    status = account.discovery_status if account.status == "active" or run else "not_started"
    answer: dict[str, Any] = {
        "status": status,
        "message": MESSAGES.get(status, "Unknown"),
        "account_status": account.status,
        "account_id": account.id,
    }
    if run is not None:
        answer.update(
            run_id=run.id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            progress=run.progress,
            counts=run.counts,
            errors=run.errors,
            error=run.error,
        )
    if account.last_discovery_at is not None:
        instances = await _instance_ids(session, [account.id])
        allowed = await governance.authorized_instances(session, account, instances)
        regions = await session.scalar(
            select(func.count(func.distinct(CloudResource.region))).where(
                CloudResource.account_id == account.id
            )
        )
        answer["resources"] = {
            "authorized_instances": allowed,
            "unauthorized_instances": len(instances) - allowed,
            "optimizable_instances": await _optimizable(session, [account.id]),
        }
        answer["scan_info"] = {
            "last_scan": account.last_discovery_at,
            "regions_scanned": len((run.progress or {}).get("regions", {})) if run else regions,
            "instances_discovered": len(instances),
        }
    return answer


def _overall(accounts: list[CloudAccount]) -> str:
    if not accounts:
        return "no_account"
    if any(a.last_discovery_at is not None for a in accounts):
        return "active"
    if any(a.discovery_status == "in_progress" for a in accounts):
        return "discovering"
    if all(a.status == "pending_setup" for a in accounts):
        return "pending_setup"
    return "failed"


async def _stored_totals(session: AsyncSession, ids: list[int]) -> dict[str, dict[str, Any]]:
    """The totals each account's last completed run kept, added up across accounts."""
    latest = (
        select(func.max(DiscoveryRun.id))
        .where(DiscoveryRun.account_id.in_(ids), DiscoveryRun.status == "completed")
        .group_by(DiscoveryRun.account_id)
    )
    merged: dict[str, dict[str, Any]] = {}
    for totals in await session.scalars(
        select(DiscoveryRun.totals).where(DiscoveryRun.id.in_(latest))
    ):
        for kind, entry in (totals or {}).items():
            into = merged.setdefault(
                kind, {"count": 0, "by_state": {}, "monthly_cost": 0.0, "size_gb": 0.0}
            )
            into["count"] += entry["count"]
            for state, count in entry["by_state"].items():
                into["by_state"][state] = into["by_state"].get(state, 0) + count
            into["monthly_cost"] = round(into["monthly_cost"] + entry["monthly_cost"], 2)
            into["size_gb"] = round(into["size_gb"] + entry["size_gb"], 3)
    return merged


async def month_costs(session: AsyncSession, ids: list[int], now: datetime) -> dict[str, Any]:
    this_month = now.strftime("%Y-%m")
    last = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    month = func.substr(CloudCost.day, 1, 7)
    rows = await session.execute(
        select(month, func.sum(CloudCost.amount))
        .where(
            CloudCost.account_id.in_(ids),
            CloudCost.dimension == "service",
            month.in_([this_month, last]),
        )
        .group_by(month)
    )
    by_month = dict(rows.all())
    any_cost = await session.scalar(
        select(func.count(CloudCost.id)).where(CloudCost.account_id.in_(ids))
    )
    top = await session.execute(
        select(CloudCost.key, func.sum(CloudCost.amount).label("total"))
        .where(CloudCost.account_id.in_(ids), CloudCost.dimension == "service", month == this_month)
        .group_by(CloudCost.key)
        .order_by(func.sum(CloudCost.amount).desc())
        .limit(5)
    )
    if not any_cost:
        return {"available": False, "reason": "no_cost_data"}
    return {
        "available": True,
        "this_month": round(by_month.get(this_month, 0.0), 2),
        "last_month": round(by_month.get(last, 0.0), 2),
        "top_services": [{"service": k, "amount": round(v, 2)} for k, v in top],
        "currency": "USD",
    }


async def _savings(session: AsyncSession, ids: list[int]) -> float:
    return round(
        await session.scalar(
            select(func.coalesce(func.sum(WasteFinding.estimated_monthly_savings), 0.0)).where(
                WasteFinding.account_id.in_(ids), WasteFinding.status == "open"
            )
        )
        or 0.0,
        2,
    )


async def _instances(session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(
            CloudResource.resource_id,
            CloudResource.region,
            CloudResource.state,
            CloudResource.monthly_cost,
            CloudResource.attributes,
        )
        .where(CloudResource.account_id.in_(ids), CloudResource.kind == "instance")
        .order_by(CloudResource.id)
        .limit(INSTANCE_PAGE)
    )
    return [
        {
            "instance_id": resource_id,
            "region": region,
            "state": state,
            "instance_type": attributes.get("instance_type"),
            "name": attributes.get("name"),
            "monthly_cost": monthly_cost,
            "idle_check": attributes.get("idle_check"),
        }
        for resource_id, region, state, monthly_cost, attributes in rows
    ]


async def _clusters(session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(CloudResource.region, CloudResource.state, CloudResource.attributes).where(
            CloudResource.account_id.in_(ids), CloudResource.kind == "eks_cluster"
        )
    )
    return [
        {
            "name": attributes.get("name"),
            "region": region,
            "status": state,
            "node_count": attributes.get("node_count", 0),
            "nodes": attributes.get("node_groups", []),
        }
        for region, state, attributes in rows
    ]


def _next_steps(status: str) -> list[str]:
    return {
        "no_account": [
            "Connect an AWS account: create an onboarding request, deploy the "
            "CloudFormation template, then verify the role (or connect access keys)."
        ],
        "pending_setup": ["Deploy the CloudFormation template and submit the role ARN to verify."],
        "discovering": ["Wait for discovery to finish; its progress is shown per region."],
        "failed": ["Check the discovery error, fix the access it names, then rediscover."],
        "active": ["Review the waste findings and request remediations or dismiss them."],
    }[status]


async def dashboard(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    accounts = list(
        await session.scalars(
            select(CloudAccount)
            .where(CloudAccount.user_id == principal.user_id)
            .order_by(CloudAccount.id)
        )
    )
    status = _overall(accounts)
    answer: dict[str, Any] = {
        "status": status,
        "message": {"no_account": "No AWS account connected"}.get(
            status,
            MESSAGES.get(
                {"active": "completed", "discovering": "in_progress"}.get(status, status), status
            ),
        ),
        "has_account": bool(accounts),
        "setup_required": status in ("no_account", "pending_setup"),
        "account_status": accounts[-1].status if accounts else None,
        "account_info": account_info(accounts[-1]) if accounts else None,
        "accounts": [account_info(a) for a in accounts],
        "next_steps": _next_steps(status),
    }
    ids = [a.id for a in accounts]
    totals = await _stored_totals(session, ids) if ids else {}
    instances = totals.get("instance", {}).get("count", 0)
    optimizable = await _optimizable(session, ids) if ids else 0
    clusters = await _clusters(session, ids) if ids else []
    answer["stats"] = {
        "nodes": instances,
        "clusters": len(clusters),
        "savings": await _savings(session, ids) if ids else 0.0,
        "optimization_rate": round(100.0 * optimizable / instances, 1) if instances else 0.0,
        "optimizable_instances": optimizable,
        "eks_nodes": sum(c["node_count"] or 0 for c in clusters),
    }
    answer["resources_by_type"] = totals
    answer["instances"] = await _instances(session, ids) if ids else []
    answer["clusters"] = clusters
    answer["costs"] = (
        await month_costs(session, ids, datetime.now(UTC))
        if ids
        else {"available": False, "reason": "no_account"}
    )
    return answer


async def summary(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    accounts = list(
        await session.scalars(select(CloudAccount).where(CloudAccount.user_id == principal.user_id))
    )
    if not accounts:
        return {"has_account": False, "instance_count": 0, "status": "no_account"}
    ids = [a.id for a in accounts]
    count = await session.scalar(
        select(func.count(CloudResource.id)).where(
            CloudResource.account_id.in_(ids), CloudResource.kind == "instance"
        )
    )
    latest = accounts[-1]
    failed = [a for a in accounts if a.discovery_status == "failed"]
    answer = {
        "has_account": True,
        "instance_count": count or 0,
        "status": "error" if failed else "ok",
        "account_status": latest.status,
        "account_name": latest.account_name,
    }
    if failed:
        run = await _run(session, failed[0].id)
        answer["error"] = run.error if run else "The last discovery failed"
    return answer


async def storage(
    session: AsyncSession, principal: Principal, account: CloudAccount | None
) -> dict[str, Any]:
    query = select(CloudResource).join(CloudAccount, CloudAccount.id == CloudResource.account_id)
    if account is not None:
        query = query.where(CloudResource.account_id == account.id)
    elif not principal.reaches("cloud", "read"):
        query = query.where(CloudAccount.user_id == principal.user_id)
    query = query.where(CloudResource.kind.in_(("bucket", "volume", "snapshot")))
    groups: dict[str, list[dict[str, Any]]] = {"buckets": [], "volumes": [], "snapshots": []}
    total = 0.0
    for row in await session.scalars(query.order_by(CloudResource.id).limit(3000)):
        item = {
            "account_id": row.account_id,
            "resource_id": row.resource_id,
            "region": row.region,
            "state": row.state,
            "size_gb": row.size_gb,
            "monthly_cost": row.monthly_cost,
            **{k: v for k, v in row.attributes.items() if k != "tags"},
        }
        groups[row.kind + "s"].append(item)
        total += row.monthly_cost or 0.0
    return {**groups, "total_monthly_cost": round(total, 2), "prices": prices.provenance()}


async def admin_overview(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    if not principal.is_admin:
        raise Forbidden("Administrators only")
    accounts = await session.execute(
        select(CloudAccount.status, func.count(CloudAccount.id)).group_by(CloudAccount.status)
    )
    tenants = await session.scalar(select(func.count(func.distinct(CloudAccount.user_id))))
    resources = await session.execute(
        select(CloudResource.kind, func.count(CloudResource.id)).group_by(CloudResource.kind)
    )
    savings = await session.scalar(
        select(func.coalesce(func.sum(WasteFinding.estimated_monthly_savings), 0.0)).where(
            WasteFinding.status == "open"
        )
    )
    findings = await session.scalar(
        select(func.count(WasteFinding.id)).where(WasteFinding.status == "open")
    )
    by_status = dict(accounts.all())
    return {
        "tenants": tenants or 0,
        "accounts": {"total": sum(by_status.values()), "by_status": by_status},
        "resources": dict(resources.all()),
        "open_findings": findings or 0,
        "savings_found": round(savings or 0.0, 2),
    }


async def resolve_account(
    session: AsyncSession, principal: Principal, account_id: int | None
) -> CloudAccount | None:
    if account_id is None:
        return None
    account = await session.scalar(select(CloudAccount).where(CloudAccount.id == account_id))
    if account is None or (
        account.user_id != principal.user_id and not principal.reaches("cloud", "read")
    ):
        raise AccountNotFound()
    return account
