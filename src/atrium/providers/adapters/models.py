"""What a provider says about the models it serves: ids, and where the wire format reports
them, context windows and whether a model takes images.

OpenAI-format servers differ in what their `/models` items carry: vLLM reports
`max_model_len`, OpenRouter and Together `context_length`, some `context_window`; input
modalities come as `architecture.input_modalities` or `capabilities`. Ollama lists names in
`/api/tags` and describes each in `/api/show` (`model_info.<family>.context_length`,
`capabilities: ["vision", ...]`). Other provider types report ids only.
"""

import asyncio
from typing import Any

import httpx

from atrium.outbound.http import api_root, bearer, expect_object, join_url, send
from atrium.providers.adapters.base import ProviderTarget, UpstreamError
from atrium.providers.adapters.registry import get_adapter

OPENAI_WIRE = frozenset({"openai", "together", "vllm", "custom"})
CONTEXT_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length")
MAX_MODELS = 1000
MAX_DESCRIBED = 100  # Ollama needs one request per model
SHOW_CONCURRENCY = 4


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return int(value)
    return None


def _vision_of(item: dict[str, Any]) -> bool | None:
    architecture = item.get("architecture")
    modalities = None
    if isinstance(architecture, dict):
        modalities = architecture.get("input_modalities") or architecture.get("modality")
    modalities = modalities or item.get("input_modalities") or item.get("capabilities")
    if isinstance(modalities, str):
        return "image" in modalities.split("->")[0]
    if isinstance(modalities, list):
        return any(m in ("image", "vision") for m in modalities if isinstance(m, str))
    if isinstance(modalities, dict):
        return bool(modalities.get("vision") or modalities.get("image"))
    return None


def openai_item(item: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"id": item["id"]}
    for name in CONTEXT_FIELDS:
        window = _positive_int(item.get(name))
        if window:
            info["context_window"] = window
            break
    vision = _vision_of(item)
    if vision is not None:
        info["supports_vision"] = vision
    return info


async def _openai_models(client: httpx.AsyncClient, target: ProviderTarget) -> list[dict]:
    reply = await send(
        client, target, "GET", join_url(target.api_base, "/models"), headers=bearer(target)
    )
    items = reply.get("data") if isinstance(reply, dict) else reply
    if not isinstance(items, list):
        raise UpstreamError(f"{target.type} provider sent an unexpected model list")
    return [
        openai_item(item)
        for item in items[:MAX_MODELS]
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
    ]


def ollama_show(name: str, reply: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"id": name}
    if not isinstance(reply, dict):
        return info
    model_info = reply.get("model_info")
    if isinstance(model_info, dict):
        for key, value in model_info.items():
            if key.endswith(".context_length") and _positive_int(value):
                info["context_window"] = int(value)
                break
    capabilities = reply.get("capabilities")
    if isinstance(capabilities, list):
        info["supports_vision"] = "vision" in capabilities
    details = reply.get("details")
    if isinstance(details, dict):
        if isinstance(details.get("parameter_size"), str):
            info["parameters"] = details["parameter_size"]
        if isinstance(details.get("quantization_level"), str):
            info["quantization"] = details["quantization_level"]
    return info


async def _ollama_models(client: httpx.AsyncClient, target: ProviderTarget) -> list[dict]:
    root = api_root(target.api_base, "/api", "/v1")
    reply = await send(client, target, "GET", root + "/api/tags", headers=bearer(target))
    listed = expect_object(reply, target, "model list").get("models") or []
    names = [
        m.get("name") or m.get("model")
        for m in listed[:MAX_MODELS]
        if isinstance(m, dict) and (m.get("name") or m.get("model"))
    ]
    sizes = {m.get("name") or m.get("model"): m.get("size") for m in listed if isinstance(m, dict)}
    gate = asyncio.Semaphore(SHOW_CONCURRENCY)

    async def show(name: str) -> dict[str, Any]:
        async with gate:
            try:
                shown = await send(
                    client,
                    target,
                    "POST",
                    root + "/api/show",
                    json={"model": name},
                    headers=bearer(target),
                )
            except UpstreamError:
                return {"id": name}  # the list is what counts; details are a bonus
        return ollama_show(name, shown)

    described = await asyncio.gather(*(show(name) for name in names[:MAX_DESCRIBED]))
    models = [*described, *({"id": name} for name in names[MAX_DESCRIBED:])]
    for info in models:
        size = _positive_int(sizes.get(info["id"]))
        if size:
            info["size_bytes"] = size
    return models


async def describe_models(client: httpx.AsyncClient, target: ProviderTarget) -> list[dict]:
    """[{"id", and what the provider reports: context_window, supports_vision, ...}]."""
    if target.type in OPENAI_WIRE:
        return await _openai_models(client, target)
    if target.type == "ollama":
        return await _ollama_models(client, target)
    ids = await get_adapter(target.type).list_models(client, target)
    return [{"id": model} for model in ids[:MAX_MODELS]]
