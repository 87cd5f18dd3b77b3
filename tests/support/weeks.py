"""The data week of a whole-graph run in tests, which runs in the two parts a data-week partitioned graph
needs (as ``lakehouse-ml run`` does: cli/run.py ``execute_by_week``, ``split_by_week``): the assets without
partitions, then the monitoring assets for the week of the pipeline clock the first part left."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.assets.monitoring.common import WEEKS
from lakehouse_ml.cli.run import add_clock_week as add_clock_week_of
from lakehouse_ml.monitoring.weeks import clock_week
from lakehouse_ml.platform.settings import Settings


def add_clock_week(instance: dg.DagsterInstance, settings: Settings | None = None) -> str:
    """Add (and return) the data-week partition of the pipeline clock of ``settings``' warehouse."""
    from lakehouse_ml.resources import build_resources

    return add_clock_week_of(instance, build_resources(settings or Settings.from_env())["warehouse"])


def add_landed_week(instance: dg.DagsterInstance) -> str:
    """Add (and return) the data week of the clock the landed orders give (the day before the last order
    day ``raw_orders`` recorded), as ``raw_landing_sensor`` names it: for a test process that cannot reach
    the warehouse itself (the prod drill's steps run in pods)."""
    from lakehouse_ml.sensors.drift import landed_data

    day = landed_data(instance).day
    assert day is not None, "raw_orders has not recorded a load"
    week = clock_week(day)
    instance.add_dynamic_partitions(WEEKS.name, [week])
    return week
