"""Training / evaluation sets: labels from gold, point-in-time features, validation.

The entity frame is ``fct_churn_labels`` restricted to the split's snapshot days; features come
from Feast's point-in-time join (``feature_source="feast"``) or, for tests and benchmarks without
a Feast repo, from the gold ``fct_customer_features`` Parquet joined on the same snapshot key
(``feature_source="gold"``; snapshots share one grid, so this is the same point-in-time row).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS, FeatureSource
from lakehouse_ml.platform.storage import storage_options_for
from lakehouse_ml.training.split import TimeSplit, TrainingDataError, snapshot_days, time_split

LABEL = "churned"
KEYS = ["customer_id", "event_timestamp"]
FEATURE_SOURCES: tuple[str, ...] = get_args(FeatureSource)
MIN_TRAINING_ROWS = 100
MIN_EVAL_ROWS = 50


@dataclass(frozen=True)
class SplitConfig:
    label_horizon_days: int = LABEL_HORIZON_DAYS
    train_snapshots: int = 12
    eval_snapshots: int = 2
    max_training_rows: int = 200_000
    seed: int = 0


def split_config(arguments: object) -> SplitConfig:
    """The split fields of pipeline arguments (or any object with the same attribute names)."""
    return SplitConfig(**{name: getattr(arguments, name) for name in SplitConfig.__dataclass_fields__})


@dataclass
class TrainingData:
    train: pd.DataFrame
    evaluation: pd.DataFrame
    feature_names: list[str]
    categorical_features: list[str]
    split: TimeSplit
    feature_service: str | None


def read_gold(
    gold_uri: str | Path, model: str, storage_options: dict | None = None, days: Iterable[date] | None = None
) -> pd.DataFrame:
    """A gold table's Parquet from a folder or an object-store URI (``s3://bucket/gold``); with ``days``,
    only those snapshot days (the files are sorted by day, so the other row groups are not read)."""
    path, options = _gold_path(gold_uri, model, storage_options)
    frame = _read_days(path, options, days)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def gold_snapshot_days(gold_uri: str | Path, model: str, storage_options: dict | None = None) -> list[date]:
    """The snapshot days a gold table holds, read from its day column alone."""
    import pyarrow.compute as pc

    dataset = _dataset(*_gold_path(gold_uri, model, storage_options))
    if "event_timestamp" not in dataset.schema.names:
        raise TrainingDataError(f"{model} lacks column(s) ['event_timestamp']")
    days = pc.unique(dataset.to_table(columns=["event_timestamp"])["event_timestamp"])
    return snapshot_days(days.to_pandas())


def _gold_path(gold_uri: str | Path, model: str, storage_options: dict | None) -> tuple[str, dict | None]:
    path = f"{str(gold_uri).rstrip('/')}/{model}.parquet"
    if "://" not in path and not Path(path).exists():
        raise TrainingDataError(f"gold table {model} not found at {path}: materialize the gold models first")
    return path, storage_options if storage_options is not None else storage_options_for(path)


def _dataset(path: str, storage_options: dict | None):
    import fsspec
    import pyarrow.dataset as ds

    fs, location = fsspec.core.url_to_fs(path, **(storage_options or {}))
    return ds.dataset(location, filesystem=fs, format="parquet")


def _read_days(path: str, storage_options: dict | None, days: Iterable[date] | None) -> pd.DataFrame:
    if days is None:
        return pd.read_parquet(path, storage_options=storage_options)
    import pyarrow as pa
    import pyarrow.compute as pc

    dataset = _dataset(path, storage_options)
    day_type = dataset.schema.field("event_timestamp").type
    wanted = pa.array([datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]).cast(day_type)
    return dataset.to_table(filter=pc.field("event_timestamp").isin(wanted)).to_pandas()


def gold_feature_names(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c not in KEYS]


def categorical_columns(frame: pd.DataFrame, feature_names: list[str]) -> list[str]:
    return [c for c in feature_names if not pd.api.types.is_numeric_dtype(frame[c])]


def entity_frames(labels: pd.DataFrame, config: SplitConfig) -> tuple[TimeSplit, pd.DataFrame, pd.DataFrame]:
    """Split the labels by time; the training side is subsampled deterministically when large."""
    _require_label_columns(labels)
    return _split_entities(labels, _time_split(snapshot_days(labels["event_timestamp"]), config), config)


def read_entity_frames(
    gold_uri: str | Path, config: SplitConfig, storage_options: dict | None = None
) -> tuple[TimeSplit, pd.DataFrame, pd.DataFrame]:
    """``entity_frames`` of the gold labels, reading only the rows of the split's snapshot days: the
    split comes from the day column, so training reads its window, not the whole history."""
    split = _time_split(gold_snapshot_days(gold_uri, "fct_churn_labels", storage_options), config)
    labels = read_gold(gold_uri, "fct_churn_labels", storage_options, split.train_days + split.eval_days)
    _require_label_columns(labels)
    return _split_entities(labels, split, config)


def _require_label_columns(labels: pd.DataFrame) -> None:
    missing = {"customer_id", "event_timestamp", LABEL} - set(labels.columns)
    if missing:
        raise TrainingDataError(f"fct_churn_labels lacks column(s) {sorted(missing)}")


def _split_entities(
    labels: pd.DataFrame, split: TimeSplit, config: SplitConfig
) -> tuple[TimeSplit, pd.DataFrame, pd.DataFrame]:
    numbers = day_numbers(labels["event_timestamp"])
    train = labels[np.isin(numbers, _as_day_numbers(split.train_days))]
    evaluation = labels[np.isin(numbers, _as_day_numbers(split.eval_days))]
    return split, _ordered(keyed_sample(train, config.max_training_rows, config.seed)), _ordered(evaluation)


def _time_split(days: list[date], config: SplitConfig) -> TimeSplit:
    return time_split(days, config.label_horizon_days, config.train_snapshots, config.eval_snapshots)


def day_numbers(timestamps: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (UTC) of each timestamp, computed on the array (``.dt.date`` builds one
    object per row, seconds at millions of rows)."""
    naive = pd.to_datetime(timestamps, utc=True).dt.tz_localize(None)
    return naive.to_numpy().astype("datetime64[D]").astype("int64")


