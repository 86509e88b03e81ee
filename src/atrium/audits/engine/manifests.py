"""Dependencies declared in package manifests, with versions and, where the manifest records
it, their license (npm lock files and vendored packages' own manifests do)."""

import json
import re
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from atrium.audits.engine import licenses

Dependency = dict[str, Any]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;#\s][^;#]*)?")


def _dep(ecosystem, name, version, manifest, *, scope="runtime", license_raw=None) -> Dependency:
    expression = licenses.normalise_expression(license_raw) if license_raw else None
    return {
        "name": name,
        "version": (version or "").strip() or None,
        "ecosystem": ecosystem,
        "manifest": manifest,
        "scope": scope,
        "license": expression,
        "license_category": licenses.classify(expression) if expression else None,
    }


def _requirement(line: str, manifest: str, scope: str = "runtime") -> Dependency | None:
    line = line.strip()
    if not line or line.startswith(("#", "-", "git+", "http:", "https:")):
        return None
    match = _REQUIREMENT.match(line)
    if match is None:
        return None
    return _dep("pypi", match.group(1).lower(), match.group(2), manifest, scope=scope)


def parse_requirements(text: str, path: str) -> tuple[list[Dependency], str | None]:
    scope = "development" if re.search(r"dev|test", path.rsplit("/", 1)[-1]) else "runtime"
    deps = [_requirement(line, path, scope) for line in text.splitlines()]
    return [d for d in deps if d], None


