"""``lakehouse-ml run``: materialize every asset of the code location, then say what was built."""

from __future__ import annotations

import argparse

from lakehouse_ml.settings import Settings

HELP = "Materialize every asset (the whole loop) on this machine and print a summary."

SUMMARY_ASSETS = {
    "raw_customers": ("customers", ["dagster/row_count"]),
    "raw_orders": ("orders", ["dagster/row_count", "last_order_ts"]),
    "fct_customer_features": ("gold features", ["dagster/row_count", "last_snapshot_day"]),
    "online_features": ("online store", ["entities_written", "rows_per_second"]),
    "churn_model": ("trained model", ["model_family", "roc_auc", "kfp_run_id"]),
    "model_version": ("registry", ["git_tag", "registry"]),
    "churn_predictor_deployment": ("serving", ["endpoint", "stable_version", "canary_version"]),
    "batch_scores": ("batch scores", ["as_of", "scored"]),
    "churn_predictions": ("predictions table", ["table", "table_rows"]),
    "feature_drift_report": ("feature drift", ["drifted_share", "breach", "report"]),
    "prediction_drift_report": ("prediction drift", ["drifted_share", "breach", "report"]),
    "concept_drift_report": ("concept drift", ["breach", "report"]),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: for a subset use ``dagster asset materialize -m lakehouse_ml.definitions --select``."""


def _metadata_text(value: object) -> str:
    value = getattr(value, "value", value)
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summarize(instance, keys: dict[str, tuple[str, list[str]]] = SUMMARY_ASSETS) -> list[str]:
    import dagster as dg

    lines = []
    for key, (label, fields) in keys.items():
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        if event is None or event.asset_materialization is None:
            continue
        metadata = event.asset_materialization.metadata
        shown = [
            f"{field.removeprefix('dagster/')}={_metadata_text(metadata[field])}"
            for field in fields
            if field in metadata
        ]
        lines.append(f"  {label:<18} {', '.join(shown) if shown else 'materialized'}")
    return lines


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from lakehouse_ml.definitions import defs
    from lakehouse_ml.instance_settings import ensure_instance_settings
    from lakehouse_ml.run_recovery import fail_dead_runs

    settings = Settings.from_env()
    ensure_instance_settings(settings.dagster_home)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        for run_id in fail_dead_runs(instance):
            print(f"run {run_id} had been killed; marked failed")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        print()
        print(f"lakehouse-ml run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
        print(f"  state in           {settings.home}")
        for line in summarize(instance):
            print(line)
    print(f"  reports in         {settings.reports_dir}")
    print(
        f"  model server       http://127.0.0.1:{settings.serving_port}/v2/health/ready "
        f"(lakehouse-ml serve status)"
    )
    print("  open the UI        .venv/bin/dagster dev  (then http://127.0.0.1:3000)")
    return 0 if result.success else 1
