"""Teacher service load test on loopback: throughput and p50 / p99 latency under bounded concurrency.

    python benchmarks/teacher.py [--clients 1,4,16] [--batch 1,16] [--seconds 5] [--out benchmarks/results/teacher.json]

The server runs in its own process (`python -m teachers.server`, analytic backend, no cache, so every
case is diagnosed); the load comes from this process: C concurrent clients (asyncio, one httpx
connection pool), each posting batches of B copies of the example case back to back for the given
seconds. Latency is per request (a batch), wall clock from send to the parsed reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from teachers.example import EXAMPLE_CASE  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "teachers.server", "--config", str(ROOT / "configs/teacher.yaml"),
         "--set", "cache_dir=null", "--set", "concurrency=64", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the teacher server did not come up within 60 s")


async def load(url: str, clients: int, batch: int, seconds: float) -> dict:
    body = {"cases": [dict(EXAMPLE_CASE, case_id=f"c{i}") for i in range(batch)]}
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as http:
        stop = time.perf_counter() + seconds

        async def client():
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                response = await http.post("/v1/reports", json=body)
                if response.status_code != 200 or len(response.json()["reports"]) != batch:
                    errors += 1
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {
        "clients": clients, "batch": batch, "requests": len(latencies), "errors": errors, "seconds": round(wall, 3),
        "requests_per_s": round(len(latencies) / wall, 2), "cases_per_s": round(len(latencies) * batch / wall, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--batch", default="1,16")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/teacher.json")
    args = parser.parse_args(argv)
    port = free_port()
    proc = start_server(port)
    rows = []
    try:
        for batch in (int(b) for b in args.batch.split(",")):
            for clients in (int(c) for c in args.clients.split(",")):
                rows.append(asyncio.run(load(f"http://127.0.0.1:{port}", clients, batch, args.seconds)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    table = Table(title="teacher service, analytic backend, loopback")
    for col in ("clients", "batch", "requests", "errors", "requests/s", "cases/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("clients", "batch", "requests", "errors", "requests_per_s",
                                            "cases_per_s", "p50_ms", "p99_ms")))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                                    "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
