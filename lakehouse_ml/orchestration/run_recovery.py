"""Fail runs whose worker process is gone: a SIGKILLed daemon (with its code server and run workers), an
out-of-memory kill or a ``lakehouse-ml run`` stopped by ``kill -9`` would otherwise leave the run STARTED
until ``max_runtime_seconds``, holding its concurrency pool slots, and ``raw_landing_sensor`` waiting
behind it.

A run's worker is the process on its ``RUN_START`` event (its pid). The pid means something only on the
machine the worker ran on:

- a SQLite instance (the local profile): every run is on this machine;
- a run launched by ``LocalRunLauncher`` (``orchestration/launcher.py``, the local instance's launcher on
  any storage, PostgreSQL too): it tags the run with its host (``WORKER_HOST_TAG``) when the run worker
  starts on this machine, and Dagster run monitoring asks it about the worker's health (``worker_gone``).

Prod (Kubernetes run launcher, a pod per run) keeps Dagster run monitoring as it is: the launcher checks
the run's Kubernetes Job.
"""

from __future__ import annotations

import socket

import dagster as dg

from lakehouse_ml.orchestration.dagster_private import runs_on_this_machine
from lakehouse_ml.serving.spool import process_alive

UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
WORKER_HOST_TAG = "lakehouse/run_worker_host"
# a process created this long after the run started is not its worker (the pid was reused)
PID_REUSE_TOLERANCE_SECONDS = 1.0


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished runs whose worker is gone as failed and free their pool slots; returns their ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        reason = worker_gone(instance, run)
        if reason is None:
            continue
        instance.report_run_failed(run, f"{reason}; marked failed by the next start")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)  # else its pools stay taken
        failed.append(run.run_id)
    return failed


def worker_gone(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why the run's worker is known to be dead, or None: alive, not started, or on another machine."""
    host = run.tags.get(WORKER_HOST_TAG)
    if not (runs_on_this_machine(instance) or host == socket.gethostname()):
        return None
    start = run_start(instance, run.run_id)
    if start is None:
        return None
    pid, started_at = start
    if worker_alive(pid, started_at):
        return None
    where = f" on {host}" if host else ""
    return f"run worker process {pid}{where} is gone (killed or crashed): the run cannot finish"


def run_start(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid and time of the run's ``RUN_START`` event (written by the run worker)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if not records:
        return None
    entry = records[0].event_log_entry
    event = entry.dagster_event
    return (event.pid, entry.timestamp) if event is not None and event.pid is not None else None


def worker_alive(pid: int, started_at: float) -> bool:
    """Whether ``pid`` runs and is the process that started the run at ``started_at``, not a later process
    that got the same pid (after a reboot, or pid wrap-around)."""
    import psutil

    if not process_alive(pid):
        return False
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # cannot tell: leave it to the run's max runtime
    return created <= started_at + PID_REUSE_TOLERANCE_SECONDS
