"""A simulated order history (late orders included) landed week by week, for gold's incremental tests
and ``bench/bench_gold_tests.py``."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from lakehouse_ml.ingest.warehouse import duckdb_load_raw
from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR, dbt_executable

FIRST_DAY = date(2024, 1, 1)  # a Monday
FIRST_DAY_BUILT = date(2024, 1, 7)  # first grid Sunday


FEATURES = "gold.fct_customer_features"
WEEKLY_AS_OF = [date(2024, 5, 1) + timedelta(days=7 * week) for week in range(4)]  # Wednesdays: off-grid


def simulated_history(customers: int = 80, seed: int = 3) -> tuple[pa.Table, pd.DataFrame]:
    """Customers, and orders with the day each one reaches the landing zone (`arrives`, 0-13 days late)."""
    rng = np.random.default_rng(seed)
    signup_day = rng.integers(0, 150, customers)
    signup_day[0] = 0  # c000 signs up first: it has a row on the first grid day
    signup = [
        datetime.combine(FIRST_DAY, datetime.min.time(), UTC) + timedelta(days=int(d), hours=int(h))
        for d, h in zip(signup_day, rng.integers(0, 24, customers), strict=True)
    ]
    customer_ids = [f"c{i:03d}" for i in range(customers)]
    rows = []
    for customer, start in zip(customer_ids, signup, strict=True):
        for n in range(int(rng.integers(0, 12))):
            placed = start + timedelta(days=int(rng.integers(0, 160)), minutes=int(rng.integers(0, 1440)))
            late = int(rng.choice([0, 0, 0, 1, 3, 9, 13]))
            amount = round(float(rng.normal(40, 25)), 2)
            rows.append(
                (f"{customer}-{n}", customer, placed, amount, 1, placed.date() + timedelta(days=late))
            )
    # One order on the day after each weekly as_of: the pipeline clock is the day before the latest order day.
    rows += [
        (
            f"clock-{as_of}",
            customer_ids[0],
            datetime.combine(as_of + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=12),
            10.0,
            1,
            as_of + timedelta(days=1),
        )
        for as_of in WEEKLY_AS_OF
    ]
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_ts", "amount", "items", "arrives"])
    customers_table = pa.table(
        {
            "customer_id": customer_ids,
            "signup_ts": pa.array(signup, pa.timestamp("us", tz="UTC")),
            "country": pa.nulls(customers, pa.string()),
            "acquisition_channel": pa.nulls(customers, pa.string()),
        }
    )
    return customers_table, orders


def landed(customers: pa.Table, orders: pd.DataFrame, as_of: date) -> dict[str, pa.Table]:
    """What the landing zone holds when the run for ``as_of`` starts: orders that arrived by then."""
    known = orders[orders.arrives <= as_of + timedelta(days=1)].drop(columns="arrives")
    known = known.assign(order_ts=known.order_ts.astype("datetime64[us, UTC]"))
    return {"customers": customers, "orders": pa.Table.from_pandas(known, preserve_index=False)}


def new_home(root: Path, name: str, raw: dict[str, pa.Table]) -> Path:
    home = root / name
    (home / "gold").mkdir(parents=True)
    duckdb_load_raw(str(home / "warehouse.duckdb"), raw)
    return home


def dbt(home: Path, command: str, select: tuple[str, ...], *extra: str) -> subprocess.CompletedProcess:
    command = [
        dbt_executable(), command, *extra,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(home.parent / "dbt-target"),
        "--log-path", str(home / "dbt-logs"),
        "--select", *select,
    ]  # fmt: skip
    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local"}
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def build(home: Path, *extra: str) -> None:
    done = dbt(home, "build", ("+fct_customer_features", "+fct_churn_labels"), *extra)
    assert done.returncode == 0, done.stdout[-3000:]
