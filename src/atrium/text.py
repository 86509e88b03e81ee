"""Text from clients. No NUL anywhere: PostgreSQL cannot store it and SQLite would, so both
refuse it (422) where bodies and queries are read. Names shown to other users (usernames, full
names, titles, role and provider names) also refuse control and bidirectional-formatting
characters, which can disguise a name (`DisplayName`)."""

import re
from typing import Annotated

from pydantic import AfterValidator

UNSAFE_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# A JSON `\u0000` escape: the backslash before it is not itself escaped (an even run before it).
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _refuse_unsafe(value: str) -> str:
    found = UNSAFE_IN_NAMES.search(value)
    if found:
        raise ValueError(
            "must not contain control or bidirectional-formatting characters "
            f"(U+{ord(found.group()):04X})"
        )
    return value


DisplayName = Annotated[str, AfterValidator(_refuse_unsafe)]


class NulScanner:
    """Finds a NUL in a JSON or form body as it streams, across chunk boundaries."""

    def __init__(self, form: bool) -> None:
        self.form = form
        self.carry = b""

    def found_in(self, chunk: bytes) -> bool:
        data = self.carry + chunk
        if self.form:
            found = b"%00" in data or b"\x00" in data
            self.carry = data[-2:]
            return found
        if b"\x00" in data or JSON_NUL.search(data):
            return True
        self.carry = _json_tail(data)
        return False


def _json_tail(data: bytes) -> bytes:
    """The end of `data` that could begin a `\\u0000` escape completed by the next chunk: the
    last five bytes, the run of backslashes before them and one byte before that run."""
    cut = max(0, len(data) - 5)
    while cut > 0 and data[cut - 1] == 0x5C:
        cut -= 1
    return data[max(0, cut - 1) :]


def nul_in_query(query_string: bytes) -> bool:
    return b"%00" in query_string or b"\x00" in query_string
