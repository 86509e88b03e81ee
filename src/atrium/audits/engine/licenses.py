"""License detection: SPDX identifiers, license notices and full texts, as SPDX expressions.

Detection reads normalised text (lower case, one space between words) and matches the phrases
that license texts and their recommended notices contain. Every match is given as an SPDX
expression and normalised with `license-expression`; each license key is classed by how far
its obligations reach (permissive, weak copyleft, strong copyleft, proprietary, unknown).
"""

import re
from dataclasses import dataclass
from functools import cache

from license_expression import ExpressionError, Licensing, get_spdx_licensing

PERMISSIVE = "permissive"
WEAK_COPYLEFT = "weak_copyleft"
STRONG_COPYLEFT = "strong_copyleft"
PROPRIETARY = "proprietary"
UNKNOWN = "unknown"
CATEGORIES = (PERMISSIVE, WEAK_COPYLEFT, STRONG_COPYLEFT, PROPRIETARY, UNKNOWN)
# The order in which an expression's strongest obligation wins (AND) or the weakest (OR).
_STRENGTH = {PERMISSIVE: 0, UNKNOWN: 1, WEAK_COPYLEFT: 2, STRONG_COPYLEFT: 3, PROPRIETARY: 4}

PROPRIETARY_REF = "LicenseRef-proprietary"
_PERMISSIVE_PREFIXES = (
    "MIT", "BSD-", "Apache-", "ISC", "0BSD", "Zlib", "BSL-1.0", "Unlicense", "CC0-1.0",
    "PSF-2.0", "Python-2.0", "X11", "NCSA", "WTFPL", "UPL-1.0", "PostgreSQL", "CC-BY-4.0",
    "CC-BY-3.0", "Artistic-2.0", "HPND", "curl", "OpenSSL", "AFL-", "Unicode-", "BlueOak-",
    "MIT-0", "ZPL-2.1", "Libpng", "libpng-2.0", "Beerware", "FTL", "W3C", "NTP", "ICU",
)  # fmt: skip
_WEAK_PREFIXES = (
    "LGPL-",
    "MPL-",
    "EPL-",
    "CDDL-",
    "EUPL-",
    "MS-RL",
    "OSL-",
    "CPL-",
    "Ruby",
    "APSL-",
)
_STRONG_PREFIXES = ("GPL-", "AGPL-", "SSPL-", "CC-BY-SA-", "OSL-3.0", "RPL-", "Sleepycat")
_PROPRIETARY_PREFIXES = ("LicenseRef-proprietary", "LicenseRef-commercial", "BUSL-", "Elastic-")


@dataclass(frozen=True, slots=True)
class Rule:
    expression: str
    pattern: re.Pattern[str]
    needles: tuple[str, ...]  # one of these words must be in the text for the rule to match


# Words a license's phrases always contain: a substring test skips most rules on most files.
_NEEDLES = {
    "AGPL": ("affero", "agpl"),
    "LGPL": ("lesser general", "library general"),
    "GPL-": ("general public",),
    "Apache": ("apache",),
    "MPL": ("mozilla",),
    "EPL": ("eclipse",),
    "MIT": ("mit",),
    "ISC": ("permission to use", "isc licen"),
    "BSD": ("redistribution", "bsd"),
    "Unlicense": ("unencumbered",),
    "BSL": ("boost",),
    "Zlib": ("as-is",),
    "PSF": ("python software foundation", "psf"),
    "Python": ("python software foundation", "psf"),
    "CC0": ("cc0", "zero/1.0"),
    "LicenseRef-proprietary": ("proprietary", "unauthorized"),
}


def _rule(expression: str, *phrases: str) -> Rule:
    needles = next(v for k, v in _NEEDLES.items() if expression.startswith(k))
    return Rule(expression, re.compile("|".join(f"(?:{p})" for p in phrases)), needles)


