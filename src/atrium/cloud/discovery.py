"""The discovery runner (a job, see `tasks.py`): collects an account's inventory off the
event loop (boto3 blocks), then replaces the stored inventory, costs and findings in one
transaction. A failed run records why and leaves the previous inventory as it was."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import OperationalError

from atrium.cloud import aws, collect, prices, waste
from atrium.cloud import events as cloud_events
from atrium.cloud import findings as findings_store
from atrium.cloud.credentials import credentials_of
from atrium.cloud.tables import CloudAccount, CloudCost, CloudResource, DiscoveryRun
from atrium.db import commit

log = logging.getLogger("atrium.cloud")


def monthly_cost(resource: dict[str, Any]) -> float | None:
    kind, region, attributes = resource["kind"], resource["region"], resource["attributes"]
    if kind == "instance":
        if resource["state"] != "running":
            return 0.0
        return prices.instance_monthly(region, attributes.get("instance_type"))
    if kind == "volume":
        return prices.volume_monthly(region, attributes.get("volume_type"), resource["size_gb"])
    if kind == "snapshot":
        return prices.snapshot_monthly(region, resource["size_gb"])
    if kind == "bucket":
        return prices.bucket_monthly(region, resource["size_gb"])
    if kind == "address":
        return prices.address_monthly()
    return None


async def _set_progress(
    ctx: Any, account: CloudAccount, run_id: int, progress: dict[str, Any], region: str | None
) -> None:
    async with ctx.sessions() as session:
        run = await session.get(DiscoveryRun, run_id)
        if run is None:
            return
        run.progress = dict(progress)
        if region is not None:
            regions = progress["regions"]
            await cloud_events.emit(
                session,
                user_id=account.user_id,
                account_id=account.id,
                type="discovery.progress",
                run_id=str(run_id),
                region=region,
                regions_done=sum(1 for state in regions.values() if state == "done"),
                regions_total=len(regions),
            )
        await commit(session)


async def _collect(
    ctx: Any, account: CloudAccount, run_id: int
) -> tuple[list[dict], list[dict], list[dict], dict]:
    settings = ctx.settings
    fernet = ctx.app_state.secrets.fernet
    credentials = await asyncio.to_thread(credentials_of, account, fernet)
    regions = account.regions or await asyncio.to_thread(
        aws.enabled_regions, credentials, account.region
    )
    progress: dict[str, Any] = {
        "regions": {region: "pending" for region in regions},
        "services": {"s3": "pending", "cost_explorer": "pending"},
    }
    await _set_progress(ctx, account, run_id, progress, None)
    # the regions finish concurrently: their progress writes take turns rather than meet as
    # concurrent writers on SQLite
    progress_turn = asyncio.Lock()
    gate = asyncio.Semaphore(max(1, settings.cloud_discovery_threads))

    async def one_region(region: str) -> tuple[list[dict], list[dict]]:
        async with gate:
            result = await asyncio.to_thread(
                collect.region_inventory, credentials, region, settings.cloud_metric_days
            )
        progress["regions"][region] = "done"
        done = sum(1 for state in progress["regions"].values() if state == "done")
        await ctx.progress(0.8 * done / len(regions), stage=f"scanned {region}")
        async with progress_turn:
            try:
                await _set_progress(ctx, account, run_id, progress, region)
            except OperationalError:  # progress is informational: the discovery goes on
                log.warning("progress of discovery run %s not recorded", run_id, exc_info=True)
        return result

    async def storage() -> list[dict]:
        async with gate:
            found = await asyncio.to_thread(
                collect.buckets, credentials, account.region, settings.cloud_s3_list_max_objects
            )
        progress["services"]["s3"] = "done"
        return found

    async def spending() -> tuple[list[dict], list[dict]]:
        async with gate:
            try:
                rows = await asyncio.to_thread(
                    collect.costs, credentials, settings.cloud_cost_history_days
                )
            except Exception as exc:
                refused = aws.failure("cost_explorer", exc)
                if not _is_refusal(exc):
                    raise refused from exc
                progress["services"]["cost_explorer"] = "refused"
                return [], [
                    {
                        "service": "cost_explorer",
                        "region": "global",
                        "error_code": refused.error_code,
                        "error": refused.message,
                    }
                ]
        progress["services"]["cost_explorer"] = "done"
        return rows, []

    tasks = [asyncio.ensure_future(one_region(region)) for region in regions]
    bucket_task = asyncio.ensure_future(storage())
    cost_task = asyncio.ensure_future(spending())
    try:
        per_region = await asyncio.gather(*tasks)
        buckets = await bucket_task
        cost_rows, cost_errors = await cost_task
    except BaseException:
        for task in (*tasks, bucket_task, cost_task):
            task.cancel()
        await asyncio.gather(*tasks, bucket_task, cost_task, return_exceptions=True)
        raise
    resources = [item for found, _ in per_region for item in found] + buckets
    errors = [error for _, refused in per_region for error in refused] + cost_errors
    return resources, cost_rows, errors, progress


def _is_refusal(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)


def _counts(resources: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource["kind"]] = counts.get(resource["kind"], 0) + 1
    return counts


def kind_totals(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Count, states, monthly cost and size per kind: kept on the run, since the inventory
    changes only when a run completes (the dashboard reads them instead of scanning)."""
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = totals.setdefault(
            row["kind"], {"count": 0, "by_state": {}, "monthly_cost": 0.0, "size_gb": 0.0}
        )
        state = row["state"] or "unknown"
        entry["count"] += 1
        entry["by_state"][state] = entry["by_state"].get(state, 0) + 1
        entry["monthly_cost"] += row["monthly_cost"] or 0.0
        entry["size_gb"] += row["size_gb"] or 0.0
    for entry in totals.values():
        entry["monthly_cost"] = round(entry["monthly_cost"], 2)
        entry["size_gb"] = round(entry["size_gb"], 3)
    return totals


