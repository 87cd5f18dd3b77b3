#!/usr/bin/env python3
"""Set-up and entry points that need nothing but python3 (>= 3.11) and the package index.

python3 tasks.py run     # create .venv from uv.lock, fill the landing zone, materialize every asset
python3 tasks.py test    # create .venv from uv.lock, run the test suite (extra args go to pytest)
python3 tasks.py bench   # run the benchmarks in bench/
python3 tasks.py setup   # only create the environment and the dbt manifest
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
UV_VERSION = "0.13.9"
TOOLS_VENV = ROOT / ".uv"
UV = TOOLS_VENV / "bin" / "uv"
VENV_BIN = ROOT / ".venv" / "bin"
DBT_DIR = ROOT / "dbt_project"


def _run(cmd: list[str | Path], **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def _ensure_uv() -> None:
    if not UV.exists():
        _run([sys.executable, "-m", "venv", TOOLS_VENV])
        _run([TOOLS_VENV / "bin" / "pip", "install", "--quiet", f"uv=={UV_VERSION}"])


def _ensure_manifest(env: dict[str, str]) -> None:
    """dbt's manifest is a build artifact: dagster-dbt loads it at import and never parses in prod."""
    manifest = DBT_DIR / "target" / "manifest.json"
    sources = [
        p for p in DBT_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".yaml"} and "target" not in p.parts
    ]
    if manifest.exists() and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources):
        return
    _run(
        [
            VENV_BIN / "dbt",
            "parse",
            "--quiet",
            "--project-dir",
            DBT_DIR,
            "--profiles-dir",
            DBT_DIR,
            "--target",
            "local",
        ],
        env=env,
    )


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LAKEHOUSE_HOME", str(ROOT / ".lakehouse"))
    env.setdefault("DAGSTER_HOME", str(Path(env["LAKEHOUSE_HOME"]) / "dagster"))
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def setup() -> dict[str, str]:
    env = environment()
    _ensure_uv()
    # Bytecode is compiled once here: with PYTHONDONTWRITEBYTECODE set, every process would
    # otherwise recompile dagster, feast and pandas on import.
    _run([UV, "sync", "--frozen", "--quiet", "--compile-bytecode", "--python", sys.executable], env=env)
    _ensure_manifest(env)
    instance = "lakehouse_ml.orchestration.instance"
    _run([VENV_BIN / "python", "-m", instance], env=env, stdout=subprocess.DEVNULL)
    pyiceberg_config = "lakehouse_ml.predictions.pyiceberg_config"  # pyiceberg's CLI finds the local catalog
    _run([VENV_BIN / "python", "-m", pyiceberg_config], env=env, stdout=subprocess.DEVNULL)
    return env


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"setup", "run", "test", "bench"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    env = setup()
    if command == "setup":
        return 0
    program = {
        "run": [VENV_BIN / "lakehouse-ml", "run"],
        # Whole-module scheduling keeps each module's shared world in one worker; most tests wait on
        # subprocesses and servers, so four workers keep two cores busy. No reordering by module size:
        # tests/conftest.py orders the modules so that the whole-loop tests start first.
        # --durations: CI's log shows where the suite's time went.
        "test": [
            VENV_BIN / "pytest",
            "-n",
            "4",
            "--dist",
            "loadscope",
            "--no-loadscope-reorder",
            "--durations=12",
        ],
        "bench": [VENV_BIN / "python", "-m", "bench"],
    }[command]
    return subprocess.run([str(c) for c in program] + rest, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
