"""Seed 003's client paths, at `/client` and the original frontend's `/api/v1/client`."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from atrium.cloud import service as cloud_service
from atrium.cloud import views as cloud_views
from atrium.cloud.auth import CloudDelete, CloudRead
from atrium.db import SessionDep
from atrium.surfaces.cloud003.shapes import Open, account_row, shaped

NOT_FOUND = {404: {"description": "Account not found or does not belong to you"}}


class AccountRead(Open):
    id: str
    account_id: str | None
    account_name: str | None
    status: str
    connection_method: str | None
    region: str
    created_at: str
    updated_at: str


class AccountDeleted(BaseModel):
    success: bool
    message: str
    account_id: str


class DashboardRead(Open):
    status: str
    message: str
    has_account: bool
    setup_required: bool
    account_info: dict[str, Any] | None
    stats: dict[str, Any]
    instances: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    next_steps: list[str]


class SummaryRead(Open):
    has_account: bool
    instance_count: int
    status: str


def build(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["cloud platform"])

    @router.get("/accounts", response_model=list[AccountRead])
    async def get_connected_accounts(principal: CloudRead, session: SessionDep) -> list[dict]:
        accounts = await cloud_service.list_own(session, principal)
        return [account_row(cloud_views.account_info(account)) for account in accounts]

    @router.delete("/accounts/{account_id}", response_model=AccountDeleted, responses=NOT_FOUND)
    async def disconnect_account(
        account_id: int, principal: CloudDelete, session: SessionDep
    ) -> dict:
        shown = await cloud_service.delete_account(session, principal, account_id)
        return {
            "success": True,
            "message": f"Account {shown} disconnected and its data removed",
            "account_id": shown,
        }

    @router.get("/dashboard", response_model=DashboardRead)
    async def get_client_dashboard(principal: CloudRead, session: SessionDep) -> dict:
        answer = await cloud_views.dashboard(session, principal)
        answer["accounts"] = [account_row(info) for info in answer["accounts"]]
        if answer["account_info"] is not None:
            answer["account_info"] = account_row(answer["account_info"])
        return shaped(answer)

    @router.get("/summary", response_model=SummaryRead)
    async def get_client_summary(principal: CloudRead, session: SessionDep) -> dict:
        return await cloud_views.summary(session, principal)

    return router


routers = [build("/client"), build("/api/v1/client")]
