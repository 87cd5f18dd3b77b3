"""Model server latency and throughput: Feast lookup + predict vs inline features, and logging cost.

Three servers run the same code (``python -m lakehouse_ml.serving.server``) on a synthetic model and a
sqlite Feast online store: ``logged`` (prediction spool on), ``unlogged`` (``--no_prediction_log``),
and, as the floor, a bare KServe ModelServer answering a constant. One keep-alive HTTP/1.1 client
(asyncio, raw sockets, so the client costs little) measures single-row V1 requests at concurrency
1, 8 and 32. Ratios: full / inline (= cost of the lookup), logged / unlogged (= cost of logging),
full / bare; plus the in-process cost of one spool write. Runs alternate in rounds; rps is the median
round. Size: ``BENCH_SERVING_REQUESTS`` (default 5000 per run and concurrency).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench.common import percentile, report
from lakehouse_ml.serving.deployment import Deployment, write_deployment
from lakehouse_ml.serving.sample import sample_features, write_feature_repo, write_model

PATH = b"/v1/models/churn-predictor:predict"
CUSTOMERS = 1000
CONCURRENCY = (1, 8, 32)
ROUNDS = 5
BARE_SERVER = """
import logging, sys
import kserve, kserve.model_server
from lakehouse_ml.serving.server import _ServingRESTServer

class Constant(kserve.Model):
    def __init__(self):
        super().__init__("churn-predictor")
        self.ready = True

    async def predict(self, payload, headers=None, response_headers=None):
        return {"predictions": [0.5]}

kserve.model_server.RESTServer = _ServingRESTServer
server = kserve.ModelServer(http_port=int(sys.argv[1]), enable_grpc=False, workers=1)
for name in ("kserve.trace", "uvicorn.access"):
    logging.getLogger(name).setLevel(logging.WARNING)
server.start([Constant()])
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"server on {port} not ready")


async def _connection(
    port: int, bodies: list[bytes], count: int, offset: int, latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for n in range(count):
            body = bodies[(offset + n) % len(bodies)]
            request = (
                b"POST " + PATH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer {head[:80]!r}")
    finally:
        writer.close()


async def _load(port: int, bodies: list[bytes], requests: int, concurrency: int) -> tuple[list[float], float]:
    await asyncio.gather(*(_connection(port, bodies, 20, 0, []) for _ in range(concurrency)))  # warm-up
    latencies: list[float] = []
    per = max(1, requests // concurrency)
    start = time.perf_counter()
    await asyncio.gather(*(_connection(port, bodies, per, i * per, latencies) for i in range(concurrency)))
    return latencies, len(latencies) / (time.perf_counter() - start)


def _measure(runs: dict[str, tuple[int, list[bytes]]], requests: int, concurrency: int) -> dict[str, dict]:
    """Rounds that alternate the runs, so drifting background load hits every run alike."""
    latencies: dict[str, list[float]] = {name: [] for name in runs}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, (port, bodies) in runs.items():
            values, rate = asyncio.run(_load(port, bodies, requests // ROUNDS, concurrency))
            latencies[name] += values
            rates[name].append(rate)
    return {
        name: {
            "p50_ms": round(percentile(latencies[name], 50) * 1000, 3),
            "p99_ms": round(percentile(latencies[name], 99) * 1000, 3),
            "rps": round(sorted(rates[name])[len(rates[name]) // 2], 1),
        }
        for name in runs
    }


def _bodies(inline: bool) -> list[bytes]:
    frame = sample_features(CUSTOMERS)
    bodies = []
    for record in frame.to_dict(orient="records"):
        instance = {"customer_id": record.pop("customer_id")}
        if inline:
            instance["features"] = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        bodies.append(json.dumps({"instances": [instance]}).encode())
    return bodies


def _spool_write_microseconds(folder: Path, records: int = 20_000) -> float:
    """In-process cost of logging one prediction: build the JSON line and append it to the spool."""
    import orjson

    from lakehouse_ml.serving.spool import SpoolWriter

    writer = SpoolWriter(folder)
    start = time.perf_counter()
    for n in range(records):
        record = {
            "prediction_id": f"bench-{n:x}",
            "customer_id": "c00001",
            "prediction": 1,
            "confidence": 0.42,
            "model_version": "v1",
            "prediction_timestamp": datetime.now(UTC).isoformat(),
        }
        writer.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    writer.close()
    return (time.perf_counter() - start) / records * 1e6


def main() -> None:
    requests = int(os.environ.get("BENCH_SERVING_REQUESTS", "5000"))
    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model = write_model(root / "model")
    repo = write_feature_repo(root / "feast", customers=CUSTOMERS)
    serving = root / "serving"
    write_deployment(serving, Deployment().with_changes(stable="v1", models={"v1": str(model)}))
    base = [
        sys.executable,
        "-m",
        "lakehouse_ml.serving.server",
        "--serving_dir",
        str(serving),
        "--feature_repo",
        str(repo),
    ]
    ports = {name: _free_port() for name in ("logged", "unlogged", "bare")}
    processes = []
    try:
        processes.append(
            _start([*base, "--http_port", str(ports["logged"])], ports["logged"], root / "logged.log")
        )
        processes.append(
            _start(
                [*base, "--http_port", str(ports["unlogged"]), "--no_prediction_log"],
                ports["unlogged"],
                root / "unlogged.log",
            )
        )
        processes.append(
            _start([sys.executable, "-c", BARE_SERVER, str(ports["bare"])], ports["bare"], root / "bare.log")
        )
        lookup, inline = _bodies(False), _bodies(True)
        runs = {
            "full_path_logged": (ports["logged"], lookup),
            "inline_features_logged": (ports["logged"], inline),
            "full_path_unlogged": (ports["unlogged"], lookup),
            "bare_kserve_constant": (ports["bare"], lookup),
        }
        results: dict[str, object] = {"requests_per_run": requests, "rounds": ROUNDS, "customers": CUSTOMERS}
        measured = {c: _measure(runs, requests, c) for c in CONCURRENCY}
        for name in runs:
            results[name] = {f"c{c}": measured[c][name] for c in CONCURRENCY}
        ratios = {}
        for c in CONCURRENCY:
            full, inl = results["full_path_logged"][f"c{c}"], results["inline_features_logged"][f"c{c}"]
            unlogged, bare = results["full_path_unlogged"][f"c{c}"], results["bare_kserve_constant"][f"c{c}"]
            ratios[f"c{c}"] = {
                "lookup_cost_p50_full_over_inline": round(full["p50_ms"] / inl["p50_ms"], 3),
                "logging_cost_p50_logged_over_unlogged": round(full["p50_ms"] / unlogged["p50_ms"], 3),
                "logging_cost_rps_unlogged_over_logged": round(unlogged["rps"] / full["rps"], 3),
                "full_over_bare_p50": round(full["p50_ms"] / bare["p50_ms"], 3),
            }
        results["ratios"] = ratios
        spool_us = _spool_write_microseconds(root / "spool-bench")
        results["spool_write_us_per_prediction"] = round(spool_us, 2)
        results["spool_write_share_of_full_path_c1_p50"] = round(
            spool_us / 1000 / results["full_path_logged"]["c1"]["p50_ms"], 4
        )
        results["targets"] = "full path c1 p50 <= 2.5 ms, p99 <= 6 ms; >= 500 rps at c8; logging <= 10%"
        results["load_average_at_end"] = os.getloadavg()
        report("serving", results)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
