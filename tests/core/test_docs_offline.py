"""`/docs` and `/redoc` render without internet: every asset they reference is served by Atrium
itself, with the right content type, and the Authorize button's pieces are there."""

import re

import pytest
from fastapi.testclient import TestClient

REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
CONTENT_TYPES = {
    ".js": ("application/javascript", "text/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


def _references(html: str) -> list[str]:
    return [first or second for first, second in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text and "https://" not in response.text
    references = _references(response.text)
    assert any(ref.endswith(".js") for ref in references)
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        suffix = reference[reference.rfind(".") :]
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], reference
        assert len(asset.content) > 0


def test_authorize_button_has_its_redirect_page_and_token_url(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in page
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "oauth2" in redirect.text.lower()
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    token_urls = [
        scheme["flows"]["password"]["tokenUrl"]
        for scheme in schemes.values()
        if scheme.get("type") == "oauth2"
    ]
    assert token_urls and all(url.startswith("/") for url in token_urls)
