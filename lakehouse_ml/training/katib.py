"""Hyperparameter tuning as a Katib ``Experiment`` (prod, ``LAKEHOUSE_TUNING=katib``).

One Experiment per model family, over exactly the grid the KFP tuning tasks search
(``models.SEARCH_SPACES``, Katib's ``grid`` algorithm, one trial per combination). Each trial is a Job in
the project image running ``python -m lakehouse_ml.training.katib_trial``: it fits the candidate on the
earlier training days and prints ``roc_auc=<holdout ROC AUC>``, which Katib's stdout metrics collector
reads; the objective maximises it. The best trial becomes the family's ``Candidate``, as ``tune`` would
return it. kubeflow-katib is imported inside the functions.
"""

from __future__ import annotations

import json

from lakehouse_ml.platform.k8s_names import SECRET_NAME
from lakehouse_ml.training.models import SEARCH_SPACES, Candidate, search_grid

OBJECTIVE = "roc_auc"
TRIAL_CONTAINER = "training"
FAMILY_LABEL = "lakehouse-ml/model-family"
TRIAL_SERVICE_ACCOUNT = "lakehouse-ml-trainer"  # deploy/k8s/serviceaccounts.yaml
MAX_PARALLEL_TRIALS = 3


def _parameter_type(values: list) -> str:
    return "categorical" if any(isinstance(v, str) for v in values) else "discrete"


def experiment(
    name: str,
    family: str,
    namespace: str,
    image: str,
    train_set_uri: str,
    categorical: list[str],
    seed: int,
    s3_endpoint: str | None = None,
):
    """A ``V1beta1Experiment`` tuning ``family`` on the training set at ``train_set_uri``."""
    from kubeflow.katib import models
    from kubernetes.client import V1ObjectMeta

    if family not in SEARCH_SPACES:
        raise ValueError(f"unknown model family {family!r}; known: {list(SEARCH_SPACES)}")
    space = SEARCH_SPACES[family]
    args = [
        f"--family={family}",
        f"--train-set={train_set_uri}",
        f"--categorical={json.dumps(categorical)}",
        f"--seed={seed}",
        *([f"--s3-endpoint={s3_endpoint}"] if s3_endpoint else []),
        *[f"--param={key}=${{trialParameters.{key}}}" for key in space],
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {
                    "serviceAccountName": TRIAL_SERVICE_ACCOUNT,
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": TRIAL_CONTAINER,
                            "image": image,
                            "command": ["python", "-m", "lakehouse_ml.training.katib_trial"],
                            "args": args,
                            "envFrom": [{"secretRef": {"name": SECRET_NAME}}],
                        }
                    ],
                },
            },
        },
    }
    return models.V1beta1Experiment(
        api_version="kubeflow.org/v1beta1",
        kind="Experiment",
        metadata=V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels={"app.kubernetes.io/part-of": "lakehouse-ml", FAMILY_LABEL: family},
        ),
        spec=models.V1beta1ExperimentSpec(
            algorithm=models.V1beta1AlgorithmSpec(algorithm_name="grid"),
            objective=models.V1beta1ObjectiveSpec(type="maximize", objective_metric_name=OBJECTIVE),
            metrics_collector_spec=models.V1beta1MetricsCollectorSpec(
                collector=models.V1beta1CollectorSpec(kind="StdOut")
            ),
            parameters=[
                models.V1beta1ParameterSpec(
                    name=key,
                    parameter_type=_parameter_type(values),
                    feasible_space=models.V1beta1FeasibleSpace(list=[str(v) for v in values]),
                )
                for key, values in space.items()
            ],
            max_trial_count=len(search_grid(family)),
            parallel_trial_count=min(MAX_PARALLEL_TRIALS, len(search_grid(family))),
            max_failed_trial_count=0,
            trial_template=models.V1beta1TrialTemplate(
                primary_container_name=TRIAL_CONTAINER,
                trial_parameters=[models.V1beta1TrialParameterSpec(name=key, reference=key) for key in space],
                trial_spec=job,
            ),
        ),
    )


def parse_params(family: str, assignments: dict[str, str]) -> dict:
    """Katib's string assignments back to the search space's values (their Python types)."""
    space = SEARCH_SPACES[family]
    if set(assignments) != set(space):
        raise ValueError(f"{family}: expected parameters {sorted(space)}, got {sorted(assignments)}")
    params = {}
    for key, text in assignments.items():
        matches = [value for value in space[key] if str(value) == text]
        if not matches:
            raise ValueError(f"{family}: {key}={text!r} is not in the search space {space[key]}")
        params[key] = matches[0]
    return params


def best_candidate(family: str, experiment_name: str, optimal_trial, trials: int) -> Candidate:
    """The family's ``Candidate`` from an Experiment's ``V1beta1OptimalTrial``."""
    if optimal_trial is None or not optimal_trial.observation or not optimal_trial.observation.metrics:
        raise RuntimeError(f"Katib Experiment {experiment_name} has no successful trial")
    (metric,) = [m for m in optimal_trial.observation.metrics if m.name == OBJECTIVE]
    params = parse_params(family, {p.name: p.value for p in optimal_trial.parameter_assignments})
    return Candidate(
        family, params, float(metric.max), trials, f"{experiment_name}/{optimal_trial.best_trial_name}"
    )


def run_experiment(spec, timeout_seconds: int) -> Candidate:
    """Create the Experiment ``spec`` (from ``experiment``) in the cluster, wait for it and return its best
    trial (KatibClient)."""
    from kubeflow.katib import KatibClient

    name, namespace = spec.metadata.name, spec.metadata.namespace
    family = spec.metadata.labels[FAMILY_LABEL]
    client = KatibClient(namespace=namespace)
    client.create_experiment(spec, namespace=namespace)
    client.wait_for_experiment_condition(name, namespace=namespace, timeout=timeout_seconds)
    optimal = client.get_optimal_hyperparameters(name, namespace)
    return best_candidate(family, name, optimal, len(search_grid(family)))
