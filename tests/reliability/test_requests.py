"""Fuzzed and hostile requests against a real model server: never a 5xx, every refusal a 4xx with a
message, the limits of ``lakehouse_ml/serving/limits.py`` enforced, memory back to its baseline."""

from __future__ import annotations

import json

import httpx
import psutil
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.limits import (
    MAX_BODY_BYTES,
    MAX_CUSTOMER_ID_LENGTH,
    MAX_INSTANCES,
    MAX_JSON_DEPTH,
    RequestRefused,
    check_body,
)
from lakehouse_ml.serving.names import MODEL_NAME
from lakehouse_ml.serving.process import LocalServer
from tests.support.model_builders import write_feature_repo, write_model
from tests.support.ports import free_port
from tests.support.serving_paths import V1, V2

pytestmark = pytest.mark.slow
JSON = {"content-type": "application/json"}
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
INFER_EXAMPLES = 200
V1_EXAMPLES = 400
OTHER_EXAMPLES = 25
# Allowed RSS growth after all hostile bodies: the interpreter keeps some freed arenas, a leak keeps more.
RSS_SLACK_BYTES = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability-serving")
    model_dir = write_model(root / "models" / "v1", seed=1)
    repo = write_feature_repo(root / "feast", customers=20)
    served = LocalServer(root / "serving", free_port(), str(repo))
    served.apply(Deployment().with_changes(stable="v1", models={"v1": str(model_dir)}))
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.endpoint, timeout=60) as http:
        yield http


def _v2(data: list, shape: list | None = None) -> dict:
    tensor = {"name": "customer_id", "datatype": "BYTES", "shape": shape or [len(data)], "data": data}
    return {"inputs": [tensor]}


def _instances(n: int, cid: str = "c00001") -> bytes:
    return json.dumps({"instances": [{"customer_id": cid}] * n}).encode()


