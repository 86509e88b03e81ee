"""Who may use the API-key routes: `api_keys:read`/`write`/`delete` on one's own keys (roles
that reach api_keys see everyone's)."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

KeysRead = Annotated[Principal, Depends(require("api_keys", "read"))]
KeysWrite = Annotated[Principal, Depends(require("api_keys", "write"))]
KeysDelete = Annotated[Principal, Depends(require("api_keys", "delete"))]
