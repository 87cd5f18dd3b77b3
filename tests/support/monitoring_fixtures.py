"""Hand-made monitoring inputs: a tmp Iceberg prediction log and a tmp DuckDB warehouse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse_ml.features.store import FEATURE_NAMES
from lakehouse_ml.predictions.catalog import local_catalog
from lakehouse_ml.resources.query_engine import DuckDBQueryEngine


def make_catalog(home: Path):
    return local_catalog(home / "iceberg")


def write_predictions(home: Path, frame: pd.DataFrame):
    """Append ``frame`` (text ids, 0/1 predictions and actuals, NA for missing) in the table's types."""
    from lakehouse_ml.predictions.catalog import ensure_predictions_table
    from lakehouse_ml.predictions.table import predictions_arrow

    table = ensure_predictions_table(make_catalog(home))
    columns = {name: [None if pd.isna(v) else v for v in frame[name]] for name in frame.columns}
    table.append(predictions_arrow(columns, table.schema().as_arrow()))
    return table


def write_warehouse(home: Path, orders: pd.DataFrame, features: pd.DataFrame | None = None) -> Path:
    import duckdb

    path = home / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS main_silver")
        con.register("orders_df", orders)
        con.execute("CREATE OR REPLACE TABLE main_silver.fct_orders AS SELECT * FROM orders_df")
        if features is not None:
            con.register("features_df", features)
            con.execute("CREATE SCHEMA IF NOT EXISTS gold")
            con.execute("CREATE OR REPLACE TABLE gold.fct_customer_features AS SELECT * FROM features_df")
    finally:
        con.close()
    return path


def append_snapshot(home: Path, features: pd.DataFrame) -> None:
    """Add a snapshot day to gold ``fct_customer_features`` of ``write_warehouse`` (the clock moves on)."""
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        con.register("features_df", features)
        con.execute("INSERT INTO gold.fct_customer_features SELECT * FROM features_df")
    finally:
        con.close()


def order_frame(rows: list[tuple[str, str, datetime]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "order_ts": pd.to_datetime([r[2] for r in rows]),
            "amount": [10.0] * len(rows),
        }
    )


def prediction_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["prediction_timestamp"] = pd.to_datetime(frame["prediction_timestamp"], utc=True)
    for column in ("actual", "actual_timestamp"):
        if column not in frame:
            frame[column] = None
    frame["actual_timestamp"] = pd.to_datetime(frame["actual_timestamp"], utc=True)
    frame["actual"] = frame["actual"].astype("Int32")
    return frame


def random_predictions(n: int, day: date, version: str, seed: int, quality: float) -> pd.DataFrame:
    """Labelled predictions whose confidence separates the classes by ``quality``."""
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 2, n)
    confidence = np.clip(0.5 + quality * (actual - 0.5) + rng.normal(0, 0.25, n), 0, 1).round(2)
    stamp = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)
    return prediction_frame(
        [
            {
                "prediction_id": f"{version}-{day}-{i}",
                "customer_id": f"c{i}",
                "prediction": int(c >= 0.5),
                "confidence": float(c),
                "model_version": version,
                "prediction_timestamp": stamp,
                "actual": int(a),
                "actual_timestamp": stamp + timedelta(days=91),
            }
            for i, (c, a) in enumerate(zip(confidence, actual, strict=True))
        ]
    )


FEATURES = FEATURE_NAMES
SEGMENTS = ["new", "active", "loyal", "at_risk", "dormant"]


def snapshot(day: date, n: int, seed: int, basket: float = 1.0, age_days: int = 0) -> pd.DataFrame:
    """One feature snapshot of ``n`` customers; ``basket`` scales order values (data drift),
    ``age_days`` ages the base (tenure and lifetime value grow: drift by construction)."""
    rng = np.random.default_rng(seed)
    count_90 = rng.poisson(3, n)
    count_30 = np.minimum(rng.poisson(1, n), count_90)
    aov = rng.gamma(4, 12, n) * basket
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "event_timestamp": pd.Timestamp(day),
            "lifetime_value": aov * (count_90 + rng.poisson(5 + age_days // 30, n)),
            "order_count_30d": count_30,
            "order_count_90d": count_90,
            "avg_order_value": aov,
            "days_since_last_order": rng.integers(0, 60, n),
            "tenure_days": rng.integers(30, 700, n) + age_days,
            "customer_segment": rng.choice(SEGMENTS, n),
        }
    )


def churn_outcome(frame: pd.DataFrame, seed: int, flipped: bool = False) -> np.ndarray:
    """Who stops ordering: the less engaged, or (concept drift) the more engaged."""
    rng = np.random.default_rng(seed)
    engagement = frame["order_count_30d"].to_numpy() + 0.5 * frame["order_count_90d"].to_numpy()
    logit = (engagement - engagement.mean()) * (1.2 if flipped else -1.2)
    return (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)


def orders_after(frame: pd.DataFrame, churned: np.ndarray, prefix: str) -> list[tuple[str, str, datetime]]:
    """One order 20 days after the snapshot for every customer who did not churn."""
    day = pd.Timestamp(frame["event_timestamp"].iloc[0]).date()
    when = datetime.combine(day + timedelta(days=20), datetime.min.time()) + timedelta(hours=10)
    return [
        (f"{prefix}-{cid}", cid, when) for cid, c in zip(frame["customer_id"], churned, strict=True) if not c
    ]


def write_model(folder: Path, training: pd.DataFrame, eval_end: date) -> Path:
    """A scikit-learn pipeline with the model-artifact contract of docs/ARCHITECTURE.md."""
    import json

    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f for f in FEATURES if f != "customer_segment"]
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["customer_segment"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(training[FEATURES], training["churned"])
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, folder / "model.joblib")
    training.to_parquet(folder / "training_set.parquet", index=False)
    days = sorted(pd.to_datetime(training["event_timestamp"]).dt.date)
    (folder / "metadata.json").write_text(
        json.dumps(
            {
                "feature_service": "churn_v1",
                "feature_names": FEATURES,
                "categorical_features": ["customer_segment"],
                "threshold": 0.5,
                "model_family": "logistic_regression",
                "params": {},
                "metrics": {"roc_auc": 0.8, "pr_auc": 0.7, "f1": 0.7, "accuracy": 0.8, "brier": 0.2},
                "train_window": [days[0].isoformat(), days[-1].isoformat()],
                "eval_window": [eval_end.isoformat(), eval_end.isoformat()],
                "training_rows": len(training),
                "class_balance": float(training["churned"].mean()),
            }
        )
    )
    return folder


def _engine(home) -> DuckDBQueryEngine:
    return DuckDBQueryEngine(
        warehouse_path=str(home / "warehouse.duckdb"),
        iceberg_dir=str(home / "iceberg"),
    )
