"""Each tool's own client or UI on a small served state: KServe's gRPC client, ``feast ui``, Evidently."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.names import MODEL_NAME
from lakehouse_ml.serving.process import LocalServer
from tests.support.model_builders import write_feature_repo, write_model
from tests.support.ports import free_port
from tests.support.serving_paths import V2

pytestmark = pytest.mark.slow
CUSTOMERS = ["c00001", "c00002", "nobody"]


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("grpc")
    model_dir = write_model(root / "models" / "v1", seed=1)
    repo = write_feature_repo(root / "feast", customers=10)
    server = LocalServer(root / "serving", free_port(), str(repo), grpc_port=free_port())
    server.apply(Deployment().with_changes(stable="v1", models={"v1": str(model_dir)}))
    server.start()
    yield server
    server.stop()


async def _grpc_infer(target: str, customer_ids: list[str], headers=None):
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    tensor = InferInput("customer_id", [len(customer_ids)], "BYTES", customer_ids)
    client = InferenceGRPCClient(target, timeout=30)
    try:
        return await client.infer(InferRequest(MODEL_NAME, [tensor]), headers=headers)
    finally:
        await client.close()


def test_grpc_model_infer_equals_the_rest_answer(grpc_server):
    body = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [3], "data": CUSTOMERS}]}
    rest = httpx.post(grpc_server.endpoint + V2, json=body, timeout=30).json()
    grpc_answer = asyncio.run(_grpc_infer(grpc_server.grpc_target, CUSTOMERS))

    rest_outputs = {o["name"]: o["data"] for o in rest["outputs"]}
    grpc_outputs = {
        o.name: [v.decode() if isinstance(v, bytes) else v for v in o.data] for o in grpc_answer.outputs
    }
    assert grpc_answer.model_version == rest["model_version"] == "v1"
    assert set(grpc_outputs) == set(rest_outputs)
    for name in ("churn_probability", "churn", "model_version", "error"):
        assert grpc_outputs[name] == rest_outputs[name], name
    assert grpc_outputs["churn_probability"][2] == -1.0 and grpc_outputs["error"][2]
    # every answer gets its own prediction id (the key of the prediction log)
    assert (
        all(grpc_outputs["prediction_id"][:2])
        and grpc_outputs["prediction_id"] != rest_outputs["prediction_id"]
    )


def test_grpc_refuses_a_version_that_is_not_deployed(grpc_server):
    import grpc

    with pytest.raises(grpc.RpcError) as refused:
        asyncio.run(_grpc_infer(grpc_server.grpc_target, ["c00001"], headers=(("x-model-version", "v9"),)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "v9" in refused.value.details()


def test_metrics_carry_the_serving_version(grpc_server):
    from prometheus_client.parser import text_string_to_metric_families

    asyncio.run(_grpc_infer(grpc_server.grpc_target, ["c00003", "nobody"]))
    text = httpx.get(grpc_server.endpoint + "/metrics", timeout=10).text
    samples = {
        (s.name, s.labels.get("model_version"), s.labels.get("role"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("churn_predictor_served", "v1", "stable", None)] == 1
    assert samples[("churn_predictor_predictions_total", "v1", "stable", "scored")] >= 1
    assert samples[("churn_predictor_predictions_total", "v1", "stable", "unknown_customer")] >= 1
    assert samples[("churn_predictor_score_seconds_count", "v1", "stable", None)] >= 1
