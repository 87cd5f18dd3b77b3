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
from dagster._core.definitions.sensor_definition import SensorType
from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.workspace.load_target import WorkspaceFileTarget

from lakehouse_ml.platform.settings import project_root

# The repository name Dagster gives a code location's single ``Definitions`` object.
REPOSITORY_NAME = "__repository__"


def sensor_origin(sensor_name: str) -> RemoteInstigatorOrigin:
    """The sensor's origin as ``dagster dev`` loads the project (workspace.yaml): its selector id names
    the sensor's state in the instance, whichever way (``dg dev``, a pod) the daemon loaded the code."""
    (location,) = WorkspaceFileTarget([str(project_root() / "workspace.yaml")]).create_origins()
    return RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, REPOSITORY_NAME), sensor_name)


def sensor_state(instance: dg.DagsterInstance, sensor_name: str) -> InstigatorState | None:
    origin = sensor_origin(sensor_name)
    return instance.get_instigator_state(origin.get_id(), origin.get_selector().get_id())


def stored_cursor(instance: dg.DagsterInstance, sensor_name: str) -> str | None:
    state = sensor_state(instance, sensor_name)
    data = state.instigator_data if state else None
    return data.cursor if isinstance(data, SensorInstigatorData) else None


def store_cursor(
    instance: dg.DagsterInstance, sensor: dg.SensorDefinition, cursor: str | None, run_key: str | None
) -> None:
    """Write the tick's cursor (and run key) into the sensor's state, as the daemon does after a tick;
    the first write creates the state as the daemon would, running when the code says so."""
    state = sensor_state(instance, sensor.name)
    if state is None:
        running = sensor.default_status == dg.DefaultSensorStatus.RUNNING
        instance.add_instigator_state(
            InstigatorState(
                sensor_origin(sensor.name),
                InstigatorType.SENSOR,
                InstigatorStatus.DECLARED_IN_CODE if running else InstigatorStatus.STOPPED,
                SensorInstigatorData(
                    min_interval=sensor.minimum_interval_seconds,
                    cursor=cursor,
                    last_run_key=run_key,
                    sensor_type=SensorType.STANDARD,
                ),
            )
        )
        return
    data = state.instigator_data
    if not isinstance(data, SensorInstigatorData):
        data = SensorInstigatorData(
            min_interval=sensor.minimum_interval_seconds, sensor_type=SensorType.STANDARD
        )
    instance.update_instigator_state(
        state.with_data(
            data._replace(
                cursor=data.cursor if cursor is None else cursor, last_run_key=run_key or data.last_run_key
            )
        )
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
