"""The work of the pipeline steps that are not discovery: waste analysis over the stored
inventory, and the report (a snapshot of the account kept on the pipeline run)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.cloud import events as cloud_events
from atrium.cloud import findings as findings_store
from atrium.cloud import prices, waste
from atrium.cloud.tables import (
    CloudAccount,
    CloudResource,
    DiscoveryRun,
    Pipeline,
    PipelineRun,
    WasteFinding,
)
from atrium.cloud.views import month_costs
from atrium.db import commit

REPORT_SCHEMA = 1
REPORT_FINDINGS = 1000  # the biggest first; the summary counts them all


class NoInventory(Exception):
    """No discovery of the account has completed: there is nothing to analyse."""


async def _last_completed(session: AsyncSession, account_id: int) -> DiscoveryRun | None:
    return await session.scalar(
        select(DiscoveryRun)
        .where(DiscoveryRun.account_id == account_id, DiscoveryRun.status == "completed")
        .order_by(DiscoveryRun.id.desc())
        .limit(1)
    )


async def analyse_waste(ctx: Any, account_id: int) -> dict[str, Any]:
    """Apply the waste rules, with today's thresholds, to the stored inventory."""
    async with ctx.sessions() as session:
        account = await session.get(CloudAccount, account_id)
        if account is None:
            raise NoInventory("the account was deleted")
        if await _last_completed(session, account_id) is None:
            raise NoInventory("no discovery of this account has completed yet")
        rows = await session.execute(
            select(
                CloudResource.kind,
                CloudResource.resource_id,
                CloudResource.region,
                CloudResource.state,
                CloudResource.size_gb,
                CloudResource.attributes,
            ).where(CloudResource.account_id == account_id)
        )
        resources = [row._asdict() for row in rows]
        limits = waste.Thresholds.from_settings(ctx.settings)
        found, undetermined = waste.analyse(resources, limits, datetime.now(UTC))
        await findings_store.apply(session, account_id, found)
        by_rule: dict[str, int] = {}
        for item in found:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1
        savings = round(sum(item["estimated_monthly_savings"] or 0.0 for item in found), 2)
        result = {
            "resources": len(resources),
            "findings": len(found),
            "by_rule": by_rule,
            "insufficient_data": len(undetermined),
            "estimated_monthly_savings": savings,
        }
        if found:
            await cloud_events.emit(
                session,
                user_id=account.user_id,
                account_id=account_id,
                type="waste.found",
                findings=len(found),
                by_rule=by_rule,
                estimated_monthly_savings=savings,
            )
        await commit(session)
    return result


async def _findings(session: AsyncSession, account_id: int) -> tuple[list[dict], dict]:
    rows = await session.scalars(
        select(WasteFinding)
        .where(WasteFinding.account_id == account_id, WasteFinding.status == "open")
        .order_by(
            func.coalesce(WasteFinding.estimated_monthly_savings, 0.0).desc(), WasteFinding.id
        )
    )
    listed, by_rule, total, unpriced = [], {}, 0.0, 0
    for finding in rows:
        entry = by_rule.setdefault(finding.rule, {"count": 0, "estimated_monthly_savings": 0.0})
        entry["count"] += 1
        amount = finding.estimated_monthly_savings
        if amount is None:
            unpriced += 1
        else:
            entry["estimated_monthly_savings"] = round(
                entry["estimated_monthly_savings"] + amount, 2
            )
            total += amount
        if len(listed) < REPORT_FINDINGS:
            listed.append(
                {
                    "id": str(finding.id),
                    "rule": finding.rule,
                    "resource_type": finding.resource_type,
                    "resource_id": finding.resource_id,
                    "region": finding.region,
                    "estimated_monthly_savings": amount,
                    "evidence": finding.evidence,
                }
            )
    summary = {
        "open": sum(entry["count"] for entry in by_rule.values()),
        "estimated_monthly_savings": round(total, 2),
        "unpriced_findings": unpriced,
        "by_rule": by_rule,
    }
    return listed, summary


async def build_report(ctx: Any, account_id: int, run_id: int) -> dict[str, Any]:
    """The account as it stands: inventory totals, costs, open findings and the run's steps."""
    now = datetime.now(UTC)
    async with ctx.sessions() as session:
        account = await session.get(CloudAccount, account_id)
        run = await session.get(PipelineRun, run_id)
        if account is None or run is None:
            raise NoInventory("the account or the pipeline was deleted")
        pipeline = await session.get(Pipeline, run.pipeline_id)
        discovery = await _last_completed(session, account_id)
        findings, summary = await _findings(session, account_id)
        costs = await month_costs(session, [account_id], now)
    return {
        "schema_version": REPORT_SCHEMA,
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "pipeline": {"id": str(pipeline.id), "name": pipeline.name, "run_id": str(run.id)},
        "account": {
            "id": str(account.id),
            "aws_account_id": account.aws_account_id,
            "account_name": account.account_name,
            "connection_method": account.connection_method,
        },
        "discovery": None
        if discovery is None
        else {
            "run_id": str(discovery.id),
            "finished_at": discovery.finished_at.isoformat().replace("+00:00", "Z"),
            "counts": discovery.counts,
            "errors": discovery.errors,
        },
        "inventory": (discovery.totals or {}) if discovery else {},
        "costs": costs,
        "waste": summary,
        "findings": findings,
        "steps": [
            {"name": s["name"], "status": s["status"], "result": s["result"]} for s in run.steps
        ],
        "prices": prices.provenance(),
    }
