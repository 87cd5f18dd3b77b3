"""Control of the local model server process: start (detached), stop, status, apply a deployment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lakehouse_ml.serving.deployment import (
    LOG_FILE,
    PID_FILE,
    Deployment,
    read_deployment,
    read_status,
    write_deployment,
)
from lakehouse_ml.serving.names import MODEL_NAME, VERSION_HEADER
from lakehouse_ml.serving.spool import process_alive

START_TIMEOUT_SECONDS = 180.0
# Importing Feast points prometheus_client at a temporary folder it deletes when that process exits; the
# detached server must not inherit it, or its first metric written after that exit fails the request.
PROMETHEUS_MULTIPROCESS_VARS = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
APPLY_TIMEOUT_SECONDS = 120.0
SERVER_MODULE = "lakehouse_ml.serving.server"


class ServingError(RuntimeError):
    """The server could not be started, did not apply a deployment, or answered wrongly."""


def request_json(url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 10.0):
    """POST ``body`` as JSON (GET without one); returns the status and the decoded JSON answer.

    Raises ``ServingError`` when the server cannot be reached or answers with an error status.
    """
    import httpx

    method = "GET" if body is None else "POST"
    try:
        response = httpx.request(method, url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as err:
        raise ServingError(f"{method} {url} failed: {err!r}") from err
    if response.is_error:
        raise ServingError(f"{method} {url} answered {response.status_code}: {response.text}")
    return response.status_code, response.json() if response.content else None


@dataclass
class LocalServer:
    """The ``churn-predictor`` server on 127.0.0.1:``port`` (REST) and ``grpc_port`` (gRPC V2; None: no
    gRPC) with its state in ``serving_dir``."""

    serving_dir: Path
    port: int
    feature_repo: str | None = None
    grpc_port: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str | None:
        """``host:port`` for a gRPC V2 client (``kserve.InferenceGRPCClient``), None without gRPC."""
        return f"127.0.0.1:{self.grpc_port}" if self.grpc_port else None

    @property
    def predict_url(self) -> str:
        return f"{self.endpoint}/v1/models/{MODEL_NAME}:predict"

    def pid(self) -> int | None:
        """The running server's pid; None when the pid file is missing, its process has exited, or the pid
        now belongs to another process (pids wrap around: a stale file must not make ``stop`` kill it)."""
        try:
            pid = int((self.serving_dir / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) and self._serves_here(pid) else None

    def _serves_here(self, pid: int) -> bool:
        import psutil

        try:
            process = psutil.Process(pid)
            command = process.cmdline()
            if SERVER_MODULE not in command or "--serving_dir" not in command[:-1]:
                return False
            served = Path(process.cwd(), command[command.index("--serving_dir") + 1])
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return True  # cannot tell (another user's process would have failed process_alive's signal)
        return served.resolve() == self.serving_dir.resolve()

    def ready(self) -> bool:
        try:
            status, body = request_json(f"{self.endpoint}/v2/health/ready", timeout=2.0)
        except (ServingError, ValueError):
            return False
        return status == 200 and bool(body and body.get("ready")) and self._grpc_listening()

    def _grpc_listening(self) -> bool:
        if not self.grpc_port:
            return True
        try:
            with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=2.0):
                return True
        except OSError:
            return False

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> int:
        """Start the server for the current ``deployment.json`` (no-op when running); wait until ready."""
        pid = self.pid()
        if pid is not None:
            return pid
        if not read_deployment(self.serving_dir).stable:
            raise ServingError(
                f"nothing to serve: {self.serving_dir / 'deployment.json'} names no stable version"
            )
        command = [
            sys.executable,
            "-m",
            SERVER_MODULE,
            "--serving_dir",
            str(self.serving_dir),
            "--http_port",
            str(self.port),
        ]
        command += ["--grpc_port", str(self.grpc_port)] if self.grpc_port else ["--enable_grpc", "false"]
        if self.feature_repo:
            command += ["--feature_repo", self.feature_repo]
        self.serving_dir.mkdir(parents=True, exist_ok=True)
        with open(self.serving_dir / LOG_FILE, "ab") as log:
            process = subprocess.Popen(  # its own session: it keeps serving after the Dagster run ends
                command,
                env={k: v for k, v in os.environ.items() if k not in PROMETHEUS_MULTIPROCESS_VARS},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.serving_dir / PID_FILE).write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                (self.serving_dir / PID_FILE).unlink(missing_ok=True)
                raise ServingError(f"model server exited with code {process.returncode}: {self.log_tail()}")
            if self.ready():
                return process.pid
            time.sleep(0.25)
        self.stop()
        raise ServingError(f"model server not ready after {timeout:.0f}s: {self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM (then SIGKILL after ``timeout``); True when a server was running."""
        pid = self.pid()
        if pid is None:
            (self.serving_dir / PID_FILE).unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
        try:  # reap it when it is our child (started in this process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        (self.serving_dir / PID_FILE).unlink(missing_ok=True)
        return True

    def apply(self, deployment: Deployment, timeout: float = APPLY_TIMEOUT_SECONDS) -> None:
        """Write ``deployment`` and, when running, wait until the server reports it applied."""
        write_deployment(self.serving_dir, deployment)
        if self.pid() is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = read_status(self.serving_dir)
            if status.get("generation") == deployment.generation:
                if status.get("error"):
                    raise ServingError(f"server rejected the deployment: {status['error']}")
                return
            time.sleep(0.1)
        raise ServingError(
            f"server did not apply deployment generation {deployment.generation} in {timeout:.0f}s"
        )

    def predict(self, customer_ids: list[str], version: str | None = None, timeout: float = 30.0) -> dict:
        headers = {VERSION_HEADER: version} if version else None
        body = {"instances": [{"customer_id": cid} for cid in customer_ids]}
        _, answer = request_json(self.predict_url, body, headers, timeout)
        return answer

    def status(self) -> dict:
        pid = self.pid()
        return {
            "endpoint": self.endpoint,
            "grpc": self.grpc_target,
            "pid": pid,
            "ready": pid is not None and self.ready(),
            "deployment": {
                k: v for k, v in read_deployment(self.serving_dir).__dict__.items() if k != "models"
            },
            "server": read_status(self.serving_dir),
        }

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.serving_dir / LOG_FILE).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
