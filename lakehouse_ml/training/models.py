"""Model families, hyperparameter search, evaluation and the model folder (ARCHITECTURE "Model artifact").

Search is time-respecting: candidates are fitted on the earlier training snapshot days and scored
(ROC AUC) on the latest ones; the chosen candidate is refitted on the whole training window.
Native thread pools are held at one thread: OpenMP spin-waiting on a shared two-core machine made
gradient boosting twenty times slower, and parallelism comes from one pipeline task per family.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE, METADATA_FILE, MODEL_FILE, TRAINING_SET_FILE
from lakehouse_ml.training.dataset import LABEL

SEARCH_SPACES: dict[str, dict[str, list]] = {
    "logistic_regression": {"C": [0.01, 0.1, 1.0]},
    "hist_gradient_boosting": {"learning_rate": [0.1], "max_leaf_nodes": [15, 31], "max_iter": [100]},
}
FAMILIES = tuple(SEARCH_SPACES)
TUNING_HOLDOUT_SHARE = 0.25


@dataclass(frozen=True)
class Candidate:
    family: str
    params: dict
    score: float
    tried: int
    katib_trial: str | None = None  # "<experiment>/<trial>" when a Katib Experiment found it

    def to_json(self) -> str:
        return json.dumps(
            {
                "family": self.family,
                "params": self.params,
                "score": self.score,
                "tried": self.tried,
                "katib_trial": self.katib_trial,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Candidate:
        return cls(**json.loads(text))


def build_model(
    family: str, params: dict, feature_names: list[str], categorical: list[str], seed: int
) -> Pipeline:
    numeric = [c for c in feature_names if c not in categorical]
    if family == "logistic_regression":
        preprocess = ColumnTransformer(
            [
                ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                # no imputer: gold segments are never null, and skl2onnx cannot convert a string imputer
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        )
        estimator = LogisticRegression(max_iter=1000, random_state=seed, **params)
    elif family == "hist_gradient_boosting":
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
        )
        preprocess = ColumnTransformer(
            [("categorical", encoder, categorical), ("numeric", "passthrough", numeric)]
        )
        mask = [True] * len(categorical) + [False] * len(numeric)
        estimator = HistGradientBoostingClassifier(
            categorical_features=mask, early_stopping=False, random_state=seed, **params
        )
    else:
        raise ValueError(f"unknown model family {family!r}; known: {list(FAMILIES)}")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def search_grid(family: str) -> list[dict]:
    space = SEARCH_SPACES[family]
    return [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]


def tuning_split(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    days = sorted(train["event_timestamp"].unique())
    n_holdout = max(1, round(len(days) * TUNING_HOLDOUT_SHARE))
    is_holdout = train["event_timestamp"].isin(days[-n_holdout:])
    return train[~is_holdout], train[is_holdout]


def holdout_score(
    family: str,
    params: dict,
    train: pd.DataFrame,
    feature_names: list[str],
    categorical: list[str],
    seed: int,
) -> float:
    """ROC AUC on the latest training days of a candidate fitted on the earlier ones (one tuning trial)."""
    fit_part, holdout = tuning_split(train)
    model = build_model(family, params, feature_names, categorical, seed)
    with threadpool_limits(limits=1):
        model.fit(fit_part[feature_names], fit_part[LABEL])
    return float(roc_auc_score(holdout[LABEL], model.predict_proba(holdout[feature_names])[:, 1]))


def tune(
    family: str, train: pd.DataFrame, feature_names: list[str], categorical: list[str], seed: int
) -> Candidate:
    best: Candidate | None = None
    grid = search_grid(family)
    for params in grid:
        score = holdout_score(family, params, train, feature_names, categorical, seed)
        if best is None or score > best.score:
            best = Candidate(family, params, score, len(grid))
    return best


def choose(candidates: list[Candidate]) -> Candidate:
    """Best tuning score; ties go to the family listed first (the simpler model)."""
    return max(candidates, key=lambda c: (c.score, -FAMILIES.index(c.family)))


def evaluate(model: Pipeline, frame: pd.DataFrame, feature_names: list[str], threshold: float) -> dict:
    y_true = frame[LABEL].to_numpy()
    proba = model.predict_proba(frame[feature_names])[:, 1]
    y_pred = (proba >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "brier": float(brier_score_loss(y_true, proba)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist(),
        "eval_rows": len(frame),
        "eval_positive_rate": float(y_true.mean()),
    }


def _window(frame: pd.DataFrame) -> list[str]:
    days = frame["event_timestamp"]
    return [days.min().date().isoformat(), days.max().date().isoformat()]


def train_and_evaluate(
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    candidates: list[Candidate],
    categorical: list[str],
    feature_service: str | None,
    threshold: float,
    seed: int,
    out_dir: Path,
) -> dict:
    """Refit the best candidate on the whole training window, evaluate on the later window and
    write the model folder; returns its metadata."""
    feature_names = [c for c in train.columns if c not in ("customer_id", "event_timestamp", LABEL)]
    best = choose(candidates)
    model = build_model(best.family, best.params, feature_names, categorical, seed)
    with threadpool_limits(limits=1):
        model.fit(train[feature_names], train[LABEL])
    metadata = {
        "feature_service": feature_service,
        "feature_names": feature_names,
        "categorical_features": categorical,
        "threshold": threshold,
        "model_family": best.family,
        "params": best.params,
        "metrics": evaluate(model, evaluation, feature_names, threshold),
        "train_window": _window(train),
        "eval_window": _window(evaluation),
        "training_rows": len(train),
        "class_balance": float(train[LABEL].mean()),
        "tuning": {
            c.family: {"params": c.params, "holdout_roc_auc": c.score, "candidates": c.tried}
            | ({"katib_trial": c.katib_trial} if c.katib_trial else {})
            for c in candidates
        },
        "seed": seed,
    }
    write_model_folder(out_dir, model, metadata, train, evaluation)
    return metadata


def write_model_folder(
    out_dir: Path, model: Pipeline, metadata: dict, train: pd.DataFrame, evaluation: pd.DataFrame
) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out_dir / MODEL_FILE)
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    train.to_parquet(out_dir / TRAINING_SET_FILE, index=False)
    evaluation.to_parquet(out_dir / EVALUATION_SET_FILE, index=False)


def load_model(model_dir: Path) -> tuple[Pipeline, dict]:
    model_dir = Path(model_dir)
    return joblib.load(model_dir / MODEL_FILE), json.loads((model_dir / METADATA_FILE).read_text())


def write_export(model_dir: Path, export_uri: str) -> None:
    """Copy the model folder to ``<export_uri>/model/`` (any fsspec URI, e.g. s3://...)."""
    from lakehouse_ml.platform.storage import filesystem

    fs, root = filesystem(export_uri)
    for path in sorted(Path(model_dir).iterdir()):
        fs.put_file(str(path), f"{root.rstrip('/')}/model/{path.name}")
