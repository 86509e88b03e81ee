"""Training datasets: JSONL, one row a line, of prompt/completion, chat (`messages`) or plain
`text`. Checked as the bytes stream (memory stays flat on a large file), so a create names
the bad lines before any job exists; the trainer reads the rows with the same parser."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_PROBLEMS = 20  # lines named in an error; the count says how many more
ROLES = frozenset({"system", "user", "assistant", "tool"})
SUFFIXES = (".jsonl", ".json", ".txt")


class DatasetError(ValueError):
    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def row_format(value: dict[str, Any]) -> str:
    if "messages" in value:
        return "chat"
    return "prompt_completion" if "prompt" in value else "text"


def row_problem(value: Any) -> str | None:
    """Why a parsed line is not a training row, or None."""
    if not isinstance(value, dict):
        return "not a JSON object"
    if "messages" in value:
        messages = value["messages"]
        if not isinstance(messages, list) or not messages:
            return "`messages` must be a non-empty list"
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                return f"messages[{index}] is not an object"
            if message.get("role") not in ROLES:
                return f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}"
            if not isinstance(message.get("content"), str):
                return f"messages[{index}].content must be a string"
        return None
    if "prompt" in value or "completion" in value:
        if not isinstance(value.get("prompt"), str) or not isinstance(value.get("completion"), str):
            return "`prompt` and `completion` must both be strings"
        if not value["completion"].strip():
            return "`completion` is empty"
        return None
    if "text" in value:
        if not isinstance(value["text"], str) or not value["text"].strip():
            return "`text` must be a non-empty string"
        return None
    return "a row needs `prompt` and `completion`, `messages`, or `text`"


@dataclass
class LineChecker:
    """Fed chunks of a JSONL file; counts rows and collects the first bad lines."""

    keep_rows: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    line: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    formats: set[str] = field(default_factory=set)
    bad: int = 0
    _tail: bytes = b""

    def feed(self, chunk: bytes) -> None:
        data = self._tail + chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        for raw in lines:
            self._check(raw)

    def finish(self) -> None:
        if self._tail:
            self._check(self._tail)
            self._tail = b""

    def _check(self, raw: bytes) -> None:
        self.line += 1
        text = raw.strip()
        if not text:
            return
        try:
            value = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            problem: str | None = f"not valid JSON ({exc})"[:200]
        else:
            problem = row_problem(value)
        if problem is not None:
            self.bad += 1
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append({"line": self.line, "error": problem})
            return
        self.count += 1
        self.formats.add(row_format(value))
        if self.keep_rows:
            self.rows.append(value)

    @property
    def format(self) -> str:
        return next(iter(self.formats)) if len(self.formats) == 1 else "mixed"

    def raise_if_invalid(self) -> None:
        if self.problems:
            named = "; ".join(f"line {entry['line']}: {entry['error']}" for entry in self.problems)
            more = (
                f" (and {self.bad - len(self.problems)} more)"
                if self.bad > len(self.problems)
                else ""
            )
            raise DatasetError(
                f"The dataset has {self.bad} bad line(s): {named}{more}", self.problems
            )
        if self.count == 0:
            raise DatasetError("The dataset has no rows")


async def check_stream(chunks: AsyncIterator[bytes], *, keep_rows: bool = False) -> LineChecker:
    """Rows parsed off the event loop (a large file is seconds of JSON)."""
    checker = LineChecker(keep_rows=keep_rows)
    async for chunk in chunks:
        await asyncio.to_thread(checker.feed, chunk)
    checker.finish()
    checker.raise_if_invalid()
    return checker


def check_file(path: Path, *, keep_rows: bool = False) -> LineChecker:
    checker = LineChecker(keep_rows=keep_rows)
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            checker.feed(chunk)
    checker.finish()
    checker.raise_if_invalid()
    return checker


def resolve_under_roots(raw: str, roots: list[str]) -> Path:
    """A dataset path inside one of the configured roots (links resolved first)."""
    if not roots:
        raise DatasetError("No dataset directories are configured (ATRIUM_DATASET_ROOTS)")
    try:
        path = Path(raw).expanduser().resolve(strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DatasetError(f"{raw}: no such file") from exc
    for root in roots:
        try:
            base = Path(root).expanduser().resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            continue
        if path.is_relative_to(base):
            if not path.is_file():
                raise DatasetError(f"{raw} is not a file")
            if path.suffix.lower() not in SUFFIXES:
                raise DatasetError(f"{raw}: a dataset is a .jsonl file")
            return path
    raise DatasetError(f"{raw} is not under a dataset directory (ATRIUM_DATASET_ROOTS)")
