"""Compile a trained pipeline to ONNX and prove it scores exactly like scikit-learn.

Why skl2onnx alone is not exact for the training stage's models:

- its HistGradientBoosting converter writes every split as ``x <= num_threshold``: a native categorical
  split (a bitset of categories going left) becomes a meaningless threshold, so rows take the wrong
  branch (probabilities off by up to 0.19);
- ``TreeEnsembleClassifier`` (ai.onnx.ml < 5) holds thresholds and leaf values in float32, so a value
  within float32 rounding of a float64 threshold flips sides;
- its numeric ``SimpleImputer`` becomes an ai.onnx.ml ``Imputer`` with float32 fill values, which
  onnxruntime does not run on double inputs at all.

Gradient boosting and numeric imputation are therefore converted here: the imputer as
``Where(IsNaN(x), median, x)`` in double, gradient boosting into ai.onnx.ml 5 ``TreeEnsemble`` in
double precision, with ``BRANCH_MEMBER`` nodes for categorical splits, the baseline added and the
logistic link applied in double as scikit-learn does. Everything else (column transformer, encoders,
scaler, logistic regression on double inputs) is skl2onnx's own conversion.

skl2onnx and onnxruntime are imported inside functions: they are heavy and only registration and the
model server need them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lakehouse_ml.model_artifact import (
    COMPILED_FILE,
    METADATA_FILE,
    MODEL_FILE,
    ONNX_FILE,
    ONNX_RUNTIME,
    SKLEARN_RUNTIME,
    sha256_bytes,
)

GRAPH_NAME = "churn_model"
PARITY_TOLERANCE = 1e-6
OPSETS = {"": 21, "ai.onnx.ml": 5}
SKL2ONNX_OPSETS = {"": 21, "ai.onnx.ml": 3}  # the newest ML opset skl2onnx converts to
PROBABILITY_OUTPUT = "probabilities"
INPUT_DTYPES = {"tensor(string)": object, "tensor(double)": np.float64, "tensor(float)": np.float32}
# ai.onnx.ml TreeEnsemble node modes
BRANCH_LEQ = 0
BRANCH_MEMBER = 6
# HistGradientBoosting stores categories as uint8 codes: every code a categorical split can see
CATEGORY_CODES = range(256)


class CompileError(RuntimeError):
    """The pipeline has no exact ONNX form (a converter is missing): it is served by scikit-learn."""


class ParityError(ValueError):
    """The compiled model does not score like the pipeline: the version must not be registered."""


@dataclass(frozen=True)
class Parity:
    dataset: str
    rows: int
    max_abs_diff: float
    label_mismatches: int
    tolerance: float = PARITY_TOLERANCE

    @property
    def exact(self) -> bool:
        return self.rows > 0 and self.max_abs_diff <= self.tolerance and self.label_mismatches == 0


def compile_pipeline(pipeline, feature_names: list[str], categorical: list[str]) -> bytes:
    """The serialized ONNX model of ``pipeline``: one ``[n, 1]`` input per feature (string for the
    categorical ones, double otherwise) and a double ``probabilities`` output ``[n, 2]``."""
    import onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier

    inputs = [
        (name, StringTensorType([None, 1]) if name in categorical else DoubleTensorType([None, 1]))
        for name in feature_names
    ]
    estimator = pipeline[-1]
    try:
        if isinstance(estimator, HistGradientBoostingClassifier):
            model = _with_tree_head(_convert(pipeline[:-1], inputs, {}), estimator)
        else:
            model = _convert(pipeline, inputs, {id(estimator): {"zipmap": False}})
        _sort_opset_imports(model)
        onnx.checker.check_model(model, full_check=True)
    except (NotImplementedError, RuntimeError, ValueError, TypeError, onnx.checker.ValidationError) as err:
        raise CompileError(f"skl2onnx cannot convert the pipeline exactly: {err}") from err
    return model.SerializeToString()


def _sort_opset_imports(model) -> None:
    """One import per domain, sorted: ``onnx.compose.merge_models`` gathers them through a set, so
    their order (and the model's bytes) would follow the process's string hash seed."""
    from onnx import helper

    versions = {opset.domain: opset.version for opset in model.opset_import}
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(domain, versions[domain]) for domain in sorted(versions))


def _convert(pipeline, inputs: list, options: dict):
    from skl2onnx import convert_sklearn
    from sklearn.impute import SimpleImputer

    return convert_sklearn(
        pipeline,
        name=GRAPH_NAME,  # skl2onnx names the graph with a random uuid otherwise: the bytes would differ
        initial_types=inputs,
        target_opset=SKL2ONNX_OPSETS,
        options=options,
        custom_conversion_functions={SimpleImputer: _convert_imputer},
    )


def _convert_imputer(scope, operator, container) -> None:
    """Numeric SimpleImputer in double: ``Where(IsNaN(x), statistics, x)``; strings go to skl2onnx."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer

    imputer = operator.raw_operator
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        convert_sklearn_imputer(scope, operator, container)
        return
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        raise NotImplementedError(f"SimpleImputer(missing_values={imputer.missing_values!r}) is not compiled")
    if imputer.add_indicator or len(operator.inputs) != 1:
        raise NotImplementedError("SimpleImputer with add_indicator or several inputs is not compiled")
    values = operator.inputs[0].full_name
    fill = scope.get_unique_variable_name("imputed")
    container.add_initializer(
        fill, TensorProto.DOUBLE, [1, imputer.statistics_.size], imputer.statistics_.tolist()
    )
    missing = scope.get_unique_variable_name("missing")
    container.add_node("IsNaN", values, missing)
    container.add_node("Where", [missing, fill, values], operator.outputs[0].full_name)


def _with_tree_head(preprocess, estimator):
    """Append a binary HistGradientBoostingClassifier to the converted preprocessing: TreeEnsemble
    (double) + baseline + sigmoid, in ai.onnx.ml 5 (which skl2onnx does not target yet)."""
    from onnx import TensorProto, compose, helper, numpy_helper

    if estimator.n_trees_per_iteration_ != 1:
        raise NotImplementedError("only a binary HistGradientBoostingClassifier is compiled")
    known = estimator._bin_mapper.make_known_categories_bitsets()
    baseline = np.ravel(estimator._baseline_prediction).astype(np.float64).reshape(1, 1)
    nodes = [
        helper.make_node(
            "TreeEnsemble",
            ["gbt_features"],
            ["gbt_raw"],
            domain="ai.onnx.ml",
            **_tree_ensemble_attributes(estimator, *known),
        ),
        helper.make_node("Add", ["gbt_raw", "gbt_baseline"], ["gbt_score"]),
        helper.make_node("Sigmoid", ["gbt_score"], ["gbt_positive"]),
        helper.make_node("Sub", ["gbt_one", "gbt_positive"], ["gbt_negative"]),
        helper.make_node("Concat", ["gbt_negative", "gbt_positive"], [PROBABILITY_OUTPUT], axis=1),
    ]
    head = helper.make_model(
        helper.make_graph(
            nodes,
            "hist_gradient_boosting",
            [
                helper.make_tensor_value_info(
                    "gbt_features", TensorProto.DOUBLE, [None, estimator.n_features_in_]
                )
            ],
            [helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.DOUBLE, [None, 2])],
            initializer=[
                numpy_helper.from_array(baseline, "gbt_baseline"),
                numpy_helper.from_array(np.ones((1, 1)), "gbt_one"),
            ],
        ),
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in OPSETS.items()],
        ir_version=preprocess.ir_version,
    )
    for opset in preprocess.opset_import:  # the preprocessing's ML ops keep their meaning in opset 5
        opset.version = OPSETS.get(opset.domain, opset.version)
    [features] = preprocess.graph.output
    return compose.merge_models(preprocess, head, io_map=[(features.name, "gbt_features")])


