"""``pod_executor``: Dagster's step-delegating executor with a step handler that runs each step the way
``k8s_job_executor`` does, but as a local process: ``dagster api execute_step`` with the step's own
environment and its own empty ``LAKEHOUSE_HOME`` and ``TMPDIR``, deleted when the step ends, so no
local path is shared between steps. Used by the prod hand-off tests; the run needs a persistent
instance (PostgreSQL here)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)

SCRATCH_ROOT_VARIABLE = "LAKEHOUSE_POD_SCRATCH_ROOT"  # where each "pod" gets its empty scratch folder
# The step's command, then its scratch deleted, as a pod's disk goes with the pod: a path handed to a
# later step cannot be read there. SIGTERM is passed on to the step.
POD_LIFETIME = """
import shutil, signal, subprocess, sys
step = subprocess.Popen(sys.argv[2:])
signal.signal(signal.SIGTERM, lambda *_: step.terminate())
code = step.wait()
shutil.rmtree(sys.argv[1], ignore_errors=True)
sys.exit(code)
"""


class ProcessStepHandler(StepHandler):
    def __init__(self) -> None:
        super().__init__()
        self.processes: dict[tuple[str, str], subprocess.Popen] = {}

    @property
    def name(self) -> str:
        return "ProcessStepHandler"

    @staticmethod
    def _key(context: StepHandlerContext) -> tuple[str, str]:
        (step_key,) = context.execute_step_args.step_keys_to_execute or []
        return context.execute_step_args.run_id, step_key

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        run_id, step_key = self._key(step_handler_context)
        root = Path(os.environ.get(SCRATCH_ROOT_VARIABLE) or tempfile.gettempdir())
        scratch = Path(tempfile.mkdtemp(prefix=f"pod-{step_key.replace('/', '_')}-", dir=root))
        for name in ("home", "tmp"):
            (scratch / name).mkdir()
        args = step_handler_context.execute_step_args
        env = {
            **os.environ,
            "LAKEHOUSE_HOME": str(scratch / "home"),
            "TMPDIR": str(scratch / "tmp"),
            # what the image provides: `dagster` on PATH, the job's code importable
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        }
        for variable in args.get_command_env():
            env[variable["name"]] = variable["value"]
        command = args.get_command_args(skip_serialized_namedtuple=True)
        self.processes[(run_id, step_key)] = subprocess.Popen(
            [sys.executable, "-c", POD_LIFETIME, str(scratch), *command], env=env, cwd=scratch / "home"
        )
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in its own process with scratch {scratch}.',
            metadata={"scratch": dg.MetadataValue.path(str(scratch))},
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        process = self.processes.get(self._key(step_handler_context))
        if process is None:
            return CheckStepHealthResult.unhealthy("no process was launched for this step")
        if process.poll() not in (None, 0):
            return CheckStepHealthResult.unhealthy(f"step process exited with {process.returncode}")
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        run_id, step_key = self._key(step_handler_context)
        process = self.processes.get((run_id, step_key))
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            message=f"Terminating the process of step {step_key}",
            event_specific_data=EngineEventData(),
        )
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


@dg.executor(name="pod_executor", requirements=dg.multiple_process_executor_requirements())
def pod_executor(init_context: dg.InitExecutorContext) -> StepDelegatingExecutor:
    return StepDelegatingExecutor(ProcessStepHandler(), retries=RetryMode.DISABLED)
