"""Uploading 1 GiB through POST /api/v1/upload while sampling the server's memory.
Target: the server's peak RSS grows by less than 64 MiB (the body streams to
storage in chunks; nothing holds it whole)."""

import time
from collections.abc import AsyncIterator

from bench.context import BenchContext, ensure_success
from bench.registry import Measurement, scenario

SIZE = 1024 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_GROWTH_MIB = 64
BOUNDARY = "atrium-bench-boundary"


async def _body() -> AsyncIterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = bytes(range(256)) * (CHUNK // 256)
    for _ in range(SIZE // CHUNK):
        yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@scenario("workspace_upload", description="Upload 1 GiB: peak RSS growth (target < 64 MiB)")
async def setup(ctx: BenchContext) -> Measurement:
    admin = ctx.require_admin()
    headers = {**admin.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    started = time.perf_counter()
    with ctx.sample_rss() as rss:
        response = await ctx.client.post(
            "/api/v1/upload", content=_body(), headers=headers, timeout=600
        )
    seconds = time.perf_counter() - started
    ensure_success(response, "uploading 1 GiB")
    uploaded = response.json()
    await ctx.client.delete(f"/api/v1/files/{uploaded['id']}", headers=admin.headers)
    problems = []
    if uploaded["file_size"] != SIZE:
        problems.append(f"stored {uploaded['file_size']} bytes, sent {SIZE}")
    if rss.peak_growth_mib >= MAX_GROWTH_MIB:
        problems.append(f"peak RSS grew {rss.peak_growth_mib:.1f} MiB >= {MAX_GROWTH_MIB} MiB")
    return Measurement(
        {
            "peak_rss_growth_mib": rss.peak_growth_mib,
            "seconds": seconds,
            "mib_per_s": SIZE / (1024 * 1024) / seconds,
        },
        problems,
    )
