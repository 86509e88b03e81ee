"""`GET/PUT /api/v1/admin/settings`: instance settings for administrators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.settings_store import service as settings_service
from atrium.settings_store.schemas import AdminSettingsRead, AdminSettingsUpdate

router = APIRouter(prefix="/api/v1/admin/settings", tags=["admin"])

SystemRead = Annotated[Principal, Depends(require("system", "read"))]
SystemWrite = Annotated[Principal, Depends(require("system", "write"))]


@router.get("", response_model=AdminSettingsRead)
async def read_settings(
    request: Request, principal: SystemRead, session: SessionDep
) -> AdminSettingsRead:
    return await settings_service.get_all(session, request.app.state.settings)


@router.put("", response_model=AdminSettingsRead)
async def update_settings(
    request: Request, body: AdminSettingsUpdate, principal: SystemWrite, session: SessionDep
) -> AdminSettingsRead:
    return await settings_service.update(session, request.app.state.settings, body)
