"""Training pipeline cost: local KFP wall time for 10k and 100k customers (synthetic gold, 40 weekly
snapshots, Feast point-in-time features), split into the compute inside the components (timed by
each component after its imports) and everything else: process start, imports, artifact passing
and kfp.local's orchestration.

A first 1k-customer run fills the components' bytecode cache (reported as ``cold_cache_run``); the
measured runs share its pipeline root, as successive runs of one deployment do.

Baselines, same run and data: the same steps in one Python process without KFP (imports already
loaded), and the pipeline with one process per component, as kfp.local runs it by itself
(``run_local(one_interpreter=False)``, what the loop did before issue #23). The two pipeline modes
alternate (``BENCH_TRAINING_REPEATS`` pairs, default 1, the order swapped every pair); each is timed
in wall and CPU seconds (this process and its children). Figures: overhead share of the pipeline
wall time, pipeline / baseline ratio, one interpreter / one process per component. Sizes:
``BENCH_TRAINING_CUSTOMERS`` (comma list, default ``10000,100000``); ``BENCH_TRAINING_SOURCE``
``feast`` (default) or ``gold``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import report, timed


def in_process(home: Path, arguments) -> float:
    from lakehouse_ml.training.runner import train_in_process

    return timed(lambda: train_in_process(home, str(home / "gold"), arguments, home / "in-process-model"))[0]


def cpu_seconds() -> float:
    """User and system CPU of this process and of its children that have been waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pipeline_run(home: Path, pipeline_root: Path, arguments, one_interpreter: bool):
    """One local pipeline run: (run, wall seconds, CPU seconds)."""
    from lakehouse_ml.training.runner import run_local

    cpu, start = cpu_seconds(), time.perf_counter()
    run = run_local(home, str(home / "gold"), pipeline_root, arguments, one_interpreter=one_interpreter)
    return run, time.perf_counter() - start, cpu_seconds() - cpu


def compare_modes(home: Path, pipeline_root: Path, arguments, repeats: int) -> tuple[object, dict]:
    """One interpreter against one process per component, alternating; the last shared run and figures."""
    times = {True: [], False: []}
    for repeat in range(repeats):
        for one_interpreter in (False, True) if repeat % 2 == 0 else (True, False):
            run, wall, cpu = pipeline_run(home, pipeline_root, arguments, one_interpreter)
            times[one_interpreter].append((wall, cpu))
            if one_interpreter:
                shared = run
            else:
                separate = run
    model_bytes = [(run.model_dir / "model.joblib").read_bytes() for run in (shared, separate)]
    median = {mode: [statistics.median(t[i] for t in runs) for i in (0, 1)] for mode, runs in times.items()}
    figures = {
        "process_per_component_wall_s": [round(t[0], 2) for t in times[False]],
        "process_per_component_cpu_s": [round(t[1], 2) for t in times[False]],
        "one_interpreter_wall_s": [round(t[0], 2) for t in times[True]],
        "one_interpreter_cpu_s": [round(t[1], 2) for t in times[True]],
        "one_interpreter_to_process_per_component_wall": round(median[True][0] / median[False][0], 3),
        "one_interpreter_to_process_per_component_cpu": round(median[True][1] / median[False][1], 3),
        "same_model_bytes": model_bytes[0] == model_bytes[1],
    }
    return shared, median[True][0], figures


def measure(customers: int, source: str, pipeline_root: Path, repeats: int = 0) -> dict[str, object]:
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.training.pipeline import PipelineArguments
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
    load_at_start = os.getloadavg()
    if repeats:
        run, wall, modes = compare_modes(home, pipeline_root, arguments, repeats)
    else:
        run, wall, _ = pipeline_run(home, pipeline_root, arguments, one_interpreter=True)
        modes = {}
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
        **modes,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
    }


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_TRAINING_CUSTOMERS", "10000,100000").split(",")]
    source = os.environ.get("BENCH_TRAINING_SOURCE", "feast")
    repeats = int(os.environ.get("BENCH_TRAINING_REPEATS", "1"))
    results = {"targets": {"10k_wall_s_max": 45, "100k_overhead_share_max": 0.5}, "runs": []}
    # One pipeline root, as a deployment has: the first run fills the components' bytecode cache.
    pipeline_root = Path(tempfile.mkdtemp(prefix="bench-training-kfp-"))
    results["cold_cache_run"] = measure(1000, source, pipeline_root)
    for customers in sizes:
        results["runs"].append(measure(customers, source, pipeline_root, repeats))
        print(results["runs"][-1], flush=True)
    report("training", results)
