"""CORS whose allowed origins follow the live `cors_origins` setting (pure ASGI)."""

from typing import Any

from starlette.middleware.cors import CORSMiddleware

EXPOSED = ["X-Next-Cursor", "X-Request-ID", "Retry-After"]


class LiveCORSMiddleware:
    """Requests without an Origin header pass straight through; for the others the live
    settings are synced first, and Starlette's CORS middleware is rebuilt when the allowed
    origins changed."""

    def __init__(self, app: Any, *, live: Any) -> None:
        self.app = app
        self.live = live
        self.origins: tuple[str, ...] | None = None
        self.inner: Any = app

    def _current(self) -> Any:
        origins = tuple(self.live.state.settings.cors_origins or ())
        if origins != self.origins:
            self.origins = origins
            self.inner = (
                CORSMiddleware(
                    self.app,
                    allow_origins=list(origins),
                    allow_credentials="*" not in origins,
                    allow_methods=["*"],
                    allow_headers=["*"],
                    expose_headers=EXPOSED,
                )
                if origins
                else self.app
            )
        return self.inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not any(k == b"origin" for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        await self.live.sync()
        await self._current()(scope, receive, send)