def _tree_ensemble_attributes(estimator, known_bitsets: np.ndarray, feature_map: np.ndarray) -> dict:
    """TreeEnsemble attributes reproducing scikit-learn's ``_predict_from_raw_data`` branch rules."""
    from onnx import numpy_helper

    modes, features, splits, missing_true = [], [], [], []
    true_ids, true_leaf, false_ids, false_leaf = [], [], [], []
    members: list[float] = []
    leaf_weights: list[float] = []
    roots = []

    for [predictor] in estimator._predictors:
        nodes = predictor.nodes
        leaf_index: dict[int, int] = {}
        node_index: dict[int, int] = {}
        for i, node in enumerate(nodes):
            if node["is_leaf"]:
                leaf_index[i] = len(leaf_weights)
                leaf_weights.append(float(node["value"]))
        interior = [i for i, node in enumerate(nodes) if not node["is_leaf"]]
        for i in interior:
            node_index[i] = len(modes) + len(node_index)
        roots.append(node_index[0] if interior else len(modes))
        if not interior:  # a tree of one leaf: a split whose both sides reach that leaf
            modes.append(BRANCH_LEQ)
            features.append(0)
            splits.append(0.0)
            missing_true.append(0)
            true_ids.append(leaf_index[0])
            false_ids.append(leaf_index[0])
            true_leaf.append(1)
            false_leaf.append(1)
            continue
        for i in interior:
            node = nodes[i]
            feature = int(node["feature_idx"])
            features.append(feature)
            missing_true.append(int(node["missing_go_to_left"]))
            if node["is_categorical"]:
                modes.append(BRANCH_MEMBER)
                splits.append(np.nan)
                members.extend(
                    _left_categories(
                        predictor.raw_left_cat_bitsets[node["bitset_idx"]],
                        known_bitsets[feature_map[feature]],
                        bool(node["missing_go_to_left"]),
                    )
                )
                members.append(np.nan)
            else:
                modes.append(BRANCH_LEQ)
                splits.append(float(node["num_threshold"]))
            for child, ids, is_leaf in (
                (node["left"], true_ids, true_leaf),
                (node["right"], false_ids, false_leaf),
            ):
                child = int(child)
                is_leaf.append(int(child in leaf_index))
                ids.append(leaf_index[child] if child in leaf_index else node_index[child])
    return {
        "n_targets": 1,
        "aggregate_function": 1,  # SUM
        "post_transform": 0,  # NONE: baseline and link follow in double
        "tree_roots": roots,
        "nodes_modes": numpy_helper.from_array(np.array(modes, dtype=np.uint8)),
        "nodes_featureids": features,
        "nodes_splits": numpy_helper.from_array(np.array(splits, dtype=np.float64)),
        "nodes_truenodeids": true_ids,
        "nodes_trueleafs": true_leaf,
        "nodes_falsenodeids": false_ids,
        "nodes_falseleafs": false_leaf,
        "nodes_missing_value_tracks_true": missing_true,
        "membership_values": numpy_helper.from_array(np.array(members or [np.nan], dtype=np.float64)),
        "leaf_targetids": [0] * len(leaf_weights),
        "leaf_weights": numpy_helper.from_array(np.array(leaf_weights, dtype=np.float64)),
    }


