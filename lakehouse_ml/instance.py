"""The local Dagster instance's ``dagster.yaml``, written once at set-up.

Without the file Dagster warns on every command ("No dagster instance configuration file") and
prints its telemetry banner. Plain module (no Dagster import): ``tasks.py setup`` and the
``lakehouse-ml`` entry point call it before Dagster starts. Add instance settings (run monitoring,
concurrency) to ``local_instance_config``; prod uses ``deploy/dagster.yaml``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

INSTANCE_FILE = "dagster.yaml"
CODE_SERVER_STARTUP_S = 600


def local_instance_config() -> dict:
    """Settings of the embedded instance: sqlite storage under DAGSTER_HOME (Dagster's default).

    ``dagster dev`` / ``dg dev`` parse the dbt project while the code server starts, which on a busy
    two-core machine takes longer than Dagster's default 180 s start-up timeout."""
    return {"telemetry": {"enabled": False}, "code_servers": {"local_startup_timeout": CODE_SERVER_STARTUP_S}}


def ensure_instance_config(dagster_home: Path) -> Path:
    """Create ``dagster_home/dagster.yaml`` if absent; an existing file is the user's and is kept."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / INSTANCE_FILE
    if not path.exists():
        path.write_text(yaml.safe_dump(local_instance_config(), sort_keys=False))
    return path


if __name__ == "__main__":
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        sys.exit("DAGSTER_HOME is not set")
    print(ensure_instance_config(Path(home)))
