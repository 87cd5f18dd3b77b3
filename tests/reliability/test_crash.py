"""A registration SIGKILLed at any moment (DVC add, push, git commit, tag) never leaves a version tag
whose model cannot be pulled from the DVC remote, and the next registration takes the next number."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.model_registry import Remote
from tests.support.model_builders import write_model

KILL_AFTER_SECONDS = (0.5, 1.5, 2.5, 3.5, 5.0, 7.0)
REGISTER = (
    "import sys; from pathlib import Path;"
    "from lakehouse_ml.registry import ModelRegistry;"
    "from lakehouse_ml.registry.model_registry import Remote;"
    "registry = ModelRegistry(Path(sys.argv[1]), Remote(sys.argv[2]));"
    "registry.register(Path(sys.argv[3]), {'kfp_run_id': 'killed'})"
)


@pytest.mark.slow
def test_a_registration_killed_at_any_moment_leaves_only_pullable_tags(tmp_path: Path):
    root, remote = tmp_path / "registry", str(tmp_path / "dvc-remote")
    registry = ModelRegistry(root, Remote(remote))
    assert registry.register(write_model(tmp_path / "first", seed=1), {"kfp_run_id": "first"}) == "v1"
    for attempt, delay in enumerate(KILL_AFTER_SECONDS):
        model = write_model(tmp_path / f"killed-{attempt}", seed=10 + attempt)
        process = subprocess.Popen([sys.executable, "-c", REGISTER, str(root), remote, str(model)])
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    last = registry.register(write_model(tmp_path / "after", seed=99), {"kfp_run_id": "after"})
    versions = registry.versions()
    assert versions == [f"v{n}" for n in range(1, len(versions) + 1)] and versions[-1] == last

    shutil.rmtree(root / ".dvc" / "cache")  # only the DVC remote holds the data now
    fresh = ModelRegistry(root, Remote(remote), checkout_root=tmp_path / "pulled")
    for version in versions:
        folder = fresh.checkout(version)  # fetched from the remote, every file checked against its hash
        assert (folder / "model.joblib").is_file(), version