def _in_bitset(bitset: np.ndarray, code: int) -> bool:
    return bool((int(bitset[code // 32]) >> (code % 32)) & 1)


def _left_categories(left: np.ndarray, known: np.ndarray, missing_left: bool) -> list[float]:
    """Codes scikit-learn sends left: those in the split's bitset, and unknown ones when missing
    values go left (it treats an unknown category as missing)."""
    return [
        float(code)
        for code in CATEGORY_CODES
        if _in_bitset(left, code) or (missing_left and not _in_bitset(known, code))
    ]


def onnx_session(model: bytes):
    """An onnxruntime session on one thread (intra- and inter-op): one server worker per core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_feeds(session, columns: dict[str, list]) -> dict[str, np.ndarray]:
    """Model inputs from one value list per feature name."""
    return {
        spec.name: np.asarray(columns[spec.name], dtype=INPUT_DTYPES[spec.type]).reshape(-1, 1)
        for spec in session.get_inputs()
    }


def onnx_probabilities(session, columns: dict[str, list]) -> np.ndarray:
    return session.run([PROBABILITY_OUTPUT], onnx_feeds(session, columns))[0][:, 1]


def check_parity(
    session, pipeline, frame, feature_names: list[str], threshold: float, dataset: str
) -> Parity:
    """Compare the compiled model with ``pipeline.predict_proba`` on every row of ``frame``."""
    expected = pipeline.predict_proba(frame[feature_names])[:, 1]
    got = onnx_probabilities(session, {name: frame[name].tolist() for name in feature_names})
    return Parity(
        dataset=dataset,
        rows=len(frame),
        max_abs_diff=float(np.max(np.abs(got - expected))) if len(frame) else 0.0,
        label_mismatches=int(np.sum((got >= threshold) != (expected >= threshold))),
    )


def compile_model_folder(folder: Path, parity_set: str) -> dict:
    """Write ``model.onnx`` and ``compiled.json`` into a model folder; return the compiled record.

    ``parity_set`` is the parquet file in the folder whose every row is checked. A pipeline without an
    exact converter is recorded as served by scikit-learn (with the reason); a compiled model that
    disagrees raises ``ParityError`` and nothing is written.
    """
    import joblib
    import pandas as pd

    folder = Path(folder)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    names, categorical = metadata["feature_names"], metadata.get("categorical_features", [])
    pipeline = joblib.load(folder / MODEL_FILE)
    try:
        model = compile_pipeline(pipeline, names, categorical)
    except CompileError as err:
        record = {"runtime": SKLEARN_RUNTIME, "reason": str(err)}
    else:
        frame = pd.read_parquet(folder / parity_set, columns=names)
        parity = check_parity(onnx_session(model), pipeline, frame, names, metadata["threshold"], parity_set)
        if not parity.exact:
            raise ParityError(
                f"compiled model disagrees with scikit-learn on {parity.dataset}: max |p_onnx - p_sklearn| "
                f"{parity.max_abs_diff:.3g} (tolerance {parity.tolerance:g}), {parity.label_mismatches} "
                f"of {parity.rows} labels differ"
            )
        (folder / ONNX_FILE).write_bytes(model)
        record = {
            "runtime": ONNX_RUNTIME,
            "onnx_file": ONNX_FILE,
            "onnx_sha256": sha256_bytes(model),
            "parity": asdict(parity),
        }
    (folder / COMPILED_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record
