"""Model resolution: which providers a call goes to, in which order, and the
default model when a request names none.

`provider/model` only when the prefix names a provider the caller sees (case-insensitive),
else a bare id among enabled providers, own before global, falling back within one owner.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atrium.auth.principal import Principal
from atrium.gateway.errors import ModelNotFound, NoProviderConfigured, ProviderDisabled
from atrium.providers.service import ProviderEntry

if TYPE_CHECKING:
    from atrium.gateway.metering import Call
    from atrium.gateway.service import Gateway

MAX_NAMED_MODELS = 20
DEFAULT_MODEL_TTL = 5.0
Visible = tuple[tuple[ProviderEntry, ...], tuple[ProviderEntry, ...]]


@dataclass(frozen=True, slots=True)
class Route:
    """Where one call goes: providers to try in order, and the model id to send each."""

    requested: str
    candidates: tuple[tuple[ProviderEntry, str], ...]


def _named(own: Iterable[ProviderEntry], globals_: Iterable[ProviderEntry], name: str):
    lowered = name.lower()
    for group in (own, globals_):
        for entry in group:
            if entry.name.lower() == lowered:
                return entry
    return None


def available_models(own: Iterable[ProviderEntry], globals_: Iterable[ProviderEntry]) -> list[str]:
    seen: dict[str, None] = {}
    for entry in (*own, *globals_):
        if entry.enabled:
            for model in entry.models:
                seen.setdefault(model, None)
    return list(seen)


def _not_found(model: str, own, globals_) -> ModelNotFound:
    models = available_models(own, globals_)
    if models:
        shown = ", ".join(models[:MAX_NAMED_MODELS]) + (
            ", ..." if len(models) > MAX_NAMED_MODELS else ""
        )
        detail = (
            f"The model '{model}' does not exist or is not served here; available models: {shown}"
        )
    else:
        detail = f"The model '{model}' does not exist or is not served here; no model is available"
    return ModelNotFound(detail, available_models=models)


def resolve(
    own: tuple[ProviderEntry, ...], globals_: tuple[ProviderEntry, ...], model: str
) -> Route:
    """The routing rules: `provider/model` when the prefix names a visible provider, else a
    bare id among enabled providers, own before global, falling back within one owner only."""
    if not own and not globals_:
        raise NoProviderConfigured()
    prefix, slash, rest = model.partition("/")
    if slash and rest:
        named = _named(own, globals_, prefix)
        if named is not None:
            if not named.enabled:
                raise ProviderDisabled(f"The provider '{named.name}' is disabled")
            return Route(model, ((named, rest),))
    for group in (own, globals_):
        serving = [entry for entry in group if entry.serves(model)]
        enabled = [entry for entry in serving if entry.enabled]
        if enabled:
            return Route(model, tuple((entry, model) for entry in enabled))
    disabled = [entry for entry in (*own, *globals_) if entry.serves(model)]
    if disabled:
        raise ProviderDisabled(
            f"The model '{model}' is served only by disabled providers: "
            + ", ".join(entry.name for entry in disabled)
        )
    raise _not_found(model, own, globals_)


class DefaultModel:
    """The administrator's default model, read from the settings store at most every
    `DEFAULT_MODEL_TTL` seconds (and at once after `forget`)."""

    def __init__(self, gateway: "Gateway") -> None:
        self.gateway = gateway
        self.cached: tuple[float, str | None] | None = None

    async def configured(self) -> str | None:
        now = time.monotonic()
        if self.cached is not None and now - self.cached[0] < DEFAULT_MODEL_TTL:
            return self.cached[1]
        value = None
        try:
            from atrium.settings_store import service as settings_service
        except ImportError:  # the settings store is optional
            settings_service = None
        if settings_service is not None:
            async with self.gateway.sessions() as session:
                value = await settings_service.default_model(session, self.gateway.settings)
        self.cached = (now, value)
        return value

    def forget(self) -> None:
        self.cached = None

    async def of(self, principal: Principal) -> str | None:
        configured = await self.configured()
        if configured:
            return configured
        own, globals_ = await visible(self.gateway, principal)
        models = available_models(own, globals_)
        return models[0] if models else None


async def visible(gateway: "Gateway", principal: Principal) -> Visible:
    """(the caller's own providers, the global ones)."""
    return await gateway.providers.visible(principal.user_id)


async def _resolve_or_discover(gateway: "Gateway", principal: Principal, model: str) -> Route:
    own, globals_ = await visible(gateway, principal)
    try:
        return resolve(own, globals_, model)
    except ModelNotFound:
        if not await gateway.discovery.find(principal.user_id, model, (*own, *globals_)):
            raise
        own, globals_ = await visible(gateway, principal)
        return resolve(own, globals_, model)


async def route(gateway: "Gateway", principal: Principal, model: str | None, call: "Call") -> Route:
    """The route of one call (the default model when none is named), after the caller's
    limits are checked and with the prices fresh for metering."""
    if not model:
        model = await gateway.default_models.of(principal)
        if not model:
            own, globals_ = await visible(gateway, principal)
            if not own and not globals_:
                raise NoProviderConfigured()
            raise ModelNotFound(
                "No model was given and no default model is available: enable a provider "
                "with at least one model, or set the default model"
            )
    call.model = model
    found = await _resolve_or_discover(gateway, principal, model)
    await gateway.limiter.check(principal)
    await gateway.prices.ensure()
    return found
