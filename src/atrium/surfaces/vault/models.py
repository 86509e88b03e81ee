"""Vault's model pickers: `GET /vault/models` and `GET /vault/admin/config/models` (CONTRACTS)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.llm.catalog import ProviderEntry, model_status
from atrium.llm.schemas import ProviderSettings

router = APIRouter(prefix="/vault", tags=["vault"])
LlmRead = Annotated[Principal, Depends(require("llm", "read"))]


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


@router.get("/admin/config/models")
async def get_vault_model_config(principal: LlmRead, request: Request) -> dict[str, Any]:
    """The defaults a chat starts from: the gateway's default model and its provider's settings."""
    gateway = request.app.state.gateway
    model = await gateway.default_model(principal)
    settings = ProviderSettings()
    for served, entry in await gateway.models(principal):
        if served == model:
            settings = ProviderSettings.model_validate(entry.settings)
            break
    return {
        "default_model_id": model or "",
        "default_temperature": settings.temperature,
        "default_max_tokens": settings.max_tokens,
        "default_system_prompt": "",
    }
