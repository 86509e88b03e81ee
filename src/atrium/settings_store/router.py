"""`GET/PUT /api/v1/admin/settings`: instance settings for administrators, applied live."""

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from atrium.db import SessionDep
from atrium.security.throttle import ClientAddress
from atrium.settings_store import service as settings_service
from atrium.settings_store.auth import SettingsRead, SettingsWrite
from atrium.settings_store.live import LiveSettings
from atrium.settings_store.schemas import AdminSettingsRead, AdminSettingsUpdate

router = APIRouter(prefix="/api/v1/admin/settings", tags=["admin"])


@router.get("", response_model=AdminSettingsRead)
async def read_settings(
    request: Request, principal: SettingsRead, session: SessionDep
) -> AdminSettingsRead:
    live = request.app.state.live_settings
    return await settings_service.get_all(session, request.app.state.settings, live.env)


@router.put(
    "",
    response_model=AdminSettingsRead,
    description="Any subset of the settings. Invalid values are refused with 422 naming the "
    "field, and nothing is stored. Every process applies the change at once (with Redis) or "
    "within a few seconds.",
)
async def update_settings(
    request: Request, body: AdminSettingsUpdate, principal: SettingsWrite, session: SessionDep
) -> AdminSettingsRead:
    return await settings_service.update_live(request.app.state, session, principal, body)


def _listeners(app: FastAPI, live: LiveSettings) -> None:
    state = app.state

    def changed(old: dict[str, Any], new: dict[str, Any], key: str) -> bool:
        return old.get(key) != new.get(key)

    def apply(old: dict[str, Any], new: dict[str, Any]) -> None:
        if changed(old, new, "trusted_proxies"):
            state.client_address = ClientAddress(new["trusted_proxies"] or [])
        if changed(old, new, "max_upload_bytes") and hasattr(state, "large_bodies"):
            for path in state.large_bodies:
                state.large_bodies[path] = new["max_upload_bytes"]
        if changed(old, new, "default_model") and hasattr(state, "gateway"):
            state.gateway.forget_default_model()
        if changed(old, new, "debug_logging"):
            level = "DEBUG" if new["debug_logging"] else state.settings.log_level
            logging.getLogger("atrium").setLevel(level)

    live.on_change(apply)


def setup(app: FastAPI) -> None:
    live = app.state.live_settings = LiveSettings(app.state)
    _listeners(app, live)

    async def start(_app: FastAPI) -> None:
        await live.load()
        live.start()

    async def stop(_app: FastAPI) -> None:
        await live.stop()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
