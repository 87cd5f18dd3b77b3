"""The local Dagster instance's ``dagster.yaml``: the project's settings, merged in at set-up.

Without the file Dagster warns on every command ("No dagster instance configuration file") and
prints its telemetry banner. Plain module (no Dagster import): ``tasks.py setup`` and the
``lakehouse-ml`` entry point call it before Dagster starts. Prod renders its instance from
``deploy/helm/values.yaml``.

- ``code_servers.local_startup_timeout``: ``dagster dev`` / ``dg dev`` parse the dbt project while the
  code server starts, which on a busy two-core machine takes longer than Dagster's default 180 s.
- ``concurrency.pools``: one step at a time in each pool of ``orchestration/pools.py`` across all runs.
  Granularity ``op``: checked when a step starts, so that runs executed in process (``lakehouse-ml run``,
  ``dagster asset materialize``) take turns too; with ``run``, only the daemon's run queue would.
- ``concurrency.runs``: the daemon's run queue starts one retraining and one refresh at a time
  (``RUN_QUEUE_LIMITS``).
- ``freshness``: Dagster evaluates freshness checks (``lakehouse_ml/assets/freshness.py``) only with it.
- ``run_launcher``: ``LocalRunLauncher`` (``orchestration/launcher.py``), the default launcher plus a
  worker health check, so that run monitoring fails a run whose worker was killed, on SQLite or
  PostgreSQL storage.
- ``run_monitoring``: the daemon (``dagster dev``) fails runs whose worker is gone (checked every
  ``poll_interval_seconds``, and at once when the daemon starts), never start or run for too long, and
  frees the pool slots of finished runs. A run executed in process (``lakehouse-ml run``) whose process
  was killed is failed at the next ``lakehouse-ml run`` (``orchestration/run_recovery.py``).
- ``run_retries``: the daemon re-executes runs whose job asks for it (``orchestration/jobs.py``,
  ``RETRY_TAGS``: the ingesting jobs, once, not after a step failure).

Settings already in the file win: a user's or another tool's choices are kept.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from lakehouse_ml.orchestration.pools import RUN_QUEUE_LIMITS

INSTANCE_FILE = "dagster.yaml"
INSTANCE_SETTINGS = {
    "telemetry": {"enabled": False},
    "freshness": {"enabled": True},
    "code_servers": {"local_startup_timeout": 600},
    "concurrency": {
        "pools": {"granularity": "op", "default_limit": 1},
        "runs": {
            "max_concurrent_runs": 4,
            "tag_concurrency_limits": [dict(limit) for limit in RUN_QUEUE_LIMITS],
        },
    },
    "run_launcher": {"module": "lakehouse_ml.orchestration.launcher", "class": "LocalRunLauncher"},
    "run_retries": {"enabled": True},
    "run_monitoring": {
        "enabled": True,
        "start_timeout_seconds": 300,
        "max_runtime_seconds": 6 * 3600,
        "poll_interval_seconds": 60,
        "free_slots_after_run_end_seconds": 60,
    },
}


def ensure_instance_config(dagster_home: Path) -> Path:
    """Add the project's settings to ``dagster_home/dagster.yaml`` where absent; returns the file's path."""
    path = Path(dagster_home) / INSTANCE_FILE
    current = yaml.safe_load(path.read_text()) if path.exists() else None
    if current is not None and not isinstance(current, dict):
        raise ValueError(f"{path} must hold a YAML mapping, got {type(current).__name__}")
    merged = _merge(INSTANCE_SETTINGS, current or {})
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".yaml.partial")
        partial.write_text(yaml.safe_dump(merged, sort_keys=False))
        os.replace(partial, path)
    return path


def _merge(defaults: dict, given: dict) -> dict:
    merged = dict(given)
    for key, value in defaults.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(value, merged[key])
        else:
            merged.setdefault(key, value)
    return merged


def prepare_instance(dagster_home: Path) -> Path:
    """Set-up: the instance file, then each concurrency pool's slot (see ``orchestration/pools.py``)."""
    import dagster as dg

    from lakehouse_ml.orchestration.pools import ensure_pool_slots

    path = ensure_instance_config(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        ensure_pool_slots(instance)
    return path


if __name__ == "__main__":
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        sys.exit("DAGSTER_HOME is not set")
    print(prepare_instance(Path(home)))
