"""Simulator: time to generate a year of history (10k, 100k customers) and to advance one day.

Baseline, measured in the same run: writing the very same customer and order tables to Parquet with
pyarrow (pure output cost), so the ratio is what the simulation itself adds on top of writing files.
Peak memory is measured for the 100k-customer history in a child process.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas  # noqa: F401  (pyarrow imports it on first conversion; keep that out of the timings)
import pyarrow.parquet as pq

from bench.common import report, run_measured, timed
from lakehouse_ml.simulator import simulate

SIZES = (10_000, 100_000)
DAYS = 365


def _read_tables(source: Path) -> dict[str, list]:
    return {
        d: [pq.read_table(p) for p in sorted((source / d).glob("*.parquet"))] for d in ("customers", "orders")
    }


def _write_tables(tables: dict[str, list], target: Path) -> None:
    for dataset, parts in tables.items():
        (target / dataset).mkdir(parents=True)
        for number, table in enumerate(parts):
            pq.write_table(table, target / dataset / f"part-{number:05d}.parquet", compression="zstd")


def main() -> None:
    results: dict[str, object] = {"days": DAYS}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for customers in SIZES:
            raw = root / f"raw-{customers}"
            generate_s, summary = timed(lambda raw=raw, n=customers: simulate(raw, customers=n, days=DAYS))
            tables = _read_tables(raw)
            write_s, _ = timed(lambda t=tables, n=customers: _write_tables(t, root / f"copy-{n}"))
            advance_s, advanced = timed(lambda raw=raw: simulate(raw, days=1))
            results[f"{customers}_customers"] = {
                "orders": summary.orders_written,
                "generate_seconds": round(generate_s, 2),
                "baseline_write_seconds": round(write_s, 3),
                "generate_to_write_ratio": round(generate_s / write_s, 1),
                "advance_one_day_seconds": round(advance_s, 2),
                "advance_one_day_orders": advanced.orders_written,
            }
        script = (
            "from pathlib import Path; from lakehouse_ml.simulator import simulate; "
            f"simulate(Path({str(root / 'peak')!r}), customers={SIZES[-1]}, days={DAYS})"
        )
        wall, peak_mib = run_measured([sys.executable, "-c", script])
        results[f"{SIZES[-1]}_customers_child_process"] = {
            "wall_seconds": round(wall, 2),
            "peak_rss_mib": round(peak_mib),
        }
    report("simulator", results)
