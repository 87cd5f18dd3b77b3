"""Katib tuning (prod): the Experiment the code builds round-trips through kubeflow-katib's model classes,
searches exactly the KFP tuning grid, runs the project's trial entrypoint in a valid Job, and its best
trial becomes the same candidate ``tune`` picks."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from types import SimpleNamespace

import pandas as pd
import pytest

from lakehouse_ml.training.katib import OBJECTIVE, best_candidate, experiment, parse_params
from lakehouse_ml.training.models import FAMILIES, SEARCH_SPACES, search_grid, tune
from tests.support.deploy_kit import DEPLOY, KUBERNETES_VERSION, load_documents

NAMESPACE = "kubeflow-user"
# Katib's default stdout metrics filter (pkg/metricscollector/v1beta1/common: DefaultFilter)
KATIB_METRIC_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def _experiment(family: str, train_set_uri: str = "s3://lakehouse/kfp/run/train_set"):
    return experiment(
        f"churn-test-{family.replace('_', '-')}",
        family,
        NAMESPACE,
        "registry.example.com/lakehouse-ml:0.1.0",
        train_set_uri,
        ["customer_segment"],
        7,
    )


def _rendered(family: str, **kwargs) -> dict:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(_experiment(family, **kwargs))


def _deserialize(data: dict, kind: str):
    from kubeflow.katib import ApiClient

    return ApiClient().deserialize(SimpleNamespace(data=json.dumps(data)), kind)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_experiment_round_trips_through_the_sdk_models(family):
    original = _experiment(family)
    rendered = _rendered(family)
    restored = _deserialize(rendered, "V1beta1Experiment")
    assert restored == original
    assert rendered["apiVersion"] == "kubeflow.org/v1beta1" and rendered["kind"] == "Experiment"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_experiment_searches_the_kfp_tuning_grid(family):
    spec = _rendered(family)["spec"]
    space = SEARCH_SPACES[family]
    assert {p["name"]: p["feasibleSpace"]["list"] for p in spec["parameters"]} == {
        key: [str(v) for v in values] for key, values in space.items()
    }
    assert spec["algorithm"]["algorithmName"] == "grid"
    assert spec["maxTrialCount"] == len(search_grid(family))
    assert spec["objective"] == {"type": "maximize", "objectiveMetricName": OBJECTIVE}
    template = spec["trialTemplate"]
    assert [(p["name"], p["reference"]) for p in template["trialParameters"]] == [(k, k) for k in space]
    (container,) = template["trialSpec"]["spec"]["template"]["spec"]["containers"]
    assert container["name"] == template["primaryContainerName"]
    assert container["command"] == ["python", "-m", "lakehouse_ml.training.katib_trial"]
    for key in space:
        assert f"--param={key}=${{trialParameters.{key}}}" in container["args"]


def test_the_trial_job_is_valid_kubernetes_with_the_deploy_kits_account_and_secret():
    import kubernetes_validate

    from lakehouse_ml.platform.k8s_names import SECRET_NAME

    template = _rendered("hist_gradient_boosting")["spec"]["trialTemplate"]
    job = json.loads(re.sub(r"\$\{trialParameters\.\w+\}", "1", json.dumps(template["trialSpec"])))
    job["metadata"] = {"name": "trial", "namespace": NAMESPACE}
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    accounts = [
        d for d in load_documents(DEPLOY / "k8s" / "serviceaccounts.yaml") if d["kind"] == "ServiceAccount"
    ]
    assert (NAMESPACE, pod["serviceAccountName"]) in {
        (a["metadata"]["namespace"], a["metadata"]["name"]) for a in accounts
    }
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": SECRET_NAME}}]
    (config,) = [d for d in load_documents(DEPLOY / "k8s" / "configmap.yaml") if d["kind"] == "ConfigMap"]
    assert config["data"]["LAKEHOUSE_KFP_NAMESPACE"] == NAMESPACE


@pytest.fixture
def train_set(tmp_path) -> str:
    from tests.support.synthetic_gold import synthetic_gold

    features, labels = synthetic_gold(customers=150, snapshots=20)
    frame = features.merge(labels, on=["customer_id", "event_timestamp"], how="inner")
    path = tmp_path / "train_set.parquet"
    frame.to_parquet(path, index=False)
    return str(path)


def test_trials_find_the_candidate_tune_finds(train_set):
    from lakehouse_ml.training.katib_trial import main

    family = "logistic_regression"
    container = _rendered(family, train_set_uri=train_set)["spec"]["trialTemplate"]["trialSpec"]["spec"][
        "template"
    ]["spec"]["containers"][0]
    observations = []
    for params in search_grid(family):  # what Katib's grid suggestion assigns, one trial each
        values = {f"${{trialParameters.{key}}}": str(value) for key, value in params.items()}
        args = [
            re.sub(r"\$\{trialParameters\.\w+\}", lambda m, v=values: v[m.group(0)], a)
            for a in container["args"]
        ]
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(args) == 0
        (metric,) = re.findall(KATIB_METRIC_FILTER, out.getvalue())
        assert metric[0] == OBJECTIVE
        observations.append(({k: str(v) for k, v in params.items()}, float(metric[1])))
    best_params, best_score = max(observations, key=lambda o: o[1])

    train = pd.read_parquet(train_set)
    names = [c for c in train.columns if c not in ("customer_id", "event_timestamp", "churned")]
    expected = tune(family, train, names, ["customer_segment"], 7)
    optimal = _deserialize(
        {
            "bestTrialName": "churn-test-logistic-regression-abc123",
            "parameterAssignments": [{"name": k, "value": v} for k, v in best_params.items()],
            "observation": {
                "metrics": [
                    {
                        "name": OBJECTIVE,
                        "latest": str(best_score),
                        "max": str(best_score),
                        "min": str(best_score),
                    }
                ]
            },
        },
        "V1beta1OptimalTrial",
    )
    candidate = best_candidate(family, "churn-test-logistic-regression", optimal, len(observations))
    assert (candidate.params, candidate.score) == (expected.params, expected.score)
    assert candidate.katib_trial == "churn-test-logistic-regression/churn-test-logistic-regression-abc123"


def test_assignments_outside_the_search_space_are_refused():
    with pytest.raises(ValueError, match="not in the search space"):
        parse_params("logistic_regression", {"C": "5.0"})
    with pytest.raises(ValueError, match="expected parameters"):
        parse_params("logistic_regression", {"alpha": "1"})
    with pytest.raises(RuntimeError, match="no successful trial"):
        best_candidate("logistic_regression", "exp", None, 3)


def test_the_katib_pipeline_tunes_through_experiments(tmp_path):
    import yaml

    from lakehouse_ml.training.pipeline import compile_package

    spec = yaml.safe_load(compile_package(tmp_path / "katib.yaml", "katib").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    tuning = {name: task["componentRef"]["name"] for name, task in tasks.items() if name.startswith("tune")}
    assert len(tuning) == 2 and all(ref.startswith("comp-tune-family-katib") for ref in tuning.values())
    assert {"katib_namespace", "s3_endpoint"} <= set(spec["root"]["inputDefinitions"]["parameters"])
    with pytest.raises(ValueError, match="tuner must be one of"):
        compile_package(tmp_path / "bad.yaml", "optuna")


def test_run_experiment_creates_waits_and_reads_the_optimal_trial(monkeypatch):
    """KatibClient replaced by a recording stand-in with its method names and arguments."""
    import kubeflow.katib

    from lakehouse_ml.training.katib import run_experiment

    calls = []

    class StandInKatibClient:
        def __init__(self, namespace=None):
            calls.append(("init", namespace))

        def create_experiment(self, experiment, namespace=None):
            calls.append(("create", experiment.metadata.name, namespace))

        def wait_for_experiment_condition(self, name, namespace=None, timeout=600):
            calls.append(("wait", name, namespace, timeout))

        def get_optimal_hyperparameters(self, name, namespace=None):
            calls.append(("optimal", name, namespace))
            return _deserialize(
                {
                    "bestTrialName": f"{name}-x1",
                    "parameterAssignments": [{"name": "C", "value": "0.1"}],
                    "observation": {"metrics": [{"name": OBJECTIVE, "max": "0.81", "latest": "0.81"}]},
                },
                "V1beta1OptimalTrial",
            )

    import inspect

    for method in (
        "__init__",
        "create_experiment",
        "wait_for_experiment_condition",
        "get_optimal_hyperparameters",
    ):
        ours = inspect.signature(getattr(StandInKatibClient, method)).parameters
        real = inspect.signature(getattr(kubeflow.katib.KatibClient, method)).parameters
        assert set(ours) <= set(real), method
    monkeypatch.setattr(kubeflow.katib, "KatibClient", StandInKatibClient)
    spec = _experiment("logistic_regression")
    candidate = run_experiment(spec, 900)
    name = spec.metadata.name
    assert calls == [
        ("init", NAMESPACE),
        ("create", name, NAMESPACE),
        ("wait", name, NAMESPACE, 900),
        ("optimal", name, NAMESPACE),
    ]
    assert (candidate.family, candidate.params, candidate.score) == ("logistic_regression", {"C": 0.1}, 0.81)
    assert candidate.tried == len(search_grid("logistic_regression"))


def test_the_best_trial_reaches_the_model_metadata_the_asset_publishes(train_set, tmp_path):
    """churn_model copies metadata.json's "tuning" into its 'tuning' metadata."""
    from lakehouse_ml.training.models import Candidate, train_and_evaluate

    frame = pd.read_parquet(train_set)
    last_day = frame["event_timestamp"].max()
    train, evaluation = (
        frame[frame["event_timestamp"] < last_day],
        frame[frame["event_timestamp"] == last_day],
    )
    candidates = [
        Candidate("logistic_regression", {"C": 0.1}, 0.8, 3, "churn-ab-logistic-regression/trial-1"),
        Candidate(
            "hist_gradient_boosting", {"learning_rate": 0.1, "max_leaf_nodes": 15, "max_iter": 100}, 0.7, 2
        ),
    ]
    metadata = train_and_evaluate(train, evaluation, candidates, ["customer_segment"], None, 0.5, 0, tmp_path)
    assert metadata["tuning"]["logistic_regression"]["katib_trial"] == "churn-ab-logistic-regression/trial-1"
    assert "katib_trial" not in metadata["tuning"]["hist_gradient_boosting"]
    assert json.loads((tmp_path / "metadata.json").read_text())["tuning"] == metadata["tuning"]
