"""The gold data tests read only the snapshot days an incremental run rebuilt, and the whole table after a
full build (models/gold/gold.yml `where`; the window is recorded in gold.gold_build_windows by the models'
pre-hooks).

A broken row planted before the window is not seen by the tests of an incremental run; the same row planted
inside the window, or anywhere after a full refresh, fails them."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from lakehouse_ml.ingest.warehouse import duckdb_load_raw
from tests.support.gold_history import (
    FEATURES,
    FIRST_DAY_BUILT,
    WEEKLY_AS_OF,
    build,
    dbt,
    landed,
    new_home,
    simulated_history,
)

pytestmark = pytest.mark.slow  # three dbt builds and six dbt test runs, 2-4 min on a shared 2-core machine


def failing_tests(home: Path) -> set[str]:
    """Names of the gold tests that fail (``dbt test`` of the gold models only)."""
    done = dbt(home, "test", ("fct_customer_features", "fct_churn_labels"))
    results = json.loads((home.parent / "dbt-target" / "run_results.json").read_text())["results"]
    results = [r for r in results if r["unique_id"].startswith("test.")]  # not the on-run-start hooks
    assert len(results) == 17, done.stdout[-3000:]  # every gold test ran
    failed = {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}
    assert {r["status"] for r in results} <= {"pass", "fail"}, done.stdout[-3000:]
    assert done.returncode == (1 if failed else 0), done.stdout[-3000:]
    return failed


def windows(home: Path) -> dict[str, datetime | None]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.sql("select model, window_start from gold.gold_build_windows").fetchall())


def plant_duplicate(home: Path, day: date) -> None:
    """Copy one feature row of ``day`` with a null segment: a duplicate key and a null, on that day only."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(
            f"insert into {FEATURES} select * replace (null as customer_segment) from {FEATURES} "
            f"where event_timestamp = date '{day}' limit 1"
        )


def remove_planted(home: Path) -> None:
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(f"delete from {FEATURES} where customer_segment is null")


PLANTED_FAILS = {  # (the point-in-time test may fail too: it sums the duplicate's orders twice)
    "unique_combination_fct_customer_features_customer_id__event_timestamp",
    "not_null_fct_customer_features_customer_segment",
}


def test_incremental_runs_test_their_window_and_full_builds_the_whole_table(tmp_path: Path) -> None:
    customers, orders = simulated_history()
    home = new_home(tmp_path, "home", landed(customers, orders, WEEKLY_AS_OF[0]))
    build(home)  # the first build creates the tables: a full build
    assert windows(home) == {"fct_customer_features": None, "fct_churn_labels": None}
    plant_duplicate(home, FIRST_DAY_BUILT)
    assert PLANTED_FAILS <= failing_tests(home)  # whole table: the oldest day is tested
    remove_planted(home)

    duckdb_load_raw(str(home / "warehouse.duckdb"), landed(customers, orders, WEEKLY_AS_OF[1]))
    build(home)  # incremental: its tests pass on the window it rebuilt
    window = windows(home)
    assert window["fct_customer_features"] is not None and window["fct_churn_labels"] is not None
    start = window["fct_customer_features"].date()
    assert FIRST_DAY_BUILT < start < WEEKLY_AS_OF[1]
    assert window["fct_churn_labels"] < window["fct_customer_features"]  # labels trail by the horizon

    plant_duplicate(home, FIRST_DAY_BUILT)  # before the window: not read
    assert failing_tests(home) == set()
    plant_duplicate(home, WEEKLY_AS_OF[1])  # inside the window: caught
    assert PLANTED_FAILS <= failing_tests(home)
    remove_planted(home)

    build(home, "--full-refresh")
    assert windows(home) == {"fct_customer_features": None, "fct_churn_labels": None}
    plant_duplicate(home, FIRST_DAY_BUILT)
    assert PLANTED_FAILS <= failing_tests(home)
