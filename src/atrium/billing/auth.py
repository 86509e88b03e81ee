"""Who may call the billing routes: reads need `billing:read` (analysts and moderators reach
everyone's records), changes `billing:write`/`delete`, a Lago sync `billing:execute`."""

from typing import Annotated

from fastapi import Depends

from atrium.auth.deps import require
from atrium.auth.principal import Principal
from atrium.errors import Forbidden

BillingRead = Annotated[Principal, Depends(require("billing", "read"))]
BillingWrite = Annotated[Principal, Depends(require("billing", "write"))]
BillingDelete = Annotated[Principal, Depends(require("billing", "delete"))]
BillingExecute = Annotated[Principal, Depends(require("billing", "execute"))]
SignedIn = Annotated[Principal, Depends(require())]


async def _reaches_all_billing(principal: BillingRead) -> Principal:
    if not principal.reaches("billing", "read"):
        raise Forbidden("Revenue analytics need read access to everyone's billing")
    return principal


# revenue analytics: administrators and roles whose reach covers everyone's billing
RevenueRead = Annotated[Principal, Depends(_reaches_all_billing)]
