"""Pieces of request and response shapes that every domain uses: UTC times with `Z`, bodies
that accept both casings, money as four-decimal numbers."""

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

import orjson
from fastapi import Response
from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel


def iso_z(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with `Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_bytes(content: Any) -> bytes:
    """JSON as FastAPI would send a response model's fields: UTC times with `Z` (pydantic's
    form), non-ASCII unescaped. For read paths that shape rows into dicts themselves."""
    return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def json_response(content: Any, headers: Mapping[str, str] | None = None) -> Response:
    """`content` sent as is: the route's `response_model` stays for the OpenAPI document,
    while FastAPI neither validates nor re-encodes a returned `Response`."""
    return Response(json_bytes(content), headers=headers, media_type="application/json")


def _both_casings(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class Input(BaseModel):
    """Request bodies accept snake_case and camelCase field names."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=_both_casings),
        populate_by_name=True,
        extra="ignore",
    )


MAX_MONEY = Decimal("99999999.9999")  # NUMERIC(12, 4)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)


# A JSON number (or a numeric string) from 0 to MAX_MONEY, kept to four decimal places.
Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_MONEY, allow_inf_nan=False),
    AfterValidator(_cents),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": float(MAX_MONEY)}),
]


def money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
