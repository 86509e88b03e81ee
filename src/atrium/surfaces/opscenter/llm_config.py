"""The Ops Center's provider settings page (LLMProviderSettings.jsx): `/api/v1/llm-config/
servers` (self-hosted vLLM, Ollama, OpenAI-compatible servers) and `/api/v1/llm-config/api-keys`
(cloud providers' keys), both views over the same global providers as `/api/v1/llm/providers`.

A provider is an "API key" when its type is a cloud provider's or its address is a known
cloud endpoint (OpenRouter, Fireworks), else a "server". Reads need a role that reaches
providers; changes are an administrator's, as for every global provider.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from atrium.auth.principal import Principal
from atrium.db import SessionDep
from atrium.errors import BadRequest, Forbidden, NotFound, Unprocessable
from atrium.providers import service as providers_service
from atrium.providers.adapters.registry import available_providers
from atrium.providers.auth import LlmAdminDelete, LlmAdminWrite, LlmExecute, LlmRead
from atrium.providers.schemas import ProviderCreate, ProviderUpdate
from atrium.usage import analytics

router = APIRouter(prefix="/api/v1/llm-config", tags=["ops center"])
IdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]

SERVER_TYPES = {"vllm": "vllm", "ollama": "ollama", "llamacpp": "custom"}
SERVER_TYPES |= {"openai-compatible": "custom", "custom": "custom"}
KEY_PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("openai", None),
    "anthropic": ("anthropic", None),
    "google": ("google", None),
    "cohere": ("cohere", None),
    "together": ("together", None),
    "replicate": ("replicate", None),
    "openrouter": ("custom", "https://openrouter.ai/api/v1"),
    "fireworks": ("custom", "https://api.fireworks.ai/inference/v1"),
}
CLOUD_TYPES = frozenset(t for t, base in KEY_PROVIDERS.values() if base is None)
CLOUD_BASES = {base: name for name, (_t, base) in KEY_PROVIDERS.items() if base}
HEALTH = {"success": "healthy", "failed": "down", None: "unknown"}


# --- shapes ------------------------------------------------------------------------------


class ServerWrite(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str | None = Field(None, min_length=1, max_length=100)
    server_type: str | None = Field(None, max_length=32)
    base_url: str | None = Field(
        None, max_length=500, validation_alias=AliasChoices("base_url", "api_base")
    )
    api_key: str | None = Field(None, max_length=4000)
    model_path: str | None = Field(None, max_length=200)
    enabled: bool | None = None


class KeyWrite(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    provider: str | None = Field(None, max_length=32)
    key_name: str | None = Field(
        None, min_length=1, max_length=100, validation_alias=AliasChoices("key_name", "name")
    )
    api_key: str | None = Field(None, max_length=4000)
    enabled: bool | None = None


class ServerRead(BaseModel):
    id: str
    name: str
    server_type: str
    base_url: str | None
    api_key: str | None
    model_path: str | None
    models: list[str]
    enabled: bool
    use_for_chat: bool
    use_for_embeddings: bool
    use_for_reranking: bool
    last_health_check: datetime | None
    health_status: str
    status: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ServerList(BaseModel):
    servers: list[ServerRead]


class KeyRead(BaseModel):
    id: str
    provider: str
    key_name: str
    masked_key: str
    enabled: bool
    status: str
    models: list[str]
    last_used: datetime | None
    requests_count: int
    tokens_used: int
    cost_usd: float
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class KeyList(BaseModel):
    api_keys: list[KeyRead]


class ServerTest(BaseModel):
    server_id: str
    status: str
    message: str
    success: bool
    latency_ms: int | None
    models: list[str]
    timestamp: datetime


class KeyTest(BaseModel):
    key_id: str
    success: bool
    message: str
    timestamp: datetime


class Deleted(BaseModel):
    id: str
    deleted: bool


# --- mapping -----------------------------------------------------------------------------


def kind_of(read: dict[str, Any]) -> tuple[str, str]:
    """("key", provider name) or ("server", server type) of a provider."""
    if read["type"] in CLOUD_TYPES:
        return "key", read["type"]
    if read["api_base"] in CLOUD_BASES:
        return "key", CLOUD_BASES[read["api_base"]]
    server_type = "openai-compatible" if read["type"] == "custom" else read["type"]
    return "server", server_type


def _embeddings(provider_type: str) -> bool:
    return any(p["id"] == provider_type and p["supports_embeddings"] for p in available_providers())


def _masked(read: dict[str, Any]) -> str | None:
    if not read["api_key_configured"]:
        return None
    return read["api_key_masked"] or "****"  # a short key shows no tail


def server_read(read: dict[str, Any]) -> dict[str, Any]:
    health = HEALTH.get(read["last_test_status"], "unknown")
    return {
        "id": read["id"],
        "name": read["name"],
        "server_type": kind_of(read)[1],
        "base_url": read["api_base"],
        "api_key": _masked(read),
        "model_path": (read["pinned_models"] or [None])[0],
        "models": read["models"],
        "enabled": read["enabled"],
        "use_for_chat": True,
        "use_for_embeddings": _embeddings(read["type"]),
        "use_for_reranking": False,
        "last_health_check": read["last_test_time"],
        "health_status": health,
        "status": health,
        "metadata": {"description": read["description"]} if read["description"] else {},
        "created_at": read["created_at"],
        "updated_at": read["updated_at"],
    }


def key_read(read: dict[str, Any], totals: dict[str, Any] | None) -> dict[str, Any]:
    status = {"success": "active", "failed": "invalid"}.get(read["last_test_status"], "untested")
    totals = totals or {}
    return {
        "id": read["id"],
        "provider": kind_of(read)[1],
        "key_name": read["name"],
        "masked_key": _masked(read) or "",
        "enabled": read["enabled"],
        "status": status,
        "models": read["models"],
        "last_used": totals.get("last_at"),
        "requests_count": totals.get("calls", 0),
        "tokens_used": totals.get("tokens", 0),
        "cost_usd": totals.get("cost", 0.0),
        "metadata": {},
        "created_at": read["created_at"],
        "updated_at": read["updated_at"],
    }


def _reads(principal: Principal) -> None:
    if not principal.reaches("llm", "read"):
        raise Forbidden("Provider settings need a role that reaches every provider")


async def _globals(session: SessionDep, principal: Principal, kind: str) -> list[dict[str, Any]]:
    providers = await providers_service.list_providers(session, principal)
    reads = [providers_service.provider_read(p) for p in providers if p.owner_id is None]
    return [read for read in reads if kind_of(read)[0] == kind]


async def _one(session: SessionDep, principal: Principal, provider_id: int, kind: str):
    provider = await providers_service.get_provider(session, principal, provider_id)
    read = providers_service.provider_read(provider)
    if provider.owner_id is not None or kind_of(read)[0] != kind:
        raise NotFound("Server not found" if kind == "server" else "API key not found")
    return provider, read


def _cache(request: Request):
    return request.app.state.provider_cache


def _key_given(value: str | None) -> str | None:
    """A key the page sends back as it was shown (masked) is no new key."""
    return None if not value or value.startswith("****") else value


async def _create(
    request: Request, session: SessionDep, principal: Principal, data: ProviderCreate
):
    return await providers_service.create_provider(
        session,
        principal,
        data,
        fernet=request.app.state.secrets.fernet,
        cache=_cache(request),
        client=request.app.state.provider_client,
    )


async def _update(
    request: Request, session: SessionDep, principal: Principal, pid: int, data: ProviderUpdate
):
    return await providers_service.update_provider(
        session,
        principal,
        pid,
        data,
        fernet=request.app.state.secrets.fernet,
        cache=_cache(request),
        client=request.app.state.provider_client,
    )


class InvalidChoice(BadRequest):
    code = "invalid_choice"


def _server_type(value: str) -> str:
    try:
        return SERVER_TYPES[value.strip().lower()]
    except KeyError:
        choices = ", ".join(SERVER_TYPES)
        raise InvalidChoice(
            f"server_type must be one of {choices} (got {value!r})", param="server_type"
        ) from None


def _build(model: type[BaseModel], **values: Any) -> Any:
    """The provider request the page's fields make, or a 422 naming the first bad field."""
    try:
        return model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise Unprocessable(f"{field}: {first['msg']}", param=field) from None


