"""Each tool's own command on one small registered state (issue 24): DVC metrics, params, repro and
status in a fresh clone; GTO; the KFP evaluation's ClassificationMetrics; pyiceberg's CLI. The state is
built from registry builders, not a loop run: two versions (a small model without an evaluation set,
then a trained one with its train stage), v2 promoted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse_ml.registry import ModelRegistry, dvc_project
from lakehouse_ml.registry.model_registry import Remote
from tests.support.kfp_evaluation import run_evaluation_only
from tests.support.model_builders import write_model
from tests.support.registry_builders import make_model

BIN = Path(sys.executable).parent


def tool(cwd: Path, *args: str, home: Path | None = None) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", CI="true")
    if home is not None:  # pyiceberg reads ~/.pyiceberg.yaml before the working directory's
        env["HOME"] = str(home)
        env.pop("PYICEBERG_HOME", None)
    done = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed: {done.stderr or done.stdout}"
    return done.stdout


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tools")
    registry = ModelRegistry(root / "registry", Remote(str(root / "dvc-remote")))
    trained = make_model(root / "models")
    assert registry.register(write_model(root / "small"), {}) == "v1"
    assert registry.register(trained, {}) == "v2"
    registry.promote("v2", "production")
    return {"root": root, "registry": registry, "trained": trained}


def test_dvc_metrics_and_params_show_the_recorded_values(state):
    registry: ModelRegistry = state["registry"]
    shown = tool(registry.root, "dvc", "metrics", "show", "-a", "--json")
    metrics = json.loads(shown)["main"]["data"]["metrics.json"]["data"]
    assert metrics["roc_auc"] == pytest.approx(registry.metrics("v2")["roc_auc"])
    table = tool(registry.root, "dvc", "metrics", "show", "-a")
    assert "metrics.json" in table and "roc_auc" in table

    args = ("dvc", "params", "diff", "churn-model@v1", "churn-model@v2", "--all", "--json")
    diff = json.loads(tool(registry.root, *args))["params.json"]
    for side, version in (("old", "v1"), ("new", "v2")):
        recorded = registry.params(version)
        assert diff["model_family"][side] == recorded["model_family"]
        assert diff["threshold"][side] == recorded["threshold"]
        for name, value in recorded["params"].items():
            assert diff[f"params.{name}"][side] == value


def test_a_fresh_clone_pulls_and_reports_the_version_up_to_date(state):
    registry: ModelRegistry = state["registry"]
    clone = state["root"] / "clone"
    subprocess.run(["git", "clone", "-q", str(registry.root), str(clone)], check=True)
    tool(clone, "dvc", "pull", "-q")
    assert (clone / "rebuilt" / "model.joblib").read_bytes() == (
        state["trained"] / "model.joblib"
    ).read_bytes()
    repro = tool(clone, "dvc", "repro")
    assert "Stage 'train' didn't change, skipping" in repro and "Data and pipelines are up to date." in repro
    assert "Data and pipelines are up to date." in tool(clone, "dvc", "status")
    plots = json.loads(tool(clone, "dvc", "plots", "show", "--json"))["data"]
    assert set(plots) == {f"plots/{name}" for name in dvc_project.PLOTS}
    assert {entry["type"] for rendered in plots.values() for entry in rendered} == {"vega"}


def test_gto_shows_every_version_and_the_production_stage(state):
    shown = tool(state["registry"].root, "gto", "show", "churn-model")
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in shown.splitlines() if "│" in line]
    header, rows = cells[0], cells[1:]
    versions = {row[header.index("version")]: row[header.index("stage")] for row in rows}
    assert versions == {"v1.0.0": "", "v2.0.0": "production"}
    assert "churn-model#production#1" in tool(state["registry"].root, "gto", "history", "churn-model")


def test_kfp_evaluation_records_classification_metrics(state, tmp_path):
    metadata = json.loads((state["trained"] / "metadata.json").read_text())
    output = run_evaluation_only(state["trained"], tmp_path)
    artifacts = json.loads(output.read_text())["artifacts"]
    (drawn,) = artifacts["classification_metrics"]["artifacts"]
    rows = [row["row"] for row in drawn["metadata"]["confusionMatrix"]["rows"]]
    assert rows == metadata["metrics"]["confusion_matrix"]
    roc = drawn["metadata"]["confidenceMetrics"]
    assert (roc[0]["falsePositiveRate"], roc[-1]["recall"]) == (0, 1)
    (scalars,) = artifacts["metrics"]["artifacts"]
    assert scalars["metadata"]["roc_auc"] == pytest.approx(metadata["metrics"]["roc_auc"])


def test_pyiceberg_describes_the_prediction_log(tmp_path):
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.predictions.catalog import ensure_predictions_table, local_catalog
    from lakehouse_ml.predictions.pyiceberg_config import write_pyiceberg_config

    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path / "home")})
    ensure_predictions_table(local_catalog(settings.iceberg_dir))
    project = tmp_path / "project"
    project.mkdir()
    write_pyiceberg_config(settings, project)
    empty_home = tmp_path / "user"
    empty_home.mkdir()
    described = tool(project, "pyiceberg", "describe", "ml.churn_predictions", home=empty_home)
    assert "prediction_day: day(6)" in described and "model_version: required string" in described
