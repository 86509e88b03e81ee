"""Vault's model pickers: `GET /vault/models` and `GET /vault/admin/config/models` (CONTRACTS)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.llm.schemas import ProviderSettings

router = APIRouter(prefix="/vault", tags=["vault"])
LlmRead = Annotated[Principal, Depends(require("llm", "read"))]


@router.get("/models")
async def list_vault_models(principal: LlmRead, request: Request) -> list[dict[str, Any]]:
    gateway = request.app.state.gateway
    return [
        {
            "id": model,
            "name": model,
            "status": "available",
            "type": "embedding" if "embed" in model.lower() else "chat",
            "provider": entry.name,
            "parameters": None,
            "quantization": None,
            "context_window": gateway.context_window(model),
            "vram_required_gb": None,
            "description": f"{model} served by {entry.name} ({entry.type})",
            "size_bytes": None,
        }
        for model, entry in await gateway.models(principal)
    ]


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
