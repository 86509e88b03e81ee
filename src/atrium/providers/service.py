"""Providers (seed 002): the logic behind the routes, model discovery, and
the read model other domains use (`ProviderEntry`, `ProviderCache`, the entries' models)."""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.errors import BadRequest, Forbidden
from atrium.providers.adapters.base import ProviderTarget, UpstreamError
from atrium.providers.adapters.models import describe_models
from atrium.providers.catalog import (
    ProviderCache,
    ProviderEntry,
    decrypt_key,
    entry_of,
    model_metadata,
    model_status,
    served_models,
    target_of,
)
from atrium.providers.errors import (
    GlobalProviderReadOnly,
    InvalidApiBase,
    ProviderNameTaken,
    ProviderNotFound,
)
from atrium.providers.schemas import (
    ModelMetadataUpdate,
    ProviderCreate,
    ProviderSettings,
    ProviderUpdate,
)
from atrium.providers.tables import LlmProvider
from atrium.security.ssrf import BlockedAddress, resolve_checked, validate_base_url

__all__ = ["Probe", "ProviderCache", "ProviderEntry", "model_status"]

DISCOVERY_TIMEOUT = 10.0  # seconds; a dead provider must not hold a request for long
METADATA_FIELDS = ("context_window", "supports_vision", "parameters", "quantization", "size_bytes")


# (principal, entry) -> {ok, latency_ms, models, error, model_tested, described}
Probe = Callable[[Principal, ProviderEntry], Awaitable[dict[str, Any]]]


def redis_namespace(database_url: str) -> str:
    """Installs sharing a Redis server keep apart: their keys are named by database."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:12]


def mask_key(hint: str | None) -> str | None:
    return f"****{hint}" if hint else None


def _key_hint(api_key: str) -> str:
    return api_key[-4:] if len(api_key) >= 12 else ""


def may_change_globals(principal: Principal) -> bool:
    return principal.is_admin


async def checked_api_base(principal: Principal, api_base: str | None) -> str | None:
    """Syntax for everyone; non-admins' addresses must resolve to public ones."""
    if api_base is None or not api_base.strip():
        return None
    try:
        cleaned = validate_base_url(api_base)
    except ValueError as exc:
        raise InvalidApiBase(str(exc), param="api_base") from None
    if not principal.is_admin:
        try:
            await resolve_checked(cleaned, allow_private=False)
        except BlockedAddress as exc:
            raise InvalidApiBase(str(exc), param="api_base") from None
    return cleaned


def _visible(principal: Principal, action: str):
    """Providers the caller may see: global ones, their own, everyone's if their role reaches."""
    if principal.reaches("llm", action):
        return None
    return or_(LlmProvider.owner_id.is_(None), LlmProvider.owner_id == principal.user_id)


async def list_providers(
    session: AsyncSession, principal: Principal, user_id: int | None = None
) -> list[LlmProvider]:
    owner = principal.user_id
    if user_id is not None and user_id != principal.user_id:
        if not principal.reaches("llm", "read"):
            raise Forbidden("Listing another user's providers needs a role that reaches them")
        owner = user_id
    statement = (
        select(LlmProvider)
        .where(or_(LlmProvider.owner_id.is_(None), LlmProvider.owner_id == owner))
        .order_by(LlmProvider.owner_id.is_(None), LlmProvider.id)
        .limit(1000)
    )
    return list(await session.scalars(statement))


async def get_provider(
    session: AsyncSession, principal: Principal, provider_id: int, action: str = "read"
) -> LlmProvider:
    statement = select(LlmProvider).where(LlmProvider.id == provider_id)
    condition = _visible(principal, action)
    if condition is not None:
        statement = statement.where(condition)
    provider = await session.scalar(statement)
    if provider is None:
        raise ProviderNotFound()
    return provider


async def _changeable(session: AsyncSession, principal: Principal, provider_id: int, action: str):
    provider = await get_provider(session, principal, provider_id, action)
    if provider.owner_id is None and not may_change_globals(principal):
        raise GlobalProviderReadOnly()
    if provider.owner_id not in (None, principal.user_id) and not principal.reaches("llm", action):
        raise ProviderNotFound()
    return provider


async def _check_name_free(
    session: AsyncSession, owner_id: int | None, name: str, except_id: int | None = None
) -> None:
    owner = LlmProvider.owner_id.is_(None) if owner_id is None else LlmProvider.owner_id == owner_id
    statement = select(LlmProvider.id).where(owner, func.lower(LlmProvider.name) == name.lower())
    if except_id is not None:
        statement = statement.where(LlmProvider.id != except_id)
    if await session.scalar(statement.limit(1)) is not None:
        raise ProviderNameTaken(f"A provider named '{name}' already exists", param="name")


