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

_CANDIDATE = re.compile(
    # a long quoted token (the entropy plugins), a credential keyword assigned a literal
    r"[\"'`][A-Za-z0-9+/=_\-]{20,}[\"'`]|"
    r"(?i:pass(?:wd|word)?|pwd|secret|token|api_?key|private_?key|auth|credential)"
    r"[\w.\-\[\]\"']{0,30}\s*(?:=|:=|=>|:|==)\s*[\"'`]?[^\s\"'`(]{6}|"
    # key shapes that need no quotes
    r"(?:A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}|"
    r"-----BEGIN|xox[abprs]-|(?:sk|rk|pk)_live_|gh[pousr]_|glpat-|npm_[A-Za-z0-9]{30}|AIza|"
    r"SG\.[\w-]{16}|eyJ[\w-]{10,}\.|AccountKey=|https?://[^\s:/@]+:[^\s@/]+@"
)


@cache
def _settings_context():
    from detect_secrets.settings import default_settings

    return default_settings


def candidate_lines(text: str) -> list[tuple[int, str]]:
    if not _CANDIDATE.search(text):
        return []
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if len(line) < 2000 and _CANDIDATE.search(line)
    ]


def scan_text(text: str, path: str) -> list[dict[str, object]]:
    """Secrets in a file's text: `{path, line, type, hashed_secret}`."""
    lines = candidate_lines(text)
    if not lines:
        return []
    from detect_secrets.core.scan import _process_line_based_plugins

    found: dict[tuple[int, str], dict[str, object]] = {}
    with _settings_context()(), contextlib.suppress(Exception):
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
