"""Provider adapters: each provider's native wire format behind one OpenAI-shaped interface.

The registry and the HTTP client factory are looked up on first use: the adapters import the
outbound HTTP helpers (`atrium.llm.adapters.http`), which import this package's `base`, so
importing the package itself stays free of that cycle whichever side is imported first.
"""

from importlib import import_module
from typing import Any

from atrium.providers.adapters.base import (
    PROVIDER_TYPES,
    Adapter,
    ProviderTarget,
    UnsupportedOperation,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)

_LAZY = {
    "UnknownProviderType": "atrium.providers.adapters.registry",
    "available_providers": "atrium.providers.adapters.registry",
    "get_adapter": "atrium.providers.adapters.registry",
    "provider_info": "atrium.providers.adapters.registry",
    "make_client": "atrium.llm.adapters.http",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