# --- servers -----------------------------------------------------------------------------


@router.get("/servers", response_model=ServerList)
async def list_servers(principal: LlmRead, session: SessionDep) -> dict[str, Any]:
    _reads(principal)
    return {"servers": [server_read(r) for r in await _globals(session, principal, "server")]}


@router.get("/servers/{server_id}", response_model=ServerRead)
async def read_server(server_id: IdPath, principal: LlmRead, session: SessionDep) -> dict:
    _reads(principal)
    return server_read((await _one(session, principal, server_id, "server"))[1])


@router.post("/servers", response_model=ServerRead, status_code=201)
async def create_server(
    body: ServerWrite, principal: LlmAdminWrite, session: SessionDep, request: Request
) -> dict:
    """A self-hosted server by URL (and key); its models are discovered unless `model_path`
    pins one."""
    data = _build(
        ProviderCreate,
        name=body.name or "",
        type=_server_type(body.server_type or ""),
        api_base=body.base_url,
        api_key=_key_given(body.api_key),
        models=[body.model_path] if body.model_path else [],
        enabled=True if body.enabled is None else body.enabled,
    )
    provider = await _create(request, session, principal, data)
    return server_read(providers_service.provider_read(provider))


@router.put("/servers/{server_id}", response_model=ServerRead)
async def update_server(
    server_id: IdPath,
    body: ServerWrite,
    principal: LlmAdminWrite,
    session: SessionDep,
    request: Request,
) -> dict:
    await _one(session, principal, server_id, "server")
    given = body.model_fields_set
    changes: dict[str, Any] = {
        "name": body.name,
        "api_key": _key_given(body.api_key),
        "enabled": body.enabled,
    }
    if body.server_type:
        changes["type"] = _server_type(body.server_type)
    if "base_url" in given:
        changes["api_base"] = body.base_url
    if "model_path" in given:
        changes["models"] = [body.model_path] if body.model_path else []
    data = _build(
        ProviderUpdate, **{k: v for k, v in changes.items() if v is not None or k == "api_base"}
    )
    provider = await _update(request, session, principal, server_id, data)
    return server_read(providers_service.provider_read(provider))


