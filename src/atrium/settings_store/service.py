"""Read and change the administrator settings; a missing row falls back to Settings."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.config import Settings
from atrium.settings_store.schemas import AdminSettingsRead, AdminSettingsUpdate
from atrium.settings_store.tables import AppSetting

REGISTRATION_OPEN = "registration_open"
DEFAULT_MODEL = "default_model"
WEB_SEARCH_URL = "web_search_url"


def _defaults(settings: Settings) -> dict[str, Any]:
    return {
        REGISTRATION_OPEN: settings.registration_open,
        DEFAULT_MODEL: None,
        WEB_SEARCH_URL: None,
    }


async def get_all(session: AsyncSession, settings: Settings) -> AdminSettingsRead:
    values = _defaults(settings)
    rows = await session.execute(
        select(AppSetting.key, AppSetting.value).where(AppSetting.key.in_(tuple(values)))
    )
    values.update(dict(rows.tuples().all()))
    return AdminSettingsRead(**values)


async def get_value(session: AsyncSession, settings: Settings, key: str) -> Any:
    row = await session.get(AppSetting, key)
    return _defaults(settings).get(key) if row is None else row.value


async def registration_open(session: AsyncSession, settings: Settings) -> bool:
    return bool(await get_value(session, settings, REGISTRATION_OPEN))


async def default_model(session: AsyncSession, settings: Settings) -> str | None:
    """The administrator's default model id, or None when none is set."""
    return await get_value(session, settings, DEFAULT_MODEL)


async def web_search_url(session: AsyncSession, settings: Settings) -> str | None:
    """The search endpoint for internet-enabled chat messages, or None when none is set."""
    return await get_value(session, settings, WEB_SEARCH_URL)


async def update(
    session: AsyncSession, settings: Settings, changes: AdminSettingsUpdate
) -> AdminSettingsRead:
    for key, value in changes.model_dump(exclude_unset=True).items():
        if key == REGISTRATION_OPEN and value is None:
            continue
        if key == DEFAULT_MODEL and isinstance(value, str):
            value = value.strip() or None
        row = await session.get(AppSetting, key)
        if row is None:
            session.add(AppSetting(key=key, value=value))
        else:
            row.value = value
    await session.flush()
    return await get_all(session, settings)
