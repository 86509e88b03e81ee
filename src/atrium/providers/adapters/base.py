"""What every provider adapter shares: the target it calls, its errors and its protocol.

Adapters speak OpenAI's chat-completions shapes on their Atrium side (requests in,
`chat.completion` / `chat.completion.chunk` / embeddings `list` out) and each provider's
native wire format on the other.
"""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

PROVIDER_TYPES = (
    "openai",
    "anthropic",
    "google",
    "cohere",
    "together",
    "replicate",
    "vllm",
    "ollama",
    "custom",
)


@dataclass(frozen=True, slots=True)
class ProviderTarget:
    """What an adapter needs to reach a provider."""

    type: str
    api_base: str  # e.g. https://api.openai.com/v1; adapters append their paths
    api_key: str | None
    timeout: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)  # the provider's custom_headers
    allow_private: bool = False  # True only for admin-created providers (SSRF guard off)


class UpstreamError(Exception):
    """The provider answered with an error, or with something unreadable."""

    default_status = 502

    def __init__(
        self, message: str, *, status_code: int | None = None, upstream_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code or self.default_status
        self.upstream_status = upstream_status


class UpstreamTimeout(UpstreamError):
    default_status = 504


class UnsupportedOperation(UpstreamError):
    """The provider type cannot do what was asked (e.g. embeddings on Anthropic)."""

    default_status = 400


class UpstreamBlocked(UpstreamError):
    """The SSRF guard refused the provider's address."""

    default_status = 502


class Adapter(Protocol):
    async def chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        """OpenAI chat.completions request → OpenAI `chat.completion` (usage None if absent)."""
        ...

    def stream_chat(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI `chat.completion.chunk` dicts as they arrive; the last may hold usage."""
        ...

    async def list_models(self, client: httpx.AsyncClient, target: ProviderTarget) -> list[str]: ...

    async def embeddings(
        self, client: httpx.AsyncClient, target: ProviderTarget, body: dict[str, Any]
    ) -> dict[str, Any]:
        """OpenAI embeddings request → OpenAI `list` of embedding objects with usage."""
        ...
