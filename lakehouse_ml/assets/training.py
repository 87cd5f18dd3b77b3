"""Training: the churn model, trained by a Kubeflow Pipelines run (kfp.local locally)."""

import json

import dagster as dg
from pydantic import Field

from lakehouse_ml.model_artifact import METADATA_FILE
from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS, FeatureSource
from lakehouse_ml.resources.training_pipeline import TrainingPipelineRunner

GROUP = "training"
UPSTREAM = [
    dg.AssetKey("fct_churn_labels"),
    dg.AssetKey("fct_customer_features"),
    dg.AssetKey("feast_definitions"),
]


class ChurnTrainingConfig(dg.Config):
    """Pipeline parameters; the split evaluates on the latest labelled snapshot days and trains on
    days at least ``label_horizon_days`` earlier."""

    feature_source: FeatureSource = Field(
        "feast", description="feast: point-in-time join through Feast; gold: the gold table joined directly"
    )
    label_horizon_days: int = Field(
        LABEL_HORIZON_DAYS, description="days after a snapshot that decide its churn label (dbt's var too)"
    )
    train_snapshots: int = Field(12, description="labelled snapshot days to train on")
    eval_snapshots: int = Field(2, description="latest labelled snapshot days to evaluate on")
    max_training_rows: int = Field(200_000, description="training rows kept (seeded sample above this)")
    seed: int = Field(0, description="seed of sampling, tuning and training")
    threshold: float = Field(0.5, description="churn probability from which a customer is predicted to churn")


@dg.asset(group_name=GROUP, kinds={"kubeflow", "scikit-learn"}, deps=UPSTREAM)
def churn_model(
    context: dg.AssetExecutionContext, config: ChurnTrainingConfig, training_pipeline: TrainingPipelineRunner
) -> dg.Output[dict]:
    """The churn classifier trained on Feast point-in-time features of the gold snapshots.

    Launches the KFP pipeline (training set -> one tuning task per model family -> train the best ->
    evaluate on a later, label-horizon-separated window) and yields the model folder for the
    registry. Gold data is checked first, so one-class, tiny or feature-less data fails here with a
    clear message instead of inside a pipeline run.
    """
    from lakehouse_ml.registry.lineage import build_lineage
    from lakehouse_ml.training.dataset import preflight, split_config
    from lakehouse_ml.training.pipeline import PipelineArguments
    from lakehouse_ml.training.split import TrainingDataError

    arguments = PipelineArguments(**config.model_dump())
    try:
        plan = preflight(
            training_pipeline.gold_uri, split_config(arguments), training_pipeline.storage_options
        )
    except TrainingDataError as err:
        raise dg.Failure(f"training data check failed, no pipeline launched: {err}") from err
    context.log.info(f"training plan: {plan}")
    run = training_pipeline.run(arguments)
    metadata = json.loads((run.model_dir / METADATA_FILE).read_text())
    lineage = build_lineage(
        training_pipeline.gold_uri,
        run.run_id,
        run.pipeline_root,
        metadata["feature_service"],
        training_pipeline.storage_options,
    )
    metrics = metadata["metrics"]
    return dg.Output(
        {"model_dir": run.model_uri or str(run.model_dir), "run_id": run.run_id, "lineage": lineage},
        metadata={
            "kfp_run_id": run.run_id,
            "pipeline_root": dg.MetadataValue.path(run.pipeline_root),
            "compiled_package": dg.MetadataValue.path(str(run.package_path)),
            "model_dir": dg.MetadataValue.path(run.model_uri or str(run.model_dir)),
            "model_family": metadata["model_family"],
            "hyperparameters": dg.MetadataValue.json(metadata["params"]),
            **{name: float(metrics[name]) for name in ("roc_auc", "pr_auc", "f1", "accuracy", "brier")},
            "confusion_matrix": dg.MetadataValue.json({"tn_fp_fn_tp": metrics["confusion_matrix"]}),
            "training_rows": metadata["training_rows"],
            "eval_rows": metrics["eval_rows"],
            "class_balance": float(metadata["class_balance"]),
            "train_window": " .. ".join(metadata["train_window"]),
            "eval_window": " .. ".join(metadata["eval_window"]),
            "tuning": dg.MetadataValue.json(metadata["tuning"]),
            "compute_seconds": dg.MetadataValue.json(run.compute_seconds),
        },
    )
