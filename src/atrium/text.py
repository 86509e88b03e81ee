"""Text from clients. No NUL anywhere: PostgreSQL cannot store it and SQLite would, so both
refuse it (422) where bodies and queries are read. Names shown to other users (usernames, full
names, titles, role and provider names) also refuse control and bidirectional-formatting
characters, which can disguise a name (`DisplayName`)."""

import re
from typing import Annotated

from pydantic import AfterValidator

UNSAFE_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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
    """Finds a NUL in a JSON or form body as it streams, across chunk boundaries, in time
    linear in the body: a JSON `\\u0000` escape counts when an even number of backslashes
    precedes it (otherwise its backslash is itself escaped)."""

    def __init__(self, form: bool) -> None:
        self.form = form
        self.tail = b""
        self.odd = False  # an odd run of backslashes ends just before `tail`

    def found_in(self, chunk: bytes) -> bool:
        data = self.tail + chunk
        if self.form:
            self.tail = data[-2:]
            return b"%00" in data or b"\x00" in data
        if b"\x00" in data:
            return True
        at = data.find(b"\\u0000")
        while at != -1:
            run = _backslashes_before(data, at)
            if run == at and self.odd:
                run += 1
            if run % 2 == 0:
                return True
            at = data.find(b"\\u0000", at + 1)
        keep = max(0, len(data) - 5)
        run = _backslashes_before(data, keep)
        self.odd = (run + (1 if run == keep and self.odd else 0)) % 2 == 1
        self.tail = data[keep:]
        return False


def _backslashes_before(data: bytes, end: int) -> int:
    """The length of the run of backslashes ending at `end`, read in growing windows so that
    the total work stays linear."""
    size = 64
    while True:
        start = max(0, end - size)
        kept = data[start:end].rstrip(b"\\")
        if kept or start == 0:
            return end - start - len(kept)
        size *= 2


def nul_in_query(query_string: bytes) -> bool:
    return b"%00" in query_string or b"\x00" in query_string
