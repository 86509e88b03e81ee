"""Web search for `internet_enabled` messages, through an endpoint an administrator configures
(`web_search_url` in the admin settings).

Wire format: SearXNG's JSON API. Atrium sends `GET {web_search_url}?q=<query>&format=json`
and reads `{"results": [{"title": str, "url": str, "content": str}, ...]}`; the first few
results go to the model as a system message. Any server answering that shape works.
"""

from dataclasses import dataclass

import httpx

MAX_RESULTS = 5
SNIPPET_CHARS = 500
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class SearchFailed(Exception):
    pass


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


def make_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


async def search(client: httpx.AsyncClient, endpoint: str, query: str) -> list[SearchResult]:
    try:
        response = await client.get(endpoint, params={"q": query[:500], "format": "json"})
    except httpx.HTTPError as exc:
        raise SearchFailed(
            f"the search endpoint could not be reached ({type(exc).__name__})"
        ) from exc
    if response.status_code != 200:
        raise SearchFailed(f"the search endpoint answered HTTP {response.status_code}")
    try:
        results = response.json().get("results") or []
    except (ValueError, AttributeError):
        raise SearchFailed("the search endpoint did not answer SearXNG JSON") from None
    found: list[SearchResult] = []
    for item in results:
        if not isinstance(item, dict) or not item.get("url"):
            continue
        found.append(
            SearchResult(
                title=str(item.get("title") or item["url"])[:300],
                url=str(item["url"])[:2000],
                snippet=str(item.get("content") or "")[:SNIPPET_CHARS],
            )
        )
        if len(found) == MAX_RESULTS:
            break
    return found


def as_system_message(query: str, results: list[SearchResult]) -> dict[str, str]:
    lines = [f"Web search results for: {query[:200]}", ""]
    for number, result in enumerate(results, 1):
        lines += [f"[{number}] {result.title} — {result.url}", result.snippet, ""]
    lines.append("Use these results where they help, and cite them by URL.")
    return {"role": "system", "content": "\n".join(lines)}
