"""The drill's sensor tick and the daemon's share one cursor: the sensor's state in the Dagster instance.

The daemon side is Dagster's own sensor daemon iteration on the project's workspace.yaml (the code
location in a gRPC server process, as under ``dagster dev``); runs it requests are only queued.
"""

from __future__ import annotations

import json
import logging
import time

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorStatus, TickStatus
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration

from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, persist
from lakehouse_ml.definitions import defs
from lakehouse_ml.monitoring.policy import Verdict
from lakehouse_ml.orchestration.dagster_private import stored_cursor
from lakehouse_ml.platform.settings import project_root
from lakehouse_ml.sensors import drift_retrain_sensor
from lakehouse_ml.sensors.manual_tick import evaluate_tick

QUEUED = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}}


def _breach(instance: dg.DagsterInstance, signal: str) -> str:
    metadata = persist(Verdict(signal, True, [f"{signal} over threshold"]), "1", {}, None)
    instance.report_runless_asset_event(dg.AssetMaterialization(SIGNAL_ASSETS[signal], metadata=metadata))
    return metadata["verdict"].value["result_id"]


def _daemon_tick(context) -> None:
    logger = logging.getLogger("sensor-daemon-test")
    list(execute_sensor_iteration(context, logger, threadpool_executor=None, submit_threadpool_executor=None))


def _remote_sensor(context):
    location = context.create_request_context().get_code_location("lakehouse_ml")
    return location.get_repository("__repository__").get_sensor(drift_retrain_sensor.name)


@pytest.fixture
def instance(lakehouse_home, tmp_path):
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster"), overrides=QUEUED) as instance:
        yield instance


def _drift_runs(instance: dg.DagsterInstance) -> list:
    """Runs the drift sensor requested (the daemon's iteration also ticks the location's other sensors)."""
    return [run for run in instance.get_runs() if run.tags.get(SENSOR_NAME_TAG) == drift_retrain_sensor.name]


def test_drill_and_daemon_share_the_sensor_cursor(instance):
    first = _breach(instance, "data_drift")
    requests = evaluate_tick(instance, defs, drift_retrain_sensor)
    assert len(requests) == 1
    assert requests[0].tags[SENSOR_NAME_TAG] == drift_retrain_sensor.name
    assert requests[0].tags[RUN_KEY_TAG] == requests[0].run_key
    drill_cursor = stored_cursor(instance, drift_retrain_sensor.name)
    assert json.loads(drill_cursor)["data_drift"] == first

    target = WorkspaceFileTarget([str(project_root() / "workspace.yaml")])
    with create_test_daemon_workspace_context(target, instance) as context:
        remote = _remote_sensor(context)
        state = instance.get_instigator_state(remote.get_remote_origin_id(), remote.selector_id)
        assert state.instigator_data.cursor == drill_cursor, "the daemon does not see the drill's cursor"
        assert state.status == InstigatorStatus.DECLARED_IN_CODE, "the drill must not stop the sensor"

        # The daemon's next tick goes on from the drill's cursor: the breach is not requested again.
        _daemon_tick(context)
        (tick,) = instance.get_ticks(remote.get_remote_origin_id(), remote.selector_id)
        assert tick.status == TickStatus.SKIPPED, tick
        assert tick.skip_reason == "no new monitoring breach"
        assert _drift_runs(instance) == []

        # A new breach: the daemon requests it, and the drill then goes on from the daemon's cursor.
        second = _breach(instance, "data_drift")
        with freeze_time(time.time() + 2 * drift_retrain_sensor.minimum_interval_seconds):
            _daemon_tick(context)
        (run,) = _drift_runs(instance)
        assert run.tags[SENSOR_NAME_TAG] == drift_retrain_sensor.name and run.tags[RUN_KEY_TAG]
        daemon_cursor = stored_cursor(instance, drift_retrain_sensor.name)
        assert json.loads(daemon_cursor)["data_drift"] == second

        assert evaluate_tick(instance, defs, drift_retrain_sensor) == []
        assert stored_cursor(instance, drift_retrain_sensor.name) == daemon_cursor


@dg.op
def _noop() -> None:
    pass


@dg.job
def tiny_job():
    _noop()


@dg.sensor(job=tiny_job)
def same_key_sensor(context: dg.SensorEvaluationContext):
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key="breach-1")], cursor="seen")


def test_a_request_whose_run_key_already_ran_is_dropped_as_the_daemon_drops_it():
    definitions = dg.Definitions(jobs=[tiny_job], sensors=[same_key_sensor])
    with dg.instance_for_test() as instance:
        (request,) = evaluate_tick(instance, definitions, same_key_sensor)
        assert stored_cursor(instance, same_key_sensor.name) == "seen"
        tiny_job.execute_in_process(instance=instance, tags=request.tags)
        assert evaluate_tick(instance, definitions, same_key_sensor) == []
