"""Runs that are killed or start together, on a real SQLite Dagster instance with the project's settings:
a SIGKILLed run is failed at the next start (never STARTED forever), a live one is left alone, and two
runs that reach the same pool take turns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from lakehouse_ml.orchestration.instance import INSTANCE_FILE, ensure_instance_config
from lakehouse_ml.orchestration.pools import REGISTRY_POOL, ensure_pool_slots
from lakehouse_ml.orchestration.run_recovery import fail_dead_runs, run_start

WAIT_SECONDS = 120

RUN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import dagster as dg

    marker, hold = sys.argv[1], float(sys.argv[2])

    @dg.asset(pool={pool!r})
    def held():
        started = time.time()
        with open(marker, "a") as out:
            out.write(json.dumps({{"event": "start", "at": started}}) + "\\n")
        time.sleep(hold)
        with open(marker, "a") as out:
            out.write(json.dumps({{"event": "end", "at": time.time()}}) + "\\n")

    with dg.DagsterInstance.get() as instance:
        dg.materialize([held], instance=instance)
    """
).format(pool=REGISTRY_POOL)


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    ensure_instance_config(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ensure_pool_slots(instance)  # what set-up and `lakehouse-ml run` do
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    (tmp_path / "run.py").write_text(RUN_SCRIPT)
    return home


def _start(home: Path, marker: Path, hold: float) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    script = home.parent / "run.py"
    return subprocess.Popen([sys.executable, str(script), str(marker), str(hold)], env=env)


def _events(marker: Path) -> list[dict]:
    return [json.loads(line) for line in marker.read_text().splitlines()] if marker.exists() else []


def _wait_for_start(marker: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not _events(marker):
        assert process.poll() is None, f"run process exited with {process.returncode}"
        assert time.monotonic() < deadline, "the run did not start its step"
        time.sleep(0.2)


def _only_run(instance: dg.DagsterInstance, pid: int) -> dg.DagsterRun:
    runs = [r for r in instance.get_runs() if (run_start(instance, r.run_id) or (None,))[0] == pid]
    assert len(runs) == 1
    return runs[0]


@pytest.mark.slow
def test_a_killed_run_is_failed_at_the_next_start_and_frees_its_pool(dagster_home, tmp_path):
    killed = _start(dagster_home, tmp_path / "killed.jsonl", hold=600)
    waiting = None
    try:
        _wait_for_start(tmp_path / "killed.jsonl", killed)
        waiting = _start(dagster_home, tmp_path / "waiting.jsonl", hold=600)  # queued on the pool slot
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        with dg.DagsterInstance.get() as instance:
            dead_run = _only_run(instance, killed.pid)
            assert dead_run.status == dg.DagsterRunStatus.STARTED  # what Dagster alone leaves behind
            assert fail_dead_runs(instance) == [dead_run.run_id]
            assert instance.get_run_by_id(dead_run.run_id).status == dg.DagsterRunStatus.FAILURE
            _wait_for_start(tmp_path / "waiting.jsonl", waiting)  # the dead run's slot was freed
            assert _only_run(instance, waiting.pid).status == dg.DagsterRunStatus.STARTED
            assert fail_dead_runs(instance) == []  # a live run is left alone
    finally:
        for process in (killed, waiting):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_two_runs_in_the_same_pool_take_turns(dagster_home, tmp_path):
    marker = tmp_path / "turns.jsonl"
    first = _start(dagster_home, marker, hold=2)
    second = _start(dagster_home, marker, hold=2)
    assert first.wait(timeout=WAIT_SECONDS) == 0 and second.wait(timeout=WAIT_SECONDS) == 0
    events = [e["event"] for e in sorted(_events(marker), key=lambda e: e["at"])]
    assert events == ["start", "end", "start", "end"]  # never two steps of the pool at once


def test_instance_settings_keep_what_the_file_already_says(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    given = {"telemetry": {"enabled": False}, "concurrency": {"pools": {"default_limit": 3}}}
    (home / INSTANCE_FILE).write_text(yaml.safe_dump(given))
    ensure_instance_config(home)
    written = yaml.safe_load((home / INSTANCE_FILE).read_text())
    assert written["telemetry"] == {"enabled": False}
    assert written["concurrency"]["pools"]["default_limit"] == 3
    assert written["run_monitoring"]["enabled"] is True
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
    (home / INSTANCE_FILE).write_text("- a list\n")
    with pytest.raises(ValueError, match="must hold a YAML mapping"):
        ensure_instance_config(home)
