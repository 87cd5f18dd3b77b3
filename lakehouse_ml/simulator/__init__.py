"""Seeded simulator of the raw landing zone: customers and orders with a latent churn process.

``simulate`` creates an initial history or advances it by N days (optionally with a named drift
scenario from ``DRIFT_SCENARIOS``); ``fill_landing_zone_if_empty`` is what the local profile calls
on first run. Plain numpy/pandas/pyarrow, no Dagster.
"""

from lakehouse_ml.simulator.api import SimulationSummary, fill_landing_zone_if_empty, simulate
from lakehouse_ml.simulator.scenarios import DRIFT_SCENARIOS

__all__ = ["DRIFT_SCENARIOS", "SimulationSummary", "fill_landing_zone_if_empty", "simulate"]
