"""The gateway's errors, each with a stable code (DECISIONS 16, 21)."""

from atrium.errors import (
    BadGateway,
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
)


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    detail = "Provider not found"


class ProviderNameTaken(Conflict):
    code = "provider_name_taken"
    detail = "A provider with this name already exists"


class GlobalProviderReadOnly(Forbidden):
    code = "global_provider"
    detail = "Only an administrator can change a global provider"


class InvalidApiBase(BadRequest):
    code = "invalid_api_base"


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
    """code is rate_limited, token_limited or budget_exceeded (DECISIONS 21)."""

    def __init__(self, code: str, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.code = code
        self.retry_after = max(1, retry_after)


class UpstreamRejected(BadRequest):
    code = "upstream_rejected"
