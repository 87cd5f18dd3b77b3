"""Lineage recorded with each model version: code revision, data, feature service, run."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lakehouse_ml.platform.settings import project_root
from lakehouse_ml.registry.gitcmd import revision

GOLD_TABLES = ("fct_customer_features", "fct_churn_labels")


def _stream_digest(handle, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as handle:
        return _stream_digest(handle, algorithm)


def file_md5(path: Path) -> str:
    """The hash DVC uses for its objects."""
    return _digest(path, "md5")


def file_sha256(path: Path) -> str:
    return _digest(path, "sha256")


def artifact_sha256(folder: Path) -> dict[str, str]:
    """sha256 of every file of a model folder, by path relative to it: what a rebuild is compared with."""
    return {
        path.relative_to(folder).as_posix(): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def gold_table_stats(
    gold_uri: str | Path, storage_options: dict | None = None
) -> dict[str, dict[str, object]]:
    """Row count, event-time range and content hash (sha256 of the Parquet file) of each gold table.

    Row count and time range cannot tell two builds apart; the hash can (gold files are written
    deterministically, see export_gold_parquet in dbt_project/macros/incremental_gold.sql).
    """
    import fsspec
    import pandas as pd

    stats = {}
    for name in GOLD_TABLES:
        uri = f"{str(gold_uri).rstrip('/')}/{name}.parquet"
        times = pd.read_parquet(uri, columns=["event_timestamp"], storage_options=storage_options)[
            "event_timestamp"
        ]
        with fsspec.open(uri, "rb", **(storage_options or {})) as handle:
            sha256 = _stream_digest(handle, "sha256")
        stats[name] = {
            "rows": len(times),
            "min_event_timestamp": str(times.min()),
            "max_event_timestamp": str(times.max()),
            "sha256": sha256,
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
