"""The cloud domain's own paths under `/api/v1/cloud`, with `/api/v1/waste…` and
`/api/v1/governance…` served as aliases of its waste and governance paths."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response

from atrium.cloud import advice as cloud_advice
from atrium.cloud import costs as cloud_costs
from atrium.cloud import findings as cloud_findings
from atrium.cloud import governance, pipeline_router, sockets, tasks
from atrium.cloud import service as cloud_service
from atrium.cloud import views as cloud_views
from atrium.cloud.auth import CloudDelete, CloudExecute, CloudRead, CloudWrite
from atrium.cloud.schemas import (
    DecisionRequest,
    DismissRequest,
    FindingRead,
    Open,
    PolicyCreate,
    PolicyDeleted,
    PolicyRead,
    PolicyUpdate,
    RemediationCreate,
    RemediationRead,
)
from atrium.cloud.tables import GovernancePolicy, Remediation, WasteFinding
from atrium.db import SessionDep
from atrium.params import MAX_ID

Id = Annotated[int, Query(ge=1, le=MAX_ID)]
NOT_FOUND = {404: {"description": "Not found, or not the caller's"}}


async def _account_ids(session: SessionDep, principal: Any, account_id: int | None) -> list[int]:
    account = await cloud_views.resolve_account(session, principal, account_id)
    if account is not None:
        return [account.id]
    return [a.id for a in await cloud_service.list_own(session, principal)]


def waste_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["cloud"])

    @router.get("", response_model=list[FindingRead])
    async def list_waste_findings(
        response: Response,
        principal: CloudRead,
        session: SessionDep,
        account_id: Id | None = None,
        rule: str | None = None,
        region: str | None = None,
        status: Literal["open", "dismissed", "remediated", "all"] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    ) -> list[WasteFinding]:
        await cloud_views.resolve_account(session, principal, account_id)
        rows, next_after = await cloud_findings.list_visible(
            session,
            principal,
            account_id=account_id,
            rule=rule,
            region=region,
            status=status,
            limit=limit,
            after_id=cursor,
        )
        if next_after is not None:
            response.headers["X-Next-Cursor"] = str(next_after)
        return rows

    @router.get("/summary", response_model=Open)
    async def summarise_waste(
        principal: CloudRead, session: SessionDep, account_id: Id | None = None
    ) -> dict:
        await cloud_views.resolve_account(session, principal, account_id)
        return await cloud_findings.summary(session, principal, account_id)

    @router.post("/{finding_id}/dismiss", response_model=FindingRead, responses=NOT_FOUND)
    async def dismiss_finding(
        finding_id: int, body: DismissRequest, principal: CloudWrite, session: SessionDep
    ) -> WasteFinding:
        return await cloud_findings.dismiss(session, principal, finding_id, body.reason)

    return router


def governance_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["cloud"])

    @router.get("/policies", response_model=list[PolicyRead])
    async def list_policies(principal: CloudRead, session: SessionDep) -> list[GovernancePolicy]:
        return await governance.list_policies(session, principal)

    @router.post("/policies", response_model=PolicyRead, status_code=201, responses=NOT_FOUND)
    async def create_policy(
        body: PolicyCreate, principal: CloudWrite, session: SessionDep
    ) -> GovernancePolicy:
        return await governance.create_policy(session, principal, body.model_dump())

    @router.get("/policies/{policy_id}", response_model=PolicyRead, responses=NOT_FOUND)
    async def read_policy(
        policy_id: int, principal: CloudRead, session: SessionDep
    ) -> GovernancePolicy:
        return await governance.get_policy(session, principal, policy_id)

    @router.patch("/policies/{policy_id}", response_model=PolicyRead, responses=NOT_FOUND)
    async def update_policy(
        policy_id: int, body: PolicyUpdate, principal: CloudWrite, session: SessionDep
    ) -> GovernancePolicy:
        changes = body.model_dump(exclude_unset=True)
        return await governance.update_policy(session, principal, policy_id, changes)

    @router.delete("/policies/{policy_id}", response_model=PolicyDeleted, responses=NOT_FOUND)
    async def delete_policy(
        policy_id: int, principal: CloudDelete, session: SessionDep
    ) -> PolicyDeleted:
        await governance.delete_policy(session, principal, policy_id)
        return PolicyDeleted(id=str(policy_id))

    return router


router = APIRouter(prefix="/api/v1/cloud", tags=["cloud"])


@router.get("/accounts", response_model=list[Open])
async def list_cloud_accounts(principal: CloudRead, session: SessionDep) -> list[dict]:
    accounts = await cloud_service.list_own(session, principal)
    return [{**cloud_views.account_info(a), "id": str(a.id)} for a in accounts]


@router.get("/storage", response_model=Open)
async def read_storage(
    principal: CloudRead, session: SessionDep, account_id: Id | None = None
) -> dict:
    account = await cloud_views.resolve_account(session, principal, account_id)
    if account is None:
        ids = [a.id for a in await cloud_service.list_own(session, principal)]
        answer = await cloud_views.storage(session, principal, None) if ids else None
        if answer is None:
            return {"buckets": [], "volumes": [], "snapshots": [], "total_monthly_cost": 0.0}
        return answer
    return await cloud_views.storage(session, principal, account)


@router.get("/costs", response_model=Open)
async def read_costs(
    principal: CloudRead,
    session: SessionDep,
    account_id: Id | None = None,
    granularity: Literal["daily", "monthly"] = "daily",
    group_by: Literal["service", "region"] = "service",
    start: date | None = None,
    end: date | None = None,
) -> dict:
    ids = await _account_ids(session, principal, account_id)
    return await cloud_costs.series(
        session, ids, granularity=granularity, group_by=group_by, start=start, end=end
    )


@router.get("/costs/forecast", response_model=Open)
async def forecast_costs(
    principal: CloudRead, session: SessionDep, account_id: Id | None = None
) -> dict:
    ids = await _account_ids(session, principal, account_id)
    return await cloud_costs.forecast(session, ids, datetime.now(UTC).date())


@router.post("/remediations", response_model=RemediationRead, status_code=201, responses=NOT_FOUND)
async def request_remediation(
    body: RemediationCreate, request: Request, principal: CloudExecute, session: SessionDep
) -> Remediation:
    return await governance.request(
        session, principal, body.finding_id, body.action, request.app.state.secrets.fernet
    )


@router.get("/remediations", response_model=list[RemediationRead])
async def list_remediations(
    principal: CloudRead, session: SessionDep, status: str | None = None
) -> list[Remediation]:
    return await governance.list_remediations(session, principal, status=status)


@router.get("/approvals", response_model=list[RemediationRead])
async def list_approvals(
    principal: CloudRead,
    session: SessionDep,
    status: Literal["pending_approval", "approved", "rejected", "completed", "failed"]
    | None = "pending_approval",
) -> list[Remediation]:
    return await governance.list_remediations(session, principal, status=status)


@router.post(
    "/approvals/{remediation_id}/approve", response_model=RemediationRead, responses=NOT_FOUND
)
async def approve_remediation(
    remediation_id: int,
    request: Request,
    principal: CloudExecute,
    session: SessionDep,
    body: DecisionRequest | None = None,
) -> Remediation:
    return await governance.decide(
        session,
        principal,
        remediation_id,
        approve=True,
        comment=body.comment if body else None,
        fernet=request.app.state.secrets.fernet,
    )


@router.post(
    "/approvals/{remediation_id}/reject", response_model=RemediationRead, responses=NOT_FOUND
)
async def reject_remediation(
    remediation_id: int,
    request: Request,
    principal: CloudExecute,
    session: SessionDep,
    body: DecisionRequest | None = None,
) -> Remediation:
    return await governance.decide(
        session,
        principal,
        remediation_id,
        approve=False,
        comment=body.comment if body else None,
        fernet=request.app.state.secrets.fernet,
    )


@router.post(
    "/accounts/{account_id}/advice",
    response_model=Open,
    responses={**NOT_FOUND, 503: {"description": "No LLM provider configured"}},
)
async def advise_account(
    account_id: int, request: Request, principal: CloudExecute, session: SessionDep
) -> dict:
    account = await cloud_service.get_owned(session, principal, account_id, "execute")
    answer = await cloud_advice.advise(session, principal, account, request.app.state.gateway)
    return {**answer, "account_id": str(answer["account_id"])}


@router.get("/admin/overview", response_model=Open)
async def admin_overview(principal: CloudRead, session: SessionDep) -> dict:
    return await cloud_views.admin_overview(session, principal)


routers = [
    router,
    pipeline_router.router,
    sockets.router,
    waste_router("/api/v1/cloud/waste"),
    waste_router("/api/v1/waste"),
    governance_router("/api/v1/cloud/governance"),
    governance_router("/api/v1/governance"),
]


def setup(app: FastAPI) -> None:
    tasks.setup(app)
