from bench.context import BenchContext
from bench.registry import BASELINE, Target, scenario


@scenario(BASELINE, description="bare FastAPI hello-world (the baseline)", needs_atrium=False)
def setup(ctx: BenchContext) -> Target:
    return Target("/", base_url=ctx.hello_url)
