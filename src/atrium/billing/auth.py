"""Who may call the billing routes: reads need `billing:read` (analysts and moderators reach
everyone's records), changes `billing:write`/`delete`, a Lago sync `billing:execute`."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal

BillingRead = Annotated[Principal, Depends(require("billing", "read"))]
BillingWrite = Annotated[Principal, Depends(require("billing", "write"))]
BillingDelete = Annotated[Principal, Depends(require("billing", "delete"))]
BillingExecute = Annotated[Principal, Depends(require("billing", "execute"))]
SignedIn = Annotated[Principal, Depends(require())]
