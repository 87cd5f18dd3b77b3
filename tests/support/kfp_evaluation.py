"""A one-task KFP pipeline around the evaluation component, for checking what it records (executor output)
without the whole training pipeline: both data sets come in through ``dsl.importer`` from an existing model
folder, the tuned candidates as the JSON the tuning tasks return. No postponed annotations: kfp reads them."""

import json
import warnings
from pathlib import Path

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE, METADATA_FILE, TRAINING_SET_FILE

PIPELINE_NAME = "evaluation-only"


def run_evaluation_only(model_dir: Path, pipeline_root: Path) -> Path:
    """Run ``train_and_evaluate`` under kfp.local on ``model_dir``'s data sets; its executor_output.json."""
    import kfp.local
    import pandas as pd
    from kfp import dsl
    from kfp.dsl import Dataset

    from lakehouse_ml.training import components
    from lakehouse_ml.training.component_worker import shared_interpreter
    from lakehouse_ml.training.dataset import KEYS, LABEL
    from lakehouse_ml.training.models import FAMILIES, tune

    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    categorical = metadata["categorical_features"]
    train = pd.read_parquet(model_dir / TRAINING_SET_FILE)
    names = [c for c in train.columns if c not in (*KEYS, LABEL)]
    tuned = {
        family: json.dumps(
            {
                "candidate": json.loads(tune(family, train, names, categorical, 0).to_json()),
                "compute_seconds": 0.0,
            }
        )
        for family in FAMILIES
    }
    summary = json.dumps(
        {
            "categorical_features": categorical,
            "feature_service": metadata["feature_service"],
            "compute_seconds": 0.0,
        }
    )

    @dsl.pipeline(name=PIPELINE_NAME)
    def evaluation_only(train_uri: str, eval_uri: str):
        train_set = dsl.importer(artifact_uri=train_uri, artifact_class=Dataset)
        eval_set = dsl.importer(artifact_uri=eval_uri, artifact_class=Dataset)
        components.train_and_evaluate(
            train_set=train_set.output,
            eval_set=eval_set.output,
            summary=summary,
            threshold=metadata["threshold"],
            seed=0,
            export_uri="",
            **tuned,
        )

    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    with warnings.catch_warnings(), shared_interpreter():  # as training/runner.py runs the components
        warnings.filterwarnings("ignore", message=".*non-Python base image", category=RuntimeWarning)
        evaluation_only(
            train_uri=str(model_dir / TRAINING_SET_FILE), eval_uri=str(model_dir / EVALUATION_SET_FILE)
        )
    (output,) = pipeline_root.glob(f"{PIPELINE_NAME}-*/train-and-evaluate/executor_output.json")
    return output
