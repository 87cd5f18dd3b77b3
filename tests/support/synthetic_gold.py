"""Synthetic gold tables with the ARCHITECTURE schema, for training tests and benchmarks.

Customers have a latent activity rate; features are noisy views of it and churn is more likely for
inactive customers, so a model has signal to find. Weekly snapshots on the 2020-01-05 grid; labels
only for days at least ``horizon_days`` before the last snapshot, as dbt writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS

SEGMENTS = np.array(["new", "active", "loyal", "at_risk", "dormant"])


def synthetic_gold(
    customers: int, snapshots: int, horizon_days: int = LABEL_HORIZON_DAYS, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2020-01-05", periods=snapshots, freq="7D", tz="UTC")
    ids = np.array([f"c{i:07d}" for i in range(customers)])
    activity = rng.lognormal(mean=0.0, sigma=0.8, size=customers)
    signup_offset = rng.integers(30, 900, size=customers)
    n = customers * snapshots
    day_index = np.repeat(np.arange(snapshots), customers)
    act = np.tile(activity, snapshots) * rng.lognormal(0.0, 0.3, size=n)
    tenure = np.tile(signup_offset, snapshots) + day_index * 7
    count_30 = rng.poisson(act)
    count_90 = count_30 + rng.poisson(2 * act)
    avg_value = np.round(rng.gamma(2.0, 25.0, size=n) * (1 + 0.1 * np.tile(activity, snapshots)), 2)
    lifetime_count = count_90 + rng.poisson(act * tenure / 45)
    days_since = np.minimum(tenure, rng.exponential(30 / np.maximum(act, 0.05)).astype(int))
    segment = np.select(
        [tenure < 60, days_since > 120, days_since > 45, count_90 >= 6],
        [SEGMENTS[0], SEGMENTS[4], SEGMENTS[3], SEGMENTS[2]],
        SEGMENTS[1],
    )
    features = pd.DataFrame(
        {
            "customer_id": np.tile(ids, snapshots),
            "event_timestamp": np.repeat(days, customers),
            "lifetime_value": np.round(lifetime_count * avg_value, 2),
            "order_count_30d": count_30.astype("int64"),
            "order_count_90d": count_90.astype("int64"),
            "avg_order_value": np.where(lifetime_count > 0, avg_value, 0.0),
            "days_since_last_order": days_since.astype("int64"),
            "tenure_days": tenure.astype("int64"),
            "customer_segment": segment,
        }
    )
    logit = 0.8 - 1.2 * np.log(act) + 0.01 * days_since - 0.15 * count_30
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    labelled = features["event_timestamp"] <= days[-1] - pd.Timedelta(days=horizon_days)
    labels = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "event_timestamp": features["event_timestamp"],
            "churned": churned,
        }
    )[labelled].reset_index(drop=True)
    return features, labels


def write_synthetic_gold(
    gold_dir: Path, customers: int, snapshots: int = 40, horizon_days: int = LABEL_HORIZON_DAYS, seed: int = 0
) -> Path:
    gold_dir = Path(gold_dir)
    gold_dir.mkdir(parents=True, exist_ok=True)
    features, labels = synthetic_gold(customers, snapshots, horizon_days, seed)
    features.to_parquet(gold_dir / "fct_customer_features.parquet", index=False)
    labels.to_parquet(gold_dir / "fct_churn_labels.parquet", index=False)
    return gold_dir
