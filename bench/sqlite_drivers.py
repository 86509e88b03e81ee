"""The inline SQLite driver beside aiosqlite, in one process: `python -m bench.sqlite_drivers`.

Two Atrium apps (one per driver, each on its own fresh database, the same transaction model)
are driven in-process through ASGI by 16 concurrent clients, in interleaved rounds (a batch on
one, then the same batch on the other), so both see the same machine load; this holds on a
shared machine where two servers measured minutes apart do not. Prints the process's CPU µs
per request (all threads: aiosqlite's workers count) and requests/s for each. The HTTP server's
own cost is left out (it is the same for both); `python -m bench --only create,stock` measures
the full stack.
"""

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from atrium.app import create_app
from atrium.config import Settings
from atrium.migrate import upgrade

CLIENTS = 16
ADMIN = {"email": "bench@example.com", "password": "Bench-password-1"}
Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def make_app(stock: str):
    data_dir = Path(tempfile.mkdtemp(prefix="atrium-drivers-"))
    url = f"sqlite+aiosqlite:///{data_dir / 'atrium.db'}"
    upgrade(url)
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=url,
        stock_libraries=stock,
        log_requests=False,
        admin_email=ADMIN["email"],
        admin_username="bench",
        admin_password=ADMIN["password"],
    )
    return create_app(settings)


async def workload(http: httpx.AsyncClient) -> dict[str, Call]:
    login = await http.post("/api/v1/auth/login", json=ADMIN)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    chats = []
    for n in range(CLIENTS):
        body = {"title": f"Chat {n}", "model_id": "bench-model"}
        chats.append((await http.post("/vault/conversations", json=body, headers=headers)).json())
    for n in range(40):
        await http.post("/api/v1/conversations", json={"title": f"Filler {n}"}, headers=headers)
    turn = iter(range(10**9))

    def chat() -> int:
        return chats[next(turn) % CLIENTS]["id"]

    message = {"role": "user", "content": "A message the bench stores as it is."}
    return {
        "create_conversation": lambda c: c.post(
            "/api/v1/conversations", json={"title": "Bench"}, headers=headers
        ),
        "create_message": lambda c: c.post(
            f"/vault/conversations/{chat()}/messages", json=message, headers=headers
        ),
        "read_conversation": lambda c: c.get(f"/api/v1/conversations/{chat()}", headers=headers),
        "list_page2": lambda c: c.get("/api/v1/conversations?skip=20&limit=20", headers=headers),
    }


async def batch(http: httpx.AsyncClient, call: Call, requests: int) -> tuple[float, float]:
    async def client() -> None:
        for _ in range(requests // CLIENTS):
            answer = await call(http)
            if not 200 <= answer.status_code < 300:
                raise SystemExit(f"HTTP {answer.status_code}: {answer.text[:200]}")

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.process_time() - cpu, time.perf_counter() - started


async def measure(apps: dict, rounds: int, requests: int) -> None:
    inline, stock = apps["inline"], apps["aiosqlite"]
    async with inline.router.lifespan_context(inline), stock.router.lifespan_context(stock):
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://b")
            for name, app in apps.items()
        }
        calls = {name: await workload(http) for name, http in clients.items()}
        for scenario in calls["inline"]:
            totals = {name: [0.0, 0.0] for name in clients}
            for name, http in clients.items():  # warm-up
                await batch(http, calls[name][scenario], requests)
            for _ in range(rounds):
                for name, http in clients.items():
                    cpu, wall = await batch(http, calls[name][scenario], requests)
                    totals[name][0] += cpu
                    totals[name][1] += wall
            count = rounds * requests
            figures = "  ".join(
                f"{name} {cpu / count * 1e6:6,.0f} µs/req {count / wall:5,.0f}/s"
                for name, (cpu, wall) in totals.items()
            )
            print(f"{scenario:20s} {figures}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=96, help="per batch")
    options = parser.parse_args()
    apps = {"inline": make_app(""), "aiosqlite": make_app("aiosqlite")}  # migrations run first
    asyncio.run(measure(apps, options.rounds, options.requests))


if __name__ == "__main__":
    main()
