"""Each tool's own client or UI on a small served state: KServe's gRPC client, ``feast ui``, Evidently."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from lakehouse_ml.platform.settings import Settings, project_root
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.names import MODEL_NAME
from lakehouse_ml.serving.process import LocalServer
from tests.support.features_fixtures import gold_frame, weekly_snapshots, write_gold
from tests.support.model_builders import write_feature_repo, write_model
from tests.support.ports import free_port
from tests.support.serving_paths import V2

pytestmark = pytest.mark.slow
CUSTOMERS = ["c00001", "c00002", "nobody"]
FEAST = str(Path(sys.executable).with_name("feast"))


@pytest.fixture(scope="module")
def feast_home(tmp_path_factory):
    """The project's ``feast_repo`` applied over a small gold table in a home of its own."""
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    home = tmp_path_factory.mktemp("feast-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEHOUSE_HOME", str(home))
        patch.setenv("LAKEHOUSE_PROFILE", "local")
        patch.delenv("LAKEHOUSE_RAW_URI", raising=False)
        settings = Settings.from_env()
        write_gold(home, gold_frame(weekly_snapshots(datetime(2024, 5, 5, tzinfo=UTC), 2), customers=3))
        apply_definitions(feature_store(settings), gold_source(settings))
        yield home, dict(os.environ)


def _feast(env: dict, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [FEAST, "-c", "feast_repo", *args], cwd=project_root(), env=env, start_new_session=True, **popen
    )


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer 200: {log.read_text()[-2000:]}"
        time.sleep(0.3)


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


def test_feast_ui_answers_on_the_project_repo(feast_home):
    home, env = feast_home
    port, log = free_port(), home / "feast-ui.log"
    with log.open("w") as out:
        ui = _feast(env, "ui", "-h", "127.0.0.1", "-p", str(port), stdout=out, stderr=subprocess.STDOUT)
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/", ui, log)
        assert "<html" in page.text.lower()
        projects = httpx.get(f"http://127.0.0.1:{port}/projects-list.json", timeout=10).json()
        assert [p["id"] for p in projects["projects"]] == ["lakehouse_ml"]
        view = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/feature_views/customer_features",
            params={"project": "lakehouse_ml"},
            timeout=10,
        )
        assert view.status_code == 200, view.text
        assert "Sum of order amounts" in view.text
    finally:
        _stop(ui)


def test_feature_views_describe_shows_the_dbt_column_docs(feast_home):
    import yaml

    from lakehouse_ml.features.gold_docs import gold_model_docs

    _, env = feast_home
    docs = gold_model_docs("fct_customer_features")
    described = {}
    for kind, name in (("feature-views", "customer_features"), ("entities", "customer")):
        process = _feast(env, kind, "describe", name, stdout=subprocess.PIPE, text=True)
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out
        described[kind] = yaml.safe_load(out)["spec"]
    view, entity = described["feature-views"], described["entities"]
    assert (view["owner"], view["description"]) == (docs.owner, docs.description)
    assert {f["name"]: f["description"] for f in view["features"]} == {
        name: docs.column(name) for name in [f["name"] for f in view["features"]]
    }
    assert len(view["features"]) == 7 and all(f["tags"]["owner"] == docs.owner for f in view["features"])
    assert (entity["owner"], entity["description"]) == (docs.owner, docs.column("customer_id"))


def test_evidently_ui_lists_the_snapshots_of_the_workspace(tmp_path):
    from lakehouse_ml.monitoring.drift import drift_report
    from lakehouse_ml.monitoring.workspace import SnapshotTarget
    from tests.support.monitoring_fixtures import snapshot

    workspace, port = tmp_path / "evidently", free_port()
    ui_url = f"http://127.0.0.1:{port}"
    columns = ["order_count_30d", "avg_order_value"]
    reference = snapshot(date(2024, 3, 3), 300, seed=1)
    urls = []
    for day, basket in ((date(2024, 3, 10), 1.0), (date(2024, 3, 17), 1.6)):
        target = SnapshotTarget(str(workspace), ui_url, "feature_drift/recent_active", f"{day} v1", day)
        current = snapshot(day, 300, seed=day.day, basket=basket)
        result = drift_report(
            reference, current, columns, [], column_threshold=0.1, sample_size=300, seed=1, snapshot_to=target
        )
        urls.append(result.snapshot_url)
    log = tmp_path / "evidently-ui.log"
    command = [str(Path(sys.executable).with_name("evidently")), "ui", "--workspace", str(workspace)]
    with log.open("w") as out:
        ui = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        (project,) = _wait_for(f"{ui_url}/api/projects", ui, log).json()
        assert project["name"] == "churn-predictor feature_drift/recent_active"
        listed = httpx.get(f"{ui_url}/api/projects/{project['id']}/snapshots", timeout=10).json()
        assert sorted(s["name"] for s in listed) == ["2024-03-10 v1", "2024-03-17 v1"]
        assert sorted(urls) == sorted(f"{ui_url}/projects/{project['id']}/reports/{s['id']}" for s in listed)
        assert httpx.get(urls[0], timeout=10).status_code == 200  # the link on the asset page opens
    finally:
        _stop(ui)
