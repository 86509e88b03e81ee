"""One memo for FastAPI's per-request parameter parsing (FastAPI is pinned below 0.137).

For every query, header and cookie parameter of every request, FastAPI 0.136 asks twice whether
the parameter's annotation is a sequence (`field_annotation_is_sequence`, a walk over the
annotation's `typing` arguments): 18 µs per request for the conversation list's four query
parameters, more than SQLite takes to find its page. The answer depends on the annotation
alone, and a route's annotations live as long as the app, so it is kept per annotation object.
`tests/core/test_fastapi_speedups.py` pins the seam and the behaviour (a list-valued query
parameter still collects every value).
"""

from typing import Any

import fastapi.dependencies.utils as fastapi_dependencies

_original = fastapi_dependencies.field_annotation_is_sequence
# id -> (annotation, answer): the annotation is kept so that its id cannot be reused.
_answers: dict[int, tuple[Any, bool]] = {}


def field_annotation_is_sequence(annotation: Any) -> bool:
    known = _answers.get(id(annotation))
    if known is not None and known[0] is annotation:
        return known[1]
    answer = _original(annotation)
    _answers[id(annotation)] = (annotation, answer)
    return answer


def install() -> None:
    fastapi_dependencies.field_annotation_is_sequence = field_annotation_is_sequence
