"""Evidently 0.7 drift reports reduced to plain numbers.

Methods are pinned (normed Wasserstein distance for numbers, Jensen-Shannon distance for
categories) instead of Evidently's size-dependent default, which switches to p-value tests below
about 1,000 rows: distances do not grow more "significant" with sample size, so a seeded sample
of ``sample_size`` rows per side gives the same verdicts as the full data (see bench/bench_drift.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse_ml.monitoring.workspace import SnapshotTarget, add_snapshot

NUM_METHOD = "wasserstein"
CAT_METHOD = "jensenshannon"


@dataclass(frozen=True)
class NoiseSettings:
    """How the noise floor of each column is estimated (``noise_floors``)."""

    permutations: int
    quantile: float
    max_rows: int


@dataclass
class DriftResult:
    column_scores: dict[str, float]
    column_methods: dict[str, str]
    drifted_columns: list[str]
    drifted_share: float
    reference_rows: int
    current_rows: int
    reference_sampled_from: int
    current_sampled_from: int
    html_path: str | None = None
    snapshot_url: str | None = None  # the report in the Evidently UI (``workspace.add_snapshot``)
    # Per column, the score chance alone reaches at these sizes (lakehouse_ml/monitoring/noise.py).
    noise_floors: dict[str, float] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows, drawn uniformly without replacement with a fixed seed: the rows whose seeded
    hash of their values is smallest, in hash order. Keyed on the data, not on positions, so the same rows
    are drawn whatever order the query returned them in (DuckDB keeps no insertion order)."""
    if size < 1:
        raise ValueError(f"sample size must be a positive integer, got {size!r}")
    if len(frame) <= size:
        return frame
    hash_key = hashlib.blake2b(str(seed).encode(), digest_size=8).hexdigest()
    ranks = pd.util.hash_pandas_object(frame, index=False, hash_key=hash_key).to_numpy()
    chosen = np.argpartition(ranks, size - 1)[:size]
    return frame.iloc[chosen[np.argsort(ranks[chosen], kind="stable")]]


def _prepare(frame: pd.DataFrame, numerical: list[str], categorical: list[str], who: str) -> pd.DataFrame:
    missing = [c for c in [*numerical, *categorical] if c not in frame.columns]
    if missing:
        raise ValueError(f"{who} data lacks drift columns {missing}")
    if frame.empty:
        raise ValueError(f"{who} data is empty: nothing to compare")
    prepared = pd.DataFrame(index=range(len(frame)))
    for column in numerical:
        prepared[column] = pd.to_numeric(frame[column], errors="raise").astype(float).to_numpy()
    for column in categorical:
        prepared[column] = frame[column].astype(str).to_numpy()
    return prepared


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    *,
    column_threshold: float,
    sample_size: int,
    seed: int,
    html_path: Path | None = None,
    noise: NoiseSettings | None = None,
    snapshot_to: SnapshotTarget | None = None,
) -> DriftResult:
    """Run Evidently's ``DataDriftPreset`` over the given columns; write HTML if ``html_path``, add the
    snapshot to an Evidently workspace if ``snapshot_to``.

    With ``noise``, a column counts as drifted only when its score also passes its noise floor."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = _prepare(sample(reference, sample_size, seed), numerical, categorical, "reference")
    cur = _prepare(sample(current, sample_size, seed), numerical, categorical, "current")
    definition = DataDefinition(numerical_columns=list(numerical), categorical_columns=list(categorical))
    preset = DataDriftPreset(
        columns=[*numerical, *categorical],
        num_method=NUM_METHOD,
        cat_method=CAT_METHOD,
        threshold=column_threshold,
    )
    snapshot = Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
        timestamp=snapshot_to.timestamp if snapshot_to else None,
        tags=list(snapshot_to.tags) if snapshot_to else None,
    )
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            methods[config["column"]] = str(config["method"])
    floors = {}
    if noise is not None:
        from lakehouse_ml.monitoring.noise import noise_floors

        floors = noise_floors(
            ref,
            cur,
            numerical,
            categorical,
            permutations=noise.permutations,
            quantile=noise.quantile,
            max_rows=noise.max_rows,
            seed=seed,
        )
    drifted = sorted(c for c, s in scores.items() if s >= max(column_threshold, floors.get(c, 0.0)))
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    snapshot_url = add_snapshot(snapshot_to, snapshot, [*numerical, *categorical]) if snapshot_to else None
    return DriftResult(
        column_scores=scores,
        column_methods=methods,
        drifted_columns=drifted,
        drifted_share=len(drifted) / len(scores) if scores else 0.0,
        reference_rows=len(ref),
        current_rows=len(cur),
        reference_sampled_from=len(reference),
        current_sampled_from=len(current),
        html_path=str(html_path) if html_path is not None else None,
        snapshot_url=snapshot_url,
        noise_floors=floors,
    )
