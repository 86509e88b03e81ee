"""Provider adapters: each provider's native wire format behind one OpenAI-shaped interface."""

from atrium.outbound.http import make_client
from atrium.providers.adapters.base import (
    PROVIDER_TYPES,
    Adapter,
    ProviderTarget,
    UnsupportedOperation,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)
from atrium.providers.adapters.registry import (
    UnknownProviderType,
    available_providers,
    get_adapter,
    provider_info,
)

__all__ = [
    "PROVIDER_TYPES",
    "Adapter",
    "ProviderTarget",
    "UnknownProviderType",
    "UnsupportedOperation",
    "UpstreamBlocked",
    "UpstreamError",
    "UpstreamTimeout",
    "available_providers",
    "get_adapter",
    "make_client",
    "provider_info",
]
