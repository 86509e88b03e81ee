from bench.context import BenchContext
from bench.registry import Target, scenario


@scenario("me_key", description="GET /api/v1/auth/me with an API key as the bearer")
async def setup(ctx: BenchContext) -> Target:
    key = await ctx.api_key()
    return Target("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