# "licensed under the", "released under the terms of the", "distributed under"
_UNDER = (
    r"(?:licensed|released|distributed|available|provided) under (?:the )?(?:terms of (?:the )?)?"
)
_GPL_TAIL = (
    r"(?:either )?version {v}(?: of the license)?,? or \(?at your option\)? any later version"
)
RULES = (
    _rule(
        "AGPL-3.0-or-later",
        "gnu affero general public license as published by the free software foundation,? "
        + _GPL_TAIL.format(v="3"),
    ),
    _rule(
        "AGPL-3.0-only",
        r"(?:licensed|released|distributed) under the (?:terms of the )?gnu affero general public "
        r"license,? version 3(?!,? or)",
        r"gnu affero general public license version 3, 19 november 2007",
        r"\bagpl-?v?3(?:\.0)?(?:-only)?\b",
    ),
    _rule(
        "LGPL-2.1-or-later",
        "gnu lesser general public license as published by the free software foundation,? "
        + _GPL_TAIL.format(v=r"2\.1"),
    ),
    _rule(
        "LGPL-3.0-or-later",
        "gnu lesser general public license as published by the free software foundation,? "
        + _GPL_TAIL.format(v="3"),
    ),
    _rule("LGPL-3.0-only", r"gnu lesser general public license version 3, 29 june 2007"),
    _rule("LGPL-2.1-only", r"gnu lesser general public license version 2\.1, february 1999"),
    _rule("LGPL-2.0-or-later", "gnu library general public license as published by"),
    _rule(
        "GPL-3.0-or-later",
        "gnu general public license as published by the free software foundation,? "
        + _GPL_TAIL.format(v="3"),
    ),
    _rule(
        "GPL-2.0-or-later",
        "gnu general public license as published by the free software foundation,? "
        + _GPL_TAIL.format(v="2"),
    ),
    _rule("GPL-3.0-only", r"gnu general public license version 3, 29 june 2007"),
    _rule("GPL-2.0-only", r"gnu general public license version 2, june 1991"),
    _rule(
        "Apache-2.0",
        r"licensed under the apache license,? version 2\.0",
        r"apache license,? version 2\.0,? january 2004",
        r"apache license,? version 2\.0 \(the \"?license\"?\)",
        r"under the terms of the apache (?:software )?license,? (?:version )?2\.0",
        # short notices: "released under the Apache 2.0 License", "under the Apache License 2.0"
        _UNDER + r"apache (?:software )?licen[cs]e,? (?:version |v\.? ?)?2(?:\.0)?\b",
        _UNDER + r"apache[- ](?:version )?2(?:\.0)? licen[cs]e",
    ),
    _rule("MPL-2.0", r"mozilla public license,? v(?:ersion|\.)? ?2\.0"),
    _rule("EPL-2.0", r"eclipse public license,? v(?:ersion|\.)? ?2\.0"),
    _rule(
        "MIT",
        r"permission is hereby granted, free of charge, to any person obtaining a copy of this "
        r"software and associated documentation files",
        r"(?:licensed|released|distributed|available) under the (?:terms of the )?\(?mit\)? "
        r"(?:license|licence)",
        r"under the mit license",
    ),
    _rule(
        "ISC",
        r"permission to use, copy, modify, and(?:/or)? distribute this software (?:and its "
        r"documentation )?for any purpose with or without fee is hereby granted, provided that "
        r"the above copyright notice",
        _UNDER + r"isc licen[cs]e",
        r"\btext of (?:the )?isc licen[cs]e",
    ),
    _rule(
        "BSD-3-Clause",
        # the third clause forbids using names to endorse derived products, however it is worded
        r"redistribution and use in source and binary forms, with or without modification, are "
        r"permitted provided that the following conditions are met.{0,900}?(?:neither the name|"
        r"names? of (?:its|the) (?:contributors|authors?|copyright holders?) may not be used to "
        r"endorse)",
    ),
    _rule(
        "BSD-3-Clause",
        r"(?:licensed|released|distributed) under the (?:new |revised |3-clause |modified )?bsd",
        r"bsd-style license",
        r"under the (?:terms of the )?(?:new |revised |3-clause |modified )?bsd licen[cs]e",
        r"\bbsd licensed\b",
        # a dual-license notice: "under the terms of the Apache License, Version 2.0, and the BSD
        # License"
        r"(?:licensed|released|distributed) under (?:[^.]|\.\d){0,120}?\band the "
        r"(?:new |revised |3-clause |modified )?bsd licen[cs]e",
    ),
    _rule("Unlicense", r"this is free and unencumbered software released into the public domain"),
    _rule("BSL-1.0", r"boost software license,? version 1\.0"),
    _rule("Zlib", r"this software is provided 'as-is', without any express or implied warranty"),
    _rule("PSF-2.0", r"python software foundation license version 2"),
    _rule(
        "Python-2.0", r"psf license agreement", r"python software foundation license(?! version)"
    ),
    _rule(
        "CC0-1.0",
        r"creative commons (?:legal code )?cc0 1\.0 universal",
        r"publicdomain/zero/1\.0",
    ),
    _rule(
        PROPRIETARY_REF,
        r"proprietary and confidential",
        r"unauthorized copying of this file, via any medium,? is strictly prohibited",
    ),
)
# BSD-2-Clause is BSD-3-Clause's text without the third clause: decided after the rules.
_BSD_BASE = re.compile(
    r"redistribution and use in source and binary forms, with or without modification, are "
    r"permitted provided that the following conditions are met"
)
_SPDX_TAG = re.compile(r"spdx-license-identifier:\s*([^\n*#]+?)(?:\s*(?:\*/|-->|#|\n|$))", re.I)
# Package metadata (PKG-INFO, METADATA, setup.cfg): `License: X`, `License-Expression: X` and
# trove classifiers name licenses without their text.
_METADATA_FIELD = re.compile(r"^license(?:-expression)?\s*[:=]\s*(.{2,80}?)\s*$", re.I | re.M)
# Fields that code carries: a module's `__license__ = "MIT"`, a docstring's `:license: BSD, see
# LICENSE for details` (Sphinx field lists, as Pygments and Flask write them), JSDoc's `@license`.
_CODE_FIELD = re.compile(
    r"""(?:__license__\s*=\s*["']([^"'\n]{2,80})["']|(?:^|\s):license:[ \t]*([^,;(\n]{2,60})|"""
    r"""@license[ \t]+([A-Za-z0-9.+-]+(?:[ \t]+(?:OR|AND|WITH)[ \t]+[A-Za-z0-9.+-]+)*))""",
    re.I | re.M,
)
_CLASSIFIER = re.compile(r"license :: (?:osi approved :: )?([^\n\"',]+)", re.I)
CLASSIFIERS = {
    "mit license": "MIT",
    "mit no attribution license (mit-0)": "MIT-0",
    "bsd license": "BSD-3-Clause",
    "apache software license": "Apache-2.0",
    "python software foundation license": "Python-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "isc license (iscl)": "ISC",
    "the unlicense (unlicense)": "Unlicense",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only",
    "gnu affero general public license v3 or later (agplv3+)": "AGPL-3.0-or-later",
    "eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "zlib/libpng license": "Zlib",
}
_WS = re.compile(r"[\s#*/;]+")
# Cheap pre-filter: a text without any of these cannot match a rule.
_HINT = re.compile(
    r"licen[cs]e|spdx|permission is hereby|permission to use, copy|redistribution and use|"
    r"public domain|proprietary|"
    r"as-is|unauthorized copying",
    re.I,
)
MAX_TEXT = 64 * 1024  # notices sit at the top; full license texts are shorter than this
_OR_LATER = {"GPL-3.0-or-later", "GPL-2.0-or-later", "LGPL-2.1-or-later", "LGPL-3.0-or-later"}


