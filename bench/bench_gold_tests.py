"""Gold data tests of a weekly incremental run: scoped to the rebuilt window against the whole table.

The simulated history of tests/gold/test_incremental.py (late orders included) at
``BENCH_GOLD_TESTS_CUSTOMERS`` customers (default 10k): a first build, one weekly load, an incremental
``dbt build`` whose gold tests read only the window (what the pipeline runs), then, as the same-run
baseline, the same gold tests over the whole table (the window record set to null, as after a full build:
what every weekly run did before). Reports the summed execution time of the 17 gold tests from dbt's
run_results.json, the wall time of each ``dbt`` call, and the rows each side reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import report
from lakehouse_ml.ingest.warehouse import duckdb_load_raw
from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR, dbt_executable
from tests.support.gold_history import WEEKLY_AS_OF, landed, new_home, simulated_history

GOLD = ("fct_customer_features", "fct_churn_labels")


def _dbt(home: Path, command: str, *select: str) -> tuple[float, float]:
    """Wall seconds of the call and summed execution seconds of the gold tests it ran."""
    target = home.parent / "dbt-target"
    args = [
        dbt_executable(), command,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(home / "dbt-logs"), "--select", *select,
    ]  # fmt: skip
    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local"}
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:])
    results = json.loads((target / "run_results.json").read_text())["results"]
    tests = [
        r for r in results if r["unique_id"].startswith("test.") and any(m in r["unique_id"] for m in GOLD)
    ]
    return wall, sum(r["execution_time"] for r in tests)


def _rows(home: Path) -> dict[str, int]:
    import duckdb

    def value(con, sql: str):
        return con.sql(sql).fetchall()[0][0]

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = {}
        for model in GOLD:
            start = value(con, f"select window_start from gold.gold_build_windows where model = '{model}'")
            where = f"where event_timestamp >= timestamp '{start}'" if start else ""
            rows[f"{model}_rows"] = value(con, f"select count(*) from gold.{model}")
            rows[f"{model}_window_rows"] = value(con, f"select count(*) from gold.{model} {where}")
        return rows


def _forget_windows(home: Path) -> None:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("update gold.gold_build_windows set window_start = null")


def main() -> None:
    customers = int(os.environ.get("BENCH_GOLD_TESTS_CUSTOMERS", "10000"))
    history, orders = simulated_history(customers=customers)
    with tempfile.TemporaryDirectory() as tmp:
        home = new_home(Path(tmp), "home", landed(history, orders, WEEKLY_AS_OF[0]))
        build = ("+fct_customer_features", "+fct_churn_labels")
        first_wall, first_tests = _dbt(home, "build", *build)
        duckdb_load_raw(str(home / "warehouse.duckdb"), landed(history, orders, WEEKLY_AS_OF[1]))
        weekly_wall, _ = _dbt(home, "build", *build)
        rows = _rows(home)
        window_wall, window_tests = _dbt(home, "test", *GOLD)
        _forget_windows(home)
        whole_wall, whole_tests = _dbt(home, "test", *GOLD)
    report(
        "gold_tests",
        {
            "customers": customers,
            "orders": len(orders),
            **rows,
            "first_build_wall_s": round(first_wall, 2),
            "first_build_gold_tests_s": round(first_tests, 3),
            "weekly_build_wall_s": round(weekly_wall, 2),
            "gold_tests_window_s": round(window_tests, 3),
            "gold_tests_whole_table_s": round(whole_tests, 3),
            "dbt_test_window_wall_s": round(window_wall, 2),
            "dbt_test_whole_table_wall_s": round(whole_wall, 2),
            "window_over_whole_table": round(window_tests / whole_tests, 3) if whole_tests else None,
            "load_average": os.getloadavg()[0],
        },
    )


if __name__ == "__main__":
    main()
