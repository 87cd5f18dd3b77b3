"""The churn training pipeline (KFP v2): training set -> one tuning task per model family (or, in prod
with ``LAKEHOUSE_TUNING=katib``, one Katib Experiment per family) -> train the best -> evaluate. Runs
locally through ``kfp.local`` and compiles to a package for a cluster; both paths are driven by
``lakehouse_ml.resources.training_pipeline``.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kfp import compiler, dsl
from kfp.dsl import Metrics, Model

from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS
from lakehouse_ml.platform.k8s_names import CONFIG_MAP_NAME, FEATURE_STORE_ENV, SECRET_NAME
from lakehouse_ml.platform.settings import DEFAULT_IMAGE
from lakehouse_ml.training import components

PIPELINE_NAME = "churn-training"


class PipelineOutputs(NamedTuple):
    model: Model
    metrics: Metrics


@dataclass(frozen=True)
class PodConfig:
    """What each component pod gets on a cluster: the project image, and its configuration as
    environment variables from a Secret (credentials) and a ConfigMap (plain settings)."""

    image: str
    secret_name: str = SECRET_NAME
    config_map_name: str = CONFIG_MAP_NAME


# Secret keys the components need (the Feast registry and Redis URLs carry passwords) ...
SECRET_ENV = FEATURE_STORE_ENV
# ... S3 credentials, optional in the Secret (an IAM role for the service account may provide them) ...
OPTIONAL_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# ... and the plain settings from the ConfigMap.
CONFIG_MAP_ENV = ("LAKEHOUSE_PROFILE", "LAKEHOUSE_S3_ENDPOINT", "LAKEHOUSE_GOLD_URI")
TUNERS = ("kfp", "katib")  # kfp: one tuning task per family; katib: one Katib Experiment per family
KATIB_TIMEOUT_SECONDS = 3600


def build_pipeline(tuner: str = "kfp", pod: PodConfig | None = None):
    """The pipeline function. ``tuner`` picks how each family is tuned (the same search space either
    way); with ``pod``, every task runs in ``pod.image`` with its environment."""
    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {TUNERS}, got {tuner!r}")

    def configured(task):
        if pod is None:
            return task
        from kfp import kubernetes

        task.set_container_image(pod.image)
        kubernetes.use_secret_as_env(task, pod.secret_name, {key: key for key in SECRET_ENV})
        kubernetes.use_secret_as_env(
            task, pod.secret_name, {key: key for key in OPTIONAL_SECRET_ENV}, optional=True
        )
        kubernetes.use_config_map_as_env(task, pod.config_map_name, {key: key for key in CONFIG_MAP_ENV})
        return task

    @dsl.pipeline(
        name=PIPELINE_NAME, description="Churn model: point-in-time training set, tuning, evaluation"
    )
    def churn_training_pipeline(
        lakehouse_home: str,
        gold_uri: str = "",
        feature_source: str = "feast",
        label_horizon_days: int = LABEL_HORIZON_DAYS,
        train_snapshots: int = 12,
        eval_snapshots: int = 2,
        max_training_rows: int = 200_000,
        seed: int = 0,
        threshold: float = 0.5,
        export_uri: str = "",
        katib_namespace: str = "",
        s3_endpoint: str = "",
    ) -> PipelineOutputs:
        data = configured(
            components.build_training_set(
                lakehouse_home=lakehouse_home,
                gold_uri=gold_uri,
                feature_source=feature_source,
                label_horizon_days=label_horizon_days,
                train_snapshots=train_snapshots,
                eval_snapshots=eval_snapshots,
                max_training_rows=max_training_rows,
                seed=seed,
            )
        )
        data.set_caching_options(False)
        tuned = {}
        for family in ("logistic_regression", "hist_gradient_boosting"):
            inputs = dict(
                family=family, train_set=data.outputs["train_set"], summary=data.outputs["Output"], seed=seed
            )
            if tuner == "katib":
                task = components.tune_family_katib(
                    **inputs,
                    namespace=katib_namespace,
                    image=pod.image if pod else DEFAULT_IMAGE,
                    s3_endpoint=s3_endpoint,
                    timeout_seconds=KATIB_TIMEOUT_SECONDS,
                    run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                )
            else:
                task = components.tune_family(**inputs)
            configured(task).set_display_name(f"tune-{family.replace('_', '-')}")
            tuned[family] = task.output
        final = configured(
            components.train_and_evaluate(
                train_set=data.outputs["train_set"],
                eval_set=data.outputs["eval_set"],
                summary=data.outputs["Output"],
                threshold=threshold,
                seed=seed,
                export_uri=export_uri,
                **tuned,
            )
        )
        return PipelineOutputs(model=final.outputs["model"], metrics=final.outputs["metrics"])

    return churn_training_pipeline


churn_training_pipeline = build_pipeline()


@dataclass(frozen=True)
class PipelineArguments:
    """Parameters of one run (everything but where the data lives)."""

    feature_source: str = "feast"
    label_horizon_days: int = LABEL_HORIZON_DAYS
    train_snapshots: int = 12
    eval_snapshots: int = 2
    max_training_rows: int = 200_000
    seed: int = 0
    threshold: float = 0.5


@dataclass
class TrainingRun:
    """What a finished run hands to the registry: the model folder and where it came from."""

    run_id: str
    pipeline_root: str
    model_dir: Path
    metrics: dict
    package_path: Path
    compute_seconds: dict = field(default_factory=dict)
    model_uri: str | None = None  # where another step or pod reads the model folder; None: model_dir


def compile_package(path: Path, tuner: str = "kfp", pod: PodConfig | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(tuner, pod), package_path=str(path))
    return path