@cache
def licensing() -> Licensing:
    return get_spdx_licensing()


def normalise_text(text: str) -> str:
    return _WS.sub(" ", text.lower())


# Names that manifests write instead of SPDX identifiers.
ALIASES = {
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "mit license": "MIT",
    "the mit license": "MIT",
    "expat": "MIT",
    "bsd": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "bsd license": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "2-clause bsd license": "BSD-2-Clause",
    "apache license version 2.0": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "apache 2.0 license": "Apache-2.0",
    "apache license 2": "Apache-2.0",
    "2-clause bsd": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "isc license": "ISC",
    "gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "lgplv3": "LGPL-3.0-only",
    "agplv3": "AGPL-3.0-only",
    "mpl 2.0": "MPL-2.0",
    "mpl-2": "MPL-2.0",
    "psf": "PSF-2.0",
    "public domain": "LicenseRef-public-domain",
    "unlicensed": PROPRIETARY_REF,
    "proprietary": PROPRIETARY_REF,
    "commercial": "LicenseRef-commercial",
}


def normalise_expression(raw: str) -> str | None:
    """A valid SPDX expression for `raw`, a `LicenseRef-` for an unknown key, or None."""
    raw = raw.strip().strip("\"'").strip()
    if not raw or len(raw) > 300:
        return None
    raw = ALIASES.get(raw.lower().rstrip("."), raw)
    spdx = licensing()
    try:
        parsed = spdx.parse(raw, validate=False, simple=False)
    except ExpressionError:
        parsed = None
    if parsed is None:
        return _ref(raw)
    known = spdx.validate(str(parsed))
    if not known.errors:
        return str(spdx.dedup(parsed))
    # keep the valid parts; an unknown key becomes a LicenseRef
    keys = spdx.license_keys(parsed)
    unknown = {key for key in keys if spdx.validate(key).errors}
    text = str(parsed)
    for key in sorted(unknown, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.+-]){re.escape(key)}(?![\w.+-])", _ref(key), text)
    return text


