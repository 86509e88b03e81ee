"""The gateway's errors, each with a stable code."""

from atrium.errors import (
    BadGateway,
    BadRequest,
    Conflict,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
)


class ModelNotFound(NotFound):
    code = "model_not_found"


class ProviderDisabled(Conflict):
    code = "provider_disabled"


class NoProviderConfigured(ServiceUnavailable):
    code = "no_provider_configured"
    detail = (
        "No LLM provider is configured: an administrator can add one with "
        "POST /api/v1/llm/providers"
    )


class MalformedRequest(Unprocessable):
    code = "invalid_request"


class UpstreamFailed(BadGateway):
    code = "upstream_error"


class UpstreamTimedOut(GatewayTimeout):
    code = "upstream_timeout"


class UnsupportedByProvider(BadRequest):
    code = "unsupported_operation"


class LimitExceeded(TooManyRequests):
    """code is rate_limited, token_limited or budget_exceeded."""

    def __init__(self, code: str, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.code = code
        self.retry_after = max(1, retry_after)


class UpstreamRejected(BadRequest):
    code = "upstream_rejected"
