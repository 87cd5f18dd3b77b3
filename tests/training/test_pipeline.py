"""The KFP pipeline itself: compiles to a package, runs locally through kfp.local's SubprocessRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lakehouse_ml.training.models import FAMILIES
from tests.support.synthetic_gold import write_synthetic_gold

ARGS = {"feature_source": "gold", "train_snapshots": 3, "eval_snapshots": 2, "seed": 0}


def test_pipeline_compiles_to_a_cluster_package(tmp_path: Path):
    from lakehouse_ml.training.pipeline import compile_package

    spec = yaml.safe_load(compile_package(tmp_path / "pipeline.yaml").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert {"build-training-set", "tune-family", "tune-family-2", "train-and-evaluate"} == set(tasks)
    # the two tuning tasks only depend on the training set, so a cluster runs them in parallel
    for name in ("tune-family", "tune-family-2"):
        assert tasks[name].get("dependentTasks") == ["build-training-set"]
    assert set(spec["root"]["outputDefinitions"]["artifacts"]) == {"model", "metrics"}
    evaluation = spec["components"]["comp-train-and-evaluate"]["outputDefinitions"]["artifacts"]
    assert evaluation["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    classification = evaluation["classification_metrics"]["artifactType"]["schemaTitle"]
    assert classification == "system.ClassificationMetrics"
    assert "lakehouse_home" in spec["root"]["inputDefinitions"]["parameters"]
    for executor in spec["deploymentSpec"]["executors"].values():
        assert "pip install" not in " ".join(executor["container"]["command"])


def classification_metrics(run_dir: Path) -> dict:
    """The evaluation task's ClassificationMetrics artifact, as KFP recorded it in its executor output."""
    output = json.loads((run_dir / "train-and-evaluate" / "executor_output.json").read_text())
    (artifact,) = output["artifacts"]["classification_metrics"]["artifacts"]
    return artifact["metadata"]


