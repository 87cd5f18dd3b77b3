"""The churn-predictor server over HTTP: V1/V2 answers, bad input, unknown customers, the spool."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.names import UNKNOWN_CUSTOMER
from lakehouse_ml.serving.process import LocalServer
from lakehouse_ml.serving.servable import load_servable
from tests.support.model_builders import sample_features, write_feature_repo, write_model
from tests.support.ports import free_port
from tests.support.serving_paths import V1, V2

pytestmark = pytest.mark.slow
CUSTOMERS = 50


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    model_dir = write_model(root / "models" / "v1", seed=1)
    repo = write_feature_repo(root / "feast", customers=CUSTOMERS)
    server = LocalServer(root / "serving", free_port(), str(repo))
    server.apply(Deployment().with_changes(stable="v1", models={"v1": str(model_dir)}))
    server.start()
    client = httpx.Client(base_url=server.endpoint, timeout=30)
    yield server, client, load_servable("v1", model_dir)
    client.close()
    server.stop()


def _expected(model, customer_ids):
    frame = sample_features(CUSTOMERS).set_index("customer_id").loc[customer_ids, list(model.feature_names)]
    return model.predict_rows(frame.astype(object).values.tolist())


def test_v1_returns_probability_label_and_version(served):
    _, client, model = served
    ids = ["c00001", "c00007", "c00042"]
    answer = client.post(V1, json={"instances": [{"customer_id": c} for c in ids]}).json()
    assert answer["model_version"] == "v1"
    got = [p["churn_probability"] for p in answer["predictions"]]
    np.testing.assert_allclose(got, _expected(model, ids), atol=1e-9)
    for prediction, probability in zip(answer["predictions"], got, strict=True):
        assert prediction["model_version"] == "v1"
        assert prediction["churn"] == int(probability >= model.threshold)
        assert prediction["prediction_id"]


def test_v1_body_without_a_json_content_type_is_read_as_json(served):
    _, client, _ = served
    body = b'{"instances": [{"customer_id": "c00001"}]}'
    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = client.post(V1, content=body, headers=form)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["customer_id"] == "c00001"
    broken = client.post(V1, content=b'{"instances": [', headers=form)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]


def test_v2_infer_with_a_bytes_tensor(served):
    _, client, model = served
    ids = ["c00003", "c00004"]
    body = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [2], "data": ids}]}
    answer = client.post(V2, json=body).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert answer["model_version"] == "v1"
    assert outputs["churn_probability"]["shape"] == [2]
    np.testing.assert_allclose(outputs["churn_probability"]["data"], _expected(model, ids), atol=1e-9)
    assert outputs["model_version"]["data"] == ["v1", "v1"]
    assert outputs["error"]["data"] == ["", ""]


def test_unknown_customers_get_a_per_instance_answer(served):
    _, client, _ = served
    answer = client.post(
        V1, json={"instances": [{"customer_id": "nobody"}, {"customer_id": "c00002"}]}
    ).json()
    unknown, known = answer["predictions"]
    assert unknown["churn_probability"] is None and unknown["error"] == UNKNOWN_CUSTOMER
    assert unknown["model_version"] == "v1"
    assert known["churn_probability"] is not None and "error" not in known
    body = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": ["nobody"]}]}
    outputs = {o["name"]: o["data"] for o in client.post(V2, json=body).json()["outputs"]}
    assert outputs["churn_probability"] == [-1.0] and outputs["error"] == [UNKNOWN_CUSTOMER]


BAD_V1 = [
    b'{"instances": [{"customer_id": "c1"}',
    b"[1, 2]",
    b'{"instances": "c1"}',
    b'{"instances": []}',
    b'{"instances": [{}]}',
    b'{"instances": [{"customer_id": 5}]}',
    b'{"instances": [{"customer_id": ""}]}',
    b'{"instances": ["c1"]}',
    b'{"instances": [{"customer_id": "c00001", "features": {"lifetime_value": 1}}]}',
    b'{"instances": [{"customer_id": "c00001", "features": 3}]}',
]
BAD_V2 = [
    b'{"inputs": ',
    b"{}",
    b'{"inputs": [{"name": "customer_id", "datatype": "INT64", "shape": [1], "data": [3]}]}',
    b'{"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [2], "data": ["c1"]}]}',
    b'{"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1, 1], "data": [["c1"]]}]}',
    b'{"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": [7]}]}',
    b'{"inputs": [{"name": "customer", "datatype": "BYTES", "shape": [1], "data": ["c1"]}]}',
    b'{"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": ["a"], "data": ["c1"]}]}',
]


@pytest.mark.parametrize(("path", "body"), [(V1, b) for b in BAD_V1] + [(V2, b) for b in BAD_V2])
def test_bad_input_gets_a_4xx_with_a_message(served, path, body):
    server, client, _ = served
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    payload = response.json()
    assert payload.get("error") or payload.get("detail")
    assert server.ready()


def test_a_pinned_unknown_version_is_a_client_error(served):
    _, client, _ = served
    response = client.post(
        V1, json={"instances": [{"customer_id": "c00001"}]}, headers={"x-model-version": "v9"}
    )
    assert response.status_code == 400 and "v9" in response.json()["error"]


def _spool_records(server) -> list[dict]:
    return [
        json.loads(line)
        for segment in (server.serving_dir / "spool").glob("*.jsonl")
        for line in segment.read_text().splitlines()
    ]


def _spooled(server) -> set[str]:
    return {record["prediction_id"] for record in _spool_records(server)}


def test_pinned_smoke_requests_are_answered_but_not_logged(served):
    server, client, _ = served
    response = client.post(
        V1, json={"instances": [{"customer_id": "c00001"}]}, headers={"x-model-version": "v1"}
    )
    prediction = response.json()["predictions"][0]
    assert prediction["model_version"] == "v1" and prediction["prediction_id"] not in _spooled(server)


def test_every_answered_prediction_is_in_the_spool(served):
    server, client, _ = served
    answers = [
        client.post(V1, json={"instances": [{"customer_id": f"c{n:05d}"}, {"customer_id": "nobody"}]}).json()
        for n in range(20)
    ]
    answered = {p["prediction_id"] for a in answers for p in a["predictions"] if p["prediction_id"]}
    assert len(answered) == 20 and answered <= _spooled(server)
    # each carries the day of the features it scored (write_feature_repo's snapshot), not the wall clock
    days = {r["scoring_day"] for r in _spool_records(server) if r["prediction_id"] in answered}
    assert days == {"2026-01-01"}


def test_v2_model_metadata_describes_inputs_outputs_versions_and_runtime(served):
    server, client, _ = served
    metadata = client.get("/v2/models/churn-predictor").json()
    assert metadata["name"] == "churn-predictor" and metadata["versions"] == ["v1"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "customer_id", "datatype": "BYTES", "shape": [-1]}]
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]} == {
        "churn_probability": "FP64",
        "churn": "INT32",
        "model_version": "BYTES",
        "prediction_id": "BYTES",
        "error": "BYTES",
    }
    assert client.get("/v2/models/no-such-model").status_code == 404
    assert server.status()["server"]["runtimes"] == {"v1": "onnxruntime"}


def test_requests_add_no_warning_or_access_line_to_the_server_log(served):
    server, client, _ = served
    log = server.serving_dir / "server.log"
    before = log.read_text()
    for index in range(50):
        assert client.post(V1, json={"instances": [{"customer_id": f"c{index:05d}"}]}).status_code == 200
        tensor = {"name": "customer_id", "datatype": "BYTES", "shape": [1], "data": [f"c{index:05d}"]}
        assert client.post(V2, json={"inputs": [tensor]}).status_code == 200
    added = log.read_text()[len(before) :]
    assert "Warning" not in added, added[-2000:]
    assert "FastAPIDeprecationWarning" not in log.read_text()  # not even once (health checks, metadata)
    assert len(added.splitlines()) <= 100, "at most one line per request"
