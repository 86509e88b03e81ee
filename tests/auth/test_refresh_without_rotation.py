"""With ATRIUM_REFRESH_ROTATION=false the refresh token is returned unchanged (seed 004)."""

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, object]:
    return {"refresh_rotation": False}


def test_refresh_returns_same_token(client: TestClient) -> None:
    body = {"email": "zed@example.com", "username": "zed", "password": "Zed-long-pass-1"}
    tokens = client.post("/api/v1/auth/register", json=body).json()["tokens"]
    for _ in range(2):
        response = client.post("/api/v1/auth/refresh", json=tokens)
        assert response.status_code == 200
        assert response.json()["refreshToken"] == tokens["refreshToken"]
        assert response.json()["accessToken"]