async def _store(
    ctx: Any,
    account_id: int,
    run_id: int,
    resources: list[dict],
    cost_rows: list[dict],
    errors: list[dict],
    progress: dict,
) -> dict[str, Any] | None:
    now = datetime.now(UTC)
    found, undetermined = waste.analyse(
        resources, waste.Thresholds.from_settings(ctx.settings), now
    )
    verdicts = {item["resource_id"]: item for item in undetermined}
    rows = []
    for resource in resources:
        attributes = dict(resource["attributes"])
        if resource["resource_id"] in verdicts:
            verdict = verdicts[resource["resource_id"]]
            attributes["idle_check"] = {
                "verdict": "insufficient_data",
                "days_of_data": verdict["days_of_data"],
                "days_needed": verdict["days_needed"],
            }
        rows.append(
            {
                **resource,
                "attributes": attributes,
                "account_id": account_id,
                "monthly_cost": monthly_cost(resource),
            }
        )
    counts = _counts(resources)
    async with ctx.sessions() as session:
        account = await session.get(CloudAccount, account_id)
        run = await session.get(DiscoveryRun, run_id)
        if account is None or run is None:
            return None  # the account was deleted meanwhile
        await session.execute(delete(CloudResource).where(CloudResource.account_id == account_id))
        await session.execute(delete(CloudCost).where(CloudCost.account_id == account_id))
        if rows:
            await session.execute(insert(CloudResource), rows)
        if cost_rows:
            await session.execute(
                insert(CloudCost), [{**row, "account_id": account_id} for row in cost_rows]
            )
        await findings_store.apply(session, account_id, found)
        run.status, run.finished_at = "completed", now
        run.counts = {**counts, "findings": len(found), "insufficient_data": len(undetermined)}
        run.totals = kind_totals(rows)
        run.errors, run.progress = errors, progress
        account.discovery_status, account.last_discovery_at = "completed", now
        await _announce_completion(session, account, run_id, run.counts, found)
        await commit(session)
    return run.counts


async def _announce_completion(
    session: Any, account: CloudAccount, run_id: int, counts: dict, found: list[dict]
) -> None:
    owner = {"user_id": account.user_id, "account_id": account.id}
    await cloud_events.emit(
        session, **owner, type="discovery.completed", run_id=str(run_id), counts=counts
    )
    if found:
        savings = sum(item["estimated_monthly_savings"] or 0.0 for item in found)
        by_rule: dict[str, int] = {}
        for item in found:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1
        await cloud_events.emit(
            session,
            **owner,
            type="waste.found",
            run_id=str(run_id),
            findings=len(found),
            by_rule=by_rule,
            estimated_monthly_savings=round(savings, 2),
        )


async def _fail(ctx: Any, account_id: int, run_id: int, error: str) -> None:
    async with ctx.sessions() as session:
        run = await session.get(DiscoveryRun, run_id)
        account = await session.get(CloudAccount, account_id)
        if run is not None:
            run.status, run.error, run.finished_at = "failed", error, datetime.now(UTC)
        if account is not None:
            account.discovery_status = "failed"
            await cloud_events.emit(
                session,
                user_id=account.user_id,
                account_id=account.id,
                type="discovery.failed",
                run_id=str(run_id),
                error=error,
            )
        await commit(session)


async def run_discovery(ctx: Any) -> dict[str, Any]:
    account_id, run_id = int(ctx.payload["account_id"]), int(ctx.payload["run_id"])
    async with ctx.sessions() as session:
        account = await session.get(CloudAccount, account_id)
        if account is None:
            return {"status": "cancelled", "reason": "account deleted"}
        session.expunge(account)
    try:
        resources, cost_rows, errors, progress = await _collect(ctx, account, run_id)
        counts = await _store(ctx, account_id, run_id, resources, cost_rows, errors, progress)
    except aws.AwsCallFailed as exc:
        await _fail(ctx, account_id, run_id, str(exc))
        return {"status": "failed", "error": str(exc)}
    except Exception as exc:
        log.exception("discovery failed", extra={"account_id": account_id})
        await _fail(ctx, account_id, run_id, f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "error": str(exc)}
    await ctx.progress(1.0, stage="completed")
    return {"status": "completed", "counts": counts}
