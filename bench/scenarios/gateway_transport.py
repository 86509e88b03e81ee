"""The outbound transport against the library it replaces, in the same run.

The same chat completion through two Atriums that differ only in the gateway's HTTP
transport: the lean one (`outbound/transport.py`) and httpx's own, with the same SSRF guard
(`ATRIUM_STOCK_LIBRARIES=httpx`). Each round measures the hello-world, then the lean Atrium,
then the stock one, under the same load; the table shows both servers' CPU µs per request
(`CPU µs/req` and the compare `µs/req`) beside their rps. The lean transport stays only while
it costs clearly less.
"""

from bench.context import BenchContext
from bench.errors import ScenarioFailed
from bench.registry import Plan, Target, scenario
from bench.scenarios.gateway_chat import _completed
from bench.scenarios.gateway_upstream import chat_body, upstream_for

STOCK = "stock_httpx"


async def _through(ctx: BenchContext, stream: bool, base_url: str | None = None) -> Target:
    _upstream, headers = await upstream_for(ctx)
    return Target(
        "/v1/chat/completions",
        "POST",
        headers=headers,
        json=chat_body(stream),
        base_url=base_url,
        check=_completed,
    )


async def _plan(ctx: BenchContext, stream: bool) -> Plan:
    if ctx.peer is None:
        raise ScenarioFailed("the Atrium on httpx's transport did not start")
    lean = await _through(ctx, stream)
    stock = await _through(ctx.peer, stream, base_url=ctx.peer.base_url)
    return Plan(lean, compare_to=stock, compare_label="httpx transport")


@scenario("gateway_transport", description="gateway_chat on the lean transport vs httpx's own",
          connections=50, peer=STOCK)  # fmt: skip
async def transport(ctx: BenchContext) -> Plan:
    return await _plan(ctx, stream=False)


@scenario("gateway_transport_stream", description="gateway_chat_stream on the lean transport "
          "vs httpx's own", connections=50, peer=STOCK)  # fmt: skip
async def transport_stream(ctx: BenchContext) -> Plan:
    return await _plan(ctx, stream=True)
