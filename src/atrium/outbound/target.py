"""What an outbound call to a provider needs, and how it fails."""

from collections.abc import Mapping
from dataclasses import dataclass, field


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


class UpstreamBlocked(UpstreamError):
    """The SSRF guard refused the provider's address."""

    default_status = 502
