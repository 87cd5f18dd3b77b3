"""``LocalRunLauncher``: Dagster's default run launcher (a run worker process started by the code server)
whose run workers Dagster run monitoring can check, on any instance storage.

Dagster's ``DefaultRunLauncher`` cannot say whether a run worker still lives, so on a PostgreSQL
instance a run whose processes were SIGKILLed (the daemon's process group: daemon, code server, run
workers) stayed STARTED until ``max_runtime_seconds``, holding its pool slots, and ``raw_landing_sensor``
waited behind it. This launcher tags each run whose worker starts on this machine with the host name
(``run_recovery.WORKER_HOST_TAG``) and answers run monitoring's health check from the worker's pid
(``run_recovery.worker_gone``): the monitoring daemon fails a dead worker's run at its next poll (at
once after a daemon restart, then every ``run_monitoring.poll_interval_seconds``), with the reason in
the failure message, and Dagster run retries re-execute it (``orchestration/jobs.py``,
``RETRY_TAGS``). The dead run's pool slots are freed when its death is found, so the re-execution does
not wait for them.

The local instance names it in ``dagster.yaml`` (``orchestration/instance.py``); prod keeps the
Kubernetes run launcher, whose health check reads the run's Kubernetes Job.
"""

from __future__ import annotations

import socket

import dagster as dg

from lakehouse_ml.orchestration.dagster_private import launcher_instance, worker_health, worker_starts_here
from lakehouse_ml.orchestration.run_recovery import WORKER_HOST_TAG, worker_gone


class LocalRunLauncher(dg.DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a worker health check for run monitoring."""

    def launch_run(self, context) -> None:
        run = context.dagster_run
        if worker_starts_here(run):
            launcher_instance(self).add_run_tags(run.run_id, {WORKER_HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun):
        instance = launcher_instance(self)
        gone = worker_gone(instance, run)
        if gone is not None:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        return worker_health(gone)
