"""The ``churn-predictor`` KServe model: Feast online lookup + registry model, with a canary split.

Protocols:

- V1 ``POST /v1/models/churn-predictor:predict`` with ``{"instances": [{"customer_id": "c1"}, ...]}``.
  An instance may carry ``"features": {name: value}`` to skip the lookup (used by the benchmark).
  Answer: ``{"model_version": v, "predictions": [{"customer_id", "churn_probability", "churn",
  "model_version", "prediction_id"}]}``; ``prediction_id`` is a UUID's text, the key of the prediction log.
- V2 ``POST /v2/models/churn-predictor/infer`` with input ``customer_id`` (``BYTES``, shape ``[n]``).
  Outputs ``churn_probability`` (FP64), ``churn`` (INT32), ``model_version`` and ``prediction_id``
  (BYTES), ``error`` (BYTES, empty when fine), all of shape ``[n]``; the response's ``model_version``.
- V2 ``GET /v2/models/churn-predictor``: the ``customer_id`` input, the outputs above, the served
  versions and the platform naming the runtime (``onnxruntime_onnx``, or ``sklearn_joblib`` for a
  version that could not be compiled exactly).
- An unknown customer (no row in the online store) is answered per instance, not with an error status:
  ``churn_probability`` null (V2: -1), ``churn`` null (V2: -1), ``prediction_id`` null (V2: ""),
  and ``error`` "unknown customer_id: no features in the online store". It is not logged.
- Malformed JSON, a missing or non-string ``customer_id`` or a wrong V2 tensor: 400 (422 where
  KServe's request model rejects the V2 body) with a message. A model that fails to predict: 503.

One request is served by one version: the stable one, or the canary for ``canary_traffic_percent``
of requests. The header ``x-model-version`` (gRPC: the same metadata key) pins a loaded version; such
requests are smoke tests and are neither logged nor counted. ``/metrics`` counts requests by outcome
(``ok``, or ``error``: the model failed) and times them per version and role
(``lakehouse_ml.serving.metrics``); the canary analysis compares the two versions on them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import kserve
import orjson
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from lakehouse_ml.model_artifact import ONNX_RUNTIME, SKLEARN_RUNTIME
from lakehouse_ml.serving import metrics
from lakehouse_ml.serving.limits import MAX_INSTANCES
from lakehouse_ml.serving.names import MODEL_NAME, UNKNOWN_CUSTOMER, VERSION_HEADER
from lakehouse_ml.serving.online_lookup import ENTITY_KEY, OnlineFeatures
from lakehouse_ml.serving.servable import ServableModel
from lakehouse_ml.serving.spool import SpoolWriter, server_prediction_id
from lakehouse_ml.serving.traffic import TrafficSplit

V2_OUTPUTS = (
    ("churn_probability", "FP64"),
    ("churn", "INT32"),
    ("model_version", "BYTES"),
    ("prediction_id", "BYTES"),
    ("error", "BYTES"),
)
# V2 metadata platform names (KServe/Triton style: <runtime>_<format>)
PLATFORMS = {ONNX_RUNTIME: "onnxruntime_onnx", SKLEARN_RUNTIME: "sklearn_joblib"}


class ModelFailed(RuntimeError):
    """The model raised while predicting: a server-side fault, answered with 503."""


@dataclass(frozen=True)
class Routing:
    """What serves right now; replaced as a whole when the deployment changes."""

    stable: ServableModel
    canary: ServableModel | None
    split: TrafficSplit

    def models(self) -> list[ServableModel]:
        return [m for m in (self.stable, self.canary) if m is not None]

    def role(self, model: ServableModel) -> str:
        return "canary" if model is self.canary else "stable"

    def choose(self, pinned: str | None) -> ServableModel:
        if pinned is not None:
            for model in self.models():
                if model.version == pinned:
                    return model
            raise InvalidInput(f"{VERSION_HEADER}: version {pinned!r} is not deployed")
        if self.canary is not None and self.split.to_canary():
            return self.canary
        return self.stable


class ChurnPredictor(kserve.Model):
    def __init__(self, features: OnlineFeatures | None, routing: Routing, spool: SpoolWriter | None):
        super().__init__(MODEL_NAME)
        self.features = features
        self.routing = routing
        self.spool = spool
        self._id_prefix = uuid.uuid4().int >> 64
        self._next_id = 0
        self.ready = True

    @property
    def routing(self) -> Routing:
        return self._routing

    @routing.setter
    def routing(self, routing: Routing) -> None:
        self._routing = routing
        metrics.record_served(
            [(m.version, routing.role(m), m.runtime) for m in routing.models()],
            routing.split.canary_percent,
        )

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        return [{"name": ENTITY_KEY, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        return [{"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in V2_OUTPUTS]

    def served(self) -> dict:
        """V2 model metadata beyond KServe's: the served versions and the runtime(s) scoring them."""
        models = self.routing.models()
        return {
            "versions": [m.version for m in models],
            "platform": "+".join(dict.fromkeys(PLATFORMS[m.runtime] for m in models)),
        }

    async def predict(self, payload, headers: dict[str, str] | None = None, response_headers=None):
        pinned = headers.get(VERSION_HEADER) if headers else None
        if isinstance(payload, InferRequest):
            customer_ids = _v2_customer_ids(payload)
            model, results = self._score(customer_ids, None, pinned)
            return _v2_response(payload, model.version, results)
        customer_ids, inline = _v1_instances(_json_body(payload))
        model, results = self._score(customer_ids, inline, pinned)
        return {"model_version": model.version, "predictions": results}

    def _score(self, customer_ids: list[str], inline: list[dict | None] | None, pinned: str | None):
        started = time.perf_counter()
        routing = self.routing
        model = routing.choose(pinned)
        try:
            results, scored = self._score_with(model, customer_ids, inline, pinned)
        except ModelFailed:
            if pinned is None:
                metrics.record_failure(model.version, routing.role(model))
            raise
        if pinned is None:
            seconds = time.perf_counter() - started
            unknown = len(customer_ids) - scored
            metrics.record_request(model.version, routing.role(model), scored, unknown, seconds)
        return model, results

    def _score_with(self, model: ServableModel, customer_ids, inline, pinned: str | None):
        names = model.feature_names
        rows, days = self._rows(customer_ids, inline, names)
        known = [index for index, row in enumerate(rows) if row is not None]
        probabilities = []
        if known:
            try:
                probabilities = model.predict_rows([rows[i] for i in known]).tolist()
            except Exception as err:
                if inline:  # features sent by the client: the request is at fault
                    raise InvalidInput(f"inline features cannot be scored: {err}") from err
                raise ModelFailed(f"model version {model.version} failed to predict: {err}") from err
        results = [
            {
                ENTITY_KEY: cid,
                "churn_probability": None,
                "churn": None,
                "model_version": model.version,
                "prediction_id": None,
                "error": UNKNOWN_CUSTOMER,
            }
            for cid in customer_ids
        ]
        now = datetime.now(UTC).isoformat()
        log = bytearray()
        for index, probability in zip(known, probabilities, strict=True):
            label = int(probability >= model.threshold)
            prediction_id = str(server_prediction_id(self._id_prefix, self._next_id))
            self._next_id += 1
            result = results[index]
            result.update(churn_probability=probability, churn=label, prediction_id=prediction_id)
            del result["error"]
            log += orjson.dumps(
                {
                    "prediction_id": prediction_id,
                    "customer_id": result[ENTITY_KEY],
                    "prediction": label,
                    "confidence": probability,
                    "model_version": model.version,
                    "prediction_timestamp": now,
                    "scoring_day": None if days[index] is None else days[index].isoformat(),
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )
        if log and self.spool is not None and pinned is None:  # pinned requests are smoke tests
            self.spool.write(bytes(log))
        return results, len(known)

    def _rows(self, customer_ids: list[str], inline: list[dict | None] | None, names: Sequence[str]):
        """Feature rows, and per row the snapshot day of looked-up features (None for inline features:
        their day is unknown, and the prediction log then reads the day of the prediction's timestamp)."""
        rows: list[list | None] = [None] * len(customer_ids)
        days: list[date | None] = [None] * len(customer_ids)
        lookup = []
        for index in range(len(customer_ids)):
            given = inline[index] if inline else None
            if given is None:
                lookup.append(index)
                continue
            absent = [name for name in names if name not in given]
            if absent:
                raise InvalidInput(f"instances[{index}].features is missing {absent}")
            rows[index] = [given[name] for name in names]
        if lookup:
            if self.features is None:
                raise InvalidInput("this server has no online store: send features inline")
            found, found_days = self.features.rows_and_days([customer_ids[i] for i in lookup], names)
            for index, row, day in zip(lookup, found, found_days, strict=True):
                rows[index], days[index] = row, day
        return rows, days


def _json_body(payload):
    """KServe hands over the raw body when the request does not say ``Content-Type: application/json``
    (``curl -d`` sends a form type); the body is still meant as JSON."""
    if not isinstance(payload, bytes | bytearray):
        return payload
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        raise InvalidInput(f"request body is not valid JSON: {err}") from err


def _v1_instances(payload) -> tuple[list[str], list[dict | None] | None]:
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInput('expected a JSON object {"instances": [{"customer_id": "..."}]}')
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('"instances" must be a non-empty list')
    if len(instances) > MAX_INSTANCES:
        raise InvalidInput(f'"instances" has {len(instances)} items; at most {MAX_INSTANCES} per request')
    customer_ids, inline = [], []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise InvalidInput(f'instances[{index}] must be an object like {{"customer_id": "..."}}')
        cid = instance.get(ENTITY_KEY)
        if not isinstance(cid, str) or not cid:
            raise InvalidInput(f"instances[{index}].customer_id must be a non-empty string, got {cid!r}")
        features = instance.get("features")
        if features is not None and not isinstance(features, dict):
            raise InvalidInput(f"instances[{index}].features must be an object of feature values")
        customer_ids.append(cid)
        inline.append(features)
    return customer_ids, inline if any(f is not None for f in inline) else None


def _v2_customer_ids(request: InferRequest) -> list[str]:
    inputs = [i for i in request.inputs if i.name == ENTITY_KEY]
    if len(inputs) != 1:
        names = [i.name for i in request.inputs]
        raise InvalidInput(f"expected exactly one input tensor named {ENTITY_KEY!r}, got {names}")
    tensor = inputs[0]
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"input {ENTITY_KEY!r} must have datatype BYTES, got {tensor.datatype}")
    shape = list(tensor.shape)
    if len(shape) != 1 or shape[0] < 1:
        raise InvalidInput(f"input {ENTITY_KEY!r} must have shape [n] with n >= 1, got {shape}")
    if shape[0] > MAX_INSTANCES:
        raise InvalidInput(f"input {ENTITY_KEY!r} has {shape[0]} items; at most {MAX_INSTANCES} per request")
    data = tensor.data
    if not isinstance(data, list) or len(data) != shape[0]:
        size = len(data) if isinstance(data, list) else type(data).__name__
        raise InvalidInput(f"input {ENTITY_KEY!r} declares shape {shape} but holds {size} values")
    customer_ids = []
    for index, value in enumerate(data):
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{ENTITY_KEY}[{index}] must be a non-empty string, got {value!r}")
        customer_ids.append(value)
    return customer_ids


def _v2_response(request: InferRequest, version: str, results: list[dict]) -> InferResponse:
    n = len(results)
    values = {
        "churn_probability": [
            -1.0 if r["churn_probability"] is None else r["churn_probability"] for r in results
        ],
        "churn": [-1 if r["churn"] is None else r["churn"] for r in results],
        "model_version": [version] * n,
        "prediction_id": [r["prediction_id"] or "" for r in results],
        "error": [r.get("error", "") for r in results],
    }
    outputs = [InferOutput(name, [n], datatype, values[name]) for name, datatype in V2_OUTPUTS]
    return InferResponse(
        response_id=request.id or uuid.uuid4().hex,
        model_name=MODEL_NAME,
        infer_outputs=outputs,
        model_version=version,
    )
