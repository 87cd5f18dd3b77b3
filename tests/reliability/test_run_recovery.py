"""Runs whose worker died, on a PostgreSQL instance set up as ``tasks.py setup`` and the daemon-only drill
set it up (``LocalRunLauncher``, run monitoring, run retries): the launcher's health check, which Dagster
run monitoring calls, reports a dead worker of this machine with the reason and frees its pool slots; a
live worker, one of another machine and one of unknown host are left alone; the failed run is marked to
be retried by Dagster, a run failed by its step is not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import dagster as dg
import pytest

from lakehouse_ml.orchestration.jobs import RETRY_TAGS
from lakehouse_ml.orchestration.launcher import LocalRunLauncher
from lakehouse_ml.orchestration.pools import PREDICTIONS_POOL
from lakehouse_ml.orchestration.run_recovery import WORKER_HOST_TAG, fail_dead_runs, worker_gone
from tests.support.daemon_drill import create_database, drop_database, prepare_postgres_instance

pytestmark = pytest.mark.postgres

WILL_RETRY_TAG = "dagster/will_retry"  # Dagster's verdict, written on the run when it fails


@dg.op
def work() -> None:
    raise ValueError("the data broke the contract")


@dg.job(tags=RETRY_TAGS)
def landing_job():
    work()


@pytest.fixture
def instance(postgres_url, tmp_path):
    database = f"{postgres_url.rsplit('/', 1)[1]}_recovery_{uuid.uuid4().hex[:8]}"
    home = tmp_path / "dagster"
    prepare_postgres_instance(home, create_database(postgres_url, database))
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        drop_database(postgres_url, database)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _started_run(instance, pid: int, host: str | None, started_at: float | None = None) -> dg.DagsterRun:
    """A run as its worker leaves it: STARTED by a RUN_START event carrying the worker's pid."""
    tags = {**RETRY_TAGS, **({WORKER_HOST_TAG: host} if host else {})}
    run = instance.create_run_for_job(landing_job, tags=tags)
    start = dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, landing_job.name, pid=pid)
    instance.report_dagster_event(start, run.run_id, timestamp=started_at)
    run = instance.get_run_by_id(run.run_id)
    assert run.status == dg.DagsterRunStatus.STARTED
    return run


def test_a_dead_worker_of_this_machine_is_reported_to_run_monitoring_and_frees_its_slots(instance):
    assert isinstance(instance.run_launcher, LocalRunLauncher)
    assert instance.run_monitoring_enabled and instance.run_retries_enabled
    pid = _dead_pid()
    run = _started_run(instance, pid, socket.gethostname())
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot(PREDICTIONS_POOL, run.run_id, "batch_scores").is_claimed

    health = instance.run_launcher.check_run_worker_health(run)
    assert health.status.name == "FAILED"
    assert f"run worker process {pid} on {socket.gethostname()} is gone (killed or crashed)" in health.msg
    assert storage.get_concurrency_info(PREDICTIONS_POOL).claimed_slots == []  # freed at once

    assert fail_dead_runs(instance) == [run.run_id]
    failed = instance.get_run_by_id(run.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert f"run worker process {pid}" in failure.message
    assert failed.tags[WILL_RETRY_TAG] == "true"  # Dagster's run retries will re-execute it


def test_live_foreign_and_unknown_workers_are_left_alone(instance):
    live = _started_run(instance, os.getpid(), socket.gethostname())
    elsewhere = _started_run(instance, _dead_pid(), "another-host")
    unknown = _started_run(instance, _dead_pid(), None)  # not launched by LocalRunLauncher: no host tag
    for run in (live, elsewhere, unknown):
        assert worker_gone(instance, run) is None
        assert instance.run_launcher.check_run_worker_health(run).status.name == "RUNNING"
    assert fail_dead_runs(instance) == []
    assert {r.status for r in instance.get_runs()} == {dg.DagsterRunStatus.STARTED}


def test_a_reused_pid_is_not_taken_for_the_worker(instance):
    """A run started an hour ago whose pid now belongs to a younger process (this test's): gone."""
    run = _started_run(instance, os.getpid(), socket.gethostname(), started_at=time.time() - 3600)
    assert f"run worker process {os.getpid()}" in worker_gone(instance, run)


def test_a_run_failed_by_its_step_is_not_retried(instance):
    result = landing_job.execute_in_process(instance=instance, raise_on_error=False, tags=RETRY_TAGS)
    assert not result.success
    assert instance.get_run_by_id(result.run_id).tags[WILL_RETRY_TAG] == "false"
