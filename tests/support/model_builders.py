"""A tiny synthetic model folder and Feast repository, for smoke tests and benchmarks of the server.

Both follow the real contracts (docs/ARCHITECTURE.md): the model folder holds ``model.joblib``
(a fitted scikit-learn Pipeline), ``metadata.json`` with ordered ``feature_names`` and, compiled as
at registration, ``model.onnx`` with ``compiled.json``; the Feast
repository has entity ``customer``, feature view ``customer_features`` and service ``churn_v1``
with a sqlite online store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lakehouse_ml.features.store import CATEGORICAL_FEATURES, FEATURE_NAMES
from lakehouse_ml.model_artifact.onnx_compile import compile_model_folder

NUMERIC_FEATURES = [name for name in FEATURE_NAMES if name not in CATEGORICAL_FEATURES]
SEGMENTS = ["new", "active", "loyal", "at_risk", "dormant"]


def sample_features(n: int, seed: int = 0):
    """A pandas frame of ``n`` customers (``c00000``...) with the seven gold features."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    orders_90 = rng.poisson(3, n)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "lifetime_value": rng.gamma(2.0, 150.0, n),
            "order_count_30d": rng.binomial(orders_90, 0.35),
            "order_count_90d": orders_90,
            "avg_order_value": rng.gamma(3.0, 20.0, n),
            "days_since_last_order": rng.integers(0, 200, n),
            "tenure_days": rng.integers(1, 900, n),
            "customer_segment": rng.choice(SEGMENTS, n),
        }
    )
    return frame


