"""The git + DVC model registry and the deployment gate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lakehouse_ml.model_artifact import COMPILED_FILE, ONNX_FILE
from lakehouse_ml.registry import ModelRegistry, RegistryError
from lakehouse_ml.registry.gate import check_candidate
from lakehouse_ml.registry.lineage import file_sha256, gold_table_stats
from lakehouse_ml.registry.model_registry import Remote
from tests.support.registry_builders import git, make_model
from tests.support.synthetic_gold import write_synthetic_gold

LINEAGE = {"kfp_run_id": "churn-training-test", "feature_service": "churn_v1", "gold_tables": {}}


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def weak_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models"), label_noise=0.45)


@pytest.fixture
def registry(lakehouse_home: Path) -> ModelRegistry:
    return ModelRegistry(lakehouse_home / "registry", Remote(str(lakehouse_home / "dvc-remote")))


def test_register_commits_tags_and_pushes_like_a_dvc_user(
    registry: ModelRegistry, good_model: Path, lakehouse_home: Path
):
    assert registry.latest_version() is None and registry.production_version() is None
    first = registry.register(good_model, LINEAGE)
    second = registry.register(good_model, {**LINEAGE, "kfp_run_id": "second"})
    assert (first, second) == ("v1", "v2")
    assert registry.versions() == ["v1", "v2"] and registry.latest_version() == "v2"
    auc = json.loads((good_model / "metadata.json").read_text())["metrics"]["roc_auc"]
    assert (
        git(registry.root, "log", "-1", "--format=%s", "churn-model@v2")
        == f"Train churn model v2 - AUC {auc:.2f}"
    )
    assert git(registry.root, "status", "--porcelain") == ""
    tracked = git(registry.root, "ls-files").split()
    assert {"churn-model.dvc", "metrics.json", "params.json", "lineage.json"} <= set(tracked)
    assert not any(path.startswith("churn-model/") for path in tracked)  # data lives in DVC, not git
    assert registry.metrics("v1")["roc_auc"] == pytest.approx(auc)
    lineage = registry.lineage("v2")
    assert lineage["kfp_run_id"] == "second" and lineage["feature_service"] == "churn_v1"
    assert len(lineage["training_set_md5"]) == 32 and lineage["train_window"][1] < lineage["eval_window"][0]
    hashes = lineage["artifact_sha256"]
    assert set(hashes) == {p.name for p in good_model.iterdir()} | {ONNX_FILE, COMPILED_FILE}
    assert hashes["evaluation_set.parquet"] == file_sha256(good_model / "evaluation_set.parquet")
    assert hashes["model.joblib"] == lineage["model_sha256"]
    assert any((lakehouse_home / "dvc-remote").rglob("*")), "dvc push left the remote empty"
    with pytest.raises(RegistryError, match="unknown model version"):
        registry.metrics("v9")
    serving = registry.serving("v1")
    assert serving["runtime"] == "onnxruntime" and serving["parity"]["dataset"] == "evaluation_set.parquet"
    assert serving["parity"]["max_abs_diff"] <= 1e-6 and serving["parity"]["label_mismatches"] == 0
    folder = registry.checkout("v1")
    assert file_sha256(folder / "model.onnx") == serving["onnx_sha256"]
    assert json.loads((folder / "compiled.json").read_text()) == serving
    assert not (good_model / "model.onnx").exists(), "registration compiles a copy, not the caller's folder"


def test_a_version_whose_compiled_model_disagrees_is_refused(
    registry: ModelRegistry, good_model: Path, weak_model: Path, monkeypatch: pytest.MonkeyPatch
):
    import joblib

    from lakehouse_ml.model_artifact import onnx_compile

    registry.register(good_model, LINEAGE)
    other = joblib.load(weak_model / "model.joblib")  # a real compiled model, of another pipeline
    real = onnx_compile.compile_pipeline
    monkeypatch.setattr(onnx_compile, "compile_pipeline", lambda _, names, cat: real(other, names, cat))
    head = git(registry.root, "rev-parse", "HEAD")
    with pytest.raises(RegistryError, match=r"refusing to register .*max \|p_onnx - p_sklearn\|"):
        registry.register(good_model, LINEAGE)
    assert registry.versions() == ["v1"] and git(registry.root, "rev-parse", "HEAD") == head
    assert git(registry.root, "status", "--porcelain") == ""


def test_gold_lineage_tells_two_builds_with_equal_counts_apart(tmp_path: Path):
    gold = write_synthetic_gold(tmp_path / "gold", customers=50, snapshots=20)
    before = gold_table_stats(gold)
    assert before["fct_churn_labels"]["sha256"] == file_sha256(gold / "fct_churn_labels.parquet")
    features = gold / "fct_customer_features.parquet"
    frame = pd.read_parquet(features)
    frame.loc[0, "lifetime_value"] += 0.01
    frame.to_parquet(features)
    after = gold_table_stats(gold)
    changed = {
        k
        for k in ("rows", "min_event_timestamp", "max_event_timestamp", "sha256")
        if before["fct_customer_features"][k] != after["fct_customer_features"][k]
    }
    assert changed == {"sha256"}


def test_stage_tags_follow_promotions_and_rollbacks(registry: ModelRegistry, good_model: Path):
    for _ in range(2):
        registry.register(good_model, LINEAGE)
    registry.promote("v1", "production")
    assert registry.production_version() == "v1"
    registry.promote("v2", "production")
    registry.promote("v1", "production")  # roll back: a newer stage event on the older version
    assert registry.production_version() == "v1"
    assert registry.promote("churn-model@v1", "production") == "v1"  # already there: no new tag
    assert sorted(git(registry.root, "tag", "-l", "churn-model#*").split()) == [
        "churn-model#production#1",
        "churn-model#production#2",
        "churn-model#production#3",
    ]
    with pytest.raises(RegistryError, match="unknown model version"):
        registry.promote("v7")


def test_checkout_restores_each_version_and_checks_hashes(
    registry: ModelRegistry, good_model: Path, weak_model: Path
):
    registry.register(good_model, LINEAGE)
    registry.register(weak_model, LINEAGE)
    for version, source in (("v1", good_model), ("v2", weak_model)):
        folder = registry.checkout(version)
        for name in ("model.joblib", "metadata.json", "training_set.parquet"):
            assert (folder / name).read_bytes() == (source / name).read_bytes()
    # a tampered cache object is caught, not served
    folder = registry.checkout("v1")
    (folder / "model.joblib").write_bytes(b"tampered")
    assert (
        registry.checkout("v1").joinpath("model.joblib").read_bytes()
        == (good_model / "model.joblib").read_bytes()
    )
    from dvc.repo import Repo

    from lakehouse_ml.registry.lineage import file_md5

    with Repo(str(registry.root)) as repo:
        cached = Path(repo.cache.local.oid_to_path(file_md5(good_model / "model.joblib")))
    cached.chmod(0o644)
    cached.write_bytes(b"corrupted cache")
    import shutil

    shutil.rmtree(folder)
    with pytest.raises(RegistryError, match="does not match its DVC hash"):
        registry.checkout("v1")


def test_fresh_clone_and_dvc_pull_restore_the_model_byte_for_byte(
    registry: ModelRegistry, good_model: Path, tmp_path: Path
):
    from dvc.repo import Repo

    registry.register(good_model, LINEAGE)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registry.root), str(clone)], check=True)
    assert not (clone / "churn-model").exists()
    with Repo(str(clone)) as repo:
        repo.pull()
    for name in ("model.joblib", "metadata.json", "training_set.parquet"):
        assert (clone / "churn-model" / name).read_bytes() == (good_model / name).read_bytes()


def test_s3_remote_push_and_pull(lakehouse_home: Path, good_model: Path, s3_endpoint: str, tmp_path: Path):
    import boto3
    from dvc.repo import Repo

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="registry-test")
    registry = ModelRegistry(lakehouse_home / "registry", Remote("s3://registry-test/dvc", s3_endpoint))
    registry.register(good_model, LINEAGE)
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket="registry-test", Prefix="dvc/"
    )
    assert listed.get("KeyCount", 0) >= 4
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registry.root), str(clone)], check=True)
    with Repo(str(clone)) as repo:
        repo.pull()
    assert (clone / "churn-model" / "model.joblib").read_bytes() == (good_model / "model.joblib").read_bytes()


@pytest.mark.s3
def test_gold_lineage_reads_object_storage(tmp_path: Path, s3_endpoint: str):
    import boto3

    gold = write_synthetic_gold(tmp_path / "gold", customers=40, snapshots=20)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="gold-lineage")
    for path in gold.iterdir():
        s3.upload_file(str(path), "gold-lineage", f"gold/{path.name}")
    storage = {"client_kwargs": {"endpoint_url": s3_endpoint}}
    assert gold_table_stats("s3://gold-lineage/gold", storage) == gold_table_stats(gold)


def test_gate_passes_a_good_first_model_and_fails_below_the_floor(good_model: Path):
    result = check_candidate(good_model, None, min_roc_auc=0.65, tolerance=0.02)
    assert result.passed and "no champion" in result.reason
    strict = check_candidate(good_model, None, min_roc_auc=0.99, tolerance=0.02)
    assert not strict.passed
    assert f"{0.99 - strict.candidate_roc_auc:.4f} below the floor" in strict.reason


def test_gate_scores_the_champion_on_the_candidates_window(good_model: Path, weak_model: Path):
    losing = check_candidate(weak_model, good_model, min_roc_auc=0.5, tolerance=0.02)
    assert not losing.passed
    assert losing.champion_roc_auc - losing.candidate_roc_auc > 0.02
    assert "missed by" in losing.reason and "same evaluation window" in losing.reason
    assert check_candidate(good_model, weak_model, min_roc_auc=0.5, tolerance=0.02).passed
    assert check_candidate(weak_model, good_model, min_roc_auc=0.5, tolerance=1.0).passed


def test_gate_takes_the_candidates_recorded_evaluation_and_scores_only_the_champion(
    good_model: Path, weak_model: Path, tmp_path: Path
):
    import shutil

    from lakehouse_ml.registry.gate import _roc_auc

    evaluation = pd.read_parquet(good_model / "evaluation_set.parquet")
    recorded = json.loads((good_model / "metadata.json").read_text())["metrics"]["roc_auc"]
    assert recorded == pytest.approx(_roc_auc(good_model, evaluation), abs=1e-12)  # what training recorded

    candidate = tmp_path / "candidate"
    shutil.copytree(good_model, candidate)
    (candidate / "model.joblib").write_bytes(b"not a model: the gate must not load it")
    assert check_candidate(candidate, None, min_roc_auc=0.65, tolerance=0.02).candidate_roc_auc == recorded
    beaten = check_candidate(candidate, weak_model, min_roc_auc=0.5, tolerance=0.02)
    assert beaten.passed and beaten.champion_roc_auc == pytest.approx(_roc_auc(weak_model, evaluation))

    metadata = json.loads((candidate / "metadata.json").read_text())
    metadata["metrics"]["roc_auc"] = 0.6
    (candidate / "metadata.json").write_text(json.dumps(metadata))
    assert "0.6000 is 0.0500 below the floor" in check_candidate(candidate, None, 0.65, 0.02).reason
    del metadata["metrics"]["roc_auc"]
    (candidate / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"metadata.json: metrics.roc_auc must be a number, got None"):
        check_candidate(candidate, None, 0.65, 0.02)
