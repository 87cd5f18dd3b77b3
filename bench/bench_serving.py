"""Model server latency and throughput on the models training produces, per runtime.

The simulator writes a year of history, dbt builds gold, and the training stage's own code trains both
families (logistic regression, hist gradient boosting); each model folder is compiled as registration
does. Servers run the real code (``python -m lakehouse_ml.serving.server``, prediction log on) with a
sqlite Feast online store holding the evaluation customers: per family one serving the ONNX model and,
as a same-run baseline, one serving the same version by scikit-learn (``compiled.json`` removed); the
floor is a bare KServe ModelServer answering a constant. One keep-alive HTTP/1.1 client (asyncio, raw
sockets) sends single-row V1 requests at concurrency 1 and 8 and 100-customer requests at
concurrency 1; runs alternate in rounds, rps is the median round. The c=1 single-row run is repeated
while two spinning processes keep both cores busy (the OpenMP case). Size: ``BENCH_SERVING_REQUESTS``
(default 3000 per run and concurrency); ``BENCH_SERVING_CUSTOMERS`` (default 2000 simulated).
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
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench.common import percentile, report
from lakehouse_ml.model_artifact import COMPILED_FILE
from lakehouse_ml.model_artifact.onnx_compile import compile_model_folder
from lakehouse_ml.serving.deployment import Deployment, write_deployment
from lakehouse_ml.training.models import FAMILIES
from tests.support.model_builders import write_feature_repo, write_simulated_gold, write_trained_models

PATH = b"/v1/models/churn-predictor:predict"
HISTORY_DAYS = 365
CONCURRENCY = (1, 8)
BATCH = 100
ROUNDS = 5
BUSY = "while True: pass"
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


def _bodies(customer_ids: list[str], size: int) -> list[bytes]:
    return [
        json.dumps({"instances": [{"customer_id": c} for c in customer_ids[i : i + size]]}).encode()
        for i in range(0, len(customer_ids) - size + 1, size)
    ]


def _models(root: Path, customers: int) -> tuple[dict[str, Path], pd.DataFrame]:
    gold = write_simulated_gold(root / "home", customers=customers, days=HISTORY_DAYS)
    folders = write_trained_models(root / "home", gold, list(FAMILIES))
    for folder in folders.values():
        compile_model_folder(folder, "evaluation_set.parquet")
    evaluation = pd.read_parquet(folders[FAMILIES[0]] / "evaluation_set.parquet")
    return folders, evaluation.drop_duplicates("customer_id", keep="last").reset_index(drop=True)


def _sklearn_copy(folder: Path, target: Path) -> Path:
    """The same version without its compile record: the server scores it with scikit-learn."""
    import shutil

    shutil.copytree(folder, target)
    (target / COMPILED_FILE).unlink()
    return target


def _server(root: Path, name: str, model: Path, repo: Path, port: int) -> subprocess.Popen:
    serving = root / name
    write_deployment(serving, Deployment().with_changes(stable="v1", models={"v1": str(model)}))
    command = [sys.executable, "-m", "lakehouse_ml.serving.server", "--serving_dir", str(serving)]
    command += ["--feature_repo", str(repo), "--http_port", str(port), "--enable_grpc", "false"]
    return _start(command, port, root / f"{name}.log")


def _spool_write_microseconds(folder: Path, records: int = 20_000) -> float:
    """In-process cost of logging one prediction: build the JSON line and append it to the spool."""
    import orjson

    from lakehouse_ml.serving.spool import SpoolWriter

    writer = SpoolWriter(folder)
    start = time.perf_counter()
    for n in range(records):
        record = {
            "prediction_id": str(uuid.UUID(int=n)),
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
    requests = int(os.environ.get("BENCH_SERVING_REQUESTS", "3000"))
    customers = int(os.environ.get("BENCH_SERVING_CUSTOMERS", "2000"))
    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    folders, latest = _models(root, customers)
    repo = write_feature_repo(root / "feast", frame=latest)
    models = {}
    for family, folder in folders.items():
        models[f"{family}/onnxruntime"] = folder
        models[f"{family}/scikit-learn"] = _sklearn_copy(folder, root / f"{family}-sklearn")
    ports = {name: _free_port() for name in [*models, "bare"]}
    processes = []
    try:
        for name, folder in models.items():
            processes.append(_server(root, name.replace("/", "-"), folder, repo, ports[name]))
        bare = [sys.executable, "-c", BARE_SERVER, str(ports["bare"])]
        processes.append(_start(bare, ports["bare"], root / "bare.log"))
        ids = latest["customer_id"].tolist()
        single, batch = _bodies(ids, 1), _bodies(ids, BATCH)
        names = [*models, "bare"]
        results: dict[str, object] = {
            "requests_per_run": requests,
            "rounds": ROUNDS,
            "simulated_customers": customers,
            "served_customers": len(ids),
            "load_average_at_start": os.getloadavg(),
        }
        for c in CONCURRENCY:
            results[f"single_row_c{c}"] = _measure({n: (ports[n], single) for n in names}, requests, c)
        results[f"batch_{BATCH}_c1"] = _measure({n: (ports[n], batch) for n in models}, requests // 10, 1)
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(os.cpu_count() or 2)]
        try:
            results["single_row_c1_both_cores_busy"] = _measure(
                {n: (ports[n], single) for n in names}, requests // 2, 1
            )
        finally:
            for process in busy:
                process.kill()
                process.wait()
        results["ratios"] = _ratios(results)
        results["spool_write_us_per_prediction"] = round(_spool_write_microseconds(root / "spool-bench"), 2)
        results["targets"] = (
            "hist_gradient_boosting full path c1 p50 <= 1.0 ms, p99 <= 2.0 ms, full/bare p50 <= 2.5; "
            ">= 1500 rps at c8; 100 customers p50 <= 8 ms"
        )
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


def _ratios(results: dict) -> dict:
    ratios = {}
    for family in FAMILIES:
        onnx, sklearn = f"{family}/onnxruntime", f"{family}/scikit-learn"
        ratios[family] = {
            "onnx_over_bare_p50_c1": _ratio(results["single_row_c1"], onnx, "bare", "p50_ms"),
            "sklearn_over_onnx_p50_c1": _ratio(results["single_row_c1"], sklearn, onnx, "p50_ms"),
            "sklearn_over_onnx_p99_busy": _ratio(
                results["single_row_c1_both_cores_busy"], sklearn, onnx, "p99_ms"
            ),
            "onnx_over_sklearn_rps_c8": _ratio(results["single_row_c8"], onnx, sklearn, "rps"),
            "sklearn_over_onnx_p50_batch": _ratio(results[f"batch_{BATCH}_c1"], sklearn, onnx, "p50_ms"),
        }
    return ratios


def _ratio(run: dict, top: str, bottom: str, key: str) -> float:
    return round(run[top][key] / run[bottom][key], 3)
