"""KFP v2 lightweight components of the training pipeline (no postponed annotations: kfp reads them).

Each component is a thin wrapper: project code is imported inside the function body (the
subprocess runs in this environment locally, in the project image on a cluster), and the work
happens in plain, tested modules. Every component records the seconds spent computing, after its
imports, so process and artifact-passing overhead can be told apart from the work.
"""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from lakehouse_ml.platform.settings import (
    DEFAULT_IMAGE,  # on a cluster, the configured image replaces it per task
)


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def build_training_set(
    lakehouse_home: str,
    gold_uri: str,
    feature_source: str,
    label_horizon_days: int,
    train_snapshots: int,
    eval_snapshots: int,
    max_training_rows: int,
    seed: int,
    train_set: Output[Dataset],
    eval_set: Output[Dataset],
) -> str:
    """Labels from gold -> point-in-time features -> time split; returns the split as JSON."""
    import json
    import time
    from pathlib import Path

    from lakehouse_ml.training.dataset import SplitConfig, build_training_data

    if feature_source == "feast":
        import feast  # noqa: F401  (its import is process overhead, not work)

    start = time.perf_counter()
    config = SplitConfig(
        label_horizon_days=label_horizon_days,
        train_snapshots=train_snapshots,
        eval_snapshots=eval_snapshots,
        max_training_rows=max_training_rows,
        seed=seed,
    )
    data = build_training_data(
        Path(lakehouse_home), gold_uri or f"{lakehouse_home}/gold", feature_source, config
    )
    data.train.to_parquet(train_set.path, index=False)
    data.evaluation.to_parquet(eval_set.path, index=False)
    summary = {
        **data.split.as_dict(),
        "feature_service": data.feature_service,
        "categorical_features": data.categorical_features,
        "training_rows": len(data.train),
        "eval_rows": len(data.evaluation),
        "compute_seconds": time.perf_counter() - start,
    }
    train_set.metadata.update({"rows": len(data.train), "window": summary["train_window"]})
    eval_set.metadata.update({"rows": len(data.evaluation), "window": summary["eval_window"]})
    return json.dumps(summary)


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def tune_family(family: str, train_set: Input[Dataset], summary: str, seed: int) -> str:
    """Hyperparameter search for one model family; returns the best candidate as JSON."""
    import json
    import time

    import pandas as pd

    from lakehouse_ml.training.models import tune

    start = time.perf_counter()
    train = pd.read_parquet(train_set.path)
    info = json.loads(summary)
    names = [c for c in train.columns if c not in ("customer_id", "event_timestamp", "churned")]
    candidate = tune(family, train, names, info["categorical_features"], seed)
    return json.dumps(
        {"candidate": json.loads(candidate.to_json()), "compute_seconds": time.perf_counter() - start}
    )


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def tune_family_katib(
    family: str,
    train_set: Input[Dataset],
    summary: str,
    seed: int,
    namespace: str,
    image: str,
    s3_endpoint: str,
    timeout_seconds: int,
    run_id: str,
) -> str:
    """The same search as ``tune_family``, run as a Katib Experiment; returns its best trial as JSON."""
    import json
    import time

    from lakehouse_ml.training.katib import experiment, run_experiment

    start = time.perf_counter()
    name = f"churn-{run_id[:8]}-{family.replace('_', '-')}"
    categorical = json.loads(summary)["categorical_features"]
    spec = experiment(name, family, namespace, image, train_set.uri, categorical, seed, s3_endpoint or None)
    candidate = run_experiment(spec, timeout_seconds)
    return json.dumps(
        {"candidate": json.loads(candidate.to_json()), "compute_seconds": time.perf_counter() - start}
    )


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def train_and_evaluate(
    train_set: Input[Dataset],
    eval_set: Input[Dataset],
    summary: str,
    logistic_regression: str,
    hist_gradient_boosting: str,
    threshold: float,
    seed: int,
    export_uri: str,
    model: Output[Model],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
):
    """Refit the best tuned candidate on the training window, evaluate on the later window and
    write the model folder; optionally copy it to ``export_uri`` (object storage on a cluster).
    Scalar metrics go to ``metrics``; the confusion matrix and ROC curve on the evaluation set to
    ``classification_metrics``, which the KFP UI draws."""
    import json
    import time
    from pathlib import Path

    import pandas as pd

    from lakehouse_ml.training.curves import evaluation_scores, roc_table
    from lakehouse_ml.training.models import Candidate, train_and_evaluate, write_export

    start = time.perf_counter()
    info = json.loads(summary)
    tuned = [json.loads(text) for text in (logistic_regression, hist_gradient_boosting)]
    metadata = train_and_evaluate(
        pd.read_parquet(train_set.path),
        pd.read_parquet(eval_set.path),
        [Candidate(**t["candidate"]) for t in tuned],
        info["categorical_features"],
        info["feature_service"],
        threshold,
        seed,
        Path(model.path),
    )
    if export_uri:
        write_export(Path(model.path), export_uri)
    compute = {
        "build_training_set": info["compute_seconds"],
        **{f"tune_{t['candidate']['family']}": t["compute_seconds"] for t in tuned},
        "train_and_evaluate": time.perf_counter() - start,
    }
    model.metadata.update(
        {"model_family": metadata["model_family"], "params": json.dumps(metadata["params"])}
    )
    for name, value in metadata["metrics"].items():
        if isinstance(value, float):
            metrics.log_metric(name, value)
    metrics.metadata["confusion_matrix"] = json.dumps(metadata["metrics"]["confusion_matrix"])
    classification_metrics.log_confusion_matrix(
        ["stayed", "churned"], metadata["metrics"]["confusion_matrix"]
    )
    roc = roc_table(*evaluation_scores(Path(model.path))[:2])
    classification_metrics.log_roc_curve(roc["fpr"].tolist(), roc["tpr"].tolist(), roc["threshold"].tolist())
    metrics.metadata["compute_seconds"] = json.dumps(compute)
