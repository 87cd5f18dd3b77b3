"""What ``lakehouse_ml/orchestration/dagster_private.py`` relies on still exists in the installed Dagster:
an upgrade that renames or reshapes one of these private names fails here, not in a user's run."""

from __future__ import annotations

import inspect
import uuid
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource

from lakehouse_ml.orchestration import dagster_private
from lakehouse_ml.resources.warehouse import dbt_executable

RUN_ID = str(uuid.uuid4())


def test_the_run_storage_kind_and_the_event_listener():
    with dg.instance_for_test() as instance:
        assert dagster_private.runs_on_this_machine(instance)
        seen = []
        dagster_private.listen_to_run(instance, RUN_ID, seen.append)

        @dg.asset
        def one() -> int:
            return 1

        job = dg.Definitions(assets=[one]).resolve_implicit_global_asset_job_def()
        job.execute_in_process(instance=instance, run_id=RUN_ID)
        assert any(entry.dagster_event and entry.dagster_event.is_step_success for entry in seen)


def test_assets_by_step_names_each_step_and_its_assets():
    @dg.multi_asset(specs=[dg.AssetSpec("a"), dg.AssetSpec("b")])
    def both():
        yield dg.MaterializeResult(asset_key="a")
        yield dg.MaterializeResult(asset_key="b")

    @dg.asset(deps=["a"])
    def c() -> None:
        return None

    job = dg.Definitions(assets=[both, c]).resolve_implicit_global_asset_job_def()
    steps = dagster_private.assets_by_step(job)
    assert sorted(steps) == ["both", "c"]
    assert sorted(steps["both"]) == ["a", "b"] and steps["c"] == ["c"]


def test_the_sensor_state_round_trips_through_the_instance():
    @dg.sensor(job_name="some_job", default_status=dg.DefaultSensorStatus.RUNNING)
    def probe_sensor():
        return None

    with dg.instance_for_test() as instance:
        assert dagster_private.stored_cursor(instance, probe_sensor.name) is None
        dagster_private.store_cursor(instance, probe_sensor, "first", "key-1")
        dagster_private.store_cursor(instance, probe_sensor, None, None)  # keeps what it had
        assert dagster_private.stored_cursor(instance, probe_sensor.name) == "first"
        dagster_private.store_cursor(instance, probe_sensor, "second", None)
        assert dagster_private.stored_cursor(instance, probe_sensor.name) == "second"
    assert dagster_private.RUN_KEY_TAG == "dagster/run_key"
    assert dagster_private.SENSOR_NAME_TAG == "dagster/sensor_name"


def test_dagster_dbt_still_reads_the_dbt_version_through_the_overridden_property():
    assert isinstance(inspect.getattr_static(DbtCliResource, "_cli_version"), cached_property)
    assert "_cli_version" in inspect.getsource(DbtCliResource)
    resource = dagster_private.OfflineDbtCliResource(
        project_dir=str(dagster_private.project_root() / "dbt_project"), dbt_executable=dbt_executable()
    )
    assert resource._cli_version.major >= 1


def test_worker_health_answers_and_where_a_run_worker_starts():
    assert str(dagster_private.worker_health("gone")) == "FAILED: 'gone'"
    assert dagster_private.worker_health(None).status == dagster_private.WorkerStatus.RUNNING
    spawned = dagster_private.sensor_origin("any").repository_origin  # workspace.yaml: a spawned server

    def run_on(repository_origin) -> dg.DagsterRun:
        return dg.DagsterRun(job_name="j", remote_job_origin=repository_origin.get_job_origin("j"))

    def served_at(host: str):
        location = dagster_private.GrpcServerCodeLocationOrigin(host=host, port=4000, location_name="x")
        return dagster_private.RemoteRepositoryOrigin(location, dagster_private.REPOSITORY_NAME)

    assert dagster_private.worker_starts_here(run_on(spawned))
    assert dagster_private.worker_starts_here(run_on(served_at("localhost")))
    assert not dagster_private.worker_starts_here(run_on(served_at("code.example.internal")))
    assert not dagster_private.worker_starts_here(dg.DagsterRun(job_name="j"))
    with dg.instance_for_test() as instance:
        launcher = dg.DefaultRunLauncher()
        launcher.register_instance(instance)
        assert dagster_private.launcher_instance(launcher) is instance
