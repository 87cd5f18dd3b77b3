"""A day's online write (issue 23): the changed-only write against Feast's materialization, same run.

For each size (BENCH_ONLINE_WRITE_CUSTOMERS, default "100000,1000000") a gold table like the daily
refresh sees it: grid days clock - 14 and clock - 7 and the clock day. Day 1's clock is D - 1, day 2's
is D, where a share BENCH_ONLINE_WRITE_CHANGED (default 0.03) of the customers ordered; everyone
else's day counts grew by one. Measured on the local profile's sqlite store:

- ``refresh_online`` on day 1 (first write: everyone) and on day 2 (the changed customers only);
- baseline: ``materialize_online`` (Feast's materialization, the previous path) on day 1, then day 2
  (incremental from D - 1: everyone's latest row again).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import report, timed
from lakehouse_ml.platform.settings import Settings

CLOCK = datetime(2024, 6, 2)
SEGMENTS = np.array(["new", "active", "loyal", "at_risk", "dormant"])


def _day(customers: int, offset: int, changed: np.ndarray | None, seed: int = 0) -> pd.DataFrame:
    """Every customer's row ``offset`` days before CLOCK; ``changed`` customers ordered that day."""
    rng = np.random.default_rng(seed)
    since = rng.integers(1, 200, customers) - offset  # days since the last order on the clock day
    tenure = rng.integers(200, 2000, customers) - offset
    value = np.round(rng.gamma(2.0, 80.0, customers), 2)
    count_30 = rng.integers(0, 4, customers)
    count_90 = count_30 + rng.integers(0, 6, customers)
    orders = count_90 + rng.integers(1, 20, customers)
    if changed is not None:
        value = value + np.where(changed, 25.5, 0.0)
        count_30, count_90, orders = (c + changed for c in (count_30, count_90, orders))
        since = np.where(changed, 0, since)
    return pd.DataFrame(
        {
            "customer_id": np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 8)),
            "event_timestamp": CLOCK - timedelta(days=offset),
            "lifetime_value": value,
            "order_count_30d": count_30.astype("int64"),
            "order_count_90d": count_90.astype("int64"),
            "avg_order_value": value / orders,
            "days_since_last_order": np.maximum(since, 0).astype("int64"),
            "tenure_days": tenure.astype("int64"),
            "customer_segment": SEGMENTS[rng.integers(0, len(SEGMENTS), customers)],
        }
    )


def _write_gold(home: Path, days: list[pd.DataFrame]) -> None:
    path = home / "gold" / "fct_customer_features.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.concat(days, ignore_index=True)
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us]")
    frame.to_parquet(path, index=False, row_group_size=100_000)


def _measure(customers: int, share: float, write) -> dict[str, float]:
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    changed = np.random.default_rng(1).random(customers) < share
    grid = [_day(customers, 14, None), _day(customers, 7, None)]
    seconds = {}
    with tempfile.TemporaryDirectory() as home:
        os.environ["LAKEHOUSE_HOME"] = home
        settings = Settings.from_env()
        _write_gold(Path(home), [*grid, _day(customers, 1, None)])
        store, source = feature_store(settings), gold_source(settings)
        apply_definitions(store, source)
        seconds["day_1"], first = timed(lambda: write(store, source))
        _write_gold(Path(home), [*grid, _day(customers, 0, changed)])
        seconds["day_2"], second = timed(lambda: write(feature_store(settings), source))
    return {**seconds, "day_1_result": first, "day_2_result": second, "changed": int(changed.sum())}


def main() -> None:
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_write import refresh_online

    sizes = [int(s) for s in os.environ.get("BENCH_ONLINE_WRITE_CUSTOMERS", "100000,1000000").split(",")]
    share = float(os.environ.get("BENCH_ONLINE_WRITE_CHANGED", "0.03"))
    os.environ["LAKEHOUSE_PROFILE"] = "local"
    results = {"changed_share": share, "clock": CLOCK.replace(tzinfo=UTC), "load_average": os.getloadavg()}
    for customers in sizes:
        ours = _measure(customers, share, refresh_online)
        feasts = _measure(customers, share, materialize_online)
        results[str(customers)] = {
            "changed_customers": ours["changed"],
            "refresh_online_first_s": round(ours["day_1"], 2),
            "refresh_online_day_s": round(ours["day_2"], 2),
            "refresh_online_day_written": ours["day_2_result"].written,
            "refresh_online_day_reason": ours["day_2_result"].reason,
            "baseline_materialize_first_s": round(feasts["day_1"], 2),
            "baseline_materialize_day_s": round(feasts["day_2"], 2),
            "baseline_materialize_day_entities": feasts["day_2_result"].entities,
        }
        print(results[str(customers)], flush=True)
    results["load_average_end"] = os.getloadavg()
    report("online_write", results)