def _set_key(provider: LlmProvider, fernet: Any, api_key: str | None) -> None:
    if api_key:
        provider.api_key_encrypted = fernet.encrypt(api_key.encode())
        provider.api_key_hint = _key_hint(api_key)
    else:
        provider.api_key_encrypted = None
        provider.api_key_hint = None


def _clean_models(models: list[str]) -> list[str]:
    return list(dict.fromkeys(model.strip() for model in models if model and model.strip()))


async def create_provider(
    session: AsyncSession,
    principal: Principal,
    data: ProviderCreate,
    *,
    fernet: Any,
    cache: ProviderCache,
    client: Any,
) -> LlmProvider:
    owner_id = None if principal.is_admin else principal.user_id
    await _check_name_free(session, owner_id, data.name)
    provider = LlmProvider(
        owner_id=owner_id,
        name=data.name,
        type=data.type,
        api_base=await checked_api_base(principal, data.api_base),
        models=_clean_models(data.models),
        enabled=data.enabled,
        settings=data.settings.model_dump(),
        description=data.description,
    )
    _set_key(provider, fernet, data.api_key)
    await discover_into(provider, client, data.api_key or None)
    session.add(provider)
    await session.flush()
    cache.invalidate_after_commit(session)
    scope = "global provider" if owner_id is None else "provider"
    await activity_service.record(
        session,
        actor=principal,
        type="inference",
        action="provider.created",
        title="Provider added",
        description=f"{activity_service.actor_name(principal)} added {scope} '{provider.name}' "
        f"({provider.type})",
        subject_type="llm_provider",
        subject_id=provider.id,
    )
    return provider


async def update_provider(
    session: AsyncSession,
    principal: Principal,
    provider_id: int,
    changes: ProviderUpdate,
    *,
    fernet: Any,
    cache: ProviderCache,
    client: Any,
) -> LlmProvider:
    provider = await _changeable(session, principal, provider_id, "write")
    values = changes.model_dump(exclude_unset=True)
    if values.get("name") is not None:
        name = values["name"].strip()
        await _check_name_free(session, provider.owner_id, name, except_id=provider.id)
        provider.name = name
    moved = False
    if "api_base" in values:
        api_base = await checked_api_base(principal, values["api_base"])
        moved = api_base != provider.api_base
        provider.api_base = api_base
    if values.get("type") is not None:
        moved = moved or values["type"] != provider.type
        provider.type = values["type"]
    if values.get("api_key"):
        _set_key(provider, fernet, values["api_key"])
    elif moved:
        # a key must never follow its provider to another address
        _set_key(provider, fernet, None)
    if values.get("models") is not None:
        provider.models = _clean_models(values["models"])
    if values.get("enabled") is not None:
        provider.enabled = values["enabled"]
    if changes.settings is not None:
        provider.settings = changes.settings.model_dump()
    if "description" in values:
        provider.description = values["description"]
    await discover_into(provider, client, decrypt_key(fernet, provider))
    provider.updated_at = datetime.now(UTC)
    await session.flush()
    cache.invalidate_after_commit(session)
    return provider


async def delete_provider(
    session: AsyncSession, principal: Principal, provider_id: int, *, cache: ProviderCache
) -> int:
    provider = await _changeable(session, principal, provider_id, "delete")
    await session.delete(provider)
    await session.flush()
    cache.invalidate_after_commit(session)
    return provider_id


async def toggle_provider(
    session: AsyncSession, principal: Principal, provider_id: int, *, cache: ProviderCache
) -> LlmProvider:
    provider = await _changeable(session, principal, provider_id, "write")
    provider.enabled = not provider.enabled
    provider.updated_at = datetime.now(UTC)
    await session.flush()
    cache.invalidate_after_commit(session)
    return provider


async def test_provider(
    session: AsyncSession,
    principal: Principal,
    provider_id: int,
    *,
    cache: ProviderCache,
    probe: Probe,
) -> dict[str, Any]:
    """A real request to the provider; a dead provider is an answer, not an error."""
    provider = await get_provider(session, principal, provider_id)
    entry = entry_of(provider, cache.fernet)
    result = await probe(principal, entry)
    provider.last_test_status = "success" if result["ok"] else "failed"
    provider.last_test_time = datetime.now(UTC)
    provider.last_test_error = result["error"]
    if result.get("described") is not None:
        apply_discovery(provider, result.pop("described"), None)
        cache.invalidate_after_commit(session)
    result.pop("described", None)
    result["success"] = result["ok"]
    return result


# --- model discovery -------------------------------------------------------------------


async def discover(client: Any, provider: LlmProvider, api_key: str | None):
    """(models the provider describes, None) or (None, why it could not be asked)."""
    return await discover_target(client, target_of(provider, api_key))


