from bench.context import BenchContext
from bench.registry import Target, json_check, scenario

IS_ME = json_check(lambda d: None if d.get("email") else f"no email in {str(d)[:80]}")


@scenario("me_jwt", description="GET /api/v1/auth/me with the admin's JWT")
def setup(ctx: BenchContext) -> Target:
    return Target("/api/v1/auth/me", headers=ctx.require_admin().headers, check=IS_ME)
