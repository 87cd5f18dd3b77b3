"""Training pipeline cost: local KFP wall time for 10k and 100k customers (synthetic gold, 40 weekly
snapshots, Feast point-in-time features), split into the compute inside the components (timed by
each component after its imports) and everything else: process start, imports, artifact passing
and kfp.local's orchestration.

A first 1k-customer run fills the components' bytecode cache (reported as ``cold_cache_run``); the
measured runs share its pipeline root, as successive runs of one deployment do.

Baseline, same run and data: the same steps in one Python process without KFP (imports already
loaded). Figures: overhead share of the pipeline wall time and pipeline / baseline ratio. Sizes:
``BENCH_TRAINING_CUSTOMERS`` (comma list, default ``10000,100000``); ``BENCH_TRAINING_SOURCE``
``feast`` (default) or ``gold``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import report, timed


def in_process(home: Path, arguments) -> float:
    from lakehouse_ml.training.runner import train_in_process

    return timed(lambda: train_in_process(home, str(home / "gold"), arguments, home / "in-process-model"))[0]


def measure(customers: int, source: str, pipeline_root: Path) -> dict[str, object]:
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.training.pipeline import PipelineArguments
    from lakehouse_ml.training.runner import run_local
    from tests.support.synthetic_gold import write_synthetic_gold

    home = Path(tempfile.mkdtemp(prefix=f"bench-training-{customers}-"))
    os.environ["LAKEHOUSE_HOME"] = str(home)
    write_synthetic_gold(home / "gold", customers=customers, snapshots=40)
    if source == "feast":
        from lakehouse_ml.features.apply import apply_definitions
        from lakehouse_ml.features.gold import gold_source
        from lakehouse_ml.features.store import feature_store

        settings = Settings.from_env()
        apply_definitions(feature_store(settings), gold_source(settings))
    arguments = PipelineArguments(feature_source=source)
    start = time.perf_counter()
    run = run_local(home, str(home / "gold"), pipeline_root, arguments)
    wall = time.perf_counter() - start
    compute = sum(run.compute_seconds.values())
    baseline = in_process(home, arguments)
    return {
        "customers": customers,
        "feature_source": source,
        "training_rows": json.loads((run.model_dir / "metadata.json").read_text())["training_rows"],
        "eval_rows": run.metrics["eval_rows"],
        "roc_auc": round(run.metrics["roc_auc"], 4),
        "pipeline_wall_s": round(wall, 2),
        "component_compute_s": {k: round(v, 2) for k, v in run.compute_seconds.items()},
        "compute_s": round(compute, 2),
        "overhead_s": round(wall - compute, 2),
        "overhead_share_of_wall": round((wall - compute) / wall, 3),
        "overhead_to_compute_ratio": round((wall - compute) / compute, 3),
        "baseline_in_process_s": round(baseline, 2),
        "pipeline_to_baseline_ratio": round(wall / baseline, 2),
        "load_average_at_end": os.getloadavg(),
    }


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_TRAINING_CUSTOMERS", "10000,100000").split(",")]
    source = os.environ.get("BENCH_TRAINING_SOURCE", "feast")
    results = {"targets": {"10k_wall_s_max": 45, "100k_overhead_share_max": 0.5}, "runs": []}
    # One pipeline root, as a deployment has: the first run fills the components' bytecode cache.
    pipeline_root = Path(tempfile.mkdtemp(prefix="bench-training-kfp-"))
    results["cold_cache_run"] = measure(1000, source, pipeline_root)
    for customers in sizes:
        results["runs"].append(measure(customers, source, pipeline_root))
        print(results["runs"][-1], flush=True)
    report("training", results)
