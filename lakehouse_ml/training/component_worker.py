"""One warm interpreter for the pipeline's components under ``kfp.local`` (issue #23).

``kfp.local.SubprocessRunner`` starts each lightweight component as ``sh -ec <launcher> <source>
--executor_input ... --function_to_execute ...``: a new interpreter that imports kfp, pandas,
scikit-learn and the project's training modules before doing any work, four times per run. Here one
worker process imports them once, then forks one child per task; the child does what the launcher
script does (writes the component's source to ``ephemeral_component.py`` in a fresh temporary folder
and runs ``kfp.dsl.executor_main`` on it with the task's arguments, environment and working
directory) and exits with its status. Everything else stays kfp.local's: placeholders, artifacts in
files under the pipeline root, executor outputs read back into ``run.outputs``. The compiled package
for clusters is not touched.

A command that is not exactly kfp's launcher (a ``pip install`` prefix, another kfp version's script)
or a task started while another one runs (``dsl.ParallelFor``) goes to kfp's own subprocess.

The module is also the worker's program (``python -m``): it imports only the standard library at
top, so ``_KFP_RUNTIME`` is set before kfp is imported, as in the launcher.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence

# kfp 2.x's launcher for lightweight components (component_factory), once kfp.local has replaced
# ``python3`` with its interpreter. Anything else is run by kfp itself.
LAUNCHER = """program_path=$(mktemp -d)

printf "%s" "$0" > "$program_path/ephemeral_component.py"
_KFP_RUNTIME=true {python} -m kfp.dsl.executor_main \
                        --component_module_path \
                        "$program_path/ephemeral_component.py" \
                        "$@"
"""
# What every component of the training pipeline imports; feast only when the features come from it.
PRELOAD = (
    "kfp.dsl.executor_main",
    "pyarrow.parquet",
    "lakehouse_ml.training.models",
    "lakehouse_ml.training.curves",
)
FEAST_PRELOAD = ("feast",)
EXIT_MARK = "\x00kfp-component-exit "  # the worker's line after a child's output: its exit code


def task_request(full_command: Sequence[str], python: str = sys.executable) -> dict | None:
    """The request for the worker if ``full_command`` is kfp's lightweight launcher, else None."""
    command = list(full_command)
    if len(command) < 4 or command[:2] != ["sh", "-ec"] or command[2] != LAUNCHER.format(python=python):
        return None
    return {"source": command[3], "args": command[4:], "cwd": os.getcwd(), "env": dict(os.environ)}


def run_task(request: dict) -> int:
    """In the forked child: the launcher's work, in this interpreter. Returns the exit code."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["_KFP_RUNTIME"] = "true"
    os.chdir(request["cwd"])
    tempfile.tempdir = None  # mktemp -d honours the task's TMPDIR
    program = os.path.join(tempfile.mkdtemp(), "ephemeral_component.py")
    with open(program, "w") as handle:
        handle.write(request["source"])
    sys.argv = ["executor_main", "--component_module_path", program, *request["args"]]
    from kfp.dsl import executor_main

    try:
        executor_main.executor_main()
        return 0
    except SystemExit as ended:
        return ended.code if isinstance(ended.code, int) else int(ended.code is not None)
    except BaseException:
        traceback.print_exc()
        return 1


def serve(modules: Sequence[str]) -> None:
    """The worker: import ``modules``, then fork one child per request line on stdin, one at a time.

    Children write to the worker's stdout (kfp.local's log stream); after each, the worker writes
    ``EXIT_MARK`` and the exit code. The worker runs no threads, so forking is safe."""
    for name in modules:
        importlib.import_module(name)
    for line in iter(sys.stdin.readline, ""):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            sys.stdin = open(os.devnull)
            sys.stdout.reconfigure(line_buffering=True)
            code = run_task(json.loads(line))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(f"{EXIT_MARK}{os.waitstatus_to_exitcode(status)}", flush=True)


class ComponentWorker:
    """The parent's side: starts the worker and hands it the launcher commands kfp.local runs."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, *modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "_KFP_RUNTIME": "true"},
        )
        self._busy = threading.Lock()
        self.tasks = 0  # tasks this worker ran

    def run(self, full_command: list[str], fallback: Callable[..., int]) -> int:
        """Run one task as kfp's ``run_local_subprocess`` does: stream its output, return its exit code."""
        request = task_request(full_command)
        if request is None or not self._busy.acquire(blocking=False):
            return fallback(full_command=full_command)
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            for line in self.process.stdout:
                if line.startswith(EXIT_MARK):
                    self.tasks += 1
                    print("\n")
                    return int(line[len(EXIT_MARK) :])
                print(line, end="")
            print(f"the component worker (pid {self.process.pid}) ended: exit {self.process.wait()}")
            return 1
        finally:
            self._busy.release()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


@contextlib.contextmanager
def shared_interpreter(modules: Sequence[str] = PRELOAD) -> Iterator[ComponentWorker | None]:
    """Within this block, kfp.local's SubprocessRunner runs launcher commands in one warm worker.

    The seam is ``kfp.local.subprocess_task_handler.run_local_subprocess``, the function that starts
    a task's process; if a kfp version lacks it, tasks run in their own processes as before (None)."""
    from kfp.local import subprocess_task_handler

    original = getattr(subprocess_task_handler, "run_local_subprocess", None)
    if original is None:
        warnings.warn("kfp.local has no run_local_subprocess: one process per component", stacklevel=3)
        yield None
        return
    worker = ComponentWorker(modules)

    def run_local_subprocess(full_command: list[str]) -> int:
        return worker.run(full_command, original)

    subprocess_task_handler.run_local_subprocess = run_local_subprocess
    try:
        yield worker
    finally:
        subprocess_task_handler.run_local_subprocess = original
        worker.stop()


if __name__ == "__main__":
    serve(sys.argv[1:])