def on_days(timestamps: pd.Series, days: Iterable[date]) -> np.ndarray:
    """Which timestamps fall on one of ``days``."""
    return np.isin(day_numbers(timestamps), _as_day_numbers(days))


def _as_day_numbers(days: Iterable[date]) -> np.ndarray:
    return np.array([np.datetime64(d, "D") for d in days], dtype="datetime64[D]").astype("int64")


def keyed_sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The ``n`` rows whose seeded hash of (customer, snapshot day) is smallest.

    Keyed on the data, not on row positions: the same rows are drawn whatever order the frame is in
    (a positional ``sample`` drew different rows each time gold came back in another order); rows
    tied at the cut are taken in key order. The hash is pandas' vectorized SipHash, stable across
    processes and independent of ``PYTHONHASHSEED``.
    """
    if len(frame) <= n:
        return frame
    keys = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str).to_numpy(dtype=object),
            "day": day_numbers(frame["event_timestamp"]),
        }
    )
    hash_key = hashlib.blake2b(str(seed).encode(), digest_size=8).hexdigest()
    ranks = pd.util.hash_pandas_object(keys, index=False, hash_key=hash_key).to_numpy()
    cut = np.partition(ranks, n - 1)[n - 1]
    below = frame[ranks < cut]
    tied = frame[ranks == cut].sort_values(KEYS, kind="stable")
    return pd.concat([below, tied.head(n - len(below))])


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[["customer_id", "event_timestamp", LABEL]].copy()
    frame[LABEL] = frame[LABEL].astype("int64")
    return frame.sort_values(KEYS, kind="stable").reset_index(drop=True)


def validate(frame: pd.DataFrame, feature_names: list[str], what: str, min_rows: int) -> None:
    """Fail with a clear message on data no model should be trained or judged on."""
    validate_labels(frame, what, min_rows)
    validate_features(frame, feature_names, what)


def validate_labels(frame: pd.DataFrame, what: str, min_rows: int) -> None:
    if len(frame) < min_rows:
        raise TrainingDataError(f"{what} has {len(frame)} rows; at least {min_rows} are needed")
    classes = sorted(int(v) for v in frame[LABEL].dropna().unique())
    if len(classes) < 2:
        raise TrainingDataError(
            f"{what} has only one class ({LABEL}={classes[0] if classes else 'none'}) in {len(frame)} rows; "
            "both churned and retained customers are needed"
        )


def validate_features(frame: pd.DataFrame, feature_names: list[str], what: str) -> None:
    absent = [c for c in feature_names if c not in frame.columns]
    if absent:
        raise TrainingDataError(f"{what} lacks feature column(s) {absent}")
    all_missing = [c for c in feature_names if frame[c].isna().all()]
    if all_missing:
        raise TrainingDataError(f"feature(s) {all_missing} are missing in every row of the {what}")


def preflight(
    gold_uri: str | Path, config: SplitConfig, storage_options: dict | None = None
) -> dict[str, object]:
    """Check gold data before a pipeline is launched; returns the split and row counts.

    Labels are checked per set (rows, both classes); features on the gold rows of each set's snapshot
    days, without joining them to the labels: the pipeline's own join (Feast's point-in-time join) follows,
    and ``build_training_data`` validates its result again."""
    split, train, evaluation = read_entity_frames(gold_uri, config, storage_options)
    features = read_gold(
        gold_uri, "fct_customer_features", storage_options, split.train_days + split.eval_days
    )
    names = gold_feature_names(features)
    for what, entities, days, min_rows in (
        ("training set", train, split.train_days, MIN_TRAINING_ROWS),
        ("evaluation set", evaluation, split.eval_days, MIN_EVAL_ROWS),
    ):
        validate_labels(entities, what, min_rows)
        rows = features[on_days(features["event_timestamp"], days)]
        uncovered = sorted(set(days) - set(snapshot_days(rows["event_timestamp"])))
        if uncovered:
            listed = ", ".join(d.isoformat() for d in uncovered)
            raise TrainingDataError(
                f"fct_customer_features has no rows for the {what}'s snapshot day(s) {listed}"
            )
        validate_features(rows, names, what)
    return {**split.as_dict(), "training_rows": len(train), "eval_rows": len(evaluation)}


def gold_join(features: pd.DataFrame, entities: pd.DataFrame) -> pd.DataFrame:
    return entities.merge(features, on=KEYS, how="left")


def feast_join(home: Path, entities: pd.DataFrame) -> tuple[pd.DataFrame, list[str], str]:
    from lakehouse_ml.features.store import FEATURE_NAMES, FEATURE_SERVICE, feature_store
    from lakehouse_ml.features.training_set import build_training_set
    from lakehouse_ml.platform.settings import Settings

    store = feature_store(Settings.from_env({"LAKEHOUSE_HOME": str(home)}))
    joined = build_training_set(store, entities)
    return joined, list(FEATURE_NAMES), FEATURE_SERVICE


def build_training_data(home: Path, gold_uri: str, feature_source: str, config: SplitConfig) -> TrainingData:
    """``home`` is the LAKEHOUSE_HOME whose Feast configuration is used; ``gold_uri`` where gold lives."""
    if feature_source not in FEATURE_SOURCES:
        raise ValueError(f"feature_source must be one of {FEATURE_SOURCES}, got {feature_source!r}")
    split, train_entities, eval_entities = read_entity_frames(gold_uri, config)
    both = pd.concat([train_entities, eval_entities], ignore_index=True)
    if feature_source == "feast":
        joined, feature_names, feature_service = feast_join(Path(home), both)
    else:
        features = read_gold(gold_uri, "fct_customer_features", days=split.train_days + split.eval_days)
        joined, feature_names, feature_service = gold_join(features, both), gold_feature_names(features), None
    joined["event_timestamp"] = pd.to_datetime(joined["event_timestamp"], utc=True)
    joined = joined[[*KEYS, *feature_names, LABEL]]
    is_train = on_days(joined["event_timestamp"], split.train_days)
    train = joined[is_train].sort_values(KEYS, kind="stable").reset_index(drop=True)
    evaluation = joined[~is_train].sort_values(KEYS, kind="stable").reset_index(drop=True)
    validate(train, feature_names, "training set", MIN_TRAINING_ROWS)
    validate(evaluation, feature_names, "evaluation set", MIN_EVAL_ROWS)
    return TrainingData(
        train, evaluation, feature_names, categorical_columns(train, feature_names), split, feature_service
    )
