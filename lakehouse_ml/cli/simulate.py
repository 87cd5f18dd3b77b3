"""``lakehouse-ml simulate``: create or advance the simulated raw landing zone."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.simulator.scenarios import DRIFT_SCENARIOS

HELP = (
    "Generate the raw landing zone (customers, orders) when it is empty, or advance it by N days, "
    "optionally starting a named drift scenario."
)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scenarios = " ".join(f"{name}: {text}" for name, text in DRIFT_SCENARIOS.items()).replace("%", "%%")
    parser.add_argument(
        "--customers",
        type=int,
        help="initial history: customers to create (default 10000); advance: new sign-ups over the "
        "days (default: the initial daily arrival rate)",
    )
    parser.add_argument(
        "--days", type=int, help="days to simulate (default 365 for a new landing zone, else 1)"
    )
    parser.add_argument("--seed", type=int, help="random seed of a new landing zone (default 7)")
    parser.add_argument(
        "--drift",
        choices=sorted(DRIFT_SCENARIOS),
        help=f"start a drift scenario; it stays active in later advances. {scenarios}",
    )
    parser.add_argument(
        "--drift-start", type=_iso_date, help="day the scenario starts (default: first simulated day)"
    )
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=("parquet", "csv"),
        help="file format of a new landing zone (default parquet; an existing zone keeps its format)",
    )
    parser.add_argument(
        "--raw-uri", help="landing zone folder (default LAKEHOUSE_RAW_URI or $LAKEHOUSE_HOME/raw)"
    )


def run(args: argparse.Namespace) -> int:
    from lakehouse_ml.simulator.api import is_empty, simulate

    raw_dir = Path(args.raw_uri or Settings.from_env().raw_uri)
    try:
        days = args.days if args.days is not None else (365 if is_empty(raw_dir) else 1)
        summary = simulate(
            raw_dir,
            customers=args.customers,
            days=days,
            seed=args.seed,
            drift=args.drift,
            drift_start=args.drift_start,
            file_format=args.file_format,
        )
    except ValueError as err:
        print(f"lakehouse-ml simulate: error: {err}", file=sys.stderr)
        return 2
    print(summary.describe())
    return 0
