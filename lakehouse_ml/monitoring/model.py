"""The production model as monitoring sees it: its metadata, its training set, its scores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lakehouse_ml.model_artifact import METADATA_FILE, MODEL_FILE, TRAINING_SET_FILE
from lakehouse_ml.monitoring.policy import TriggerPolicy


@dataclass
class MonitoredModel:
    version: str
    folder: Path
    metadata: dict

    @classmethod
    def load(cls, version: str, folder: Path) -> MonitoredModel:
        folder = Path(folder)
        for name in (MODEL_FILE, METADATA_FILE, TRAINING_SET_FILE):
            if not (folder / name).exists():
                raise FileNotFoundError(f"model {version} folder {folder} lacks {name}")
        metadata = json.loads((folder / METADATA_FILE).read_text())
        if not metadata.get("feature_names"):
            raise ValueError(f"model {version} metadata.json has no feature_names")
        return cls(version=version, folder=folder, metadata=metadata)

    @property
    def feature_names(self) -> list[str]:
        return list(self.metadata["feature_names"])

    @property
    def categorical_features(self) -> list[str]:
        return [c for c in self.metadata.get("categorical_features", []) if c in self.feature_names]

    @property
    def numerical_features(self) -> list[str]:
        return [c for c in self.feature_names if c not in self.categorical_features]

    @property
    def threshold(self) -> float:
        return float(self.metadata.get("threshold", 0.5))

    def training_set(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / TRAINING_SET_FILE)

    def scores(self, frame: pd.DataFrame) -> pd.Series:
        """Churn probability per row of ``frame`` (which must hold the model's feature columns)."""
        import joblib

        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"cannot score with model {self.version}: frame lacks features {missing}")
        estimator = joblib.load(self.folder / MODEL_FILE)
        return pd.Series(estimator.predict_proba(frame[self.feature_names])[:, 1], index=frame.index)


def latest_snapshot(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the newest ``event_timestamp``: one comparable cross-section of the customer base."""
    if frame.empty:
        return frame
    stamps = pd.to_datetime(frame["event_timestamp"])
    return frame[stamps == stamps.max()]


def active_customers(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers with an order in the last 90 days; long-gone customers only add ageing noise."""
    return frame[frame["order_count_90d"] > 0]


def compared_customers(frame: pd.DataFrame, policy: TriggerPolicy) -> pd.DataFrame:
    """The rows a drift or concept comparison uses: the active customers if ``policy.active_only``."""
    return active_customers(frame) if policy.active_only else frame
