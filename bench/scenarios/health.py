from bench.context import BenchContext
from bench.registry import Target, json_check, scenario


@scenario("health", description="GET /health, no auth")
def setup(ctx: BenchContext) -> Target:
    return Target("/health", check=json_check(lambda d: None if "status" in d else str(d)[:80]))
