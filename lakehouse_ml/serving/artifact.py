"""Load a model folder (docs/ARCHITECTURE.md "Model artifact") into something the server can call."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lakehouse_ml.serving.fastpath import compile_rows

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
TRAINING_SET_FILE = "training_set.parquet"
VERIFY_ROWS = 256


class ModelLoadError(RuntimeError):
    """The model folder is missing, incomplete or does not predict."""


@dataclass(frozen=True)
class ServableModel:
    version: str
    feature_names: tuple[str, ...]
    threshold: float
    predict_rows: Callable[[list[list]], np.ndarray]
    fast_path: bool


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(folder: Path) -> dict:
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{folder / METADATA_FILE}: {err}") from err
    names = metadata.get("feature_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelLoadError(f"{folder / METADATA_FILE}: feature_names must be a non-empty list of strings")
    threshold = metadata.get("threshold", 0.5)
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ModelLoadError(
            f"{folder / METADATA_FILE}: threshold must be a number in [0, 1], got {threshold!r}"
        )
    return metadata


def load_servable(version: str, folder: Path) -> ServableModel:
    """Load ``model.joblib`` and ``metadata.json``; use the numpy fast path only when it agrees exactly."""
    import joblib
    import pandas as pd

    metadata = read_metadata(folder)
    names = tuple(metadata["feature_names"])
    try:
        pipeline = joblib.load(folder / MODEL_FILE)
    except Exception as err:  # a corrupt pickle can raise almost anything
        raise ModelLoadError(f"{folder / MODEL_FILE}: cannot load: {err}") from err
    if not hasattr(pipeline, "predict_proba"):
        raise ModelLoadError(f"{folder / MODEL_FILE}: {type(pipeline).__name__} has no predict_proba")

    def predict_frame(rows: list[list]) -> np.ndarray:
        return pipeline.predict_proba(pd.DataFrame(rows, columns=list(names)))[:, 1]

    sample = _verification_rows(folder, names)
    fast = compile_rows(pipeline, names)
    if fast is not None and (sample is None or not _agrees(fast, predict_frame, sample)):
        fast = None
    return ServableModel(
        version=version,
        feature_names=names,
        threshold=float(metadata.get("threshold", 0.5)),
        predict_rows=fast or predict_frame,
        fast_path=fast is not None,
    )


def _verification_rows(folder: Path, names: tuple[str, ...]) -> list[list] | None:
    import pandas as pd

    path = folder / TRAINING_SET_FILE
    if not path.exists():
        return None
    frame = pd.read_parquet(path, columns=list(names)).head(VERIFY_ROWS)
    return frame.astype(object).values.tolist() if len(frame) else None


def _agrees(fast, slow, rows: list[list]) -> bool:
    try:
        return bool(np.allclose(fast(rows), slow(rows), rtol=0, atol=1e-9))
    except Exception:  # any failure of the fast path means: use the pipeline itself
        return False
