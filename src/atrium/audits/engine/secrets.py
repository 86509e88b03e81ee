"""Committed secrets, found by detect-secrets' plugins and filters.

detect-secrets runs every plugin and filter on every line, about 6 files per second here;
most lines cannot hold a secret, so a cheap pre-filter picks the lines that could (a long
quoted token, a credential keyword, a known key prefix, a PEM header, credentials in a URL)
and only those go through detect-secrets. The secret itself is never stored: each finding
keeps its type, line and detect-secrets' SHA-1 of the value.
"""

import contextlib
import re
from functools import cache

_KEYWORD = r"(?:pass(?:wd|word)?|pwd|secret|token|api_?key|private_?key|auth|credential)"
# Separate patterns, each with a literal or small-class start: one alternation of them all loses
# the regex engine's prefix scan and runs ~15x slower.
_TOKEN = re.compile(r"[\"'`](?=[A-Za-z_\-+/=]*\d)[A-Za-z0-9+/=_\-]{20,}[\"'`]")
# a credential keyword assigned a quoted literal, or a bare token in a config line (lower case)
_KEYWORD_ASSIGNED = re.compile(
    _KEYWORD + r"[\w.\-\[\]\"']{0,30}\s*(?:=|:=|=>|:|==)\s*"
    r"(?:[\"'`][^\"'`\s]{6,}|[^\s\"'`(){}\[\],]{6,}[ \t]*$)",
    re.M,
)
_SHAPES = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?:A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}",
        r"-----BEGIN",
        r"xox[abprs]-",
        r"(?:sk|rk|pk)_live_",
        r"gh[pousr]_",
        r"glpat-|npm_[A-Za-z0-9]{30}|AIza",
        r"SG\.[\w-]{16}",
        r"eyJ[\w-]{10,}\.",
        r"AccountKey=",
        r"://[^\s:/@]+:[^\s@/]+@",
    )
)
MAX_CANDIDATES = 500  # per file; a file with more is data (hashes, fixtures), not configuration


@cache
def _configure() -> None:
    """Every detect-secrets plugin with the default filters, set once for the process (its
    per-call settings context costs more than scanning a typical file)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import cache_bust, configure_settings_from_baseline

    plugins = get_mapping_from_secret_type_to_class().values()
    cache_bust()  # clears the settings too: configure after it
    configure_settings_from_baseline({"plugins_used": [{"name": p.__name__} for p in plugins]})


def _starts(text: str) -> list[int]:
    starts = [m.start() for m in _TOKEN.finditer(text)]
    lowered = text.lower()
    if len(lowered) == len(text):  # lower() kept every offset (true for ASCII)
        starts += [m.start() for m in _KEYWORD_ASSIGNED.finditer(lowered)]
    else:
        keyword = re.compile(_KEYWORD_ASSIGNED.pattern, re.M | re.I)
        starts += [m.start() for m in keyword.finditer(text)]
    for pattern in _SHAPES:
        starts += [m.start() for m in pattern.finditer(text)]
    return sorted(set(starts))


def candidate_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines the pre-filter picks."""
    found: list[tuple[int, str]] = []
    number, position, last = 1, 0, -1
    for start in _starts(text):
        number += text.count("\n", position, start)
        position = start
        if number == last:
            continue
        last = number
        begin = text.rfind("\n", 0, start) + 1
        end = text.find("\n", start)
        line = text[begin : end if end != -1 else len(text)]
        if len(line) < 2000:
            found.append((number, line))
            if len(found) >= MAX_CANDIDATES:
                break
    return found


def scan_text(text: str, path: str) -> list[dict[str, object]]:
    """Secrets in a file's text: `{path, line, type, hashed_secret}`."""
    lines = candidate_lines(text)
    if not lines:
        return []
    from detect_secrets.core.scan import _process_line_based_plugins

    found: dict[tuple[int, str], dict[str, object]] = {}
    _configure()
    with contextlib.suppress(Exception):
        for secret in _process_line_based_plugins(lines=lines, filename=path):
            key = (secret.line_number, secret.secret_hash)
            if key not in found:
                found[key] = {
                    "path": path,
                    "line": secret.line_number,
                    "type": secret.type,
                    "hashed_secret": secret.secret_hash,
                }
            else:
                existing = found[key]
                if secret.type not in str(existing["type"]).split(", "):
                    existing["type"] = f"{existing['type']}, {secret.type}"
    return list(found.values())
