"""Copyright statements and their holders."""

import re

_HINT = re.compile(r"copyright|\(c\)|©", re.I)
_STATEMENT = re.compile(
    r"(?:copyright\s*(?:\(c\)|©)?|©|\(c\))\s*"
    r"(?P<years>(?:\d{4}(?:\s*[-\u2013,]\s*(?:\d{4}|present))*[,\s]*)+)?"
    r"(?:by\s+)?(?P<holder>[^\n]{2,120})",
    re.I,
)
_TRAILING = re.compile(
    r"\s*(?:all rights reserved\.?|\.?\s*licensed under.*|\*/|-->|\"\"\"|'''|#|\.)\s*$", re.I
)
_NOT_A_HOLDER = re.compile(
    r"^(?:notice|holders?|owner|statement|law|the above|and license|and permission|"
    r"\{|\$|<|%|\[yyyy\]|yyyy|\[year\]|year|name of|\[fullname\]|\(c\)|information)",
    re.I,
)


def _clean_holder(raw: str) -> str | None:
    holder = raw.strip().strip(",;:-").strip()
    for _ in range(3):
        holder = _TRAILING.sub("", holder).strip().strip(",;:").strip()
    holder = re.sub(r"\s+", " ", holder)
    if len(holder) < 2 or not re.search(r"[A-Za-z]", holder) or _NOT_A_HOLDER.match(holder):
        return None
    return holder[:100]


def find(text: str, *, max_lines: int = 80) -> list[dict[str, str]]:
    """Copyright statements in the first lines of a file: `{statement, holder, years}`."""
    if not _HINT.search(text[:8192]):
        return []
    found: list[dict[str, str]] = []
    for line in text.splitlines()[:max_lines]:
        if not _HINT.search(line):
            continue
        match = _STATEMENT.search(line)
        if match is None or (not match.group("years") and "copyright" not in line.lower()):
            continue
        holder = _clean_holder(match.group("holder"))
        if holder is None:
            continue
        statement = re.sub(r"\s+", " ", line.strip().lstrip("#/*;- ").strip())[:200]
        years = (match.group("years") or "").strip().strip(",")
        found.append({"statement": statement, "holder": holder, "years": years})
    return found
