"""The same-run baseline of bench_loop: the loop's work as a plain script, no platform.

DuckDB runs the gold SQL (the dbt models' compiled SQL, compiled before the clock starts, so the features and
labels are the same), scikit-learn runs the same model search on the gold files (``train_in_process``: no
KFP, no Feast), and Evidently writes one data drift report (training features against the latest snapshot).
Usage: ``python -m bench.loop_baseline RAW_DIR WORK_DIR``; timings and ROC AUC go to WORK_DIR/baseline.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

GOLD = ("fct_customer_features", "fct_churn_labels")


def compile_models(work: Path) -> list[dict]:
    """The compiled SQL of the gold models and everything they read, in dependency order."""
    from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR, dbt_executable

    target = work / "target"
    env = {**os.environ, "LAKEHOUSE_HOME": str(work), "LAKEHOUSE_PROFILE": "local"}
    subprocess.run(
        [dbt_executable(), "compile", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
         str(DBT_PROJECT_DIR), "--target-path", str(target), "--log-path", str(work / "logs"),
         "--select", *(f"+{model}" for model in GOLD)],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    nodes = {
        key: node
        for key, node in json.loads((target / "manifest.json").read_text())["nodes"].items()
        if node["resource_type"] == "model"
    }
    ordered: list[dict] = []
    done: set[str] = set()
    while len(done) < len(nodes):
        for key, node in nodes.items():
            if key not in done and all(dep in done for dep in node["depends_on"]["nodes"] if dep in nodes):
                ordered.append(node)
                done.add(key)
    return ordered


def build_gold(raw: Path, work: Path, models: list[dict]) -> None:
    import duckdb

    (work / "gold").mkdir(exist_ok=True)
    with duckdb.connect(str(work / "warehouse.duckdb")) as con:
        con.execute("create schema if not exists raw")
        for dataset in ("customers", "orders"):
            con.execute(f"create or replace table raw.{dataset} as select * from '{raw / dataset}/*.parquet'")
        for node in models:
            con.execute(f"create schema if not exists {node['schema']}")
            con.execute(f"create or replace table {node['schema']}.{node['name']} as {node['compiled_code']}")
        for model in GOLD:
            con.execute(f"copy gold.{model} to '{work / 'gold' / model}.parquet' (format parquet)")


def drift_report(work: Path, training_set: Path) -> None:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(training_set)
    features = pd.read_parquet(work / "gold" / "fct_customer_features.parquet")
    current = features[features.event_timestamp == features.event_timestamp.max()]
    columns = [
        c for c in reference.columns if c in current.columns and c not in ("customer_id", "event_timestamp")
    ]
    Report([DataDriftPreset()]).run(
        current_data=current[columns], reference_data=reference[columns]
    ).save_html(str(work / "drift.html"))


def main(raw: Path, work: Path) -> dict[str, float]:
    from lakehouse_ml.training.pipeline import PipelineArguments
    from lakehouse_ml.training.runner import train_in_process

    models = compile_models(work)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    build_gold(raw, work, models)
    timings["gold_sql_s"] = time.perf_counter() - start
    start = time.perf_counter()
    model_dir = work / "model"
    model_dir.mkdir()
    metadata = train_in_process(work, str(work / "gold"), PipelineArguments(feature_source="gold"), model_dir)
    timings["training_s"] = time.perf_counter() - start
    start = time.perf_counter()
    drift_report(work, model_dir / "training_set.parquet")
    timings["drift_report_s"] = time.perf_counter() - start
    timings["total_s"] = sum(timings.values())
    return {**timings, "roc_auc": float(metadata["metrics"]["roc_auc"])}


if __name__ == "__main__":
    work_dir = Path(sys.argv[2])
    (work_dir / "baseline.json").write_text(json.dumps(main(Path(sys.argv[1]), work_dir)))
