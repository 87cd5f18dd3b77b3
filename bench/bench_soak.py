"""Soak: the model server under a steady request rate with the prediction log on and the spool loader
running on a timer, as in production.

Paced single-row V1 requests (``BENCH_SOAK_RPS``, default 500/s) for ``BENCH_SOAK_SECONDS`` (default
600) against ``python -m lakehouse_ml.serving.server`` on a sqlite Feast store; every
``BENCH_SOAK_LOAD_EVERY`` seconds (default 60) the spool is loaded into a local Iceberg
``ml.churn_predictions``. Per window (a tenth of the run, at most a minute): achieved rate, p50/p99,
server RSS, open file descriptors, spool bytes. The baseline is the run's own first window: p99 of the
last window / first, RSS growth, fd growth. At the end every acknowledged prediction id must be in the
table exactly once.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.common import percentile, report
from lakehouse_ml.predictions.spool_loader import load_spool
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.process import LocalServer
from tests.support.model_builders import write_feature_repo, write_model

CUSTOMERS = 1000
WORKERS = 32


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _drive(url: str, rps: float, seconds: float, samples: list, acknowledged: list) -> None:
    start = time.monotonic()
    total = int(rps * seconds)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty() and time.monotonic() - start < seconds:  # a slow server gets fewer
            index = queue.get_nowait()
            delay = start + index / rps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {"instances": [{"customer_id": f"c{index % CUSTOMERS:05d}"}]}
            sent = time.monotonic()
            try:
                answer = await client.post(url, json=body)
                status = answer.status_code
                if status == 200:
                    acknowledged.append(answer.json()["predictions"][0]["prediction_id"])
            except httpx.HTTPError:
                status = 0
            samples.append((time.monotonic() - start, time.monotonic() - sent, status))

    limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(WORKERS)))


def _spool_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*") if path.is_file())


def main() -> None:
    seconds = float(os.environ.get("BENCH_SOAK_SECONDS", "600"))
    rps = float(os.environ.get("BENCH_SOAK_RPS", "500"))
    load_every = float(os.environ.get("BENCH_SOAK_LOAD_EVERY", "60"))
    window = min(60.0, seconds / 10)
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model_dir = write_model(root / "models" / "v1", seed=1)
        repo = write_feature_repo(root / "feast", customers=CUSTOMERS)
        server = LocalServer(root / "serving", _free_port(), str(repo))
        server.apply(Deployment().with_changes(stable="v1", models={"v1": str(model_dir)}))
        server.start()
        spool = server.serving_dir / "spool"
        table = LocalIcebergCatalog(iceberg_dir=str(root / "iceberg")).predictions_table()
        process = psutil.Process(server.pid())
        samples: list[tuple[float, float, int]] = []
        acknowledged: list[str] = []
        resources: list[dict] = []
        loads: list[int] = []
        done = threading.Event()

        def watch() -> None:
            started, next_load = time.monotonic(), load_every
            while not done.wait(window):
                elapsed = time.monotonic() - started
                if elapsed >= next_load:
                    loads.append(load_spool(table, spool).rows_inserted)
                    next_load += load_every
                resources.append(
                    {
                        "at_s": round(elapsed),
                        "rss_mib": round(process.memory_info().rss / 2**20, 1),
                        "open_fds": process.num_fds(),
                        "spool_kib": round(_spool_bytes(spool) / 1024),
                    }
                )

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            asyncio.run(_drive(server.predict_url, rps, seconds, samples, acknowledged))
        finally:
            done.set()
            watcher.join()
            loads.append(load_spool(table, spool).rows_inserted)
            server.stop()
        table.refresh()
        ids = [
            str(i)
            for i in table.scan(selected_fields=("prediction_id",)).to_arrow()["prediction_id"].to_pylist()
        ]

    windows = []
    for start in range(0, int(seconds), int(window)):
        latencies = [
            lat * 1000 for at, lat, status in samples if start <= at < start + window and status == 200
        ]
        errors = sum(1 for at, _, status in samples if start <= at < start + window and status != 200)
        if latencies:
            windows.append(
                {
                    "from_s": start,
                    "rps": round(len(latencies) / window),
                    "p50_ms": round(percentile(latencies, 50), 2),
                    "p99_ms": round(percentile(latencies, 99), 2),
                    "errors": errors,
                }
            )
    first, last = windows[0], windows[-1]
    steady = resources[1:] or resources  # after the first window's warm-up
    report(
        "soak",
        {
            "target_rps": rps,
            "seconds": seconds,
            "requests": len(samples),
            "achieved_rps": round(len(samples) / seconds),
            "acknowledged": len(acknowledged),
            "errors": sum(w["errors"] for w in windows),
            "p99_last_over_first": round(last["p99_ms"] / first["p99_ms"], 2),
            "rss_growth_pct": round(100 * (steady[-1]["rss_mib"] / steady[0]["rss_mib"] - 1), 1),
            "fd_growth": steady[-1]["open_fds"] - steady[0]["open_fds"],
            "spool_kib_max": max(r["spool_kib"] for r in resources),
            "loads": loads,
            "in_iceberg": len(ids),
            "duplicates_in_iceberg": len(ids) - len(set(ids)),
            "acknowledged_missing_from_iceberg": len(set(acknowledged) - set(ids)),
            "windows": windows,
            "resources": resources,
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
