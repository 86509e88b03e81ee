"""Cloud accounts: onboarding (External ID, role or keys), connection, discovery starts,
deletion. Views, waste, costs and governance live beside it and are re-exported here, so other
modules reach the domain through this one."""

import asyncio
import uuid
from typing import Any

from cryptography.fernet import MultiFernet
from sqlalchemy import ColumnElement, delete, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.cloud import aws
from atrium.cloud import events as cloud_events
from atrium.cloud.errors import (
    AccountNotActive,
    AccountNotFound,
    AccountTaken,
    AwsVerificationFailed,
    DiscoveryRunning,
    PrincipalNotConfigured,
    UnknownRegion,
)
from atrium.cloud.kinds import DISCOVERY
from atrium.cloud.tables import (
    CloudAccount,
    CloudCost,
    CloudEvent,
    CloudResource,
    DiscoveryRun,
    GovernancePolicy,
    Pipeline,
    PipelineRun,
    Remediation,
    WasteFinding,
)
from atrium.cloud.template import cloudformation, instructions
from atrium.config import Settings
from atrium.db import utcnow
from atrium.jobs import service as jobs_service


def visible(principal: Principal, action: str) -> ColumnElement[bool]:
    if principal.reaches("cloud", action):
        return true()
    return CloudAccount.user_id == principal.user_id


async def get_owned(
    session: AsyncSession, principal: Principal, account_id: int, action: str = "read"
) -> CloudAccount:
    account = await session.scalar(
        select(CloudAccount).where(CloudAccount.id == account_id, visible(principal, action))
    )
    if account is None:
        raise AccountNotFound()
    return account


async def list_own(session: AsyncSession, principal: Principal) -> list[CloudAccount]:
    """The caller's own accounts (a tenant's view, administrators included)."""
    query = select(CloudAccount).where(CloudAccount.user_id == principal.user_id)
    return list(await session.scalars(query.order_by(CloudAccount.id)))


async def create_request(
    session: AsyncSession, principal: Principal, account_name: str | None
) -> CloudAccount:
    account = CloudAccount(
        user_id=principal.user_id,
        account_name=account_name,
        external_id=str(uuid.uuid4()),
        status="pending_setup",
    )
    session.add(account)
    await session.flush()
    return account


async def template(
    session: AsyncSession, principal: Principal, account_id: int, settings: Settings
) -> dict[str, Any]:
    account = await get_owned(session, principal, account_id)
    if not settings.aws_principal_arn:
        raise PrincipalNotConfigured()
    return {
        "template": cloudformation(settings.aws_principal_arn, account.external_id),
        "external_id": account.external_id,
        "instructions": instructions(),
    }


def _refused(exc: aws.AwsCallFailed) -> AwsVerificationFailed:
    message = f"{exc.step} failed ({exc.error_code}): {exc.message}"
    return AwsVerificationFailed(
        message, status="failed", error=message, error_code=exc.error_code, step=exc.step
    )


async def _claim(
    session: AsyncSession, principal: Principal, account: CloudAccount, aws_account_id: str
) -> CloudAccount:
    """The row that will hold `aws_account_id` for this tenant: 409 if another tenant holds
    it; the tenant's existing row when they connect the same account again."""
    holder = await session.scalar(
        select(CloudAccount).where(CloudAccount.aws_account_id == aws_account_id)
    )
    if holder is None or holder.id == account.id:
        return account
    if holder.user_id != account.user_id:
        raise AccountTaken()
    if account.id is not None:
        await session.delete(account)  # the pending request is folded into the existing row
        await session.flush()
    return holder


async def _connected(session: AsyncSession, account: CloudAccount, aws_account_id: str) -> None:
    account.aws_account_id = aws_account_id
    account.status = "active"
    account.verified_at = utcnow()
    try:
        await session.flush()
    except IntegrityError:
        raise AccountTaken() from None
    await cloud_events.emit(
        session,
        user_id=account.user_id,
        account_id=account.id,
        type="account.connected",
        aws_account_id=aws_account_id,
        connection_method=account.connection_method,
    )