@router.delete("/servers/{server_id}", response_model=Deleted)
async def delete_server(
    server_id: IdPath, principal: LlmAdminDelete, session: SessionDep, request: Request
) -> dict:
    await _one(session, principal, server_id, "server")
    await providers_service.delete_provider(session, principal, server_id, cache=_cache(request))
    return {"id": str(server_id), "deleted": True}


@router.post("/servers/{server_id}/test", response_model=ServerTest)
async def test_server(
    server_id: IdPath, principal: LlmExecute, session: SessionDep, request: Request
) -> dict:
    _reads(principal)
    await _one(session, principal, server_id, "server")
    result = await providers_service.test_provider(
        session, principal, server_id, cache=_cache(request), probe=request.app.state.provider_probe
    )
    return {
        "server_id": str(server_id),
        "status": "healthy" if result["ok"] else "down",
        "message": result["error"] or f"Reachable; {len(result['models'])} model(s) listed",
        "success": result["ok"],
        "latency_ms": result["latency_ms"],
        "models": result["models"],
        "timestamp": datetime.now(UTC),
    }


@router.get("/servers/{server_id}/models", response_model=list[str])
async def list_server_models(server_id: IdPath, principal: LlmRead, session: SessionDep) -> list:
    _reads(principal)
    return (await _one(session, principal, server_id, "server"))[1]["models"]


# --- API keys ------------------------------------------------------------------------------


@router.get("/api-keys", response_model=KeyList)
async def list_keys(principal: LlmRead, session: SessionDep) -> dict[str, Any]:
    _reads(principal)
    reads = await _globals(session, principal, "key")
    totals = await analytics.provider_totals(session, [r["name"] for r in reads])
    return {"api_keys": [key_read(r, totals.get(r["name"])) for r in reads]}


@router.get("/api-keys/{key_id}", response_model=KeyRead)
async def read_key(key_id: IdPath, principal: LlmRead, session: SessionDep) -> dict:
    _reads(principal)
    read = (await _one(session, principal, key_id, "key"))[1]
    totals = await analytics.provider_totals(session, [read["name"]])
    return key_read(read, totals.get(read["name"]))


@router.post("/api-keys", response_model=KeyRead, status_code=201)
async def create_key(
    body: KeyWrite, principal: LlmAdminWrite, session: SessionDep, request: Request
) -> dict:
    """A cloud provider by its key; its models are discovered."""
    name = (body.provider or "").strip().lower()
    if name not in KEY_PROVIDERS:
        raise InvalidChoice(f"provider must be one of {', '.join(KEY_PROVIDERS)}", param="provider")
    provider_type, api_base = KEY_PROVIDERS[name]
    data = _build(
        ProviderCreate,
        name=body.key_name or name,
        type=provider_type,
        api_base=api_base,
        api_key=_key_given(body.api_key),
        enabled=True if body.enabled is None else body.enabled,
    )
    provider = await _create(request, session, principal, data)
    return key_read(providers_service.provider_read(provider), None)


@router.put("/api-keys/{key_id}", response_model=KeyRead)
async def update_key(
    key_id: IdPath, body: KeyWrite, principal: LlmAdminWrite, session: SessionDep, request: Request
) -> dict:
    await _one(session, principal, key_id, "key")
    changes = {"name": body.key_name, "api_key": _key_given(body.api_key), "enabled": body.enabled}
    data = _build(ProviderUpdate, **{k: v for k, v in changes.items() if v is not None})
    provider = await _update(request, session, principal, key_id, data)
    read = providers_service.provider_read(provider)
    totals = await analytics.provider_totals(session, [read["name"]])
    return key_read(read, totals.get(read["name"]))


@router.delete("/api-keys/{key_id}", response_model=Deleted)
async def delete_key(
    key_id: IdPath, principal: LlmAdminDelete, session: SessionDep, request: Request
) -> dict:
    await _one(session, principal, key_id, "key")
    await providers_service.delete_provider(session, principal, key_id, cache=_cache(request))
    return {"id": str(key_id), "deleted": True}


@router.post("/api-keys/{key_id}/test", response_model=KeyTest)
async def test_key(
    key_id: IdPath, principal: LlmExecute, session: SessionDep, request: Request
) -> dict:
    _reads(principal)
    await _one(session, principal, key_id, "key")
    result = await providers_service.test_provider(
        session, principal, key_id, cache=_cache(request), probe=request.app.state.provider_probe
    )
    return {
        "key_id": str(key_id),
        "success": result["ok"],
        "message": result["error"] or f"Valid; {len(result['models'])} model(s) listed",
        "timestamp": datetime.now(UTC),
    }
