from bench.context import BenchContext
from bench.registry import Target, scenario


@scenario("me_jwt", description="GET /api/v1/auth/me with the admin's JWT")
def setup(ctx: BenchContext) -> Target:
    return Target("/api/v1/auth/me", headers=ctx.require_admin().headers)
