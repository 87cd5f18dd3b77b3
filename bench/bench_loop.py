"""The whole loop (`lakehouse-ml run`) at 10k, 100k and 1M customers with one year of history, then
again after the simulator advanced 7 days (the weekly incremental run).

Per stage (Dagster step): wall time from the run's event log, and peak RSS from samples of every process of
the run taken separately (the `lakehouse-ml` process, dbt, KFP component subprocesses): the largest single
process and the largest sum at one instant. Same-run baseline: ``bench/loop_baseline.py`` on the same raw
data (DuckDB SQL for the same gold tables, scikit-learn with the same model search, one Evidently report).
Sizes: ``BENCH_LOOP_SIZES=10000,100000`` (default; ``1000000`` on its own takes about 12 min). Targets
(issue #15): at 100k the loop within 1.3x the baseline and ROC AUC within 0.01; at 1M the first run
<= 15 min and 12 GB, the weekly run <= 20% of the first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import report, run_sampled

HISTORY_DAYS = 365
WEEK_DAYS = 7
SERVING_PORT = "8115"
SERVING_GRPC_PORT = "8117"


def _stage_windows(dagster_home: Path) -> tuple[dict[str, tuple[float, float]], float | None]:
    """(step start, end) epoch seconds of the latest run, and the trained model's ROC AUC."""
    import dagster as dg

    windows: dict[str, tuple[float, float]] = {}
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        starts: dict[str, float] = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or record.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[record.step_key] = record.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                windows[record.step_key] = (starts[record.step_key], record.timestamp)
        model = instance.get_latest_materialization_event(dg.AssetKey("churn_model"))
        roc_auc = model.asset_materialization.metadata["roc_auc"].value if model else None
    return windows, roc_auc


def _label(command: str) -> str:
    for name in ("dbt", "kfp", "kserve", "lakehouse-ml", "feast"):
        if name in command:
            return name
    return command.split(" ")[0].rsplit("/", 1)[-1]


def per_stage(windows: dict[str, tuple[float, float]], samples) -> dict[str, dict[str, object]]:
    stages = {}
    for step, (start, end) in sorted(windows.items(), key=lambda item: item[1][0]):
        inside = [processes for at, processes in samples if start <= at <= end] or [{}]
        by_process: dict[str, float] = {}
        for processes in inside:
            for command, rss in processes.values():
                label = _label(command)
                by_process[label] = max(by_process.get(label, 0.0), rss)
        stages[step] = {
            "wall_s": round(end - start, 2),
            "peak_rss_mib_largest_process": round(max(by_process.values(), default=0.0)),
            "peak_rss_mib_all_processes": round(max(sum(r for _, r in p.values()) for p in inside)),
            "peak_rss_mib_by_process": {k: round(v) for k, v in sorted(by_process.items())},
        }
    return stages


def _loop(env: dict[str, str], cli: str) -> dict[str, object]:
    start, wall, samples = run_sampled([cli, "run"], env=env)
    windows, roc_auc = _stage_windows(Path(env["DAGSTER_HOME"]))
    return {
        "wall_s": round(wall, 1),
        "roc_auc": roc_auc,
        "peak_rss_mib_largest_process": round(max((r for _, p in samples for _, r in p.values()), default=0)),
        "stages": per_stage(windows, samples),
    }


def measure(customers: int) -> dict[str, object]:
    from lakehouse_ml.simulator import simulate

    cli = str(Path(sys.executable).with_name("lakehouse-ml"))
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        home = Path(tmp) / "home"
        env = {
            **os.environ,
            "LAKEHOUSE_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "LAKEHOUSE_PROFILE": "local",
            "LAKEHOUSE_SERVING_PORT": SERVING_PORT,
            "LAKEHOUSE_SERVING_GRPC_PORT": SERVING_GRPC_PORT,
        }
        for name in ("LAKEHOUSE_AS_OF", "LAKEHOUSE_RAW_URI"):
            env.pop(name, None)
        (home / "dagster").mkdir(parents=True)
        simulate(home / "raw", customers=customers, days=HISTORY_DAYS)

        work = Path(tmp) / "baseline"
        work.mkdir()
        _, baseline_wall, baseline_samples = run_sampled(
            [sys.executable, "-m", "bench.loop_baseline", str(home / "raw"), str(work)], env=env
        )
        baseline = json.loads((work / "baseline.json").read_text())
        baseline.update(
            process_wall_s=round(baseline_wall, 1),
            peak_rss_mib=round(max((r for _, p in baseline_samples for _, r in p.values()), default=0)),
        )
        try:
            first = _loop(env, cli)
            simulate(home / "raw", days=WEEK_DAYS)
            weekly = _loop(env, cli)
        finally:
            subprocess.run([cli, "serve", "stop"], env=env, check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "customers": customers,
        "history_days": HISTORY_DAYS,
        "baseline": baseline,
        "first_run": first,
        "weekly_run": weekly,
        "first_run_vs_baseline_process": round(first["wall_s"] / baseline["process_wall_s"], 2),
        "weekly_vs_first_run": round(weekly["wall_s"] / first["wall_s"], 2),
        "weekly_vs_first_by_stage": {
            step: round(weekly["stages"][step]["wall_s"] / stage["wall_s"], 2)
            for step, stage in first["stages"].items()
            if step in weekly["stages"] and stage["wall_s"] > 0
        },
    }


def main() -> None:
    """Measure each size in turn; the report is written after each, so a failure at a larger size keeps the
    smaller ones."""
    sizes = [int(s) for s in os.environ.get("BENCH_LOOP_SIZES", "10000,100000").split(",")]
    results: list[dict[str, object]] = []
    for customers in sizes:
        load_at_start = os.getloadavg()
        results.append({**measure(customers), "load_average_at_start": load_at_start,
                        "load_average_at_end": os.getloadavg()})  # fmt: skip
        report("loop", {"sizes": results})
