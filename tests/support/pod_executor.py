"""``pod_executor``: Dagster's step-delegating executor with a step handler that runs each step the way
``k8s_job_executor`` does, but as a local process: ``dagster api execute_step`` with the step's own
environment and its own empty ``LAKEHOUSE_HOME`` and ``TMPDIR``, deleted when the step ends, so no
local path is shared between steps. Used by the prod hand-offs tests and the pod-isolation drill; the
run needs a persistent instance (PostgreSQL here).

A pod starts from an image whose libraries are installed; here every step is forked from a pod
template, a process that has imported those libraries and done nothing else (no Settings read, no code
location loaded, no file opened), so a step pays for its own work instead of 4-9 s of imports, and
still shares no memory, working directory or disk with another step. The runs of one process share
its template, as the pods of one node share the image it pulled: a run does not pay 25 CPU-s of
imports again."""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
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
# What the project image holds and every step imports: Dagster's CLI, its integrations, the data and
# ML libraries. Modules only: nothing here reads the environment a step is given.
IMAGE_LIBRARIES = (
    "dagster._cli",
    "dagster_dbt",
    "dagster_aws.s3",
    "pandas",
    "pyarrow.parquet",
    "duckdb",
    "s3fs",
    "sklearn.ensemble",
    "feast",
    "evidently",
    "kfp",
    "kserve",
)
# The template: imports the libraries, then forks one child per request line on stdin
# ({"scratch", "cwd", "env", "args", "log"}). The child takes the step's environment and working
# directory, writes its stdout and stderr to ``log`` and runs the Dagster CLI; when the child is reaped,
# its scratch is deleted, as a pod's disk goes with the pod, and its log stays, as `kubectl logs` still
# shows a finished pod's. Replies on the inherited descriptor: {"scratch", "pid"} when started,
# {"pid", "exit"} when ended. One thread only, so that forking is safe.
POD_TEMPLATE = """
import importlib, json, os, select, shutil, sys, tempfile
for name in sys.argv[2:]:
    importlib.import_module(name)
from dagster._cli import cli
replies = os.fdopen(int(sys.argv[1]), "w", buffering=1)
scratch_of = {}
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.1)
    line = sys.stdin.readline() if ready else None
    if line == "":
        break
    if line:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            replies.close()
            log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1); os.dup2(log, 2); os.close(log)
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            tempfile.tempdir = None
            sys.stdin = open(os.devnull)
            try:
                cli.main(args=request["args"], prog_name="dagster", auto_envvar_prefix="DAGSTER_CLI")
                code = 0
            except SystemExit as ended:
                code = ended.code if isinstance(ended.code, int) else int(ended.code is not None)
            except BaseException:
                import traceback; traceback.print_exc(); code = 1
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        scratch_of[pid] = request["scratch"]
        replies.write(json.dumps({"scratch": request["scratch"], "pid": pid}) + "\\n")
    while scratch_of:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        shutil.rmtree(scratch_of.pop(pid), ignore_errors=True)
        replies.write(json.dumps({"pid": pid, "exit": os.waitstatus_to_exitcode(status)}) + "\\n")
"""