async def discover_target(client: Any, target: ProviderTarget):
    target = replace(target, timeout=min(target.timeout, DISCOVERY_TIMEOUT))
    try:
        return await describe_models(client, target), None
    except UpstreamError as exc:
        return None, exc.message


def apply_discovery(provider: LlmProvider, found: list[dict] | None, error: str | None) -> None:
    """Store what the provider listed (its models and what it said of them) and the outcome."""
    now = datetime.now(UTC)
    provider.last_test_time = now
    if found is None:
        provider.last_test_status = "failed"
        provider.last_test_error = error
        return
    provider.discovered_models = list(dict.fromkeys(item["id"] for item in found))
    provider.discovered_metadata = {
        item["id"]: {k: v for k, v in item.items() if k in METADATA_FIELDS}
        for item in found
        if any(k in METADATA_FIELDS for k in item)
    }
    provider.discovered_at = now
    provider.last_test_status = "success"
    provider.last_test_error = None


async def discover_into(provider: LlmProvider, client: Any, api_key: str | None) -> None:
    found, error = await discover(client, provider, api_key)
    apply_discovery(provider, found, error)


async def refresh_discovered_models(
    sessions: async_sessionmaker[AsyncSession],
    *,
    client: Any,
    fernet: Any,
    cache: ProviderCache,
    provider_ids: list[int] | None = None,
) -> dict[int, str | None]:
    """Ask every enabled provider (or the given ones) for its models and store the answers;
    for a periodic job. No transaction is open while a provider is asked. Returns
    {provider id: None, or why it failed}."""
    async with sessions() as session:
        statement = select(LlmProvider).where(LlmProvider.enabled.is_(True))
        if provider_ids is not None:
            statement = statement.where(LlmProvider.id.in_(provider_ids))
        providers = list(await session.scalars(statement.order_by(LlmProvider.id)))
    outcome: dict[int, str | None] = {}
    for stale in providers:
        found, error = await discover(client, stale, decrypt_key(fernet, stale))
        async with sessions() as session:
            provider = await session.get(LlmProvider, stale.id)
            if provider is None:
                continue
            apply_discovery(provider, found, error)
            await session.commit()
        outcome[stale.id] = error
    if outcome:
        await cache.bump()
    return outcome


async def set_model_metadata(
    session: AsyncSession,
    principal: Principal,
    provider_id: int,
    model: str,
    changes: ModelMetadataUpdate,
    *,
    cache: ProviderCache,
) -> tuple[LlmProvider, dict[str, Any]]:
    """Set (or with null, clear) what is known of one model; the provider's own report stays
    underneath and shows again where a value is cleared."""
    if len(model) > 200:
        raise BadRequest("A model id has at most 200 characters", param="model")
    provider = await _changeable(session, principal, provider_id, "write")
    stored = {k: dict(v) for k, v in (provider.model_metadata or {}).items()}
    values = {**stored.get(model, {}), **changes.model_dump(exclude_unset=True)}
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        stored[model] = values
    else:
        stored.pop(model, None)
    provider.model_metadata = stored
    provider.updated_at = datetime.now(UTC)
    await session.flush()
    cache.invalidate_after_commit(session)
    return provider, model_read(provider, model)


def model_read(provider: LlmProvider, model: str) -> dict[str, Any]:
    known = model_metadata(provider).get(model, {})
    return {
        "provider_id": str(provider.id),
        "model": model,
        "served": model in served_models(provider),
        **{name: known.get(name) for name in METADATA_FIELDS},
        "overrides": dict((provider.model_metadata or {}).get(model, {})),
    }


def provider_read(provider: LlmProvider) -> dict[str, Any]:
    settings = ProviderSettings.model_validate(provider.settings or {}).model_dump()
    return {
        "id": str(provider.id),
        "name": provider.name,
        "type": provider.type,
        "api_base": provider.api_base,
        "base_url": provider.api_base,
        "models": served_models(provider),
        "pinned_models": list(provider.models or []),
        "discovered_models": list(provider.discovered_models or []),
        "discovered_at": provider.discovered_at,
        "model_metadata": model_metadata(provider),
        "enabled": provider.enabled,
        "settings": settings,
        "description": provider.description,
        "api_key_configured": provider.api_key_encrypted is not None,
        "api_key_masked": mask_key(provider.api_key_hint)
        if provider.api_key_encrypted is not None
        else None,
        "is_global": provider.owner_id is None,
        "owner_id": str(provider.owner_id) if provider.owner_id is not None else None,
        "created_at": provider.created_at,
        "updated_at": provider.updated_at,
        "last_test_status": provider.last_test_status,
        "last_test_time": provider.last_test_time,
        "last_test_error": provider.last_test_error,
    }
