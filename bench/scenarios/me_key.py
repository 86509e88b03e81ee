from bench.context import BenchContext
from bench.registry import Target, json_check, scenario

IS_ME = json_check(lambda d: None if d.get("email") else f"no email in {str(d)[:80]}")


@scenario("me_key", description="GET /api/v1/auth/me with an API key as the bearer")
async def setup(ctx: BenchContext) -> Target:
    key = await ctx.api_key()
    return Target("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}, check=IS_ME)
