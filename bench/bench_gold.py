"""raw + dbt materialize wall time and peak memory for 10k and 100k simulated customers.

Each size gets its own temporary LAKEHOUSE_HOME filled by the simulator (a year of history), then a fresh
interpreter materializes raw_customers, raw_orders and every dbt model and test in-process (as the local
profile does). Baseline measured in the same run: the same interpreter only importing the assets and building
the resources, so the ratio shows how much of the wall time is real work.
Targets: 100k customers within 60 s and 4 GB.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import report, run_measured

SIZES = (10_000, 100_000)
HISTORY_DAYS = 365
SETUP = """
import dagster as dg
from lakehouse_ml.assets import gold, raw
from lakehouse_ml.resources import build_resources
from lakehouse_ml.platform.settings import Settings
wanted = ("landing_zone", "warehouse", "dbt", "iceberg")
resources = {k: v for k, v in build_resources(Settings.from_env()).items() if k in wanted}
"""
MATERIALIZE = (
    SETUP
    + """
assert dg.materialize([raw.raw_landing_zone, gold.lakehouse_dbt_models], resources=resources).success
"""
)


def _rows(home: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {
            table: con.sql(f"select count(*) from {table}").fetchall()[0][0]
            for table in ("raw.orders", "gold.fct_customer_features", "gold.fct_churn_labels")
        }


def _measure(customers: int) -> dict[str, object]:
    from lakehouse_ml.simulator import simulate

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = dict(
            os.environ, LAKEHOUSE_HOME=tmp, DAGSTER_HOME=str(home / "dagster"), LAKEHOUSE_PROFILE="local"
        )
        env.pop("LAKEHOUSE_AS_OF", None)
        env.pop("LAKEHOUSE_RAW_URI", None)
        (home / "dagster").mkdir()
        start = time.perf_counter()
        simulate(home / "raw", customers=customers, days=HISTORY_DAYS)
        simulate_s = time.perf_counter() - start
        baseline_s, _ = run_measured([sys.executable, "-c", SETUP], env=env)
        wall_s, peak_mib = run_measured([sys.executable, "-c", MATERIALIZE], env=env)
        return {
            "customers": customers,
            "simulate_s": round(simulate_s, 1),
            "rows": _rows(home),
            "materialize_wall_s": round(wall_s, 1),
            "peak_rss_mib": round(peak_mib),
            "baseline_load_only_s": round(baseline_s, 1),
            "wall_to_baseline_ratio": round(wall_s / baseline_s, 2),
            "within_60s_4gb": wall_s <= 60 and peak_mib <= 4096,
        }


def main() -> None:
    sizes = [int(size) for size in os.environ.get("BENCH_GOLD_SIZES", "").split(",") if size] or SIZES
    results = [_measure(customers) for customers in sizes]
    report("gold", {"history_days": HISTORY_DAYS, "sizes": results, "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