HOSTILE = {
    "deep nesting": (V1, b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nests deeper"),
    "deep nesting V2": (V2, b'{"inputs": [{"data": ' + b"[" * 5_000 + b"]" * 5_000 + b"}]}", 400, "nests"),
    "10 MB body": (V1, b'{"instances": [{"customer_id": "' + b"a" * 10_000_000 + b'"}]}', 413, "bytes"),
    "100k instances": (V1, _instances(100_000), 413, "instances"),
    "100k V2 values": (V2, json.dumps(_v2(["c00001"] * 100_000)).encode(), 413, "instances"),
    "non-UTF-8": (V1, b'{"instances": [{"customer_id": "\xff\xfe"}]}', 400, "UTF-8"),
    "non-UTF-8 V2": (V2, b'{"inputs": [{"name": "customer_id", "data": ["\xc3\x28"]}]}', 400, "UTF-8"),
    "NaN": (V1, b'{"instances": [{"customer_id": "c00001", "features": {"x": NaN}}]}', 400, "NaN"),
    "Infinity in a V2 shape": (V2, json.dumps(_v2(["c1"], [float("inf")])).encode(), 400, "Infinity"),
    "-Infinity": (V1, b'{"instances": [{"customer_id": -Infinity}]}', 400, "Infinity"),
    "duplicate keys": (V1, b'{"instances": [{"customer_id": "c1", "customer_id": "c2"}]}', 400, "duplicate"),
    "duplicate top keys": (V2, b'{"inputs": [], "inputs": []}', 400, "duplicate"),
    "1 MB customer_id": (V1, _instances(1, "x" * 1_000_000), 400, "characters"),
    "long V2 customer_id": (V2, json.dumps(_v2(["y" * 129])).encode(), 400, "characters"),
    "truncated": (V1, b'{"instances": [{"customer_id": "c1"}', 400, "JSON"),
    "empty body": (V1, b"", 400, "JSON"),
    "lone surrogate": (V1, b'{"instances": [{"customer_id": "\\ud800"}]}', 400, ""),
    "null bytes": (V1, b'{"instances": [{"customer_id": "\\u0000"}]}', 200, ""),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_is_refused_with_a_4xx_and_a_message(client, name):
    path, body, status, words = HOSTILE[name]
    answer = client.post(path, content=body, headers=JSON)
    assert answer.status_code == status, answer.text[:300]
    if status >= 400:
        assert words in answer.json()["error"]


def test_limits_are_exact(client):
    at_limit = client.post(V1, content=_instances(1, "z" * MAX_CUSTOMER_ID_LENGTH), headers=JSON)
    assert at_limit.status_code == 200 and at_limit.json()["predictions"][0]["error"]
    assert client.post(V1, content=_instances(1, "z" * (MAX_CUSTOMER_ID_LENGTH + 1))).status_code == 400
    full = client.post(V1, content=_instances(MAX_INSTANCES), headers=JSON)
    assert full.status_code == 200 and len(full.json()["predictions"]) == MAX_INSTANCES
    assert client.post(V1, content=_instances(MAX_INSTANCES + 1), headers=JSON).status_code == 413
    declared = client.post(V1, content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)
    assert declared.status_code == 413


def test_a_streamed_body_past_the_limit_is_cut_off_with_413(client):
    def chunks():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    answer = client.post(V1, content=chunks(), headers=JSON)  # chunked: no Content-Length to trust
    assert answer.status_code == 413 and "bytes" in answer.json()["error"]


def test_model_repository_control_is_refused(client):
    for action in ("unload", "load"):
        answer = client.post(f"/v2/repository/models/{MODEL_NAME}/{action}")
        assert answer.status_code == 403 and "disabled" in answer.json()["error"]
    assert client.get("/v2/health/ready").status_code == 200


def test_memory_returns_to_baseline_after_hostile_bodies(server, client):
    process = psutil.Process(server.pid())
    for _ in range(3):
        client.post(V1, content=_instances(100), headers=JSON)
    baseline = process.memory_info().rss
    for _ in range(3):
        for path, body, _, _ in HOSTILE.values():
            client.post(path, content=body, headers=JSON)
    client.post(V1, content=_instances(MAX_INSTANCES), headers=JSON)
    assert client.post(V1, content=_instances(1), headers=JSON).status_code == 200
    assert process.memory_info().rss <= baseline + RSS_SLACK_BYTES


def _status_and_message(answer: httpx.Response | object) -> tuple[int, str]:
    status = answer.status_code
    if status < 400:
        return status, ""
    try:
        body = answer.json()
    except ValueError:
        return status, ""
    return status, str(body.get("error") or body.get("detail") or "") if isinstance(body, dict) else ""


def test_schemathesis_against_the_servers_own_openapi(server, client):
    """Every operation of the served OpenAPI; the model name is pinned for most inference cases."""
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        inference = operation.method.upper() == "POST" and "model_name" in operation.path

        @settings(FUZZ, max_examples=INFER_EXAMPLES if inference else OTHER_EXAMPLES)
        @given(case=operation.as_strategy(), pin=st.booleans())
        def call(case, pin):
            if pin and "model_name" in (case.path_parameters or {}):
                case.path_parameters["model_name"] = MODEL_NAME
            answer = case.call(base_url=server.endpoint, timeout=30)
            status, message = _status_and_message(answer)
            statuses[status] = statuses.get(status, 0) + 1
            assert status < 500, (case.path, case.body, answer.text[:300])
            assert status < 400 or message, (case.path, case.body, answer.text[:300])

        call()
    assert sum(statuses.values()) > 500
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
INSTANCE = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": st.sampled_from(["c00001", "c00002", "nobody", ""]) | JSON_VALUES,
        "features": JSON_VALUES,
    },
)
V1_BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"instances": st.lists(INSTANCE, max_size=5) | JSON_VALUES}),
)


def test_fuzzed_v1_bodies_never_get_a_5xx(client):
    """KServe's V1 route has no body schema in its OpenAPI: hypothesis writes the bodies."""
    statuses: dict[int, int] = {}

    @settings(FUZZ, max_examples=V1_EXAMPLES)
    @given(body=V1_BODIES)
    def call(body):
        answer = client.post(V1, content=json.dumps(body).encode(), headers=JSON)
        status, message = _status_and_message(answer)
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400), (body, answer.text[:300])
        assert status == 200 or message

    call()
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), 400),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None),
        (b'{"a": 1, "a": 2}', 400),
        (b'{"a": {"b": 1}, "b": {"a": 1}}', None),
        (_instances(MAX_INSTANCES + 1), 413),
    ],
)
def test_check_body_depth_duplicates_and_counts(body, status):
    if status is None:
        check_body(body)
        return
    with pytest.raises(RequestRefused) as refused:
        check_body(body)
    assert refused.value.status == status
