from bench.context import BenchContext
from bench.registry import Measurement, Plan, Target, scenario


@scenario("zz_compare", track_rss=True, max_rss_growth_mib=64)
def setup(ctx: BenchContext) -> Plan:
    target = Target("/", headers={"X-Test": 'a"b\\c é'})
    return Plan(target, compare_to=Target("/", base_url=ctx.hello_url), compare_label="hello")


@scenario("zz_measured")
async def measured(ctx: BenchContext) -> Measurement:
    with ctx.sample_rss() as rss:
        for _ in range(200):
            await ctx.client.get("/")
    return Measurement({"peak_rss_growth_mib": rss.peak_growth_mib})


@scenario("zz_post")
def post(ctx: BenchContext) -> Target:
    return Target("/", method="POST", json={"a": [1, "x\n"]})
