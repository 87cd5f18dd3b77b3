"""Every use of a Dagster (or dagster-dbt) name outside the public API, in one place.

Nothing else in ``lakehouse_ml`` touches ``dagster._*`` or a private attribute;
``tests/orchestration/test_dagster_private.py`` fails when an upgrade changes what is used here, so an
upgrade breaks loudly, not silently. Each entry says why no public API serves:

- ``SqliteRunStorage``: whether runs live on this machine (a SQLite instance), so that a run's process
  id means something for recovery (``run_recovery``). The instance exposes no storage kind.
- ``DagsterInstance.add_event_listener``: ``lakehouse-ml run`` prints a line per asset as its events are
  written; ``execute_in_process`` takes no event callback.
- ``JobDefinition.asset_layer``: which assets each step of a job materializes, for those lines.
- ``InstigatorState`` / ``SensorInstigatorData`` / origins: ``lakehouse-ml drill`` ticks a sensor on the
  cursor the daemon keeps in the instance, and stores the new cursor back, as the daemon does; Dagster
  has no public API for a sensor's stored state.
- ``CheckRunHealthResult`` / ``WorkerStatus`` / ``RunLauncher._instance`` and the code location origins:
  ``LocalRunLauncher`` (``orchestration/launcher.py``) answers Dagster run monitoring's worker health
  check, whose result types Dagster does not export, and tells from the run's origin whether its worker
  starts on this machine (a code server the daemon spawned, or one on a loopback address).
- ``DbtCliResource._cli_version``: dagster-dbt learns the dbt version from ``dbt --version``, which asks
  PyPI for the latest release (a network call at run time); the installed dbt-core answers the same.
"""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import version

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.remote_origin import (
    GrpcServerCodeLocationOrigin,
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.storage.runs.sqlite import SqliteRunStorage
from dagster._core.storage.tags import RUN_KEY_TAG as RUN_KEY_TAG  # re-exported: the daemon's run tags
from dagster._core.storage.tags import SENSOR_NAME_TAG as SENSOR_NAME_TAG
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_dbt import DbtCliResource
from packaging.version import Version

from lakehouse_ml.platform.settings import project_root

# The repository name Dagster gives a code location's single ``Definitions`` object.
REPOSITORY_NAME = "__repository__"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def runs_on_this_machine(instance: dg.DagsterInstance) -> bool:
    return isinstance(instance.run_storage, SqliteRunStorage)


def launcher_instance(launcher: dg.DefaultRunLauncher) -> dg.DagsterInstance:
    """The instance a run launcher belongs to (Dagster sets it when the instance loads the launcher)."""
    return launcher._instance


def worker_health(gone: str | None) -> CheckRunHealthResult:
    """Run monitoring's answer: ``FAILED`` with the reason when the worker is gone, else ``RUNNING``."""
    if gone is not None:
        return CheckRunHealthResult(WorkerStatus.FAILED, gone)
    return CheckRunHealthResult(WorkerStatus.RUNNING, "worker alive, or not on this machine")


def worker_starts_here(run: dg.DagsterRun) -> bool:
    """Whether the default launcher starts this run's worker on this machine: its code server is one the
    daemon or webserver spawned here (a ``python_module`` / ``python_file`` workspace entry) or listens on
    a loopback address."""
    origin = run.remote_job_origin
    location = origin.repository_origin.code_location_origin if origin is not None else None
    if isinstance(location, ManagedGrpcPythonEnvCodeLocationOrigin):
        return True
    return isinstance(location, GrpcServerCodeLocationOrigin) and (
        location.socket is not None or location.host in LOOPBACK_HOSTS
    )


def listen_to_run(instance: dg.DagsterInstance, run_id: str, callback) -> None:
    """Call ``callback(event_log_entry)`` for each event of ``run_id`` as it is stored."""
    instance.add_event_listener(run_id, callback)


def assets_by_step(job: dg.JobDefinition) -> dict[str, list[str]]:
    """Step key -> the asset keys it materializes (one op can build several, e.g. the dbt models)."""
    steps: dict[str, list[str]] = {}
    for assets_def in job.asset_layer.asset_graph.assets_defs:
        if assets_def.is_executable and assets_def.keys:
            steps.setdefault(assets_def.node_def.name, []).extend(k.to_user_string() for k in assets_def.keys)
    return steps


def sensor_origin(sensor_name: str) -> RemoteInstigatorOrigin:
    """The sensor's origin as ``dagster dev`` loads the project (workspace.yaml): its selector id names
    the sensor's state in the instance, whichever way (``dg dev``, a pod) the daemon loaded the code."""
    (location,) = WorkspaceFileTarget([str(project_root() / "workspace.yaml")]).create_origins()
    return RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, REPOSITORY_NAME), sensor_name)


def _sensor_state(instance: dg.DagsterInstance, sensor_name: str) -> InstigatorState | None:
    origin = sensor_origin(sensor_name)
    return instance.get_instigator_state(origin.get_id(), origin.get_selector().get_id())


def stored_cursor(instance: dg.DagsterInstance, sensor_name: str) -> str | None:
    state = _sensor_state(instance, sensor_name)
    data = state.instigator_data if state else None
    return data.cursor if isinstance(data, SensorInstigatorData) else None


def store_cursor(
    instance: dg.DagsterInstance, sensor: dg.SensorDefinition, cursor: str | None, run_key: str | None
) -> None:
    """Write the tick's cursor (and run key) into the sensor's state, as the daemon does after a tick;
    the first write creates the state as the daemon would, running when the code says so."""
    state = _sensor_state(instance, sensor.name)
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


class OfflineDbtCliResource(DbtCliResource):
    """``DbtCliResource`` that reads the installed dbt-core version instead of running ``dbt --version``."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))
