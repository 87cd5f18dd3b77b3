"""``lakehouse-ml run``: materialize every asset of the code location, then say what was built.

The terminal gets one line per asset and a summary; everything else written while the run executes
(Dagster's event log, dbt, KFP, DVC) goes to ``$LAKEHOUSE_HOME/logs/run-<time>.log``, and the events
are stored in the Dagster instance, where the UI shows them.

The monitoring assets are partitioned by data week, and the week is known only once gold is built: a job
that holds them runs in two parts (``execute_by_week``), as ``raw_landing_sensor``'s one run does with the
week it reads from the landing.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from lakehouse_ml.platform.settings import Settings

HELP = "Materialize every asset (the whole loop) on this machine and print a summary."

# What the summary repeats after the per-asset lines: the figures and paths a person looks up later.
SUMMARY_ASSETS = {
    "fct_customer_features": ("gold features", ["dagster/row_count", "last_snapshot_day"]),
    "churn_model": ("trained model", ["model_family", "roc_auc", "kfp_run_id"]),
    "model_version": ("registry", ["git_tag", "registry"]),
    "churn_predictor_deployment": ("serving", ["endpoint", "stable_version", "canary_version"]),
    "feature_drift_report": ("feature drift", ["drifted_share", "breach", "report"]),
    "prediction_drift_report": ("prediction drift", ["drifted_share", "breach", "report"]),
    "concept_drift_report": ("concept drift", ["breach", "report"]),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: for a subset use ``dagster asset materialize -m lakehouse_ml.definitions --select``."""


def summarize(instance, keys: dict[str, tuple[str, list[str]]] = SUMMARY_ASSETS) -> list[str]:
    import dagster as dg

    from lakehouse_ml.cli.run_progress import metadata_text

    lines = []
    for key, (label, fields) in keys.items():
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        if event is None or event.asset_materialization is None:
            continue
        metadata = event.asset_materialization.metadata
        shown = [
            f"{field.removeprefix('dagster/')}={metadata_text(metadata[field])}"
            for field in fields
            if metadata_text(metadata.get(field, ""))
        ]
        lines.append(f"  {label:<18} {', '.join(shown) if shown else 'materialized'}")
    return lines


def new_log_path(settings: Settings, name: str) -> Path:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"


@contextmanager
def output_to_log(log_path: Path) -> Iterator[IO[str]]:
    """Point file descriptors 1 and 2 at ``log_path`` (so Dagster's console log and every subprocess
    write there) and yield a stream to the original stdout for the lines meant for the person."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    try:
        with open(log_path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield terminal
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        terminal.close()
        os.close(saved[0])
        os.close(saved[1])


def execute_with_progress(job, instance, settings: Settings, log_name: str, log_path=None, **kwargs):
    """Run ``job`` in process with the progress lines on the terminal and the rest in a log file (a new
    one unless ``log_path`` names the command's log); return (result, progress, log path)."""
    from lakehouse_ml.cli.run_progress import RunProgress
    from lakehouse_ml.orchestration.dagster_private import assets_by_step, listen_to_run

    log_path = log_path or new_log_path(settings, log_name)
    run_id = str(uuid.uuid4())
    with output_to_log(log_path) as terminal:
        progress = RunProgress(assets_by_step(job), terminal, tty=terminal.isatty())
        listen_to_run(instance, run_id, progress)
        with progress:
            result = job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False, **kwargs)
    return result, progress, log_path


def execute_by_week(defs, job, selection, instance, settings: Settings, log_name: str, **kwargs):
    """Run ``job`` (whose assets are ``selection``) in process: its unpartitioned assets, then its assets
    partitioned by data week for the week of the pipeline clock the first part left, adding that partition.
    Both parts write to one log. Returns (result, progress, log path) of the last part that ran."""
    graph = defs.resolve_asset_graph()
    others, weekly = split_by_week(graph, selection.resolve(graph))
    if not weekly:
        return execute_with_progress(job, instance, settings, log_name, **kwargs)
    outcome = execute_with_progress(job, instance, settings, log_name, asset_selection=others, **kwargs)
    kwargs["log_path"] = outcome[2]
    if not outcome[0].success:
        return outcome
    week = add_clock_week(instance, defs.resources["warehouse"])
    return execute_with_progress(
        job, instance, settings, log_name, asset_selection=weekly, partition_key=week, **kwargs
    )


def split_by_week(graph, keys) -> tuple[list, list]:
    """``keys`` of the asset ``graph`` as (without partitions, partitioned by data week), each sorted."""
    from lakehouse_ml.assets.monitoring.common import WEEKS

    weekly = {key for key in keys if graph.get(key).partitions_def == WEEKS}
    return sorted(set(keys) - weekly), sorted(weekly)


def add_clock_week(instance, warehouse) -> str:
    """Add (and return) the data-week partition of ``warehouse``'s pipeline clock."""
    import dagster as dg

    from lakehouse_ml.assets.monitoring.common import WEEKS
    from lakehouse_ml.monitoring.weeks import data_week

    with dg.build_resources({"warehouse": warehouse}) as resolved:  # resolves dg.EnvVar
        week = data_week(resolved.warehouse.pipeline_clock())
    instance.add_dynamic_partitions(WEEKS.name, [week])
    return week


def print_failures(progress, log_path: Path) -> None:
    if not progress.failures:
        print("  error              the run failed outside any asset step (see the log)")
    for failure in progress.failures:
        print(f"  failed asset       {', '.join(failure.assets)}")
        print(f"  error              {failure.error}")
    print(f"  full log           {log_path}")


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from lakehouse_ml.definitions import defs
    from lakehouse_ml.orchestration.pools import ensure_pool_slots
    from lakehouse_ml.orchestration.run_recovery import fail_dead_runs

    settings = Settings.from_env()
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        ensure_pool_slots(instance)
        for run_id in fail_dead_runs(instance):
            print(f"run {run_id} had been killed; marked failed")
        print(f"lakehouse-ml run: materializing every asset (state in {settings.home})")
        result, progress, log_path = execute_by_week(
            defs, job, dg.AssetSelection.all(), instance, settings, "run"
        )
        print()
        print(f"lakehouse-ml run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
        if not result.success:
            print_failures(progress, log_path)
            return 1
        for line in summarize(instance):
            print(line)
    print(f"  reports in         {settings.reports_dir}")
    print(
        f"  evidently ui       .venv/bin/evidently ui --workspace {settings.evidently_workspace}, "
        f"then {settings.evidently_ui_url}"
    )
    print(
        f"  model server       http://127.0.0.1:{settings.serving_port}/v2/health/ready "
        f"(lakehouse-ml serve status), gRPC V2 on 127.0.0.1:{settings.serving_grpc_port}"
    )
    print(f"  full log           {log_path}")
    print("  open the UI        .venv/bin/dg dev  (or .venv/bin/dagster dev), then http://127.0.0.1:3000")
    return 0