def write_model(
    folder: Path, seed: int = 0, threshold: float = 0.5, n: int = 400, churn_after_days: int = 90
) -> Path:
    """Fit a small pipeline on synthetic data and write the model-artifact contract files.

    Customers are labelled churned after about ``churn_after_days`` without an order: a small value gives
    a model whose scores are far from a default one's (a bad canary)."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = sample_features(n, seed)
    feature_names = NUMERIC_FEATURES + CATEGORICAL_FEATURES
    churned = (
        frame["days_since_last_order"] + np.random.default_rng(seed).normal(0, 30, n) > churn_after_days
    ).astype(int)
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), NUMERIC_FEATURES),
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(frame[feature_names], churned)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, folder / "model.joblib")
    metadata = {
        "feature_service": "churn_v1",
        "feature_names": feature_names,
        "categorical_features": CATEGORICAL_FEATURES,
        "threshold": threshold,
        "model_family": "logistic_regression",
        "params": {"max_iter": 500},
        "metrics": {
            "roc_auc": 0.5,
            "pr_auc": 0.5,
            "f1": 0.5,
            "accuracy": 0.5,
            "brier": 0.25,
            "confusion_matrix": [],
        },
        "train_window": ["2025-01-01", "2025-06-30"],
        "eval_window": ["2025-07-01", "2025-09-30"],
        "training_rows": n,
        "class_balance": float(churned.mean()),
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2))
    training_set = frame[feature_names].assign(
        churned=churned, event_timestamp=datetime(2026, 1, 1, tzinfo=UTC)
    )
    training_set.to_parquet(folder / "training_set.parquet")
    compile_model_folder(folder, "training_set.parquet")  # as registration does
    return folder


LONG_TENURE_DAYS = 600


def refuse_long_tenure(frame):
    """A pipeline step with a bug: it fails on customers with a tenure over ``LONG_TENURE_DAYS``."""
    if (frame["tenure_days"] > LONG_TENURE_DAYS).any():
        raise ValueError(f"tenure_days over {LONG_TENURE_DAYS} not handled")
    return frame


def write_failing_model(folder: Path, seed: int = 0) -> Path:
    """``write_model``'s folder whose pipeline fails to predict for long-tenure customers (a canary that
    errors in production but passes a smoke test on other customers). Such a step has no ONNX converter,
    so registration records it as served by scikit-learn."""
    import joblib
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    write_model(folder, seed=seed)
    fitted = joblib.load(folder / "model.joblib")
    step = FunctionTransformer(refuse_long_tenure, check_inverse=False)
    joblib.dump(Pipeline([("refuse", step), *fitted.steps]), folder / "model.joblib")
    for compiled in ("model.onnx", "compiled.json"):
        (folder / compiled).unlink(missing_ok=True)
    return folder


def write_feature_repo(
    repo: Path,
    customers: int = 100,
    seed: int = 0,
    frame=None,
    online_store: dict | None = None,
    project: str = "lakehouse_sample",
) -> Path:
    """Create and apply a Feast repository whose online store (sqlite in ``repo`` unless
    ``online_store`` gives another Feast online store config) holds ``customers`` rows of sample
    features, or the rows of ``frame`` (``customer_id`` and the seven features) when given."""
    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    repo.mkdir(parents=True, exist_ok=True)
    frame = (
        sample_features(customers, seed) if frame is None else frame[["customer_id", *FEATURE_NAMES]].copy()
    )
    frame["event_timestamp"] = datetime(2026, 1, 1, tzinfo=UTC)
    source_path = repo / "customer_features.parquet"
    online_store = online_store or {"type": "sqlite", "path": str(repo / "online_store.db")}
    frame.to_parquet(source_path)
    (repo / "feature_store.yaml").write_text(
        "\n".join(
            [
                f"project: {project}",
                f"registry: {repo / 'registry.db'}",
                "provider: local",
                "online_store:",
                *(f"  {key}: {value}" for key, value in online_store.items()),
                "offline_store:",
                "  type: file",
                "entity_key_serialization_version: 3",
                "",
            ]
        )
    )
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    view = FeatureView(
        name="customer_features",
        entities=[customer],
        schema=[Field(name=name, dtype=Float64) for name in ("lifetime_value", "avg_order_value")]
        + [
            Field(name=name, dtype=Int64)
            for name in ("order_count_30d", "order_count_90d", "days_since_last_order", "tenure_days")
        ]
        + [Field(name="customer_segment", dtype=String)],
        source=FileSource(path=str(source_path), timestamp_field="event_timestamp"),
    )
    service = FeatureService(name="churn_v1", features=[view])
    store = FeatureStore(repo_path=str(repo))
    store.apply([customer, view, service])
    store.write_to_online_store("customer_features", frame)
    return repo


def write_simulated_gold(home: Path, customers: int, days: int, seed: int = 0) -> Path:
    """Simulate ``days`` of history into ``home/raw`` and build the dbt gold tables from it (in a fresh
    interpreter with ``LAKEHOUSE_HOME=home``, as the local profile materializes them); returns the gold
    folder."""
    import os
    import subprocess
    import sys

    from lakehouse_ml.simulator import simulate

    simulate(home / "raw", customers=customers, days=days, seed=seed)
    env = dict(
        os.environ, LAKEHOUSE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), LAKEHOUSE_PROFILE="local"
    )
    for name in ("LAKEHOUSE_AS_OF", "LAKEHOUSE_RAW_URI"):
        env.pop(name, None)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", GOLD_BUILD], env=env, check=True, capture_output=True)
    return home / "gold"


GOLD_BUILD = """
import dagster as dg
from lakehouse_ml.assets import gold, raw
from lakehouse_ml.resources import build_resources
from lakehouse_ml.platform.settings import Settings
wanted = ("landing_zone", "warehouse", "dbt", "iceberg")
resources = {k: v for k, v in build_resources(Settings.from_env()).items() if k in wanted}
assert dg.materialize([raw.raw_landing_zone, gold.lakehouse_dbt_models], resources=resources).success
"""


def write_trained_models(home: Path, gold_dir: Path, families: list[str], seed: int = 0) -> dict[str, Path]:
    """One model folder per family under ``home/trained/``, trained by the training stage's own code
    (time split, search, refit, evaluation) on the gold tables in ``gold_dir``."""
    from threadpoolctl import threadpool_limits

    from lakehouse_ml.training.dataset import SplitConfig, build_training_data
    from lakehouse_ml.training.models import train_and_evaluate, tune

    data = build_training_data(home, str(gold_dir), "gold", SplitConfig(train_snapshots=4, eval_snapshots=2))
    folders = {}
    for family in families:
        with threadpool_limits(limits=1):
            candidate = tune(family, data.train, data.feature_names, data.categorical_features, seed)
        folders[family] = home / "trained" / family
        train_and_evaluate(
            data.train,
            data.evaluation,
            [candidate],
            data.categorical_features,
            "churn_v1",
            0.5,
            seed,
            folders[family],
        )
    return folders
