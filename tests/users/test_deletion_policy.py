"""Deleting a user leaves nothing orphaned: every foreign key to a user either
cascades (owned rows) or is set to null (usage and audit rows, anonymised)."""

from fastapi.testclient import TestClient

from atrium import models


def test_every_foreign_key_to_users_cascades_or_nulls() -> None:
    offenders = [
        f"{table.name}.{fk.parent.name}"
        for table in models.Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "app_user" and fk.ondelete not in ("CASCADE", "SET NULL")
    ]
    assert offenders == []


def test_out_of_range_ids_are_client_errors(client: TestClient, admin) -> None:
    for path in ("/api/v1/admin/users/99999999999999999999", "/api/v1/tokens/4294967296"):
        response = client.get(path, headers=admin.headers)
        assert response.status_code == 422, (path, response.text)
    check = client.get(
        "/api/v1/permissions/check?user_id=99999999999&resource=files&action=read",
        headers=admin.headers,
    )
    assert check.status_code == 422


def test_out_of_range_limits_are_422(client: TestClient, create_user, admin) -> None:
    user = create_user()
    response = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"rpmLimit": 2**40}, headers=admin.headers
    )
    assert response.status_code == 422
    assert (
        client.get("/api/v1/admin/users?offset=99999999999999", headers=admin.headers).status_code
        == 422
    )
