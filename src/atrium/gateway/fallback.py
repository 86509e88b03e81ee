"""Trying a route's providers in order: a timeout, no answer or a 5xx moves to the next one;
anything else, or the last failure, becomes the gateway's error."""

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from atrium.errors import AtriumError
from atrium.gateway.errors import (
    UnsupportedByProvider,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimedOut,
)
from atrium.gateway.routing import Route
from atrium.providers.adapters.base import (
    UnsupportedOperation,
    UpstreamBlocked,
    UpstreamError,
    UpstreamTimeout,
)
from atrium.providers.service import ProviderEntry

if TYPE_CHECKING:
    from atrium.gateway.metering import Call

log = logging.getLogger("atrium.gateway")
T = TypeVar("T")


def retryable(exc: UpstreamError) -> bool:
    """A failure worth trying another provider for: a timeout, no answer, or a 5xx."""
    if isinstance(exc, UnsupportedOperation | UpstreamBlocked):
        return False
    if isinstance(exc, UpstreamTimeout):
        return True
    return exc.upstream_status is None or exc.upstream_status >= 500


def mapped_error(exc: UpstreamError, entry: ProviderEntry) -> AtriumError:
    detail = f"Provider '{entry.name}': {exc.message}"
    if isinstance(exc, UnsupportedOperation):
        return UnsupportedByProvider(detail)
    if isinstance(exc, UpstreamTimeout):
        return UpstreamTimedOut(detail)
    if exc.upstream_status in (400, 404, 413, 422):
        return UpstreamRejected(detail)
    return UpstreamFailed(detail)


async def in_order(
    route: Route, call: "Call", attempt: Callable[[ProviderEntry, str], Awaitable[T]]
) -> T:
    """`attempt(entry, model)` for each candidate until one answers; `call` names the one
    that answered (or failed last)."""
    candidates = route.candidates
    for index, (entry, model) in enumerate(candidates):
        call.entry, call.upstream_model = entry, model
        try:
            return await attempt(entry, model)
        except UpstreamError as exc:
            if index + 1 < len(candidates) and retryable(exc):
                log.warning(
                    "provider %s failed (%s); falling back to %s",
                    entry.name,
                    exc.message,
                    candidates[index + 1][0].name,
                )
                continue
            raise mapped_error(exc, entry) from exc
    raise AssertionError("a route always has a candidate")


def payload(entry: ProviderEntry, model: str, body: dict) -> dict:
    """The body sent to one provider: its extra parameters, the caller's, its model id."""
    if entry.extra_params:
        return {**entry.extra_params, **body, "model": model}
    return {**body, "model": model}