class PodTemplate:
    """The pod template process and what it reports about the steps it forked."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", POD_TEMPLATE, str(write), *IMAGE_LIBRARIES],
            stdin=subprocess.PIPE,
            text=True,
            pass_fds=(write,),
            env=_image_environment(),
        )
        os.close(write)
        self._replies = os.fdopen(read)
        self._lock = threading.Condition()
        self._pids: dict[str, int] = {}
        self.exits: dict[int, int] = {}
        threading.Thread(target=self._read_replies, daemon=True).start()
        atexit.register(self.stop)

    def _read_replies(self) -> None:
        for line in self._replies:
            reply = json.loads(line)
            with self._lock:
                if "exit" in reply:
                    self.exits[reply["pid"]] = reply["exit"]
                else:  # a new step may get the pid of one that ended (pids wrap around)
                    self.exits.pop(reply["pid"], None)
                    self._pids[reply["scratch"]] = reply["pid"]
                self._lock.notify_all()

    def start(self, scratch: Path, env: dict[str, str], args: list[str]) -> int:
        request = {
            "scratch": str(scratch),
            "cwd": str(scratch / "home"),
            "env": env,
            "args": args,
            "log": str(pod_log(scratch)),
        }
        with self._lock:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            if not self._lock.wait_for(lambda: str(scratch) in self._pids, timeout=600):
                raise RuntimeError(f"the pod template (pid {self.process.pid}) started no step")
            return self._pids[str(scratch)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


_shared_template: PodTemplate | None = None
_shared_template_lock = threading.Lock()


def shared_template() -> PodTemplate:
    """This process's pod template, started on first use (again if it has died)."""
    global _shared_template
    with _shared_template_lock:
        if _shared_template is None or _shared_template.process.poll() is not None:
            _shared_template = PodTemplate()
        return _shared_template


def pod_log(scratch: Path) -> Path:
    """Where the step of ``scratch`` writes its stdout and stderr: beside the scratch, which goes with
    the step."""
    return scratch.with_name(f"{scratch.name}.log")


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def _image_environment() -> dict[str, str]:
    """What the image provides: `dagster` on PATH, the job's code importable."""
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
    }


class ProcessStepHandler(StepHandler):
    def __init__(self) -> None:
        super().__init__()
        self._template: PodTemplate | None = None
        self.pids: dict[tuple[str, str], int] = {}
        self.logs: dict[tuple[str, str], Path] = {}

    @property
    def name(self) -> str:
        return "ProcessStepHandler"

    @property
    def template(self) -> PodTemplate:
        if self._template is None:
            self._template = shared_template()
        return self._template

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
            **_image_environment(),
            "LAKEHOUSE_HOME": str(scratch / "home"),
            "TMPDIR": str(scratch / "tmp"),
        }
        for variable in args.get_command_env():
            env[variable["name"]] = variable["value"]
        command = list(args.get_command_args(skip_serialized_namedtuple=True))
        self.pids[(run_id, step_key)] = self.template.start(scratch, env, command[command.index("api") :])
        self.logs[(run_id, step_key)] = log = pod_log(scratch)
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in its own process with scratch {scratch}.',
            metadata={
                "scratch": dg.MetadataValue.path(str(scratch)),
                "log": dg.MetadataValue.path(str(log)),
            },
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        pid = self.pids.get(self._key(step_handler_context))
        if pid is None:
            return CheckStepHealthResult.unhealthy("no process was launched for this step")
        code = self.template.exits.get(pid)
        if code not in (None, 0):
            log = self.logs[self._key(step_handler_context)]
            return CheckStepHealthResult.unhealthy(
                f"step process exited with {code}; the end of its log {log}:\n{_log_tail(log)}"
            )
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        run_id, step_key = self._key(step_handler_context)
        pid = self.pids.get((run_id, step_key))
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            message=f"Terminating the process of step {step_key}",
            event_specific_data=EngineEventData(),
        )
        if pid is not None and pid not in self.template.exits:
            os.kill(pid, signal.SIGTERM)


@dg.executor(name="pod_executor", requirements=dg.multiple_process_executor_requirements())
def pod_executor(init_context: dg.InitExecutorContext) -> StepDelegatingExecutor:
    # Dagster's default pause between two passes over the steps is 1 s (DAGSTER_STEP_DELEGATING_EXECUTOR_
    # SLEEP_SECONDS), paid at every step hand-over of a serial chain; a local process starts in milliseconds.
    # Its health check (is the step's process alive?) reads a dict: every 5 s instead of Dagster's 20.
    return StepDelegatingExecutor(
        ProcessStepHandler(),
        retries=RetryMode.DISABLED,
        sleep_seconds=0.2,
        check_step_health_interval_seconds=5,
    )
