"""Run the installed ``lakehouse-ml`` console script on a test's own LAKEHOUSE_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port

LAKEHOUSE_ML = Path(sys.executable).parent / "lakehouse-ml"


def cli(home: Path, *args: str, port: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, LAKEHOUSE_HOME=str(home), LAKEHOUSE_PROFILE="local")
    env.pop("DAGSTER_HOME", None)
    env.pop("LAKEHOUSE_RAW_URI", None)
    if port:
        env["LAKEHOUSE_SERVING_PORT"] = str(port)
        env["LAKEHOUSE_SERVING_GRPC_PORT"] = str(free_port())
    return subprocess.run([str(LAKEHOUSE_ML), *args], env=env, capture_output=True, text=True, timeout=1800)
