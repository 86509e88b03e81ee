"""Read and change the administrator settings: one flat key per value. The environment
(Settings) gives each key's initial value; a row in `app_setting` overrides it."""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.config import Settings
from atrium.db import after_commit
from atrium.settings_store.schemas import AdminSettingsRead, AdminSettingsUpdate
from atrium.settings_store.tables import AppSetting

REGISTRATION_OPEN = "registration_open"
DEFAULT_MODEL = "default_model"
WEB_SEARCH_URL = "web_search_url"
SMTP_PASSWORD = "smtp_password"
LAGO_API_URL = "lago_api_url"
LAGO_API_KEY = "lago_api_key"
# write-only keys, stored encrypted; reads show only whether one is set (`<key>_set`)
SECRET_KEYS = frozenset({SMTP_PASSWORD, LAGO_API_KEY})
VERSION = "_version"
# keys whose initial value is the Settings field of the same name (when Settings has it),
# with the value used where it does not
FROM_ENVIRONMENT: dict[str, Any] = {
    "registration_open": True,
    "cors_origins": [],
    "trusted_proxies": [],
    "public_base_url": None,
    "max_upload_bytes": 2 * 1024**3,
    "access_token_minutes": 30,
    "refresh_token_days": 7,
    "audit_log_retention_days": 365,
    "smtp_host": None,
    "smtp_port": 587,
    "smtp_username": None,
    "smtp_password": None,
    "smtp_from": None,
    "smtp_starttls": True,
    "traefik_api_url": None,
    "traefik_dynamic_file": None,
    "lago_api_url": None,
    "lago_api_key": None,
}
FIXED: dict[str, Any] = {
    "default_model": None,
    "web_search_url": None,
    "chat_default_temperature": None,
    "chat_default_max_tokens": None,
    "chat_default_system_prompt": "",
    "display_timezone": "UTC",
    "display_language": "en",
    "network_hostname": None,
    "network_dns_servers": None,
    "debug_logging": False,
}
# `null` clears these; on the others it returns the key to its initial value
NULLABLE = frozenset(
    {
        "default_model",
        "web_search_url",
        "public_base_url",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "smtp_from",
        "traefik_api_url",
        "traefik_dynamic_file",
        "lago_api_url",
        "lago_api_key",
        "chat_default_temperature",
        "chat_default_max_tokens",
        "network_hostname",
        "network_dns_servers",
    }
)
KEYS = (*FROM_ENVIRONMENT, *FIXED)


def plain(value: Any) -> Any:
    """A Settings value as stored: secrets unwrapped, lists copied."""
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    return list(value) if isinstance(value, list | tuple) else value


def environment_values(settings: Settings) -> dict[str, Any]:
    """Each key's initial value from the environment (read once, before any override)."""
    values = dict(FIXED)
    for key, fallback in FROM_ENVIRONMENT.items():
        values[key] = plain(getattr(settings, key, fallback))
    return values


async def stored(session: AsyncSession) -> dict[str, Any]:
    rows = await session.execute(
        select(AppSetting.key, AppSetting.value).where(AppSetting.key.in_(KEYS))
    )
    return dict(rows.tuples().all())


async def version(session: AsyncSession) -> int:
    return int(await session.scalar(select(AppSetting.value).where(AppSetting.key == VERSION)) or 0)


def _read(values: dict[str, Any]) -> AdminSettingsRead:
    shown = {key: value for key, value in values.items() if key not in SECRET_KEYS}
    flags = {f"{key}_set": bool(values.get(key)) for key in SECRET_KEYS}
    return AdminSettingsRead(**shown, **flags)


async def effective(
    session: AsyncSession, settings: Settings, env: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every key's value in force (secrets as stored: encrypted when set by an admin)."""
    values = env.copy() if env is not None else environment_values(settings)
    values.update(await stored(session))
    return values


async def get_all(
    session: AsyncSession, settings: Settings, env: dict[str, Any] | None = None
) -> AdminSettingsRead:
    return _read(await effective(session, settings, env))


async def get_value(session: AsyncSession, settings: Settings, key: str) -> Any:
    row = await session.get(AppSetting, key)
    return environment_values(settings).get(key) if row is None else row.value


async def secret_value(
    session: AsyncSession, settings: Settings, key: str, decrypt: Callable[[str], str]
) -> str | None:
    """A secret key's value in force, decrypted when an administrator stored it."""
    row = await session.get(AppSetting, key)
    if row is None:
        return plain(getattr(settings, key, None))
    return decrypt(row.value) if row.value else None


async def registration_open(session: AsyncSession, settings: Settings) -> bool:
    return bool(await get_value(session, settings, REGISTRATION_OPEN))


async def default_model(session: AsyncSession, settings: Settings) -> str | None:
    """The administrator's default model id, or None when none is set."""
    return await get_value(session, settings, DEFAULT_MODEL)


async def web_search_url(session: AsyncSession, settings: Settings) -> str | None:
    """The search endpoint for internet-enabled chat messages, or None when none is set."""
    return await get_value(session, settings, WEB_SEARCH_URL)


async def _put(session: AsyncSession, key: str, value: Any) -> None:
    row = await session.get(AppSetting, key)
    if row is None:
        session.add(AppSetting(key=key, value=value))
    else:
        row.value = value


async def update(
    session: AsyncSession,
    settings: Settings,
    changes: AdminSettingsUpdate,
    *,
    actor: Principal | None = None,
    env: dict[str, Any] | None = None,
    encrypt: Callable[[str], str] | None = None,
    on_commit: Callable[[], Awaitable[None]] | None = None,
) -> AdminSettingsRead:
    """Store the given keys (validated as a whole by `AdminSettingsUpdate` beforehand) and
    bump the version other processes watch; `on_commit` runs after the commit."""
    given = changes.model_dump(exclude_unset=True)
    for key, value in given.items():
        if key == DEFAULT_MODEL and isinstance(value, str):
            value = value.strip() or None
        if key in SECRET_KEYS and value:
            value = encrypt(value) if encrypt is not None else None
        if value is None and key not in NULLABLE:
            await session.execute(delete(AppSetting).where(AppSetting.key == key))
            continue
        await _put(session, key, value or None if key in SECRET_KEYS else value)
    if given:
        await _put(session, VERSION, await version(session) + 1)
        await activity_service.record(
            session,
            actor=actor,
            type="system",
            action="settings.changed",
            title="Settings changed",
            description=f"{activity_service.actor_name(actor) if actor else 'system'} changed "
            f"{', '.join(sorted(given))}",
        )
        if on_commit is not None:
            after_commit(session, on_commit)
    await session.flush()
    return await get_all(session, settings, env)


async def update_live(
    state: Any, session: AsyncSession, principal: Principal, changes: AdminSettingsUpdate
) -> AdminSettingsRead:
    """`update` with this process's live settings: applied here and announced after commit."""
    return await update(
        session,
        state.settings,
        changes,
        actor=principal,
        env=state.live_settings.env,
        encrypt=lambda secret: state.secrets.fernet.encrypt(secret.encode()).decode(),
        on_commit=state.live_settings.committed,
    )
