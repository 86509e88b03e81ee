"""Password reset: `/api/v1/auth/{forgot,reset}-password` and an admin-issued reset link."""

from fastapi import APIRouter, BackgroundTasks, Request

from atrium.auth.deps import Public
from atrium.db import SessionDep
from atrium.params import IdPath
from atrium.recovery import service as recovery_service
from atrium.recovery.schemas import (
    ForgotPasswordRequest,
    MessageRead,
    ResetLinkRead,
    ResetPasswordRequest,
)
from atrium.shapes import iso_z
from atrium.users.auth import UsersWrite

router = APIRouter(tags=["auth"])


def request_base(request: Request) -> str:
    return str(request.base_url)


def forgot(request: Request, body: ForgotPasswordRequest, background: BackgroundTasks) -> dict:
    """Answer at once, the same for every address; the lookup and the email come after."""
    state = request.app.state
    background.add_task(
        recovery_service.send_reset_email,
        state.db.sessions,
        state.settings,
        state.mailer,
        body.email,
        recovery_service.link_base(state.settings, request_base(request)),
    )
    return {"message": recovery_service.FORGOT_MESSAGE}


async def reset(request: Request, body: ResetPasswordRequest, session: SessionDep) -> dict:
    state = request.app.state
    await recovery_service.reset_password(
        session, state.settings, state.mailer, body.token, body.new_password
    )
    return {"message": "Your password has been reset; sign in with the new one"}


@router.post(
    "/api/v1/auth/forgot-password",
    response_model=MessageRead,
    status_code=202,
    dependencies=[Public],
)
async def forgot_password(
    request: Request, body: ForgotPasswordRequest, background: BackgroundTasks
) -> dict:
    """Email a one-time reset link when SMTP is configured; the answer never tells."""
    return forgot(request, body, background)


@router.post("/api/v1/auth/reset-password", response_model=MessageRead, dependencies=[Public])
async def reset_password(request: Request, body: ResetPasswordRequest, session: SessionDep) -> dict:
    """Set a new password with a reset token; every session of the account is signed out."""
    return await reset(request, body, session)


@router.post(
    "/api/auth/forgot-password",
    response_model=MessageRead,
    status_code=202,
    dependencies=[Public],
    tags=["cloud platform"],
)
async def cloud_forgot_password(
    request: Request, body: ForgotPasswordRequest, background: BackgroundTasks
) -> dict:
    return forgot(request, body, background)


@router.post(
    "/api/auth/reset-password",
    response_model=MessageRead,
    dependencies=[Public],
    tags=["cloud platform"],
)
async def cloud_reset_password(
    request: Request, body: ResetPasswordRequest, session: SessionDep
) -> dict:
    return await reset(request, body, session)


@router.post(
    "/api/v1/admin/users/{user_id}/reset-link",
    response_model=ResetLinkRead,
    status_code=201,
    tags=["admin"],
)
async def create_reset_link(
    request: Request, user_id: IdPath, principal: UsersWrite, session: SessionDep
) -> dict:
    """A one-time link an administrator hands to a user who cannot receive email."""
    settings = request.app.state.settings
    link = await recovery_service.issue_for_admin(
        session,
        settings,
        principal.role,
        user_id,
        recovery_service.link_base(settings, request_base(request)),
    )
    return {"url": link.url, "expires_at": iso_z(link.expires_at)}