async def verify_role(
    session: AsyncSession,
    principal: Principal,
    account_id: int,
    role_arn: str,
) -> CloudAccount:
    account = await get_owned(session, principal, account_id, "write")
    external_id = account.external_id
    try:
        credentials = await asyncio.to_thread(aws.assume_role, role_arn, external_id)
        identity = await asyncio.to_thread(aws.caller_identity, credentials)
    except aws.AwsCallFailed as exc:
        raise _refused(exc) from exc
    account = await _claim(session, principal, account, identity["account"])
    account.connection_method = "iam_role"
    account.role_arn = role_arn
    account.external_id = external_id
    account.access_key_id = None
    account.secret_encrypted = None
    await _connected(session, account, identity["account"])
    await start_discovery(session, account, force=True)
    return account


async def connect_credentials(
    session: AsyncSession,
    principal: Principal,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    regions: list[str] | None,
    account_name: str | None,
    fernet: MultiFernet,
) -> CloudAccount:
    credentials = aws.AwsCredentials(access_key, secret_key)
    try:
        identity = await asyncio.to_thread(aws.caller_identity, credentials)
        unknown = await asyncio.to_thread(
            aws.validate_regions, credentials, region, sorted({region, *(regions or [])})
        )
    except aws.AwsCallFailed as exc:
        raise _refused(exc) from exc
    if unknown:
        raise UnknownRegion(f"Unknown AWS region: {', '.join(unknown)}")
    account = CloudAccount(
        user_id=principal.user_id, external_id=str(uuid.uuid4()), account_name=account_name
    )
    account = await _claim(session, principal, account, identity["account"])
    if account.id is None:
        session.add(account)
    account.connection_method = "access_keys"
    account.role_arn = None
    account.access_key_id = access_key
    account.secret_encrypted = fernet.encrypt(secret_key.encode())
    account.region = region
    account.regions = regions or None
    if account_name:
        account.account_name = account_name
    await _connected(session, account, identity["account"])
    await start_discovery(session, account, force=True)
    return account


async def start_discovery(
    session: AsyncSession,
    account: CloudAccount,
    *,
    force: bool = False,
    pipeline_step: dict[str, int] | None = None,
) -> DiscoveryRun:
    """Claims the account for one run (409 while one runs) and enqueues its job, which is
    dispatched after the commit. `pipeline_step` ({pipeline_run_id, step}) makes the job a
    pipeline's step: its outcome then moves the pipeline on."""
    if account.status != "active":
        raise AccountNotActive()
    claim = update(CloudAccount).where(CloudAccount.id == account.id)
    if not force:
        claim = claim.where(CloudAccount.discovery_status != "in_progress")
    result = await session.execute(
        claim.values(discovery_status="in_progress").execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:
        raise DiscoveryRunning()
    account.discovery_status = "in_progress"
    run = DiscoveryRun(account_id=account.id, status="in_progress", progress={})
    session.add(run)
    await session.flush()
    job = await jobs_service.enqueue(
        session,
        kind=DISCOVERY,
        owner_id=account.user_id,
        payload={"account_id": account.id, "run_id": run.id, **(pipeline_step or {})},
    )
    run.job_id = job.id
    await cloud_events.emit(
        session,
        user_id=account.user_id,
        account_id=account.id,
        type="discovery.started",
        run_id=str(run.id),
    )
    await session.flush()
    return run


async def rediscover(session: AsyncSession, principal: Principal, account_id: int) -> DiscoveryRun:
    account = await get_owned(session, principal, account_id, "execute")
    return await start_discovery(session, account)


async def latest_run(session: AsyncSession, account_id: int) -> DiscoveryRun | None:
    return await session.scalar(
        select(DiscoveryRun)
        .where(DiscoveryRun.account_id == account_id)
        .order_by(DiscoveryRun.id.desc())
        .limit(1)
    )


async def delete_account(session: AsyncSession, principal: Principal, account_id: int) -> str:
    """The account and everything discovered or decided for it, in the caller's transaction."""
    account = await get_owned(session, principal, account_id, "delete")
    for table in (
        PipelineRun,
        Pipeline,
        CloudEvent,
        Remediation,
        WasteFinding,
        CloudCost,
        CloudResource,
        DiscoveryRun,
    ):
        await session.execute(delete(table).where(table.account_id == account.id))
    await session.execute(delete(GovernancePolicy).where(GovernancePolicy.account_id == account.id))
    shown = account.aws_account_id or str(account.id)
    await session.delete(account)
    await session.flush()
    return shown
