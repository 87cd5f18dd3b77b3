"""Whole-graph runs in tests, in the two parts a data-week partitioned graph needs (as ``lakehouse-ml run``
does: cli/run.py ``execute_by_week``): the assets without partitions, then the monitoring assets for the
week of the pipeline clock the first part left."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.assets.monitoring.common import WEEKS
from lakehouse_ml.monitoring.weeks import data_week
from lakehouse_ml.platform.settings import Settings


def split_by_week(graph, keys) -> tuple[list[dg.AssetKey], list[dg.AssetKey]]:
    """``keys`` of the asset ``graph`` as (without partitions, partitioned by data week)."""
    weekly = {key for key in keys if graph.get(key).partitions_def == WEEKS}
    return sorted(set(keys) - weekly), sorted(weekly)


def add_clock_week(instance: dg.DagsterInstance, settings: Settings | None = None) -> str:
    """Add (and return) the data-week partition of the warehouse's pipeline clock."""
    from lakehouse_ml.resources import build_resources

    warehouse = build_resources(settings or Settings.from_env())["warehouse"]
    with dg.build_resources({"warehouse": warehouse}) as resolved:  # resolves dg.EnvVar (prod profile)
        week = data_week(resolved.warehouse.pipeline_clock())
    instance.add_dynamic_partitions(WEEKS.name, [week])
    return week
