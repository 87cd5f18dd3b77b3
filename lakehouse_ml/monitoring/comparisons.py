"""What the drift reports compare: the feature comparisons and the current side of prediction drift.

``query`` runs monitoring SQL (``sql``) and returns a frame: ``QueryEngine.query`` in the assets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd

from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.model import MonitoredModel, compared_customers, latest_snapshot
from lakehouse_ml.monitoring.policy import TriggerPolicy


def feature_comparisons(
    query: Callable[[str], pd.DataFrame], model: MonitoredModel, as_of: date, policy: TriggerPolicy
) -> list[tuple[str, pd.DataFrame, pd.DataFrame, bool]]:
    """(name, reference, current, triggers) per comparison; see docs/trigger-policy.md."""
    current = query(sql.snapshot_sql(as_of))
    days = [pd.Timestamp(d).date() for d in query(sql.snapshot_days_sql())["day"]]
    earlier = [d for d in days if d <= as_of - timedelta(days=policy.recent_window_days)]
    comparisons = [
        (
            "since_training",
            compared_customers(latest_snapshot(model.training_set()), policy),
            compared_customers(current, policy),
            False,
        )
    ]
    if earlier:
        previous = query(sql.snapshot_sql(max(earlier)))
        comparisons.append(
            ("recent_active", compared_customers(previous, policy), compared_customers(current, policy), True)
        )
        newcomers = [frame[frame["tenure_days"] < policy.new_customer_days] for frame in (previous, current)]
        if all(len(frame) for frame in newcomers):
            comparisons.append(("recent_new_customers", newcomers[0], newcomers[1], True))
    return comparisons


def current_scores(
    query: Callable[[str], pd.DataFrame], model: MonitoredModel, as_of: date, current_features: pd.DataFrame
) -> tuple[pd.Series, str]:
    """Scores of the newest logged prediction day (within a week of as_of), else the model's scores now."""
    try:
        logged = query(sql.recent_predictions_sql(model.version, as_of - timedelta(days=6), as_of))
    except ValueError:
        logged = pd.DataFrame()
    if len(logged):
        days = pd.to_datetime(logged["day"]).dt.date
        newest = logged[days == days.max()]
        newest = newest[newest["customer_id"].isin(current_features["customer_id"])]
        if len(newest):
            return newest["confidence"].astype(float), "prediction log"
    return model.scores(current_features), "model scores on current features"
