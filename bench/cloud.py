"""Cloud discovery at size: 5,000 instances (each with its root EBS volume: 5,000 volumes)
plus 500 unattached volumes across 4 regions, seeded into a moto server (its own process),
discovered by Atrium on a fresh SQLite database; then the client dashboard's latency at that
size.

    .venv/bin/python -m bench.cloud [--instances 5000] [--volumes 500] [--requests 200]

Prints discovery wall time and the Atrium process's peak RSS (moto runs apart; `--heap` adds
the Python heap peak during discovery, slowly), then dashboard p50/p95/max over sequential
requests through the ASGI app in-process (no network, one client). `--read-timeout` (300 s)
lifts boto3's read timeout for moto's sake."""

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import boto3
import httpx

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"]
TYPES = ["t3.micro", "t3.small", "m5.large", "c5.large", "r5.large"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return process, endpoint
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("moto server did not start")


def seed(instances: int, volumes: int) -> None:
    per_region_i, per_region_v = instances // len(REGIONS), volumes // len(REGIONS)
    for region in REGIONS:
        ec2 = boto3.client("ec2", region_name=region)
        made = 0
        while made < per_region_i:
            count = min(25, per_region_i - made)
            ec2.run_instances(
                ImageId="ami-12345678",
                MinCount=count,
                MaxCount=count,
                InstanceType=TYPES[made // 25 % len(TYPES)],
            )
            made += count
        for n in range(per_region_v):
            ec2.create_volume(AvailabilityZone=f"{region}a", Size=10 + n % 90, VolumeType="gp3")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument(
        "--volumes", type=int, default=500, help="unattached volumes besides the root volumes"
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--heap", action="store_true", help="trace the Python heap (slow)")
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=300.0,
        help="boto3 read timeout (Atrium's is 60 s; moto renders a page of 200 instances "
        "slowly on a loaded machine, which is moto's cost, not discovery's)",
    )
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    moto, endpoint = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        started = time.perf_counter()
        seed(args.instances, args.volumes)
        print(f"seeded moto in {time.perf_counter() - started:.1f} s")
        run(args)
    finally:
        moto.kill()
        moto.wait(timeout=30)


def run(args: argparse.Namespace) -> None:
    from botocore.config import Config
    from fastapi.testclient import TestClient

    from atrium.app import create_app
    from atrium.cloud import aws
    from atrium.config import Settings
    from atrium.migrate import upgrade
    from atrium.security.tokens import issue_access_token
    from atrium.users import service as users_service

    aws.BOTO_CONFIG = aws.BOTO_CONFIG.merge(Config(read_timeout=args.read_timeout))
    data = Path(tempfile.mkdtemp(prefix="atrium-bench-cloud-"))
    url = f"sqlite+aiosqlite:///{data / 'atrium.db'}"
    upgrade(url)
    settings = Settings(
        _env_file=None,
        data_dir=data,
        database_url=url,
        log_requests=False,
        aws_principal_arn="arn:aws:iam::123456789012:user/atrium",
    )
    app = create_app(settings)
    with TestClient(app) as client:

        async def make_user() -> int:
            async with app.state.db.sessions() as session:
                user = await users_service.create_user(
                    session,
                    email="bench@example.com",
                    username="bench",
                    password="Bench-password-1",
                    role="user",
                    full_name=None,
                )
                await session.commit()
                return user.id

        from datetime import timedelta

        user_id = client.portal.call(make_user)
        token = issue_access_token(
            app.state.secrets.jwt_key,
            user_id=user_id,
            role="user",
            lifetime=timedelta(hours=1),
        )
        headers = {"Authorization": f"Bearer {token}"}
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if args.heap:
            tracemalloc.start()
        started = time.perf_counter()
        answer = client.post(
            "/onboarding/connect/credentials",
            json={"access_key": "AKIABENCHBENCHBENCH1", "secret_key": "bench", "regions": REGIONS},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        account_id = answer.json()["account_id"]
        while (
            client.get(f"/onboarding/{account_id}/discovery", headers=headers).json()["status"]
            == "in_progress"
        ):
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        heap_peak = tracemalloc.get_traced_memory()[1] if args.heap else None
        tracemalloc.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        status = client.get(
            f"/onboarding/{answer.json()['account_id']}/discovery", headers=headers
        ).json()
        assert status["status"] == "completed", status
        print(f"discovery: {elapsed:.1f} s, counts {status['counts']}")
        print(
            f"memory: peak RSS {peak / 1024:.0f} MiB (before discovery {baseline / 1024:.0f} "
            f"MiB)"
            + (
                f", Python heap peak during discovery {heap_peak / 2**20:.0f} MiB"
                if heap_peak
                else ""
            )
        )
        timings = []
        for _ in range(args.requests):
            begun = time.perf_counter()
            reply = client.get("/client/dashboard", headers=headers)
            timings.append((time.perf_counter() - begun) * 1000)
            assert reply.status_code == 200
        print(
            f"dashboard ({args.requests} sequential requests): p50 "
            f"{statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms, "
            f"max {max(timings):.1f} ms; instances {reply.json()['stats']['nodes']}"
        )


if __name__ == "__main__":
    main()
