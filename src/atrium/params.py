"""Numbers in paths, queries and bodies: one range for ids and pagination, enforced at parsing.

Ids are 32-bit integer columns on every backend, so an id, offset or cursor above 2^31 - 1 can
name nothing: it is refused (422) before a query is built, where SQLite would raise
`OverflowError` and PostgreSQL a data error. An id in range that names nothing is the
domain's 404.

`bound_integer_parameters(app)` runs at app creation and gives every integer path, query,
header or cookie parameter that declares no bounds of its own the id range, so routes added
later are covered without doing anything. Fields inside request bodies are typed with `Id`
(or `OptionalId`) instead; a test walks the OpenAPI for any integer left unbounded.
"""

import copy
import types
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from fastapi import FastAPI, Path, Query
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import Field

MAX_ID = 2**31 - 1
MAX_PAGE = 1000

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
OptionalLimit = Annotated[int | None, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[int | None, Query(ge=0, le=MAX_ID, description="From X-Next-Cursor")]

PAGE_SIZES = {"limit", "page_size", "per_page", "size"}
_LOWER = (annotated_types.Ge, annotated_types.Gt)
_UPPER = (annotated_types.Le, annotated_types.Lt)


def _is_integer(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType, list, set, tuple):
        return any(_is_integer(arg) for arg in get_args(annotation))
    return False


def _lower_bound(name: str) -> int:
    if name == "id" or name.endswith(("_id", "Id")):
        return 1
    return 0


def _bounded(field: Any) -> Any:
    """The same parameter with the id range added where it declares no bound."""
    info = field.field_info
    if not _is_integer(info.annotation):
        return field
    metadata = list(info.metadata)
    has_lower = any(isinstance(item, _LOWER) for item in metadata)
    has_upper = any(isinstance(item, _UPPER) for item in metadata)
    if has_lower and has_upper:
        return field
    if not has_lower:
        metadata.append(annotated_types.Ge(_lower_bound(field.name)))
    if not has_upper:
        upper = MAX_PAGE if field.name in PAGE_SIZES else MAX_ID
        metadata.append(annotated_types.Le(upper))
    bounded_info = copy.copy(info)
    bounded_info.metadata = metadata
    return type(field)(
        field_info=bounded_info, name=field.name, mode=field.mode, config=field.config
    )


def _bound_dependant(dependant: Dependant) -> None:
    for params in (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    ):
        params[:] = [_bounded(field) for field in params]
    for sub in dependant.dependencies:
        _bound_dependant(sub)


def bound_integer_parameters(app: FastAPI) -> None:
    for route in app.routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            _bound_dependant(route.dependant)
            if hasattr(route, "_flat_dependant"):
                route._flat_dependant = get_flat_dependant(route.dependant)


def parse_id(value: str | int, name: str, where: str = "path") -> int:
    """An id a handler reads itself (a string parameter): malformed or out of range is 422."""
    text = str(value).strip()
    if text.isdigit() and 1 <= int(text) <= MAX_ID:
        return int(text)
    raise RequestValidationError(
        [
            {
                "loc": (where, name),
                "msg": f"Input should be an integer id between 1 and {MAX_ID}",
                "type": "id_range",
            }
        ]
    )
