"""A small Lago API for tests, speaking its documented wire format: Bearer API keys (401
`{"status": 401, "error": "Unauthorized"}`), paginated lists (`page`, `per_page`, a `meta`
object with `current_page`, `next_page`, `prev_page`, `total_pages`, `total_count`),
subscriptions filtered by `status[]` (only active ones without it), and `POST /api/v1/events`
refusing a known `transaction_id` with 422 `value_already_exist`."""

import math
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class FakeLago:
    def __init__(self, api_key: str = "lago-test-key") -> None:
        self.api_key = api_key
        self.customers: list[dict] = []
        self.plans: list[dict] = []
        self.subscriptions: list[dict] = []
        self.invoices: list[dict] = []
        self.events: dict[str, dict] = {}
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.fail_pages: dict[tuple[str, int], int] = {}  # (path, page) -> status
        self.event_failures: list[int] = []  # statuses answered before accepting events

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _list(self, key: str, source: list[dict]):
        async def handler(request: Request) -> JSONResponse:
            query = list(request.query_params.multi_items())
            self.requests.append(("GET", request.url.path, query))
            if not self._authorized(request):
                return JSONResponse({"status": 401, "error": "Unauthorized"}, status_code=401)
            page = int(request.query_params.get("page", 1))
            per_page = int(request.query_params.get("per_page", 20))
            failure = self.fail_pages.get((request.url.path, page))
            if failure:
                return JSONResponse(
                    {"status": failure, "error": "Internal Server Error"}, status_code=failure
                )
            items = source
            if key == "subscriptions":
                wanted = request.query_params.getlist("status[]") or ["active"]
                items = [item for item in items if item["status"] in wanted]
            pages = max(math.ceil(len(items) / per_page), 1)
            chunk = items[(page - 1) * per_page : page * per_page]
            meta = {
                "current_page": page,
                "next_page": page + 1 if page < pages else None,
                "prev_page": page - 1 if page > 1 else None,
                "total_pages": pages,
                "total_count": len(items),
            }
            return JSONResponse({key: chunk, "meta": meta})

        return handler

    async def create_event(self, request: Request) -> JSONResponse:
        self.requests.append(("POST", request.url.path, []))
        if not self._authorized(request):
            return JSONResponse({"status": 401, "error": "Unauthorized"}, status_code=401)
        if self.event_failures:
            status = self.event_failures.pop(0)
            return JSONResponse(
                {"status": status, "error": "Service Unavailable"}, status_code=status
            )
        event = (await request.json())["event"]
        if event["transaction_id"] in self.events:
            return JSONResponse(
                {
                    "status": 422,
                    "error": "Unprocessable Entity",
                    "code": "validation_errors",
                    "error_details": {"transaction_id": ["value_already_exist"]},
                },
                status_code=422,
            )
        self.events[event["transaction_id"]] = event
        return JSONResponse({"event": {**event, "lago_id": f"ev_{len(self.events)}"}})

    def app(self) -> Any:
        return Starlette(
            routes=[
                Route("/api/v1/customers", self._list("customers", self.customers)),
                Route("/api/v1/plans", self._list("plans", self.plans)),
                Route("/api/v1/subscriptions", self._list("subscriptions", self.subscriptions)),
                Route("/api/v1/invoices", self._list("invoices", self.invoices)),
                Route("/api/v1/events", self.create_event, methods=["POST"]),
            ]
        )