def _ref(raw: str) -> str:
    if raw.startswith("LicenseRef-"):
        return raw
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", raw).strip("-")[:60] or "unknown"
    return f"LicenseRef-{slug}"


def license_keys(expression: str) -> list[str]:
    try:
        return licensing().license_keys(expression)
    except ExpressionError:
        return [expression]


def classify_key(key: str) -> str:
    if key.startswith(_PROPRIETARY_PREFIXES):
        return PROPRIETARY
    if key.startswith(("GPL-", "AGPL-")) and "with" not in key.lower():
        return STRONG_COPYLEFT
    if key.startswith(_STRONG_PREFIXES):
        return STRONG_COPYLEFT
    if key.startswith(_WEAK_PREFIXES):
        return WEAK_COPYLEFT
    if key.startswith(_PERMISSIVE_PREFIXES) or key in ("MIT", "ISC"):
        return PERMISSIVE
    return UNKNOWN


def classify(expression: str) -> str:
    """The expression's class: OR takes the most permissive choice, AND the strictest part."""
    spdx = licensing()
    try:
        parsed = spdx.parse(expression, validate=False)
    except ExpressionError:
        return UNKNOWN
    return _classify_node(parsed) if parsed is not None else UNKNOWN


def _classify_node(node) -> str:
    from license_expression import AND, OR, LicenseWithExceptionSymbol

    if isinstance(node, OR):
        return min((_classify_node(arg) for arg in node.args), key=_STRENGTH.__getitem__)
    if isinstance(node, AND):
        return max((_classify_node(arg) for arg in node.args), key=_STRENGTH.__getitem__)
    if isinstance(node, LicenseWithExceptionSymbol):
        # a GPL with a linking exception (Classpath, GCC runtime) binds like a weak copyleft
        base = classify_key(node.license_symbol.key)
        return WEAK_COPYLEFT if base == STRONG_COPYLEFT else base
    return classify_key(getattr(node, "key", str(node)))


def detect(text: str) -> list[str]:
    """SPDX expressions found in a file's text: tags first, then notices and full texts."""
    if not _HINT.search(text):
        return []
    found: list[str] = []
    for match in _SPDX_TAG.finditer(text[:MAX_TEXT]):
        expression = normalise_expression(match.group(1))
        if expression and expression not in found:
            found.append(expression)
    found += [e for e in _metadata_licenses(text[:MAX_TEXT]) if e not in found]
    flat = normalise_text(text[:MAX_TEXT])
    for rule in RULES:
        if rule.expression in found or not any(needle in flat for needle in rule.needles):
            continue
        if rule.pattern.search(flat):
            found.append(rule.expression)
    if "BSD-3-Clause" not in found and _BSD_BASE.search(flat):
        found.append("BSD-2-Clause")
    # a full GPL text carries an "or later" notice as its how-to-apply example: the text wins
    for later in _OR_LATER & set(found):
        if later.replace("-or-later", "-only") in found:
            found.remove(later)
    return found


def _metadata_licenses(text: str) -> list[str]:
    found: list[str] = []
    lowered = text.lower()
    if "license" not in lowered:
        return found
    for match in _CLASSIFIER.finditer(text):
        expression = CLASSIFIERS.get(match.group(1).strip().lower())
        if expression and expression not in found:
            found.append(expression)
    fields = [m.group(1) for m in _METADATA_FIELD.finditer(text)]
    fields += [next(g for g in m.groups() if g) for m in _CODE_FIELD.finditer(text)]
    for field in fields:
        expression = normalise_expression(field)
        # only names that are licenses: a free-text field ("see LICENSE") stays unknown
        if expression and "LicenseRef-" not in expression and expression not in found:
            found.append(expression)
    return found


def combine(expressions: list[str]) -> str | None:
    """One expression for several found in the same place (all apply: AND)."""
    unique = list(dict.fromkeys(expressions))
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    return normalise_expression(" AND ".join(f"({e})" for e in unique)) or unique[0]