@pytest.mark.slow
def test_local_run_trains_evaluates_and_reproduces_in_process_bytes(lakehouse_home: Path):
    from lakehouse_ml.training.pipeline import PipelineArguments
    from lakehouse_ml.training.runner import run_local

    write_synthetic_gold(lakehouse_home / "gold", customers=400, snapshots=30)
    run = run_local(
        lakehouse_home, str(lakehouse_home / "gold"), lakehouse_home / "kfp", PipelineArguments(**ARGS)
    )
    assert (
        run.run_id.startswith("churn-training-") and Path(run.pipeline_root).parent == lakehouse_home / "kfp"
    )
    assert run.package_path.exists()
    assert set(run.metrics) >= {"roc_auc", "pr_auc", "f1", "accuracy", "brier", "confusion_matrix"}
    assert set(run.compute_seconds) == {
        "build_training_set",
        *(f"tune_{f}" for f in FAMILIES),
        "train_and_evaluate",
    }
    assert {"model.joblib", "metadata.json", "training_set.parquet"} <= {
        p.name for p in run.model_dir.iterdir()
    }
    drawn = classification_metrics(Path(run.pipeline_root))
    assert [row["row"] for row in drawn["confusionMatrix"]["rows"]] == run.metrics["confusion_matrix"]
    roc = drawn["confidenceMetrics"]
    assert roc[0]["falsePositiveRate"] == 0 and roc[-1]["recall"] == 1

    # The same data and parameters trained outside KFP give the same bytes. That training runs in a
    # fresh process like the component's: pickle output depends on which strings a process has
    # already interned, so bytes are compared between two fresh processes, not with pytest's.
    again = lakehouse_home / "again"
    script = f"""
import json
from pathlib import Path
from lakehouse_ml.training.pipeline import PipelineArguments
from lakehouse_ml.training.runner import train_in_process
home = Path({str(lakehouse_home)!r})
metadata = train_in_process(home, str(home / "gold"), PipelineArguments(**{ARGS!r}), Path({str(again)!r}))
print(json.dumps(metadata["metrics"]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == json.loads(json.dumps(run.metrics))
    assert (again / "model.joblib").read_bytes() == (run.model_dir / "model.joblib").read_bytes()


@pytest.mark.slow
def test_local_run_reports_bad_data_from_inside_the_pipeline(lakehouse_home: Path):
    import pandas as pd

    from lakehouse_ml.training.pipeline import PipelineArguments
    from lakehouse_ml.training.runner import run_local

    gold = write_synthetic_gold(lakehouse_home / "gold", customers=200, snapshots=30)
    labels = pd.read_parquet(gold / "fct_churn_labels.parquet").assign(churned=0)
    labels.to_parquet(gold / "fct_churn_labels.parquet")
    with pytest.raises(RuntimeError, match="build-training-set"):
        run_local(lakehouse_home, str(gold), lakehouse_home / "kfp", PipelineArguments(**ARGS))


def test_cluster_runner_submits_the_package_and_downloads_the_exported_model(tmp_path: Path, monkeypatch):
    """kfp.Client replaced by a stand-in server that "runs" the pipeline by exporting a model folder."""
    import json
    import types

    import kfp

    from lakehouse_ml.training.pipeline import PipelineArguments
    from lakehouse_ml.training.runner import run_on_cluster

    submitted = {}

    class StandInClient:
        def __init__(self, host, namespace=None):
            submitted["host"] = host

        def create_run_from_pipeline_package(self, package, arguments, run_name, **kwargs):
            submitted.update(package=yaml.safe_load(Path(package).read_text()), arguments=arguments, **kwargs)
            model = Path(arguments["export_uri"]) / "model"
            model.mkdir(parents=True)
            (model / "metadata.json").write_text(json.dumps({"metrics": {"roc_auc": 0.8}}))
            (model / "model.joblib").write_bytes(b"model")
            return types.SimpleNamespace(run_id="run-123")

        def wait_for_run_completion(self, run_id, timeout):
            return types.SimpleNamespace(state="SUCCEEDED")

    monkeypatch.setattr(kfp, "Client", StandInClient)
    run = run_on_cluster(
        "http://kfp.example:8888",
        "ml",
        "churn-model",
        "s3://bucket/kfp",
        "/lakehouse",
        "s3://bucket/gold",
        str(tmp_path / "exports"),
        PipelineArguments(seed=7),
        timeout_seconds=60,
    )
    assert submitted["host"] == "http://kfp.example:8888" and submitted["pipeline_root"] == "s3://bucket/kfp"
    assert submitted["arguments"]["seed"] == 7 and submitted["arguments"]["gold_uri"] == "s3://bucket/gold"
    assert "train-and-evaluate" in submitted["package"]["root"]["dag"]["tasks"]
    assert run.run_id == "run-123" and run.metrics == {"roc_auc": 0.8}
    assert (run.model_dir / "model.joblib").read_bytes() == b"model"
    assert (
        run.model_uri
        == f"{tmp_path / 'exports'}/{submitted['arguments']['export_uri'].rsplit('/', 1)[1]}/model"
    )


def test_cluster_package_gives_every_component_the_image_secret_and_config_map(tmp_path: Path):
    from lakehouse_ml.training.pipeline import (
        CONFIG_MAP_ENV,
        OPTIONAL_SECRET_ENV,
        SECRET_ENV,
        PodConfig,
        compile_package,
    )

    pod = PodConfig("registry.example/lakehouse-ml:1.2.3", "ml-secrets", "ml-settings")
    spec, platform = yaml.safe_load_all(compile_package(tmp_path / "pipeline.yaml", pod=pod).read_text())
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {pod.image}
    configs = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(configs) == set(executors)
    for config in configs.values():
        secrets = {(e["secretName"], e.get("optional", False)): e["keyToEnv"] for e in config["secretAsEnv"]}
        assert {m["envVar"] for m in secrets[("ml-secrets", False)]} == set(SECRET_ENV)
        assert {m["envVar"] for m in secrets[("ml-secrets", True)]} == set(OPTIONAL_SECRET_ENV)
        (config_map,) = config["configMapAsEnv"]
        assert config_map["configMapName"] == "ml-settings"
        assert {m["envVar"] for m in config_map["keyToEnv"]} == set(CONFIG_MAP_ENV)


def test_a_cluster_runner_refuses_a_pipeline_root_on_local_disk():
    import dagster as dg

    from lakehouse_ml.resources.training_pipeline import KfpClusterRunner
    from lakehouse_ml.training.pipeline import PipelineArguments

    runner = KfpClusterRunner(
        lakehouse_home="/lakehouse",
        gold_uri="s3://b/gold",
        host="http://kfp",
        pipeline_root="/tmp/kfp",
        export_root="s3://b/exports",
    )
    with pytest.raises(dg.Failure, match="pipeline_root must be an s3:// URI"):
        runner.run(PipelineArguments())
