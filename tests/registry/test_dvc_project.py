"""The registry as a DVC project (lakehouse_ml/registry/dvc_project.py): dvc.yaml, plots from the
evaluation set, the train stage recorded as run; versions registered before it keep working."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lakehouse_ml.registry import ModelRegistry, dvc_project
from lakehouse_ml.registry.lineage import file_md5
from lakehouse_ml.registry.model_registry import Remote
from lakehouse_ml.training import curves
from tests.support.registry_builders import git, make_model

LINEAGE = {"kfp_run_id": "churn-training-test", "feature_service": "churn_v1", "gold_tables": {}}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def registry(lakehouse_home: Path) -> ModelRegistry:
    return ModelRegistry(lakehouse_home / "registry", Remote(str(lakehouse_home / "dvc-remote")))


def test_a_version_commits_dvc_yaml_plots_and_its_train_stage(registry: ModelRegistry, model: Path):
    registry.register(model, LINEAGE)
    root = registry.root
    assert git(root, "status", "--porcelain") == ""
    declared = yaml.safe_load(git(root, "show", "churn-model@v1:dvc.yaml"))
    assert declared["metrics"] == ["metrics.json"] and declared["params"] == ["params.json"]
    plots = {name for entry in declared["plots"] for name in entry}
    assert plots == {f"plots/{name}" for name in dvc_project.PLOTS}
    assert set(git(root, "ls-files", "plots").split()) == plots

    metrics = registry.metrics("v1")
    confusion = pd.read_csv(root / "plots" / "confusion.csv")
    counts = pd.crosstab(confusion["actual"], confusion["predicted"]).reindex(
        index=[0, 1], columns=[0, 1], fill_value=0
    )
    assert counts.to_numpy().tolist() == metrics["confusion_matrix"]
    roc = pd.read_csv(root / "plots" / "roc.csv")
    assert len(roc) <= curves.MAX_CURVE_POINTS and (roc.iloc[0].fpr, roc.iloc[-1].tpr) == (0, 1)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(metrics["roc_auc"], abs=0.01)
    calibration = pd.read_csv(root / "plots" / "calibration.csv")
    assert len(calibration) == curves.CALIBRATION_BINS
    assert calibration["mean_predicted"].is_monotonic_increasing

    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["train"]
    deps = {dep["path"]: dep["md5"] for dep in lock["deps"]}
    assert deps["churn-model/training_set.parquet"] == file_md5(model / "training_set.parquet")
    assert lock["params"]["params.json"]["threshold"] == registry.params("v1")["threshold"]
    assert "/rebuilt" in (root / ".gitignore").read_text().splitlines()


def test_registering_the_same_folder_twice_rewrites_the_project(registry: ModelRegistry, model: Path):
    assert [registry.register(model, LINEAGE) for _ in range(2)] == ["v1", "v2"]
    assert git(registry.root, "status", "--porcelain") == ""
    assert (registry.root / ".gitignore").read_text().splitlines().count("/rebuilt") == 1
    assert git(registry.root, "diff", "churn-model@v1", "churn-model@v2", "--", "plots", "dvc.lock") == ""


def test_versions_registered_before_dvc_yaml_keep_working(
    registry: ModelRegistry, model: Path, monkeypatch: pytest.MonkeyPatch
):
    with monkeypatch.context() as patched:  # the registration of earlier releases: no dvc.yaml at all
        patched.setattr(dvc_project, "write_project", lambda root, tracked: False)
        assert registry.register(model, LINEAGE) == "v1"
    assert "dvc.yaml" not in git(registry.root, "ls-tree", "--name-only", "churn-model@v1").split()
    assert registry.register(model, LINEAGE) == "v2"
    registry.promote("v1", "production")
    assert registry.production_version() == "v1"
    folder = registry.checkout("v1")
    assert json.loads((folder / "metadata.json").read_text())["metrics"] == registry.metrics("v1")


def test_a_folder_without_an_evaluation_set_declares_no_stage(registry: ModelRegistry, model: Path, tmp_path):
    folder = tmp_path / "no-eval"
    folder.mkdir()
    for path in model.iterdir():
        if path.name != "evaluation_set.parquet":
            (folder / path.name).write_bytes(path.read_bytes())
    registry.register(model, LINEAGE)
    registry.register(folder, LINEAGE)
    declared = yaml.safe_load((registry.root / "dvc.yaml").read_text())
    assert set(declared) == {"metrics", "params"}
    assert not (registry.root / "dvc.lock").exists() and not (registry.root / "plots").exists()
    assert git(registry.root, "status", "--porcelain") == ""
