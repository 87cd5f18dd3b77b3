"""Curves of a model folder's scores on its evaluation set, in the tables that KFP's
``ClassificationMetrics`` and the registry's DVC plots take (ROC, precision-recall, calibration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE
from lakehouse_ml.training.dataset import LABEL

MAX_CURVE_POINTS = 200
CALIBRATION_BINS = 10


def evaluation_scores(model_dir: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Actual labels, churn probabilities and the threshold, on the folder's evaluation set."""
    from lakehouse_ml.training.models import load_model

    model, metadata = load_model(model_dir)
    evaluation = pd.read_parquet(Path(model_dir) / EVALUATION_SET_FILE)
    score = model.predict_proba(evaluation[metadata["feature_names"]])[:, 1]
    return evaluation[LABEL].astype(int).to_numpy(), score, float(metadata["threshold"])


def thin(frame: pd.DataFrame, limit: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """At most ``limit`` evenly spaced rows, the first and last kept (a curve keeps its ends)."""
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.unique(np.linspace(0, len(frame) - 1, limit).round().astype(int))]


def roc_table(actual: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """``fpr``, ``tpr``, ``threshold``; scikit-learn's first threshold (infinity) is written as 1."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(actual, score)
    return thin(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds.clip(max=1.0)}))


def precision_recall_table(actual: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(actual, score)
    return thin(pd.DataFrame({"recall": recall[:-1], "precision": precision[:-1], "threshold": thresholds}))


def calibration_table(actual: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    from sklearn.calibration import calibration_curve

    fraction, mean_predicted = calibration_curve(actual, score, n_bins=CALIBRATION_BINS, strategy="quantile")
    return pd.DataFrame({"mean_predicted": mean_predicted, "fraction_positive": fraction})
