"""Deployment gate: a candidate must reach an ROC AUC floor and must not lose to the champion by
more than a tolerance, both on the candidate's evaluation set (the same window).

The candidate's ROC AUC is the one training recorded on that set (``metadata.json`` ``metrics``, a
registered, hash-checked file): scoring it again would repeat training's evaluation. Only a champion is
scored here, and only the evaluation set is read for it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE, METADATA_FILE, read_metadata


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str
    candidate_roc_auc: float
    champion_roc_auc: float | None

    def metadata(self) -> dict[str, float | str]:
        values: dict[str, float | str] = {"candidate_roc_auc": self.candidate_roc_auc}
        if self.champion_roc_auc is not None:
            values["champion_roc_auc"] = self.champion_roc_auc
            values["difference"] = self.candidate_roc_auc - self.champion_roc_auc
        return values


def _roc_auc(model_dir: Path, evaluation: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    from lakehouse_ml.training.models import load_model

    model, metadata = load_model(model_dir)
    absent = [c for c in metadata["feature_names"] if c not in evaluation.columns]
    if absent:
        raise ValueError(f"model in {model_dir} needs feature(s) {absent} that the evaluation set lacks")
    return float(
        roc_auc_score(evaluation["churned"], model.predict_proba(evaluation[metadata["feature_names"]])[:, 1])
    )


def recorded_roc_auc(model_dir: Path) -> float:
    """The ROC AUC training recorded on the model's evaluation set."""
    value = (read_metadata(Path(model_dir)).get("metrics") or {}).get("roc_auc")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(
            f"{Path(model_dir) / METADATA_FILE}: metrics.roc_auc must be a number, got {value!r}"
        )
    return float(value)


def check_candidate(
    candidate_dir: Path, champion_dir: Path | None, min_roc_auc: float, tolerance: float
) -> GateResult:
    candidate = recorded_roc_auc(candidate_dir)
    if candidate < min_roc_auc:
        return GateResult(
            False,
            f"ROC AUC {candidate:.4f} is {min_roc_auc - candidate:.4f} below the floor {min_roc_auc:.2f}",
            candidate,
            None,
        )
    if champion_dir is None:
        return GateResult(
            True,
            f"ROC AUC {candidate:.4f} reaches the floor {min_roc_auc:.2f}; no champion yet",
            candidate,
            None,
        )
    champion = _roc_auc(champion_dir, pd.read_parquet(Path(candidate_dir) / EVALUATION_SET_FILE))
    shortfall = champion - candidate
    if shortfall > tolerance:
        return GateResult(
            False,
            f"ROC AUC {candidate:.4f} is {shortfall:.4f} below the champion's {champion:.4f} on the same "
            f"evaluation window (tolerance {tolerance:.2f}, missed by {shortfall - tolerance:.4f})",
            candidate,
            champion,
        )
    return GateResult(
        True,
        f"ROC AUC {candidate:.4f} vs champion {champion:.4f} on the same window (tolerance {tolerance:.2f})",
        candidate,
        champion,
    )
