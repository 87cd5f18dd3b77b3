"""Fail runs whose process is gone: a SIGKILLed ``lakehouse-ml run`` or ``dagster asset materialize``
would otherwise stay STARTED in the instance forever, and keep its concurrency pool slots, so that the
next run waits forever for them.

Only for a SQLite instance (the local profile: every run on this machine, so a run's process id means
something here). The prod instance (PostgreSQL, runs in Kubernetes Jobs) uses Dagster run monitoring,
whose launcher checks the run worker's health.
"""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.orchestration.dagster_private import runs_on_this_machine
from lakehouse_ml.serving.spool import process_alive

UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished runs whose orchestrating process no longer exists as failed; returns their ids."""
    if not runs_on_this_machine(instance):
        return []
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        pid = run_process_id(instance, run.run_id)
        if pid is None or process_alive(pid):
            continue
        instance.report_run_failed(
            run, f"run process {pid} is gone (killed or crashed); marked failed by the next start"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)  # else its pools stay taken
        failed.append(run.run_id)
    return failed


def run_process_id(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that started the run (the pid on its RUN_START event)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None
