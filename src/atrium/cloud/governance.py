"""Governance: policies say whether a remediation action needs approval and by which role;
remediations run only when no approval is needed or once someone other than the requester
approved them. Without a policy, an action needs an administrator's approval."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.cloud import aws
from atrium.cloud import events as cloud_events
from atrium.cloud import findings as findings_store
from atrium.cloud.credentials import credentials_of
from atrium.cloud.errors import (
    AccountNotFound,
    ActionNotApplicable,
    InvalidApprovalState,
    NotApprover,
    PolicyNotFound,
    RemediationNotFound,
)
from atrium.cloud.tables import CloudAccount, CloudResource, GovernancePolicy, Remediation

ACTIONS = {
    "stop-instance": "instance",
    "delete-volume": "volume",
    "release-address": "address",
    "delete-snapshot": "snapshot",
}
DEFAULT_APPROVER = "admin"
TRAIL = {
    "requested": ("Remediation requested", "{actor} requested {what}"),
    "approval_requested": (
        "Approval requested",
        "{what} waits for the approval of the role '{role}'",
    ),
    "approved": ("Remediation approved", "{actor} approved {what}"),
    "rejected": ("Remediation rejected", "{actor} rejected {what}"),
    "executed": ("Remediation executed", "{what} was carried out in AWS"),
    "failed": ("Remediation failed", "{what} failed in AWS: {error}"),
}


async def _trail(
    session: AsyncSession, principal: Principal, remediation: Remediation, step: str
) -> None:
    """One governance step in the activity feed (the actor's) and on the owner's stream."""
    title, text = TRAIL[step]
    what = (
        f"remediation #{remediation.id} ({remediation.action} {remediation.resource_id} "
        f"in {remediation.region})"
    )
    description = text.format(
        actor=activity_service.actor_name(principal),
        what=what,
        role=remediation.approver_role,
        error=remediation.error,
    )
    if remediation.comment and step in ("approved", "rejected"):
        description += f": {remediation.comment}"
    await activity_service.record(
        session,
        type="system",
        action=f"cloud.remediation.{step}",
        title=title,
        description=description[:1].upper() + description[1:],
        actor=principal,
        subject_type="cloud_remediation",
        subject_id=remediation.id,
    )
    owner = await session.scalar(
        select(CloudAccount.user_id).where(CloudAccount.id == remediation.account_id)
    )
    await cloud_events.emit(
        session,
        user_id=owner,
        account_id=remediation.account_id,
        type="approval.requested" if step == "approval_requested" else f"remediation.{step}",
        remediation_id=str(remediation.id),
        action=remediation.action,
        resource_id=remediation.resource_id,
        status=remediation.status,
    )


def _policies_visible(principal: Principal, action: str) -> Any:
    query = select(GovernancePolicy)
    if not principal.reaches("cloud", action):
        query = query.where(GovernancePolicy.user_id == principal.user_id)
    return query


async def _own_account(session: AsyncSession, principal: Principal, account_id: int) -> None:
    owner = await session.scalar(select(CloudAccount.user_id).where(CloudAccount.id == account_id))
    if owner is None or (owner != principal.user_id and not principal.reaches("cloud", "write")):
        raise AccountNotFound()


async def create_policy(
    session: AsyncSession, principal: Principal, data: dict[str, Any]
) -> GovernancePolicy:
    if data.get("account_id") is not None:
        await _own_account(session, principal, data["account_id"])
    policy = GovernancePolicy(user_id=principal.user_id, **data)
    session.add(policy)
    await session.flush()
    return policy


async def get_policy(
    session: AsyncSession, principal: Principal, policy_id: int, action: str = "read"
) -> GovernancePolicy:
    policy = await session.scalar(
        _policies_visible(principal, action).where(GovernancePolicy.id == policy_id)
    )
    if policy is None:
        raise PolicyNotFound()
    return policy


async def list_policies(session: AsyncSession, principal: Principal) -> list[GovernancePolicy]:
    query = _policies_visible(principal, "read").order_by(GovernancePolicy.id).limit(1000)
    return list(await session.scalars(query))


async def update_policy(
    session: AsyncSession, principal: Principal, policy_id: int, changes: dict[str, Any]
) -> GovernancePolicy:
    policy = await get_policy(session, principal, policy_id, "write")
    if changes.get("account_id") is not None:
        await _own_account(session, principal, changes["account_id"])
    for name, value in changes.items():
        setattr(policy, name, value)
    await session.flush()
    return policy


async def delete_policy(session: AsyncSession, principal: Principal, policy_id: int) -> None:
    await session.delete(await get_policy(session, principal, policy_id, "delete"))
    await session.flush()


def _matches(policy: GovernancePolicy, account_id: int, tags: dict[str, str]) -> bool:
    if not policy.enabled or (policy.account_id not in (None, account_id)):
        return False
    if policy.tag_key is None:
        return True
    return policy.tag_key in tags and policy.tag_value in (None, tags[policy.tag_key])


async def _owner_policies(
    session: AsyncSession, account: CloudAccount, action: str
) -> list[GovernancePolicy]:
    rows = await session.scalars(
        select(GovernancePolicy).where(
            GovernancePolicy.user_id == account.user_id,
            GovernancePolicy.action == action,
            or_(GovernancePolicy.account_id.is_(None), GovernancePolicy.account_id == account.id),
        )
    )
    # the account's own policies before the owner's general ones
    return sorted(rows, key=lambda p: (p.account_id is None, p.id))


async def authorized_instances(
    session: AsyncSession, account: CloudAccount, instances: list[tuple[str, dict]]
) -> int:
    """How many instances a policy of the owner allows Atrium to act on (stop-instance)."""
    policies = await _owner_policies(session, account, "stop-instance")
    return sum(
        1
        for _, attributes in instances
        if any(_matches(p, account.id, attributes.get("tags") or {}) for p in policies)
    )


async def _execute(
    session: AsyncSession,
    principal: Principal,
    remediation: Remediation,
    account: CloudAccount,
    fernet: Any,
) -> None:
    def work() -> None:
        credentials = credentials_of(account, fernet)
        aws.remediate(credentials, remediation.action, remediation.region, remediation.resource_id)

    try:
        await asyncio.to_thread(work)
    except aws.AwsCallFailed as exc:
        remediation.status, remediation.error = "failed", str(exc)
        await _trail(session, principal, remediation, "failed")
        return
    remediation.status = "completed"
    remediation.executed_at = datetime.now(UTC)
    if remediation.finding_id is not None:
        await findings_store.mark_remediated(session, remediation.finding_id)
    await _trail(session, principal, remediation, "executed")


async def request(
    session: AsyncSession, principal: Principal, finding_id: int, action: str, fernet: Any
) -> Remediation:
    finding = await findings_store.get_visible(session, principal, finding_id, "execute")
    if ACTIONS.get(action) != finding.resource_type:
        raise ActionNotApplicable(
            f"'{action}' does not apply to a {finding.resource_type}; use one of: "
            + ", ".join(a for a, kind in ACTIONS.items() if kind == finding.resource_type)
        )
    account = await session.get(CloudAccount, finding.account_id)
    tags = (
        await session.scalar(
            select(CloudResource.attributes).where(
                CloudResource.account_id == account.id,
                CloudResource.resource_id == finding.resource_id,
            )
        )
        or {}
    ).get("tags") or {}
    policy = next(
        (
            p
            for p in await _owner_policies(session, account, action)
            if _matches(p, account.id, tags)
        ),
        None,
    )
    remediation = Remediation(
        account_id=account.id,
        requested_by=principal.user_id,
        finding_id=finding.id,
        policy_id=policy.id if policy else None,
        action=action,
        resource_id=finding.resource_id,
        region=finding.region,
        status="pending_approval",
        approver_role=None
        if policy and not policy.requires_approval
        else ((policy.approver_role if policy else None) or DEFAULT_APPROVER),
    )
    session.add(remediation)
    await session.flush()
    await _trail(session, principal, remediation, "requested")
    if policy is not None and not policy.requires_approval:
        remediation.status = "approved"
        await _execute(session, principal, remediation, account, fernet)
    else:
        await _trail(session, principal, remediation, "approval_requested")
    await session.flush()
    return remediation


def _visible(principal: Principal, action: str) -> Any:
    query = select(Remediation).join(CloudAccount, CloudAccount.id == Remediation.account_id)
    if not principal.reaches("cloud", action):
        query = query.where(CloudAccount.user_id == principal.user_id)
    return query


async def get_remediation(
    session: AsyncSession, principal: Principal, remediation_id: int
) -> Remediation:
    remediation = await session.scalar(
        _visible(principal, "read").where(Remediation.id == remediation_id)
    )
    if remediation is None:
        raise RemediationNotFound()
    return remediation


async def list_remediations(
    session: AsyncSession, principal: Principal, *, status: str | None = None, limit: int = 100
) -> list[Remediation]:
    query = _visible(principal, "read")
    if status:
        query = query.where(Remediation.status == status)
    return list(await session.scalars(query.order_by(Remediation.id.desc()).limit(limit)))


async def decide(
    session: AsyncSession,
    principal: Principal,
    remediation_id: int,
    *,
    approve: bool,
    comment: str | None,
    fernet: Any,
) -> Remediation:
    remediation = await get_remediation(session, principal, remediation_id)
    if remediation.status != "pending_approval":
        raise InvalidApprovalState(
            f"The request is {remediation.status}; only a pending request can be decided",
            allowed=[],
        )
    if remediation.requested_by == principal.user_id:
        raise NotApprover("The requester cannot approve or reject their own request")
    role = remediation.approver_role or DEFAULT_APPROVER
    if not (principal.is_admin or principal.role == role):
        raise NotApprover(f"Only the role '{role}' may decide this request")
    remediation.decided_by = principal.user_id
    remediation.decided_at = datetime.now(UTC)
    remediation.comment = comment
    if not approve:
        remediation.status = "rejected"
        await _trail(session, principal, remediation, "rejected")
        await session.flush()
        return remediation
    remediation.status = "approved"
    await _trail(session, principal, remediation, "approved")
    account = await session.get(CloudAccount, remediation.account_id)
    await _execute(session, principal, remediation, account, fernet)
    await session.flush()
    return remediation
