"""Hand-made gold feature tables (the documented fct_customer_features schema) for the Feast tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from lakehouse_ml.features.store import FEATURE_NAMES

SEGMENTS = ["new", "active", "loyal", "at_risk", "dormant"]
GOLD_COLUMNS = ["customer_id", "event_timestamp", *FEATURE_NAMES]


def weekly_snapshots(last: datetime, count: int) -> list[datetime]:
    """``count`` snapshot days a week apart, ending at ``last`` (naive UTC midnight, as dbt writes them)."""
    last = last.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return [last - timedelta(days=7 * k) for k in reversed(range(count))]


def gold_frame(snapshots: list[datetime], customers: int, late_joiner: bool = True) -> pd.DataFrame:
    """One row per customer per snapshot with values that differ per customer and per snapshot.

    With ``late_joiner`` the last customer only exists from the last snapshot on.
    """
    rows = []
    for k, day in enumerate(snapshots):
        for i in range(customers):
            if late_joiner and i == customers - 1 and k < len(snapshots) - 1:
                continue
            rows.append(
                {
                    "customer_id": f"c{i}",
                    "event_timestamp": day,
                    "lifetime_value": 100.0 * i + 10.25 * k,
                    "order_count_30d": i + k,
                    "order_count_90d": 3 * i + k,
                    "avg_order_value": 20.5 + i + 0.5 * k,
                    "days_since_last_order": 30 - k,
                    "tenure_days": 100 + 7 * k + i,
                    "customer_segment": SEGMENTS[(i + k) % len(SEGMENTS)],
                }
            )
    frame = pd.DataFrame(rows, columns=GOLD_COLUMNS)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"]).astype("datetime64[us]")
    return frame.astype({"order_count_30d": "int64", "order_count_90d": "int64"})


def write_gold(home: Path, frame: pd.DataFrame) -> Path:
    path = home / "gold" / "fct_customer_features.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def expected_as_of(gold: pd.DataFrame, customer_id: str, as_of: datetime, ttl: timedelta) -> dict | None:
    """The gold row a point-in-time join must pick: latest row at or before ``as_of`` within ``ttl``."""
    as_of = pd.Timestamp(as_of).tz_localize(None) if pd.Timestamp(as_of).tzinfo else pd.Timestamp(as_of)
    rows = gold[
        (gold["customer_id"] == customer_id)
        & (gold["event_timestamp"] <= as_of)
        & (gold["event_timestamp"] >= as_of - ttl)
    ]
    return None if rows.empty else rows.sort_values("event_timestamp").iloc[-1].to_dict()


def latest_values(gold: pd.DataFrame, customer_id: str, features: list[str]) -> list:
    """The customer's feature values on the last snapshot day of the gold table."""
    last = gold[gold["event_timestamp"] == gold["event_timestamp"].max()].set_index("customer_id")
    return last.loc[customer_id, features].tolist()


def world_gold(
    signups: dict[str, int], orders: dict[str, list[tuple[int, float]]], days: list[int]
) -> pd.DataFrame:
    """Gold rows of a small consistent world, by ``fct_customer_features``'s definitions: customers
    sign up on day ``signups[c]`` and order (day, amount) ``orders[c]``; one row per customer per
    snapshot day of ``days`` (day numbers since 1970-01-01) on or after its signup."""
    rows = []
    for day in days:
        for customer, signup in signups.items():
            if signup > day:
                continue
            placed = [(d, amount) for d, amount in orders.get(customer, []) if d <= day]
            value = sum(amount for _, amount in placed)
            since = day - max((d for d, _ in placed), default=signup)
            tenure = day - signup
            in_90 = sum(1 for d, _ in placed if d > day - 90)
            if tenure < 30:
                segment = "new"
            elif since > 90:
                segment = "dormant"
            elif since > 45 or not placed:
                segment = "at_risk"
            else:
                segment = "loyal" if in_90 >= 4 else "active"
            rows.append(
                {
                    "customer_id": customer,
                    "event_timestamp": datetime(1970, 1, 1) + timedelta(days=day),
                    "lifetime_value": value,
                    "order_count_30d": sum(1 for d, _ in placed if d > day - 30),
                    "order_count_90d": in_90,
                    "avg_order_value": value / len(placed) if placed else 0.0,
                    "days_since_last_order": since,
                    "tenure_days": tenure,
                    "customer_segment": segment,
                }
            )
    frame = pd.DataFrame(rows, columns=GOLD_COLUMNS)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"]).astype("datetime64[us]")
    return frame.astype(
        {
            "order_count_30d": "int64",
            "order_count_90d": "int64",
            "days_since_last_order": "int64",
            "tenure_days": "int64",
        }
    )
