"""Providers (seed 002, DECISIONS 18-19) and the price table: the logic behind the routes."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.activity import service as activity_service
from atrium.auth.principal import Principal
from atrium.errors import Forbidden
from atrium.llm.catalog import PriceBook, ProviderCache, entry_of
from atrium.llm.errors import (
    GlobalProviderReadOnly,
    InvalidApiBase,
    ProviderNameTaken,
    ProviderNotFound,
)
from atrium.llm.prices import SEED_PRICES
from atrium.llm.schemas import PriceItem, ProviderCreate, ProviderSettings, ProviderUpdate
from atrium.llm.tables import LlmProvider, ModelPrice
from atrium.security.ssrf import BlockedAddress, resolve_checked, validate_base_url


def mask_key(hint: str | None) -> str | None:
    return f"****{hint}" if hint else None


def _key_hint(api_key: str) -> str:
    return api_key[-4:] if len(api_key) >= 12 else ""


def may_change_globals(principal: Principal) -> bool:
    return principal.is_admin


async def checked_api_base(principal: Principal, api_base: str | None) -> str | None:
    """Syntax for everyone; non-admins' addresses must resolve to public ones (DECISIONS 19)."""
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
        # a key must never follow its provider to another address (DECISIONS 18)
        _set_key(provider, fernet, None)
    if values.get("models") is not None:
        provider.models = _clean_models(values["models"])
    if values.get("enabled") is not None:
        provider.enabled = values["enabled"]
    if changes.settings is not None:
        provider.settings = changes.settings.model_dump()
    if "description" in values:
        provider.description = values["description"]
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
    session: AsyncSession, principal: Principal, provider_id: int, *, gateway: Any
) -> dict[str, Any]:
    """A real request to the provider; a dead provider is an answer, not an error."""
    provider = await get_provider(session, principal, provider_id)
    entry = entry_of(provider, gateway.providers.fernet)
    result = await gateway.probe(principal, entry)
    provider.last_test_status = "success" if result["ok"] else "failed"
    provider.last_test_time = datetime.now(UTC)
    provider.last_test_error = result["error"]
    result["success"] = result["ok"]
    return result


def provider_read(provider: LlmProvider) -> dict[str, Any]:
    settings = ProviderSettings.model_validate(provider.settings or {}).model_dump()
    return {
        "id": str(provider.id),
        "name": provider.name,
        "type": provider.type,
        "api_base": provider.api_base,
        "base_url": provider.api_base,
        "models": list(provider.models or []),
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
    }


# --- prices ---------------------------------------------------------------------------


async def seed_prices(session: AsyncSession) -> int:
    """Fill an empty price table with the public list prices; edits are kept afterwards."""
    if await session.scalar(select(ModelPrice.id).limit(1)) is not None:
        return 0
    session.add_all(
        ModelPrice(provider_type=t, model=m, input_usd_per_mtok=i, output_usd_per_mtok=o)
        for t, m, i, o in SEED_PRICES
    )
    await session.flush()
    return len(SEED_PRICES)


async def list_prices(session: AsyncSession) -> list[ModelPrice]:
    return list(
        await session.scalars(
            select(ModelPrice).order_by(ModelPrice.provider_type, ModelPrice.model).limit(5000)
        )
    )


async def put_prices(
    session: AsyncSession, items: list[PriceItem], *, prices: PriceBook, cache: ProviderCache
) -> list[ModelPrice]:
    """Create or change the given prices (keyed by provider type and model)."""
    for item in items:
        row = await session.scalar(
            select(ModelPrice).where(
                ModelPrice.provider_type == item.provider_type.strip().lower(),
                ModelPrice.model == item.model.strip(),
            )
        )
        if row is None:
            row = ModelPrice(
                provider_type=item.provider_type.strip().lower(), model=item.model.strip()
            )
            session.add(row)
        row.input_usd_per_mtok = item.input_usd_per_mtok
        row.output_usd_per_mtok = item.output_usd_per_mtok
        row.updated_at = datetime.now(UTC)
    await session.flush()
    cache.invalidate_after_commit(session)
    return await list_prices(session)


def price_read(row: ModelPrice) -> dict[str, Any]:
    return {
        "provider_type": row.provider_type,
        "model": row.model,
        "input_usd_per_mtok": row.input_usd_per_mtok,
        "output_usd_per_mtok": row.output_usd_per_mtok,
        "updated_at": row.updated_at,
    }
