"""Seed 002's permission shapes (Ops Center's original backend)."""

from pydantic import AliasChoices, BaseModel, Field, model_validator

from atrium.params import Id
from atrium.text import DisplayName

RoleId = Field(validation_alias=AliasChoices("role_id", "roleId", "role"))


class RoleRead(BaseModel):
    id: str
    name: str
    description: str
    level: int
    permissions: dict[str, list[str]]
    created_at: str | None
    updated_at: str | None
    is_system: bool


class RoleCreate(BaseModel):
    name: DisplayName = Field(min_length=1, max_length=50)
    description: DisplayName = Field(min_length=1, max_length=200)
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    level: int = Field(default=5, ge=1, le=100)


class RoleUpdate(BaseModel):
    name: DisplayName | None = Field(default=None, min_length=1, max_length=50)
    description: DisplayName | None = Field(default=None, min_length=1, max_length=200)
    level: int | None = Field(default=None, ge=1, le=100)


class GrantRequest(BaseModel):
    role_id: str = RoleId
    resource: str
    actions: list[str] = Field(min_length=1)


class RevokeRequest(BaseModel):
    role_id: str = RoleId
    resource: str
    actions: list[str] | None = None


class BulkRequest(BaseModel):
    """`{role_id, permissions: {resource: [actions]}}` for one role."""

    role_id: str = RoleId
    permissions: dict[str, list[str]] = Field(min_length=1)


class CheckRequest(BaseModel):
    role_id: str | None = Field(default=None, validation_alias=AliasChoices("role_id", "role"))
    user_id: str | Id | None = None
    resource: str
    action: str

    @model_validator(mode="after")
    def one_subject(self) -> "CheckRequest":
        if self.role_id is not None and self.user_id is not None:
            raise ValueError("give role_id or user_id, not both")
        return self


class CheckRead(BaseModel):
    role_id: str
    resource: str
    action: str
    has_permission: bool
    role_level: int
    role_name: str
    user_id: str | None = None


class UserPermissionsRead(BaseModel):
    user_id: str
    username: str
    role_id: str
    role_name: str
    role_level: int
    permissions: dict[str, list[str]]


class HierarchyEntry(BaseModel):
    id: str
    name: str
    level: int
    is_system: bool
    description: str


class HierarchyRead(BaseModel):
    hierarchy: list[HierarchyEntry]
    order: str


class RoleDeleted(BaseModel):
    id: str
    deleted: bool
