"""Incremental gold equals a full refresh, row for row.

A simulated history of orders, some of which arrive in the landing zone up to 13 days after they were placed
(inside the 14-day `gold_lookback_days`), is loaded week by week; after each weekly load dbt builds the gold
models incrementally (the first run creates them). A second warehouse builds the final data once with
`--full-refresh`. Both the DuckDB tables and the Parquet files that Feast and training read must be equal.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lakehouse_ml.ingest.warehouse import duckdb_load_raw
from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR, dbt_executable
from tests.support.gold_history import (
    FIRST_DAY_BUILT,
    WEEKLY_AS_OF,
    landed,
    new_home,
    simulated_history,
)

pytestmark = pytest.mark.slow  # five dbt runs of silver and gold, 1-4 min on a shared 2-core machine

GOLD = ("fct_customer_features", "fct_churn_labels")


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
