"""The hub through `huggingface_hub`: search and repository metadata, errors mapped to ours."""

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import httpx2  # the HTTP client huggingface_hub uses
from huggingface_hub import HfApi, ModelInfo, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from atrium.config import Settings
from atrium.modelhub.errors import HubUnavailable, InvalidModelId, ModelNotFound

DEFAULT_ENDPOINT = "https://huggingface.co"
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
MODEL_ID = re.compile(rf"^{_PART}(/{_PART})?$")
_QUANT = re.compile(
    r"(?i)(?:^|[-_.])(I?Q\d(?:_[A-Z0-9]+)*|F16|F32|BF16|AWQ|GPTQ|INT[48]|FP8)(?:$|[-_.])"
)
T = TypeVar("T")


def endpoint(settings: Settings) -> str:
    return (settings.hf_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def check_id(model_id: str) -> str:
    """A hub id is `name` or `owner/name`; anything else (`..`, empty parts) is refused."""
    if not MODEL_ID.match(model_id) or ".." in model_id:
        raise InvalidModelId()
    return model_id


@dataclass(frozen=True, slots=True)
class HubFile:
    name: str
    size: int | None
    sha256: str | None  # LFS files: the hub's sha256 of the content
    blob_id: str | None  # other files: the git blob sha1


@dataclass(frozen=True, slots=True)
class HubModel:
    id: str
    sha: str | None
    info: dict[str, Any]
    files: list[HubFile]


def quantization_of(model_id: str, tags: list[str]) -> str | None:
    for text in (*tags, model_id.rsplit("/", 1)[-1]):
        found = _QUANT.search(text)
        if found:
            return found.group(1).upper()
    return None


def _item(model: Any) -> dict[str, Any]:
    tags = list(model.tags or [])
    library = model.library_name
    return {
        "id": model.id,
        "name": model.id.rsplit("/", 1)[-1],
        "description": (model.card_data or {}).get("description") if model.card_data else None,
        "downloads": model.downloads or 0,
        "likes": model.likes or 0,
        "tags": tags,
        "task": model.pipeline_tag,
        "library_name": library,
        "created_at": model.created_at,
        "last_modified": model.last_modified,
        "author": model.author or (model.id.split("/")[0] if "/" in model.id else None),
        "vllm_ready": library in ("transformers", "vllm") or "safetensors" in tags,
        "quantization": quantization_of(model.id, tags),
    }


async def _call(settings: Settings, action: Callable[[HfApi], T]) -> T:
    api = HfApi(endpoint=endpoint(settings))
    try:
        return await asyncio.to_thread(action, api)
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelNotFound("No such model on the hub") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 404:
            raise ModelNotFound("No such model on the hub") from exc
        raise HubUnavailable(f"The model hub answered {status}: {exc}") from exc
    except (httpx.HTTPError, httpx2.HTTPError, OSError) as exc:
        raise HubUnavailable(f"The model hub cannot be reached: {exc}") from exc


SORT_NAMES = {"last_modified": "lastModified", "created_at": "createdAt"}
SEARCH_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


async def search(settings: Settings, query: str | None, limit: int, sort: str | None = None):
    """One request to the hub's `/api/models`: `HfApi.list_models` retries an unreachable
    hub with back-off for about 25 s, where a search should answer 503 at once."""
    params: dict[str, Any] = {"limit": limit}
    if query:
        params["search"] = query
    if sort:
        params["sort"] = SORT_NAMES.get(sort, sort)
    try:
        async with httpx.AsyncClient(timeout=SEARCH_TIMEOUT) as client:
            response = await client.get(f"{endpoint(settings)}/api/models", params=params)
    except httpx.HTTPError as exc:
        raise HubUnavailable(f"The model hub cannot be reached: {exc}") from exc
    if response.status_code != 200:
        raise HubUnavailable(f"The model hub answered {response.status_code}")
    try:
        entries = response.json()
        found = [ModelInfo(**{"siblings": None, **entry}) for entry in entries[:limit]]
    except (ValueError, TypeError, KeyError) as exc:
        raise HubUnavailable("The model hub answered something that is not a model list") from exc
    return [_item(model) for model in found]


async def model(settings: Settings, model_id: str, revision: str | None = None) -> HubModel:
    info = await _call(
        settings,
        lambda api: api.model_info(check_id(model_id), revision=revision, files_metadata=True),
    )
    files = [
        HubFile(
            name=sibling.rfilename,
            size=sibling.lfs.size if sibling.lfs else sibling.size,
            sha256=sibling.lfs.sha256 if sibling.lfs else None,
            blob_id=sibling.blob_id,
        )
        for sibling in info.siblings or []
    ]
    return HubModel(id=info.id, sha=info.sha, info=_item(info), files=files)


def file_url(settings: Settings, model_id: str, name: str, revision: str) -> str:
    return hf_hub_url(model_id, name, revision=revision, endpoint=endpoint(settings))
