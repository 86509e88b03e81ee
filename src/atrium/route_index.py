"""Route matching by an index on the first path segments instead of a walk over every route.

Starlette tries an app's routes in order until one matches: with ~600 routes, a path served
by a router registered late was tried against dozens of patterns first (a fifth of what
`/api/v1/auth/me` cost). Here each HTTP request is tried only against the routes that can
match its first segments, in their registered order, so the first full match, the partial
match (405) and everything else are as Starlette decides; a request that matches none of them
goes to Starlette's own walk, which also sends the trailing-slash redirects and the 404.

A route is indexed by its first `SEGMENTS` path segments when none of them holds a parameter;
the others (mounts, hosts, a parameter early in the path) are tried for every request.
"""

from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute

SEGMENTS = 3
Key = tuple[str, ...]


def _key(path: str) -> Key:
    return tuple(path.split("/", SEGMENTS + 1)[1 : SEGMENTS + 1])


def _route_key(route: BaseRoute) -> Key | None:
    """The key every path this route matches has; None: it may match under any key."""
    if isinstance(route, Mount) or not isinstance(route, Route | WebSocketRoute):
        return None
    key = _key(route.path)
    if any("{" in part for part in key):
        return None
    return key


class RouteIndex:
    """The router's HTTP dispatch (`Router.middleware_stack`); rebuilt when routes are added."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.walk = router.app  # Starlette's own dispatch: lifespan, websockets, no match
        self.count = -1
        self.keyed: dict[Key, list[BaseRoute]] = {}
        self.anywhere: list[BaseRoute] = []

    def _build(self) -> None:
        routes = list(self.router.routes)
        keys = [_route_key(route) for route in routes]
        self.anywhere = [route for route, key in zip(routes, keys, strict=True) if key is None]
        self.keyed = {
            key: [r for r, k in zip(routes, keys, strict=True) if k is None or k == key]
            for key in set(keys)
            if key is not None
        }
        self.count = len(routes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.walk(scope, receive, send)
            return
        if self.count != len(self.router.routes):
            self._build()
        if "router" not in scope:
            scope["router"] = self.router
        path = scope["path"]
        if scope.get("root_path"):
            await self.walk(scope, receive, send)  # rare: let Starlette strip the root path
            return
        partial = partial_scope = None
        for route in self.keyed.get(_key(path), self.anywhere):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await self.walk(scope, receive, send)


def install(router: Router) -> None:
    """Dispatch through the index; a router wrapped in router-level middleware is left alone."""
    if router.middleware_stack == router.app:
        router.middleware_stack = RouteIndex(router)
