"""Incremental gold equals a full refresh, row for row.

A simulated history of orders, some of which arrive in the landing zone up to 13 days after they were placed
(inside the 14-day `gold_lookback_days`), is loaded week by week; after each weekly load dbt builds the gold
models incrementally (the first run creates them). A second warehouse builds the final data once with
`--full-refresh`. Both the DuckDB tables and the Parquet files that Feast and training read must be equal.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse_ml.ingest.warehouse import duckdb_load_raw
from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR, dbt_executable

pytestmark = pytest.mark.slow  # five dbt runs of silver and gold, 1-4 min on a shared 2-core machine

GOLD = ("fct_customer_features", "fct_churn_labels")
FIRST_DAY = date(2024, 1, 1)  # a Monday
FIRST_DAY_BUILT = date(2024, 1, 7)  # first grid Sunday
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


def dbt_build(home: Path, *extra: str) -> None:
    """`dbt run` of the gold models and what they need, in a subprocess as the asset runs it (dbt-duckdb keeps
    its connection open in-process). The clock comes from the data: no --vars, so that every run reuses the
    partial parse in the shared target path."""
    command = [
        dbt_executable(), "run",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(home.parent / "dbt-target"),
        "--log-path", str(home / "dbt-logs"),
        "--select", "+fct_customer_features", "+fct_churn_labels",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def gold_tables(home: Path, source: str) -> dict[str, pd.DataFrame]:
    """Both gold models from the DuckDB warehouse or from the Parquet files readers use, in one row order."""
    frames = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for model in GOLD:
            relation = f"gold.{model}" if source == "duckdb" else f"'{home / 'gold' / model}.parquet'"
            frames[model] = con.sql(f"select * from {relation} order by event_timestamp, customer_id").df()
    return frames


def set_lifetime_value(home: Path, value: float) -> float:
    """Set lifetime_value of the first customer's row on FIRST_DAY_BUILT; returns the value it had."""
    where = f"event_timestamp = date '{FIRST_DAY_BUILT}' and customer_id = 'c000'"
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        table = "gold.fct_customer_features"
        (previous,) = con.execute(f"select lifetime_value from {table} where {where}").fetchone()
        con.execute(f"update {table} set lifetime_value = {value} where {where}")
    return previous


def new_home(root: Path, name: str, raw: dict[str, pa.Table]) -> Path:
    home = root / name
    (home / "gold").mkdir(parents=True)
    duckdb_load_raw(str(home / "warehouse.duckdb"), raw)
    return home


def test_weekly_incremental_builds_equal_a_full_refresh(tmp_path: Path) -> None:
    customers, orders = simulated_history()
    late = orders[orders.arrives > orders.order_ts.dt.date]
    assert len(late) > 20  # the history really has late orders that change days already built

    weekly = new_home(tmp_path, "weekly", landed(customers, orders, WEEKLY_AS_OF[0]))
    dbt_build(weekly)
    first = gold_tables(weekly, "duckdb")
    for as_of in WEEKLY_AS_OF[1:-1]:
        duckdb_load_raw(str(weekly / "warehouse.duckdb"), landed(customers, orders, as_of))
        dbt_build(weekly)
    # The last weekly run must leave days before its window alone: mark one old row and look for it after.
    duckdb_load_raw(str(weekly / "warehouse.duckdb"), landed(customers, orders, WEEKLY_AS_OF[-1]))
    marked = set_lifetime_value(weekly, -1.0)
    dbt_build(weekly)
    assert set_lifetime_value(weekly, marked) == -1.0
    parquet = gold_tables(weekly, "parquet")
    for model in GOLD:  # the files are in snapshot-day order as written, without a sort of the whole table
        written = pd.read_parquet(
            weekly / "gold" / f"{model}.parquet", columns=["event_timestamp", "customer_id"]
        )
        pd.testing.assert_frame_equal(written, written.sort_values(["event_timestamp", "customer_id"]))
    features = parquet["fct_customer_features"]
    old_row = (features.customer_id == "c000") & (features.event_timestamp == pd.Timestamp(FIRST_DAY_BUILT))
    assert features.loc[old_row, "lifetime_value"].tolist() == [-1.0]
    features.loc[old_row, "lifetime_value"] = marked

    full = new_home(tmp_path, "full", landed(customers, orders, WEEKLY_AS_OF[-1]))
    dbt_build(full, "--full-refresh")

    refreshed = gold_tables(full, "duckdb")
    for model, incremental in gold_tables(weekly, "duckdb").items():
        assert len(refreshed[model]) > len(first[model])  # the weeks added rows (and labels closed)
        for other in (incremental, parquet[model], gold_tables(full, "parquet")[model]):
            pd.testing.assert_frame_equal(other, refreshed[model], check_exact=False, rtol=1e-12)
    # The first run's off-grid as_of (a Wednesday) is gone; the last one is there.
    days = set(refreshed["fct_customer_features"].event_timestamp.dt.date)
    assert WEEKLY_AS_OF[0] not in days and WEEKLY_AS_OF[-1] in days
