"""The whole loop at 100k and 1M customers with one year of history (issues #15 and #23), in one command:

- first run: ``lakehouse-ml run`` (every asset);
- refresh after one landed day: the simulator advances 1 day, then the daily refresh (everything but
  training: ``bench/loop_job.py refresh``);
- refresh after one landed week: the simulator advances 7 more days, then the daily refresh;
- retraining run: ``retrain_churn_model`` on that data.

Per run and per stage (Dagster step): wall time from the run's event log, and peak RSS from samples of every
process of the run taken separately (the `lakehouse-ml` or job process, dbt, KFP component subprocesses): the
largest single process, the largest sum at one instant, and the peak of each kind of process. Same-run
baseline: ``bench/loop_baseline.py`` on the same raw data (DuckDB SQL for the same gold tables, scikit-learn
with the same model search, one Evidently report). Sizes: ``BENCH_LOOP_SIZES=100000`` (default;
``1000000`` on its own takes about 15 min on a quiet machine). Targets (issue #23): at 1M the first run
<= 180 s, the refresh after one day <= 45 s and <= 0.15 of the first run, the retraining run <= 60 s, the
largest process <= 2.5 GiB; at 100k the first run within 1.8x the baseline; ROC AUC within 0.001 of it.
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


def _stage_windows(dagster_home: Path, since: float) -> tuple[dict[str, tuple[float, float]], float | None]:
    """(step start, end) epoch seconds of the runs started at or after ``since`` (a command runs its job in
    two parts: the assets without partitions, then the data week's monitoring), and the model's ROC AUC."""
    import dagster as dg

    windows: dict[str, tuple[float, float]] = {}
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records(limit=10):
            if (record.start_time or 0.0) < since:
                continue
            starts: dict[str, float] = {}
            for entry in instance.all_logs(record.dagster_run.run_id):
                event = entry.dagster_event
                if event is None or entry.step_key is None:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    starts[entry.step_key] = entry.timestamp
                elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                    windows[entry.step_key] = (starts[entry.step_key], entry.timestamp)
        model = instance.get_latest_materialization_event(dg.AssetKey("churn_model"))
        roc_auc = model.asset_materialization.metadata["roc_auc"].value if model else None
    return windows, roc_auc


def _label(command: str) -> str:
    for name in ("dbt", "kfp", "kserve", "lakehouse-ml", "loop_job", "feast"):
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


def _measured(command: list[str], env: dict[str, str]) -> dict[str, object]:
    start, wall, samples = run_sampled(command, env=env)
    windows, roc_auc = _stage_windows(Path(env["DAGSTER_HOME"]), start)
    by_process: dict[str, float] = {}
    for _, processes in samples:
        for command_line, rss in processes.values():
            label = _label(command_line)
            by_process[label] = max(by_process.get(label, 0.0), rss)
    return {
        "wall_s": round(wall, 1),
        "roc_auc": roc_auc,
        "peak_rss_mib_largest_process": round(max(by_process.values(), default=0)),
        "peak_rss_mib_by_process": {k: round(v) for k, v in sorted(by_process.items())},
        "stages": per_stage(windows, samples),
    }


def _loop(env: dict[str, str], cli: str) -> dict[str, object]:
    return _measured([cli, "run"], env)


def _job(env: dict[str, str], name: str) -> dict[str, object]:
    return _measured([sys.executable, "-m", "bench.loop_job", name], env)


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
            simulate(home / "raw", days=1)
            refresh_day = _job(env, "refresh")
            simulate(home / "raw", days=WEEK_DAYS)
            refresh_week = _job(env, "refresh")
            retrain = _job(env, "retrain")
        finally:
            subprocess.run([cli, "serve", "stop"], env=env, check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "customers": customers,
        "history_days": HISTORY_DAYS,
        "baseline": baseline,
        "first_run": first,
        "refresh_after_one_day": refresh_day,
        "refresh_after_one_week": refresh_week,
        "retraining_run": retrain,
        "first_run_vs_baseline_process": round(first["wall_s"] / baseline["process_wall_s"], 2),
        "refresh_day_vs_first_run": round(refresh_day["wall_s"] / first["wall_s"], 2),
        "refresh_week_vs_first_run": round(refresh_week["wall_s"] / first["wall_s"], 2),
        "roc_auc_minus_baseline": (
            round(first["roc_auc"] - baseline["roc_auc"], 4)
            if first["roc_auc"] is not None and baseline.get("roc_auc") is not None
            else None
        ),
        "peak_rss_mib_largest_process": max(
            run["peak_rss_mib_largest_process"] for run in (first, refresh_day, refresh_week, retrain)
        ),
    }


def main() -> None:
    """Measure each size in turn; the report is written after each, so a failure at a larger size keeps the
    smaller ones."""
    sizes = [int(s) for s in os.environ.get("BENCH_LOOP_SIZES", "100000").split(",")]
    results: list[dict[str, object]] = []
    for customers in sizes:
        load_at_start = os.getloadavg()
        results.append({**measure(customers), "load_average_at_start": load_at_start,
                        "load_average_at_end": os.getloadavg()})  # fmt: skip
        report("loop", {"sizes": results})
