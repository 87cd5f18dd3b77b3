"""One warm interpreter for the components kfp.local runs one after the other (issue #23)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from lakehouse_ml.training.component_worker import task_request

KFP_ONLY = ("kfp.dsl.executor_main",)


def launcher_commands(package: Path) -> dict[str, list[str]]:
    """Each executor's command as kfp.local's SubprocessRunner starts it."""
    from kfp.local.subprocess_task_handler import replace_python_executable

    spec = yaml.safe_load(package.read_text())
    return {
        name: replace_python_executable(
            [*executor["container"]["command"], *executor["container"]["args"]], sys.executable
        )
        for name, executor in spec["deploymentSpec"]["executors"].items()
    }


def test_every_training_component_is_a_launcher_the_worker_runs(tmp_path: Path):
    """A kfp upgrade that changes the launcher would send every task back to its own process: fail here."""
    from lakehouse_ml.training.pipeline import compile_package

    commands = launcher_commands(compile_package(tmp_path / "pipeline.yaml"))
    assert len(commands) == 4
    for name, command in commands.items():
        request = task_request(command)
        assert request is not None, name
        assert request["source"].startswith("\nimport kfp\n") and "--function_to_execute" in request["args"]


def test_other_commands_are_left_to_kfp():
    from kfp.local.subprocess_task_handler import replace_python_executable

    from tests.support.kfp_probe import needs_six

    container = next(iter(needs_six.pipeline_spec.deployment_spec["executors"].values()))["container"]
    command = replace_python_executable([*container["command"], *container["args"]], sys.executable)
    assert "pip install" in " ".join(command) and task_request(command) is None
    assert task_request(["sh", "-c", "exit 3"]) is None


@pytest.fixture
def local_kfp(tmp_path: Path):
    import kfp.local

    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    return tmp_path / "root"


def test_tasks_run_one_after_the_other_in_children_of_one_worker(local_kfp: Path, monkeypatch, tmp_path):
    from lakehouse_ml.training.component_worker import shared_interpreter
    from tests.support.kfp_probe import PROBE_VARIABLE, probe_pipeline

    monkeypatch.setenv(PROBE_VARIABLE, "set after the worker started")
    monkeypatch.chdir(tmp_path)
    with shared_interpreter(KFP_ONLY) as worker:
        monkeypatch.setenv(PROBE_VARIABLE, "the task's environment")
        report = json.loads(probe_pipeline().outputs["report"])
    (first_pid, first_parent), (second_pid, second_parent) = report["first"], report["second"]
    assert worker.tasks == 2
    # each task is its own process, forked from the same worker, which is not this process
    assert first_parent == second_parent == worker.process.pid != os.getpid()
    assert first_pid != second_pid
    # the environment and working directory of the moment the task starts, as a new process gets them
    assert report["probe"] == "the task's environment" and report["cwd"] == str(tmp_path)
    assert worker.process.poll() is not None  # stopped with the block
    # the artifact went through a file under the pipeline root
    assert list(local_kfp.glob("where-tasks-run-*/where-first/report"))


def test_a_failing_task_fails_the_run_with_its_traceback(local_kfp: Path, capsys):
    from lakehouse_ml.training.component_worker import shared_interpreter
    from tests.support.kfp_probe import failing_pipeline

    with shared_interpreter(KFP_ONLY) as worker, pytest.raises(RuntimeError, match="fails"):
        failing_pipeline(message="planted failure")
    assert worker.tasks == 1
    assert "ValueError: planted failure" in capsys.readouterr().out


def test_without_the_worker_kfp_local_is_restored(local_kfp: Path):
    from kfp.local import subprocess_task_handler

    from lakehouse_ml.training.component_worker import shared_interpreter

    original = subprocess_task_handler.run_local_subprocess
    with shared_interpreter(KFP_ONLY):
        assert subprocess_task_handler.run_local_subprocess is not original
    assert subprocess_task_handler.run_local_subprocess is original


def test_a_command_the_worker_does_not_know_goes_to_kfp(local_kfp: Path):
    from lakehouse_ml.training.component_worker import shared_interpreter

    ran = []
    with shared_interpreter(KFP_ONLY) as worker:
        assert worker.run(["sh", "-c", "exit 3"], lambda full_command: ran.append(full_command) or 3) == 3
    assert ran == [["sh", "-c", "exit 3"]] and worker.tasks == 0
