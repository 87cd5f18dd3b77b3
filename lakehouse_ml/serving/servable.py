"""Load a model folder (``lakehouse_ml.model_artifact``) into something the server can call.

A folder compiled at registration (``compiled.json`` naming onnxruntime) is scored by onnxruntime on
one thread, after its ``model.onnx`` matches the recorded sha256; ``model.joblib`` is then never
unpickled. Any other folder is scored by its scikit-learn pipeline, and says so in the log and in the
model metadata the server publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lakehouse_ml.model_artifact import (
    COMPILED_FILE,
    MODEL_FILE,
    ONNX_FILE,
    ONNX_RUNTIME,
    SKLEARN_RUNTIME,
    ModelLoadError,
    read_compiled,
    read_metadata,
    sha256_bytes,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServableModel:
    version: str
    feature_names: tuple[str, ...]
    threshold: float
    predict_columns: Callable[[Mapping[str, Sequence]], np.ndarray]
    runtime: str

    def predict_rows(self, rows: list[list]) -> np.ndarray:
        """Churn probabilities of ``rows`` (values in ``feature_names`` order)."""
        return self.predict_columns(dict(zip(self.feature_names, zip(*rows, strict=True), strict=True)))


def load_servable(version: str, folder: Path) -> ServableModel:
    metadata = read_metadata(folder)
    names = tuple(metadata["feature_names"])
    compiled = read_compiled(folder)
    if compiled.get("runtime") == ONNX_RUNTIME:
        predict, runtime = _onnx_predictor(folder, compiled, names), ONNX_RUNTIME
    else:
        logger.warning("version %s is served by scikit-learn: %s", version, compiled.get("reason"))
        predict, runtime = _sklearn_predictor(folder, names), SKLEARN_RUNTIME
    return ServableModel(
        version=version,
        feature_names=names,
        threshold=float(metadata.get("threshold", 0.5)),
        predict_columns=predict,
        runtime=runtime,
    )


def _onnx_predictor(folder: Path, compiled: dict, names: tuple[str, ...]):
    from lakehouse_ml.model_artifact.onnx_compile import onnx_probabilities, onnx_session

    path = folder / compiled.get("onnx_file", ONNX_FILE)
    try:
        model = path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"{path}: {err}") from err
    if sha256_bytes(model) != compiled.get("onnx_sha256"):
        raise ModelLoadError(f"{path}: sha256 does not match {COMPILED_FILE}")
    try:
        session = onnx_session(model)
    except Exception as err:  # onnxruntime raises its own exception types for a broken model
        raise ModelLoadError(f"{path}: onnxruntime cannot load it: {err}") from err
    inputs = sorted(spec.name for spec in session.get_inputs())
    if inputs != sorted(names):
        raise ModelLoadError(f"{path}: inputs {inputs} are not the artifact's feature_names {list(names)}")

    def predict(columns: Mapping[str, Sequence]) -> np.ndarray:
        return onnx_probabilities(session, columns)

    return predict


def _sklearn_predictor(folder: Path, names: tuple[str, ...]):
    import joblib
    import pandas as pd

    try:
        pipeline = joblib.load(folder / MODEL_FILE)
    except Exception as err:  # a corrupt pickle can raise almost anything
        raise ModelLoadError(f"{folder / MODEL_FILE}: cannot load: {err}") from err
    if not hasattr(pipeline, "predict_proba"):
        raise ModelLoadError(f"{folder / MODEL_FILE}: {type(pipeline).__name__} has no predict_proba")

    def predict(columns: Mapping[str, Sequence]) -> np.ndarray:
        return pipeline.predict_proba(pd.DataFrame({name: columns[name] for name in names}))[:, 1]

    return predict
