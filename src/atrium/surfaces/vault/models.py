"""Vault's model pickers: `GET /vault/models` and `GET /vault/admin/config/models` (CONTRACTS)."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.providers.auth import LlmRead
from atrium.providers.schemas import ProviderSettings
from atrium.providers.service import ProviderEntry, model_status
from atrium.settings_store import service as settings_service
from atrium.settings_store.auth import SettingsWrite as SystemWrite
from atrium.settings_store.schemas import AdminSettingsUpdate

router = APIRouter(prefix="/vault", tags=["vault"])


@router.get("/models")
async def list_vault_models(principal: LlmRead, request: Request) -> list[dict[str, Any]]:
    gateway = request.app.state.gateway
    return [_vault_model(model, entry) for model, entry in await gateway.models(principal)]


def _vault_model(model: str, entry: ProviderEntry) -> dict[str, Any]:
    known = entry.model_info(model)
    return {
        "id": model,
        "name": model,
        "status": model_status(entry),
        "type": "embedding" if "embed" in model.lower() else "chat",
        "provider": entry.name,
        "parameters": known.get("parameters"),
        "quantization": known.get("quantization"),
        "context_window": known.get("context_window"),
        "supports_vision": known.get("supports_vision"),
        "vram_required_gb": None,
        "description": f"{model} served by {entry.name} ({entry.type})",
        "size_bytes": known.get("size_bytes"),
    }


class ModelConfig(BaseModel):
    default_model_id: str
    default_temperature: float
    default_max_tokens: int
    default_system_prompt: str


class ModelConfigUpdate(BaseModel):
    default_model_id: str | None = Field(default=None, max_length=300)
    default_temperature: float | None = Field(default=None, ge=0, le=2)
    default_max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    default_system_prompt: str | None = Field(default=None, max_length=20000)


async def _model_config(
    principal: Principal, request: Request, session: SessionDep, saved: Any = None
) -> ModelConfig:
    """The defaults a chat starts from: the gateway's default model; temperature, max tokens
    and system prompt as an administrator saved them, else its provider's settings."""
    state = request.app.state
    gateway = state.gateway
    saved = saved or await settings_service.get_all(
        session, state.settings, state.live_settings.env
    )
    # the stored default first: the gateway's own reading may predate this transaction
    model = saved.default_model or await gateway.default_model(principal)
    provider = ProviderSettings()
    for served, entry in await gateway.models(principal):
        if served == model:
            provider = ProviderSettings.model_validate(entry.settings)
            break
    temperature = saved.chat_default_temperature
    max_tokens = saved.chat_default_max_tokens
    return ModelConfig(
        default_model_id=model or "",
        default_temperature=provider.temperature if temperature is None else temperature,
        default_max_tokens=provider.max_tokens if max_tokens is None else max_tokens,
        default_system_prompt=saved.chat_default_system_prompt,
    )


@router.get("/admin/config/models", response_model=ModelConfig)
async def get_vault_model_config(
    principal: LlmRead, request: Request, session: SessionDep
) -> ModelConfig:
    return await _model_config(principal, request, session)


@router.put(
    "/admin/config/models",
    response_model=ModelConfig,
    description="Saves the chat defaults: `default_model_id` becomes the gateway's default "
    "model (the `default_model` setting); the others are the `chat_default_*` settings.",
)
async def update_vault_model_config(
    body: ModelConfigUpdate, principal: SystemWrite, request: Request, session: SessionDep
) -> ModelConfig:
    names = {
        "default_model_id": "default_model",
        "default_temperature": "chat_default_temperature",
        "default_max_tokens": "chat_default_max_tokens",
        "default_system_prompt": "chat_default_system_prompt",
    }
    changes = AdminSettingsUpdate(
        **{names[key]: value for key, value in body.model_dump(exclude_unset=True).items()}
    )
    state = request.app.state
    saved = await settings_service.update_live(state, session, principal, changes)
    return await _model_config(principal, request, session, saved)
