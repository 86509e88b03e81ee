"""Who may manage accounts: `users:read`/`write`/`delete` (administrators by default; a role
granted them still cannot touch an administrator's account, which the service enforces)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

SignedIn = Annotated[Principal, Depends(require())]
UsersRead = Annotated[Principal, Depends(require("users", "read"))]
UsersWrite = Annotated[Principal, Depends(require("users", "write"))]
UsersDelete = Annotated[Principal, Depends(require("users", "delete"))]
