"""The nine provider types: which adapter speaks to each, and what `/available` tells users."""

from dataclasses import dataclass
from typing import Any

from atrium.providers.adapters.anthropic import AnthropicAdapter
from atrium.providers.adapters.base import PROVIDER_TYPES, Adapter
from atrium.providers.adapters.cohere import CohereAdapter
from atrium.providers.adapters.google import GoogleAdapter
from atrium.providers.adapters.ollama import OllamaAdapter
from atrium.providers.adapters.openai import OpenAIAdapter
from atrium.providers.adapters.replicate import ReplicateAdapter


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    type: str
    name: str
    description: str
    default_api_base: str | None
    default_models: tuple[str, ...]
    requires_api_key: bool
    documentation_url: str
    supports_embeddings: bool

    def config_fields(self) -> list[dict[str, Any]]:
        """The fields a provider of this type is configured with, for a settings form."""
        return [
            {
                "name": "api_key",
                "label": "API key",
                "type": "secret",
                "required": self.requires_api_key,
            },
            {
                "name": "api_base",
                "label": "API base URL",
                "type": "url",
                "required": self.default_api_base is None,
                "default": self.default_api_base,
            },
            {
                "name": "models",
                "label": "Models",
                "type": "list",
                "required": False,
                "default": list(self.default_models),
            },
            {
                "name": "custom_headers",
                "label": "Custom headers",
                "type": "map",
                "required": False,
                "default": {},
            },
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.type,
            "type": self.type,
            "name": self.name,
            "description": self.description,
            "default_api_base": self.default_api_base,
            "default_models": list(self.default_models),
            "requires_api_key": self.requires_api_key,
            "documentation_url": self.documentation_url,
            "supports_embeddings": self.supports_embeddings,
            "config_fields": self.config_fields(),
        }


_openai = OpenAIAdapter()

ADAPTERS: dict[str, Adapter] = {
    "openai": _openai,
    "together": _openai,
    "vllm": _openai,
    "custom": _openai,
    "anthropic": AnthropicAdapter(),
    "google": GoogleAdapter(),
    "cohere": CohereAdapter(),
    "replicate": ReplicateAdapter(),
    "ollama": OllamaAdapter(),
}

PROVIDERS: dict[str, ProviderInfo] = {
    info.type: info
    for info in (
        ProviderInfo(
            type="openai",
            name="OpenAI",
            description="GPT and o-series models through OpenAI's Chat Completions API.",
            default_api_base="https://api.openai.com/v1",
            default_models=("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini"),
            requires_api_key=True,
            documentation_url="https://platform.openai.com/docs/api-reference/chat",
            supports_embeddings=True,
        ),
        ProviderInfo(
            type="anthropic",
            name="Anthropic",
            description="Claude models through Anthropic's Messages API.",
            default_api_base="https://api.anthropic.com",
            default_models=(
                "claude-sonnet-4-5-20250929",
                "claude-sonnet-4-20250514",
                "claude-opus-4-1-20250805",
                "claude-haiku-4-5-20251001",
                "claude-3-5-haiku-20241022",
            ),
            requires_api_key=True,
            documentation_url="https://docs.anthropic.com/en/api/messages",
            supports_embeddings=False,
        ),
        ProviderInfo(
            type="google",
            name="Google Gemini",
            description="Gemini models through the Gemini API (generateContent).",
            default_api_base="https://generativelanguage.googleapis.com",
            default_models=(
                "gemini-2.5-pro",
                "gemini-2.5-flash",
                "gemini-2.5-flash-lite",
                "gemini-2.0-flash",
            ),
            requires_api_key=True,
            documentation_url="https://ai.google.dev/api/generate-content",
            supports_embeddings=True,
        ),
        ProviderInfo(
            type="cohere",
            name="Cohere",
            description="Command models through Cohere's v2 Chat API, and Embed models.",
            default_api_base="https://api.cohere.com",
            default_models=(
                "command-a-03-2025",
                "command-r-plus-08-2024",
                "command-r-08-2024",
                "command-r7b-12-2024",
            ),
            requires_api_key=True,
            documentation_url="https://docs.cohere.com/reference/chat",
            supports_embeddings=True,
        ),
        ProviderInfo(
            type="together",
            name="Together AI",
            description="Open models hosted by Together AI (OpenAI-compatible API).",
            default_api_base="https://api.together.xyz/v1",
            default_models=(
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
                "Qwen/Qwen2.5-72B-Instruct-Turbo",
                "deepseek-ai/DeepSeek-V3",
            ),
            requires_api_key=True,
            documentation_url="https://docs.together.ai/reference/chat-completions-1",
            supports_embeddings=True,
        ),
        ProviderInfo(
            type="replicate",
            name="Replicate",
            description="Language models run as Replicate predictions (streamed over SSE).",
            default_api_base="https://api.replicate.com/v1",
            default_models=(
                "meta/meta-llama-3-70b-instruct",
                "meta/meta-llama-3-8b-instruct",
                "meta/meta-llama-3.1-405b-instruct",
            ),
            requires_api_key=True,
            documentation_url="https://replicate.com/docs/reference/http",
            supports_embeddings=False,
        ),
        ProviderInfo(
            type="vllm",
            name="vLLM",
            description="A self-hosted vLLM server (OpenAI-compatible API).",
            default_api_base="http://localhost:8000/v1",
            default_models=(),
            requires_api_key=False,
            documentation_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
            supports_embeddings=True,
        ),
        ProviderInfo(
            type="ollama",
            name="Ollama",
            description="Models run locally by Ollama (native /api/chat API).",
            default_api_base="http://localhost:11434",
            default_models=("llama3.2", "qwen2.5", "mistral", "nomic-embed-text"),
            requires_api_key=False,
            documentation_url="https://github.com/ollama/ollama/blob/main/docs/api.md",
            supports_embeddings=True,
        ),
        ProviderInfo(
            type="custom",
            name="Custom (OpenAI-compatible)",
            description="Any server that speaks OpenAI's Chat Completions API.",
            default_api_base=None,
            default_models=(),
            requires_api_key=False,
            documentation_url="https://platform.openai.com/docs/api-reference/chat",
            supports_embeddings=True,
        ),
    )
}


class UnknownProviderType(ValueError):
    pass


def _known(provider_type: str) -> str:
    normalized = provider_type.strip().lower()
    if normalized not in PROVIDERS:
        raise UnknownProviderType(
            f"Unknown provider type {provider_type!r}; expected one of {', '.join(PROVIDER_TYPES)}."
        )
    return normalized


def get_adapter(provider_type: str) -> Adapter:
    return ADAPTERS[_known(provider_type)]


def provider_info(provider_type: str) -> ProviderInfo:
    return PROVIDERS[_known(provider_type)]


def available_providers() -> list[dict[str, Any]]:
    """The nine provider types as the `/available` endpoint lists them."""
    return [info.as_dict() for info in PROVIDERS.values()]
