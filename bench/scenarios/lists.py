"""Uncached list pages over the same 10,000 conversations as `list_page1`: the second page by
cursor, Vault's offset list, and the first page right after a write (each read follows a
rename, so the list cache never serves it). The `_stock` variants run the same on aiosqlite."""

from bench.context import BenchContext, ensure_success
from bench.errors import ScenarioFailed
from bench.registry import Scenario, Target, json_check, register
from bench.scenarios.list_page1 import page_of, seeded_admin

PAGE = "/api/v1/conversations?limit=20"


async def page2(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    first = await ctx.client.get(PAGE, headers=headers)
    ensure_success(first, "listing the first page")
    cursor = first.headers.get("x-next-cursor")
    if not cursor:
        raise ScenarioFailed("the first page of 20 gave no X-Next-Cursor")
    return Target(f"{PAGE}&cursor={cursor}", headers=headers, check=page_of(20))


async def vault(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    return Target("/vault/conversations?limit=20&offset=20", headers=headers, check=page_of(20))


def page_or_rename(document) -> str | None:
    if isinstance(document, dict):  # the rename's answer
        return None if document.get("title", "").startswith("Renamed") else str(document)[:80]
    if not isinstance(document, list) or len(document) != 20:
        return f"expected a page of 20, got {str(document)[:80]}"
    return None


async def after_write(ctx: BenchContext) -> Target:
    headers = await seeded_admin(ctx)
    first = await ctx.client.get(PAGE, headers=headers)
    ensure_success(first, "listing the first page")
    renamed = first.json()[5]["id"]
    rename = Target(
        f"/api/v1/conversations/{renamed}",
        "PATCH",
        headers=headers,
        json={"title": "Renamed by the bench"},
    )
    read = Target(PAGE, headers=headers)
    return Target(
        rename.path,
        "PATCH",
        headers,
        json=rename.json,
        then=(read,),
        check=json_check(page_or_rename),
    )


VARIANTS = (
    ("list_page2", page2, "GET page 2 of 20 by cursor (uncached)"),
    ("list_vault", vault, "GET /vault/conversations?limit=20&offset=20 (uncached)"),
    ("list_after_write", after_write, "PATCH a title, then GET page 1 (a miss), in turn"),
)
for name, setup, description in VARIANTS:
    register(Scenario(name, setup, description, connections=50))
    if name != "list_vault":
        register(
            Scenario(
                f"{name}_stock",
                setup,
                f"{description}, on aiosqlite",
                connections=50,
                server="stock",
            )
        )
