"""Retrain a registered model from its stored training and evaluation sets (``lakehouse-ml reproduce``).

Run as ``python -m lakehouse_ml.registry.rebuild <registered folder> <output folder>`` from the code
revision the version names: the same search and final fit the pipeline's tune and train components run,
with the seed, threshold, categorical features and feature service the version recorded. A fresh process,
like each pipeline component, because pickle bytes depend on what a process has already interned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from lakehouse_ml.model_artifact import COMPILED_FILE, EVALUATION_SET_FILE, METADATA_FILE, TRAINING_SET_FILE
from lakehouse_ml.model_artifact.onnx_compile import compile_model_folder
from lakehouse_ml.training.dataset import KEYS, LABEL
from lakehouse_ml.training.models import FAMILIES, train_and_evaluate, tune


def rebuild(registered: Path, out: Path) -> dict:
    """Retrain into ``out``; compile it for serving as registration did, when the version was compiled."""
    metadata = json.loads((registered / METADATA_FILE).read_text())
    train = pd.read_parquet(registered / TRAINING_SET_FILE)
    evaluation = pd.read_parquet(registered / EVALUATION_SET_FILE)
    names = [c for c in train.columns if c not in (*KEYS, LABEL)]
    categorical, seed = metadata["categorical_features"], metadata["seed"]
    candidates = [tune(family, train, names, categorical, seed) for family in FAMILIES]
    result = train_and_evaluate(
        train,
        evaluation,
        candidates,
        categorical,
        metadata["feature_service"],
        metadata["threshold"],
        seed,
        out,
    )
    if (registered / COMPILED_FILE).is_file():
        compile_model_folder(out, EVALUATION_SET_FILE)
    return result


if __name__ == "__main__":
    rebuild(Path(sys.argv[1]), Path(sys.argv[2]))
