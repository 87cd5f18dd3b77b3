"""A numpy re-implementation of common scikit-learn preprocessing, for single-row latency.

A fitted ``Pipeline`` spends about 3 ms per one-row DataFrame in pandas indexing and input validation,
more than the whole latency budget of the model server. For pipelines built only from the steps below
the server instead transforms plain rows (lists in ``feature_names`` order) with numpy and hands the
final estimator a float matrix. ``compile_rows`` returns ``None`` for anything it does not know, and
the caller verifies the result against the real pipeline before trusting it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


def compile_rows(pipeline, feature_names: Sequence[str]) -> Callable[[list[list]], np.ndarray] | None:
    """Return ``rows -> churn probabilities`` equivalent to ``pipeline.predict_proba`` or ``None``."""
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or not hasattr(pipeline[-1], "predict_proba"):
        return None
    columns = {name: index for index, name in enumerate(feature_names)}
    steps = []
    for _, step in pipeline.steps[:-1]:
        transform = _compile_step(step, columns)
        if transform is None:
            return None
        steps.append(transform)
        columns = None  # after the first step, columns are positional only
    probability = _compile_estimator(pipeline[-1])

    def predict(rows: list[list]) -> np.ndarray:
        matrix = np.array(rows, dtype=object)
        for transform in steps:
            matrix = transform(matrix)
        return probability(np.asarray(matrix, dtype=np.float64))

    return predict


def _compile_estimator(estimator) -> Callable[[np.ndarray], np.ndarray]:
    """Binary logistic regression directly (its input validation costs more than the maths)."""
    from sklearn.linear_model import LogisticRegression

    if isinstance(estimator, LogisticRegression) and len(estimator.classes_) == 2:
        coef, intercept = estimator.coef_[0].copy(), float(estimator.intercept_[0])
        return lambda matrix: 1.0 / (1.0 + np.exp(-(matrix @ coef + intercept)))
    return lambda matrix: estimator.predict_proba(matrix)[:, 1]


def _compile_step(step, columns: dict[str, int] | None) -> Transform | None:
    from sklearn.compose import ColumnTransformer

    if isinstance(step, ColumnTransformer):
        return _compile_column_transformer(step, columns)
    return _compile_leaf(step)


def _compile_column_transformer(transformer, columns: dict[str, int] | None) -> Transform | None:
    parts: list[tuple[np.ndarray, Transform | None]] = []
    for _, inner, selection in transformer.transformers_:
        indices = _indices(selection, columns)
        if indices is None:
            return None
        if isinstance(inner, str) and inner == "drop" or len(indices) == 0:
            continue
        if isinstance(inner, str) and inner == "passthrough" or _is_identity(inner):
            parts.append((indices, None))
            continue
        compiled = _compile_leaf(inner)
        if compiled is None:
            return None
        parts.append((indices, compiled))

    def transform(matrix: np.ndarray) -> np.ndarray:
        blocks = []
        for indices, compiled in parts:
            block = matrix[:, indices]
            blocks.append(compiled(block) if compiled else block.astype(np.float64))
        return np.hstack(blocks) if blocks else np.empty((matrix.shape[0], 0))

    return transform


def _indices(selection, columns: dict[str, int] | None) -> np.ndarray | None:
    if isinstance(selection, str):
        selection = [selection]
    if isinstance(selection, slice) or callable(selection):
        return None
    selection = list(selection)
    if all(isinstance(item, str) for item in selection):
        if columns is None or any(item not in columns for item in selection):
            return None
        return np.array([columns[item] for item in selection], dtype=np.intp)
    if all(isinstance(item, bool | np.bool_) for item in selection):
        return np.flatnonzero(selection)
    if all(isinstance(item, int | np.integer) for item in selection):
        return np.array(selection, dtype=np.intp)
    return None


def _compile_leaf(step) -> Transform | None:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

    if isinstance(step, Pipeline):
        inner = [_compile_leaf(s) for _, s in step.steps]
        if any(t is None for t in inner):
            return None

        def chain(matrix: np.ndarray) -> np.ndarray:
            for transform in inner:
                matrix = transform(matrix)
            return matrix

        return chain
    if isinstance(step, str) and step == "passthrough" or step is None or _is_identity(step):
        return lambda matrix: matrix.astype(np.float64)
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda matrix: (matrix.astype(np.float64) - mean) / scale
    if isinstance(step, MinMaxScaler) and not step.clip:
        return lambda matrix: matrix.astype(np.float64) * step.scale_ + step.min_
    if isinstance(step, SimpleImputer) and not step.add_indicator:
        return _compile_imputer(step)
    if isinstance(step, OneHotEncoder):
        return _compile_one_hot(step)
    if isinstance(step, OrdinalEncoder):
        return _compile_ordinal(step)
    return None


def _is_identity(step) -> bool:
    """A fitted ColumnTransformer stores "passthrough" as a FunctionTransformer without a function."""
    from sklearn.preprocessing import FunctionTransformer

    return isinstance(step, FunctionTransformer) and step.func is None and not step.validate


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _compile_imputer(imputer) -> Transform | None:
    if not (imputer.missing_values is None or _is_missing(imputer.missing_values)):
        return None
    statistics = np.asarray(imputer.statistics_)
    if np.issubdtype(statistics.dtype, np.number):
        numeric = statistics.astype(np.float64)

        def impute_numbers(matrix: np.ndarray) -> np.ndarray:
            values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=np.float64)
            missing = np.isnan(values)
            return np.where(missing, numeric, values) if missing.any() else values

        return impute_numbers

    def impute_objects(matrix: np.ndarray) -> np.ndarray:
        out = matrix.copy()
        for (row, column), value in np.ndenumerate(matrix):
            if _is_missing(value):
                out[row, column] = statistics[column]
        return out

    return impute_objects


def _compile_one_hot(encoder) -> Transform | None:
    if encoder.drop_idx_ is not None or getattr(encoder, "_infrequent_enabled", False):
        return None
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist", "warn"):
        return None
    lookups = [{value: index for index, value in enumerate(cats)} for cats in encoder.categories_]
    offsets = np.cumsum([0] + [len(cats) for cats in encoder.categories_])
    width = int(offsets[-1])

    def transform(matrix: np.ndarray) -> np.ndarray:
        out = np.zeros((matrix.shape[0], width))
        for column, lookup in enumerate(lookups):
            for row, value in enumerate(matrix[:, column]):
                index = lookup.get(value)
                if index is not None:
                    out[row, offsets[column] + index] = 1.0
        return out

    return transform


def _compile_ordinal(encoder) -> Transform | None:
    if encoder.handle_unknown != "use_encoded_value" or getattr(encoder, "_infrequent_enabled", False):
        return None
    unknown, missing = float(encoder.unknown_value), float(encoder.encoded_missing_value)
    lookups = [
        {value: float(index) for index, value in enumerate(cats) if not _is_missing(value)}
        for cats in encoder.categories_
    ]

    def transform(matrix: np.ndarray) -> np.ndarray:
        out = np.empty(matrix.shape, dtype=np.float64)
        for column, lookup in enumerate(lookups):
            values = matrix[:, column]
            out[:, column] = [missing if _is_missing(v) else lookup.get(v, unknown) for v in values]
        return out

    return transform
