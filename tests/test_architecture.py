"""The import graph and file sizes that keep domains apart: a domain reaches another only
through its `service` (or a read model it exports), never its `tables`, and no two domains
depend on each other, directly or around a loop."""

import ast
from collections import defaultdict
from pathlib import Path

import atrium

PACKAGE = Path(atrium.__file__).parent
NOT_DOMAINS = {"migrations"}
MAX_LINES = 600


def _domains() -> set[str]:
    return {
        path.name
        for path in PACKAGE.iterdir()
        if (path / "__init__.py").exists() and path.name not in NOT_DOMAINS
    }


def _imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _cross_domain_imports() -> list[tuple[str, str, str]]:
    """(importing file, importing domain, imported module) for every import of another domain."""
    domains = _domains()
    found = []
    for path in PACKAGE.rglob("*.py"):
        domain = path.relative_to(PACKAGE).parts[0]
        if domain not in domains:
            continue
        for module in _imported_modules(ast.parse(path.read_text())):
            parts = module.split(".")
            if parts[0] == "atrium" and len(parts) > 1 and parts[1] in domains - {domain}:
                found.append((str(path.relative_to(PACKAGE)), domain, module))
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one domain (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def test_no_domain_imports_another_domains_tables():
    offenders = [
        f"{path} imports {module}"
        for path, _, module in _cross_domain_imports()
        if ".tables" in module or module.endswith("tables")
    ]
    assert offenders == []


def test_domains_depend_on_each_other_in_one_direction():
    edges: dict[str, set[str]] = defaultdict(set)
    for _, domain, module in _cross_domain_imports():
        edges[domain].add(module.split(".")[1])
    assert _cycles(edges) == []


def test_no_source_file_is_longer_than_the_limit():
    long_files = [
        f"{path.relative_to(PACKAGE)}: {lines} lines"
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and "migrations" not in path.parts
    ]
    assert long_files == []


def _permission_aliases_and_admin_checks(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require":
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} calls require()")
        elif isinstance(node, ast.Attribute) and node.attr == "is_admin":
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} reads is_admin")
    return found


def test_routers_declare_access_through_their_domains_auth_module():
    """Permission aliases live in each domain's `auth.py`; an admin-only route says so with
    `require(..., admin=True)` there instead of checking `is_admin` in the handler."""
    routers = [
        path
        for path in PACKAGE.rglob("*.py")
        if path.name == "router.py" or "surfaces" in path.relative_to(PACKAGE).parts
    ]
    offenders = [found for path in routers for found in _permission_aliases_and_admin_checks(path)]
    assert offenders == []
