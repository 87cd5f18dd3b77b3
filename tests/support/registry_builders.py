"""Real model folders and git calls for registry tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from lakehouse_ml.training.dataset import SplitConfig, build_training_data
from lakehouse_ml.training.models import FAMILIES, train_and_evaluate, tune
from tests.support.synthetic_gold import write_synthetic_gold


def make_model(root: Path, label_noise: float = 0.0, seed: int = 0) -> Path:
    """A real model folder; ``label_noise`` flips that share of training labels (a worse model)."""
    home = root / f"train-{label_noise}-{seed}"
    write_synthetic_gold(home / "gold", customers=300, snapshots=30, seed=seed)
    data = build_training_data(
        home, str(home / "gold"), "gold", SplitConfig(train_snapshots=3, eval_snapshots=2)
    )
    train = data.train.copy()
    flip = np.random.default_rng(1).random(len(train)) < label_noise
    train.loc[flip, "churned"] = 1 - train.loc[flip, "churned"]
    candidates = [tune(f, train, data.feature_names, data.categorical_features, 0) for f in FAMILIES]
    train_and_evaluate(
        train, data.evaluation, candidates, data.categorical_features, "churn_v1", 0.5, 0, home / "model"
    )
    return home / "model"


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()
