"""The model artifact contract (docs/ARCHITECTURE.md "Model artifact"): the files of a model folder and
how they are read. Training writes a folder, the registry versions and compiles it, the model server
and monitoring load it; all of them take the names from here.

A folder holds ``model.joblib`` (the scikit-learn pipeline), ``metadata.json`` (feature names, threshold,
metrics, params), the training and evaluation sets as Parquet and, once registered, ``model.onnx`` with
``compiled.json`` (``onnx_compile``), which names the runtime that serves it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
TRAINING_SET_FILE = "training_set.parquet"
EVALUATION_SET_FILE = "evaluation_set.parquet"
ONNX_FILE = "model.onnx"
COMPILED_FILE = "compiled.json"
ONNX_RUNTIME = "onnxruntime"
SKLEARN_RUNTIME = "scikit-learn"


class ModelLoadError(RuntimeError):
    """The model folder is missing, incomplete or does not predict."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def read_compiled(folder: Path) -> dict:
    """The registration's compile record; a folder without one was never compiled."""
    path = folder / COMPILED_FILE
    if not path.exists():
        return {"runtime": SKLEARN_RUNTIME, "reason": f"no {COMPILED_FILE}: not compiled at registration"}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{path}: {err}") from err
