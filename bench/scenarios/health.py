from bench.context import BenchContext
from bench.registry import Target, scenario


@scenario("health", description="GET /health, no auth")
def setup(ctx: BenchContext) -> Target:
    return Target("/health")
