"""The pod simulation under the prod hand-offs: ``pod_executor`` runs each step as its own
``dagster api execute_step`` process with an empty ``LAKEHOUSE_HOME`` and ``TMPDIR``, the instance on
PostgreSQL, step outputs through the S3 IO manager on moto. A step that leaves a file on its disk
cannot hand it over; what goes through S3 arrives."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.platform.storage import filesystem
from tests.support.pod_executor import SCRATCH_ROOT_VARIABLE, pod_executor

pytestmark = [pytest.mark.slow, pytest.mark.s3, pytest.mark.postgres]


def _whereami() -> dict:
    return {"pid": os.getpid(), "home": os.environ["LAKEHOUSE_HOME"], "tmp": os.environ["TMPDIR"]}


@dg.asset
def trained() -> dict:
    Path(os.environ["LAKEHOUSE_HOME"], "model.txt").write_text("weights")
    return {**_whereami(), "model": "weights"}


@dg.asset
def registered(trained: dict) -> dict:
    left_on_the_other_pod = Path(os.environ["LAKEHOUSE_HOME"], "model.txt").exists()
    return {**_whereami(), "upstream": trained, "saw_other_disk": left_on_the_other_pod}


@dg.asset
def crashing() -> None:
    print("planted crash of the pod", file=sys.stderr, flush=True)
    os._exit(3)


def crashing_job() -> dg.JobDefinition:
    return dg.Definitions(
        assets=[crashing], jobs=[dg.define_asset_job("crash", executor_def=pod_executor)]
    ).resolve_job_def("crash")


def pod_job() -> dg.JobDefinition:
    from lakehouse_ml.resources.io_manager import prod_io_manager

    defs = dg.Definitions(
        assets=[trained, registered],
        jobs=[dg.define_asset_job("pods", executor_def=pod_executor)],
        resources={"io_manager": prod_io_manager(Settings.from_env())},
    )
    return defs.resolve_job_def("pods")


@pytest.fixture
def postgres_storage(postgres_url: str):
    import uuid

    import psycopg2

    base, database = postgres_url.rsplit("/", 1)
    name = f"{database}_pods_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield {"postgres": {"postgres_url": f"{base}/{name}"}}
    admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def pod_instance(postgres_storage, tmp_path, monkeypatch):
    """A Dagster instance on PostgreSQL, with the pods' scratch under ``tmp_path / "pods"``."""
    monkeypatch.setenv(SCRATCH_ROOT_VARIABLE, str(tmp_path / "pods"))
    (tmp_path / "pods").mkdir()
    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(
        temp_dir=str(tmp_path / "instance"), overrides={"storage": postgres_storage}
    ) as instance:
        yield instance


def test_each_step_runs_in_its_own_process_and_scratch_and_hands_over_through_s3(
    s3_endpoint, pod_instance, tmp_path, monkeypatch
):
    import time

    import boto3

    bucket = f"pods-{time.time_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("LAKEHOUSE_IO_MANAGER_URI", f"s3://{bucket}/io")
    with dg.execute_job(dg.reconstructable(pod_job), instance=pod_instance) as result:
        assert result.success
    fs, _ = filesystem(f"s3://{bucket}")
    trained_step, registered_step = (
        pickle.loads(fs.cat_file(f"{bucket}/io/{key}")) for key in ("trained", "registered")
    )
    assert registered_step["upstream"] == trained_step  # came through S3
    assert registered_step["saw_other_disk"] is False
    assert trained_step["pid"] != registered_step["pid"] != os.getpid()
    homes = {Path(trained_step["home"]), Path(registered_step["home"])}
    assert len(homes) == 2 and all(home.parent.parent == tmp_path / "pods" for home in homes)
    assert trained_step["tmp"] != registered_step["tmp"]
    deadline = time.monotonic() + 30
    while Path(trained_step["home"]).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(trained_step["home"]).exists(), "a pod's disk outlived its step"


def test_a_step_whose_process_dies_fails_the_run_with_the_end_of_its_log(pod_instance, tmp_path):
    with dg.execute_job(dg.reconstructable(crashing_job), instance=pod_instance) as result:
        assert not result.success
        (failure,) = [event for event in result.all_events if event.is_step_failure]
    message = failure.event_specific_data.error.message
    assert "step process exited with 3" in message and "planted crash of the pod" in message
    (log,) = (tmp_path / "pods").glob("pod-crashing-*.log")
    assert "planted crash of the pod" in log.read_text()
