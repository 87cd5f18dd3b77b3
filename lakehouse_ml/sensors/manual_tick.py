"""A sensor tick outside the daemon that shares the daemon's cursor (``lakehouse-ml drill``).

The daemon keeps each sensor's cursor in the sensor's ``InstigatorState`` in the instance's schedule
storage, found by the selector id of (code location, repository, sensor name). Evaluating a tick here
reads that cursor and writes the new one back, so a daemon started later goes on from it, and the drill
goes on from the daemon's. The runs it requests get the tags the daemon gives a sensor's runs
(``dagster/sensor_name``, ``dagster/run_key``), so the daemon's run-key check sees them too.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from lakehouse_ml.orchestration.dagster_private import (
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    store_cursor,
    stored_cursor,
)


def evaluate_tick(
    instance: dg.DagsterInstance, definitions: dg.Definitions, sensor: dg.SensorDefinition
) -> Sequence[dg.RunRequest]:
    """One tick of ``sensor`` from the daemon's cursor; the new cursor is stored before this returns.
    Run requests whose run key already has a run of this sensor are dropped, as the daemon drops them."""
    context = dg.build_sensor_context(
        instance=instance, cursor=stored_cursor(instance, sensor.name), definitions=definitions
    )
    result = sensor.evaluate_tick(context)
    requests = [
        request.with_replaced_attrs(tags={**request.tags, **daemon_tags(sensor.name, request)})
        for request in result.run_requests or []
        if not request.run_key or not _has_run(instance, sensor.name, request.run_key)
    ]
    last_key = next((r.run_key for r in reversed(requests) if r.run_key), None)
    store_cursor(instance, sensor, result.cursor, last_key)
    return requests


def daemon_tags(sensor_name: str, request: dg.RunRequest) -> dict[str, str]:
    tags = {SENSOR_NAME_TAG: sensor_name}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    return tags


def _has_run(instance: dg.DagsterInstance, sensor_name: str, run_key: str) -> bool:
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: sensor_name}), limit=1
    )
    return bool(runs)
