"""Lineage recorded with each model version: code revision, data, feature service, run."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lakehouse_ml.registry.gitcmd import revision
from lakehouse_ml.settings import project_root

GOLD_TABLES = ("fct_customer_features", "fct_churn_labels")


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    """The hash DVC uses for its objects."""
    return _digest(path, "md5")


def file_sha256(path: Path) -> str:
    return _digest(path, "sha256")


def gold_table_stats(
    gold_uri: str | Path, storage_options: dict | None = None
) -> dict[str, dict[str, object]]:
    """Row count and event-time range of each gold table."""
    import pandas as pd

    stats = {}
    for name in GOLD_TABLES:
        times = pd.read_parquet(
            f"{str(gold_uri).rstrip('/')}/{name}.parquet",
            columns=["event_timestamp"],
            storage_options=storage_options,
        )["event_timestamp"]
        stats[name] = {
            "rows": len(times),
            "min_event_timestamp": str(times.min()),
            "max_event_timestamp": str(times.max()),
        }
    return stats


def build_lineage(
    gold_uri: str | Path,
    kfp_run_id: str,
    pipeline_root: str,
    feature_service: str | None,
    storage_options: dict | None = None,
) -> dict[str, object]:
    return {
        "project_revision": revision(project_root()),
        "feature_service": feature_service,
        "kfp_run_id": kfp_run_id,
        "kfp_pipeline_root": pipeline_root,
        "gold_tables": gold_table_stats(gold_uri, storage_options),
    }