def _license_field(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("text") if len(value.get("text", "")) < 100 else None
    return None


def parse_pyproject(text: str, path: str) -> tuple[list[Dependency], str | None]:
    data = tomllib.loads(text)
    project = data.get("project", {})
    deps = [_requirement(item, path) for item in project.get("dependencies", [])]
    for group, items in (project.get("optional-dependencies") or {}).items():
        deps += [_requirement(item, path, f"optional:{group}") for item in items]
    poetry = data.get("tool", {}).get("poetry", {})
    for scope, table in (("runtime", "dependencies"), ("development", "dev-dependencies")):
        for name, spec in (poetry.get(table) or {}).items():
            if name.lower() == "python":
                continue
            version = spec if isinstance(spec, str) else (spec or {}).get("version")
            deps.append(_dep("pypi", name.lower(), version, path, scope=scope))
    declared = _license_field(project.get("license")) or poetry.get("license")
    return [d for d in deps if d], declared


def parse_package_json(text: str, path: str) -> tuple[list[Dependency], str | None]:
    data = json.loads(text)
    if not isinstance(data, dict):
        return [], None
    deps = []
    tables = (
        ("runtime", "dependencies"),
        ("development", "devDependencies"),
        ("optional", "optionalDependencies"),
        ("peer", "peerDependencies"),
    )
    for scope, key in tables:
        table = data.get(key) or {}
        if isinstance(table, dict):
            deps += [_dep("npm", n, str(v), path, scope=scope) for n, v in table.items()]
    declared = data.get("license")
    if isinstance(declared, dict):
        declared = declared.get("type")
    return deps, declared if isinstance(declared, str) else None


def parse_package_lock(text: str, path: str) -> tuple[list[Dependency], str | None]:
    """npm lock files (v2/v3) record each installed package's declared license."""
    data = json.loads(text)
    deps = []
    for key, info in (data.get("packages") or {}).items():
        if not key or not isinstance(info, dict):
            continue
        name = info.get("name") or key.rsplit("node_modules/", 1)[-1]
        scope = "development" if info.get("dev") else "runtime"
        deps.append(
            _dep(
                "npm", name, info.get("version"), path, scope=scope, license_raw=info.get("license")
            )
        )
    return deps, None


def parse_go_mod(text: str, path: str) -> tuple[list[Dependency], str | None]:
    deps = []
    block = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("require ("):
            block = True
            continue
        if block and line == ")":
            block = False
            continue
        if line.startswith("require "):
            line = line[len("require ") :]
        elif not block:
            continue
        parts = line.split()
        if len(parts) >= 2:
            deps.append(_dep("go", parts[0], parts[1], path))
    return deps, None


def parse_cargo(text: str, path: str) -> tuple[list[Dependency], str | None]:
    data = tomllib.loads(text)
    deps = []
    for scope, table in (("runtime", "dependencies"), ("development", "dev-dependencies"),
                         ("build", "build-dependencies")):  # fmt: skip
        for name, spec in (data.get(table) or {}).items():
            version = spec if isinstance(spec, str) else (spec or {}).get("version")
            deps.append(_dep("cargo", name, version, path, scope=scope))
    return deps, (data.get("package") or {}).get("license")


def parse_pom(text: str, path: str) -> tuple[list[Dependency], str | None]:
    # expat refuses external entities and caps entity expansion (no XXE, no billion laughs)
    root = ET.fromstring(text)
    ns = {"m": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {}
    prefix = "m:" if ns else ""

    def find(node, tag):
        found = node.find(f"{prefix}{tag}", ns)
        return found.text.strip() if found is not None and found.text else None

    deps = []
    for node in root.iterfind(f".//{prefix}dependencies/{prefix}dependency", ns):
        group, artifact = find(node, "groupId"), find(node, "artifactId")
        if artifact:
            scope = find(node, "scope") or "runtime"
            name = f"{group}:{artifact}" if group else artifact
            deps.append(_dep("maven", name, find(node, "version"), path, scope=scope))
    names = [find(lic, "name") for lic in root.iterfind(f".//{prefix}licenses/{prefix}license", ns)]
    declared = " AND ".join(n for n in names if n) or None
    return deps, declared


_GEM = re.compile(r"""^\s*gem\s+['"]([^'"]+)['"](?:\s*,\s*['"]([^'"]+)['"])?""")


def parse_gemfile(text: str, path: str) -> tuple[list[Dependency], str | None]:
    deps = []
    for line in text.splitlines():
        match = _GEM.match(line)
        if match:
            deps.append(_dep("rubygems", match.group(1), match.group(2), path))
    return deps, None


def parse_vendored_package_json(text: str, path: str) -> tuple[list[Dependency], str | None]:
    """A package copied under node_modules: itself, with its own declared license."""
    data = json.loads(text)
    if not isinstance(data, dict) or not data.get("name"):
        return [], None
    declared = data.get("license")
    declared = declared.get("type") if isinstance(declared, dict) else declared
    dep = _dep(
        "npm", data["name"], data.get("version"), path, scope="vendored", license_raw=declared
    )
    return [dep], None


Parser = Callable[[str, str], tuple[list[Dependency], str | None]]


def parser_for(path: str, vendored: bool) -> Parser | None:
    name = path.rsplit("/", 1)[-1]
    if name == "package.json":
        if "node_modules/" in path:
            return parse_vendored_package_json
        return None if vendored else parse_package_json
    if vendored:
        return None
    if name in ("package-lock.json", "npm-shrinkwrap.json"):
        return parse_package_lock
    if name == "pyproject.toml":
        return parse_pyproject
    if re.fullmatch(r"requirements[\w.-]*\.(?:txt|in)", name):
        return parse_requirements
    return {
        "go.mod": parse_go_mod,
        "Cargo.toml": parse_cargo,
        "pom.xml": parse_pom,
        "Gemfile": parse_gemfile,
    }.get(name)


def merge(dependencies: list[Dependency]) -> list[Dependency]:
    """One entry per (ecosystem, name, scope): a lock file's license and exact version complete
    the manifest's range."""
    merged: dict[tuple[str, str], Dependency] = {}
    is_lock = lambda dep: dep["manifest"].endswith(("lock.json", "shrinkwrap.json"))  # noqa: E731
    for dep in sorted(dependencies, key=is_lock):
        key = (dep["ecosystem"], dep["name"])
        known = merged.get(key)
        if known is None:
            merged[key] = dict(dep)
            continue
        for field in ("license", "license_category"):
            known[field] = known[field] or dep[field]
        if is_lock(dep) and dep["version"]:
            known["locked_version"] = dep["version"]
    return sorted(merged.values(), key=lambda d: (d["ecosystem"], d["name"]))
