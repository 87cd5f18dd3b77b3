"""The stage of the daemon-only drill (tests/loop/test_autopilot.py): a fresh Dagster instance on its own
PostgreSQL database, the real ``dagster-daemon`` on the project's ``workspace.yaml`` in its own process
group, and waits that poll the instance with short sleeps."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import yaml

from lakehouse_ml.orchestration.instance import prepare_instance
from lakehouse_ml.platform.settings import project_root

POLL_SECONDS = 1.0


def create_database(admin_url: str, name: str) -> str:
    """A new PostgreSQL database beside ``admin_url``'s; returns its URL."""
    import psycopg2

    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def drop_database(admin_url: str, name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def prepare_postgres_instance(dagster_home: Path, database_url: str) -> None:
    """``dagster.yaml`` with PostgreSQL storage plus the project's instance settings and pool slots,
    as ``tasks.py setup`` writes them."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    storage = {"storage": {"postgres": {"postgres_url": database_url}}}
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(storage))
    prepare_instance(dagster_home)


class Daemon:
    """``dagster-daemon run -w workspace.yaml`` in its own process group: the daemon, its code server and
    the run workers that code server launches end together, as when a daemon pod dies."""

    def __init__(self, log: Path):
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        executable = Path(sys.executable).with_name("dagster-daemon")
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [str(executable), "run", "-w", "workspace.yaml"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=project_root(),
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"dagster-daemon is not running: see {self.log}")

    def kill(self) -> None:
        """SIGKILL to the whole group: nothing gets to clean up."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of it is left."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.kill()


def run_failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The step and run failure messages of a run, for an assertion's message."""
    types = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}
    return [
        f"{entry.step_key or 'run'}: {entry.message.strip()[:600]}"
        for entry in instance.all_logs(run_id, of_type=types)
    ]


def last_finished_tick(instance: dg.DagsterInstance, sensor_name: str):
    """The newest finished tick of a sensor the daemon runs (None before its first one)."""
    for state in instance.all_instigator_state():
        if state.name != sensor_name:
            continue
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=3):
            if tick.status.value != "STARTED":
                return tick
    return None


def wait_for(what: str, ready: Callable[[], object], timeout: float, check: Callable[[], None]) -> object:
    """Poll ``ready`` until it returns something truthy; ``check`` raises when waiting is pointless."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check()
        value = ready()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
