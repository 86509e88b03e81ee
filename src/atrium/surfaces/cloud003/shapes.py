"""Shared pieces of seed 003's shapes: ISO times with `Z`, ids as strings, open models."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from atrium.shapes import iso_z


class Open(BaseModel):
    """A documented core of fields; the rest of the neutral data passes through."""

    model_config = ConfigDict(extra="allow")


def shaped(value: Any) -> Any:
    """Datetimes as ISO 8601 with `Z`, recursively."""
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, dict):
        return {key: shaped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [shaped(item) for item in value]
    return value


def account_row(info: dict[str, Any]) -> dict[str, Any]:
    """CONTRACTS' account: `id` is Atrium's, `account_id` the AWS account id."""
    return shaped({**info, "id": str(info["id"])})
