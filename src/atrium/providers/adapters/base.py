"""What every provider adapter shares: the target it calls, its errors and its protocol.

Adapters speak OpenAI's chat-completions shapes on their Atrium side (requests in,
`chat.completion` / `chat.completion.chunk` / embeddings `list` out) and each provider's
native wire format on the other.
"""

from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from atrium.outbound.target import ProviderTarget, UpstreamError
from atrium.outbound.target import UpstreamBlocked as UpstreamBlocked
from atrium.outbound.target import UpstreamTimeout as UpstreamTimeout

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


class UnsupportedOperation(UpstreamError):
    """The provider type cannot do what was asked (e.g. embeddings on Anthropic)."""

    default_status = 400


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
