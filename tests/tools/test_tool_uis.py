"""Each tool's own client, CLI or UI on a small state: KServe's gRPC client and ``/metrics``,
``feast ui`` and ``feast ... describe`` on the project's ``feast_repo``, ``evidently ui`` on the workspace.

One module fixture builds the state and starts every process at once, so their start-ups overlap.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
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
BIN = Path(sys.executable).parent
DRIFT_KIND = "feature_drift/recent_active"


@dataclass
class Tools:
    root: Path
    server: LocalServer
    feast_ui: str
    evidently_ui: str
    snapshot_urls: list[str]
    processes: dict[str, subprocess.Popen]


def _feast_home(home: Path) -> dict[str, str]:
    """The project's ``feast_repo`` applied over a small gold table; the environment to reach it."""
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEHOUSE_HOME", str(home))
        patch.setenv("LAKEHOUSE_PROFILE", "local")
        patch.delenv("LAKEHOUSE_RAW_URI", raising=False)
        settings = Settings.from_env()
        write_gold(home, gold_frame(weekly_snapshots(datetime(2024, 5, 5, tzinfo=UTC), 2), customers=3))
        apply_definitions(feature_store(settings), gold_source(settings))
        return dict(os.environ)


def _drift_snapshots(workspace: Path, ui_url: str) -> list[str]:
    """Two weekly feature-drift reports into the workspace, as ``feature_drift_report`` adds them."""
    from lakehouse_ml.monitoring.drift import drift_report
    from lakehouse_ml.monitoring.workspace import SnapshotTarget
    from tests.support.monitoring_fixtures import snapshot

    reference = snapshot(date(2024, 3, 3), 300, seed=1)
    urls = []
    for day, basket in ((date(2024, 3, 10), 1.0), (date(2024, 3, 17), 1.6)):
        target = SnapshotTarget(str(workspace), ui_url, DRIFT_KIND, f"{day} v1", day)
        current = snapshot(day, 300, seed=day.day, basket=basket)
        columns = ["order_count_30d", "avg_order_value"]
        result = drift_report(
            reference, current, columns, [], column_threshold=0.1, sample_size=300, seed=1, snapshot_to=target
        )
        urls.append(result.snapshot_url)
    return urls


def _spawn(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """Started from the project root; stdout to ``log``, stderr to ``log`` with ``.err``."""
    with log.open("w") as out, log.with_suffix(".err").open("w") as err:
        return subprocess.Popen(
            command, cwd=project_root(), env=env, stdout=out, stderr=err, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("tools")
    model_dir = write_model(root / "models" / "v1", seed=1)
    repo = write_feature_repo(root / "feast", customers=10)
    server = LocalServer(root / "serving", free_port(), str(repo), grpc_port=free_port())
    server.apply(Deployment().with_changes(stable="v1", models={"v1": str(model_dir)}))
    processes: dict[str, subprocess.Popen] = {}
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(server.start)  # waits for the server while the rest is built
        try:
            feast_env = _feast_home(root / "feast-home")
            feast_port, evidently_port = free_port(), free_port()
            evidently_ui = f"http://127.0.0.1:{evidently_port}"
            urls = _drift_snapshots(root / "evidently", evidently_ui)
            feast = [str(BIN / "feast"), "-c", "feast_repo"]
            evidently = [str(BIN / "evidently"), "ui", "--workspace", str(root / "evidently")]
            for name, command, env in (
                ("feast_ui", [*feast, "ui", "-h", "127.0.0.1", "-p", str(feast_port)], feast_env),
                ("describe_view", [*feast, "feature-views", "describe", "customer_features"], feast_env),
                ("describe_entity", [*feast, "entities", "describe", "customer"], feast_env),
                ("evidently_ui", [*evidently, "--host", "127.0.0.1", "--port", str(evidently_port)], None),
            ):
                processes[name] = _spawn(command, root / f"{name}.log", env)
            started.result()
            yield Tools(root, server, f"http://127.0.0.1:{feast_port}", evidently_ui, urls, processes)
        finally:
            server.stop()
            for process in processes.values():
                _stop(process)


def _wait_for(tools: Tools, name: str, url: str, timeout: float = 120) -> httpx.Response:
    process, log = tools.processes[name], tools.root / f"{name}.err"
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


def _described(tools: Tools, name: str) -> dict:
    import yaml

    process = tools.processes[name]
    assert process.wait(timeout=300) == 0, (tools.root / f"{name}.err").read_text()
    return yaml.safe_load((tools.root / f"{name}.log").read_text())["spec"]


async def _grpc_infer(target: str, customer_ids: list[str], headers=None, channel_args=None):
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    tensor = InferInput("customer_id", [len(customer_ids)], "BYTES", customer_ids)
    client = InferenceGRPCClient(target, timeout=30, channel_args=channel_args)
    try:
        return await client.infer(InferRequest(MODEL_NAME, [tensor]), headers=headers)
    finally:
        await client.close()


def test_grpc_model_infer_equals_the_rest_answer(tools):
    server = tools.server
    body = {"inputs": [{"name": "customer_id", "datatype": "BYTES", "shape": [3], "data": CUSTOMERS}]}
    rest = httpx.post(server.endpoint + V2, json=body, timeout=30).json()
    grpc_answer = asyncio.run(_grpc_infer(server.grpc_target, CUSTOMERS))

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
    ids = grpc_outputs["prediction_id"]
    assert all(ids[:2]) and ids != rest_outputs["prediction_id"]


def test_grpc_refuses_a_version_that_is_not_deployed(tools):
    import grpc

    with pytest.raises(grpc.RpcError) as refused:
        asyncio.run(_grpc_infer(tools.server.grpc_target, ["c00001"], headers=(("x-model-version", "v9"),)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "v9" in refused.value.details()


def test_grpc_answers_unavailable_naming_the_fault_when_the_online_store_is_locked(tools):
    """The REST server's 503 (tests/reliability/test_dependencies.py), as gRPC UNAVAILABLE, not INTERNAL."""
    import sqlite3

    import grpc

    locker = sqlite3.connect(tools.root / "feast" / "online_store.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(grpc.RpcError) as refused:  # without the client's retries of UNAVAILABLE
            asyncio.run(
                _grpc_infer(tools.server.grpc_target, ["c00001"], channel_args=[("grpc.enable_retries", 0)])
            )
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "locked" in refused.value.details()
    assert asyncio.run(_grpc_infer(tools.server.grpc_target, ["c00001"])).model_version == "v1"


def test_metrics_carry_the_serving_version(tools):
    from prometheus_client.parser import text_string_to_metric_families

    asyncio.run(_grpc_infer(tools.server.grpc_target, ["c00003", "nobody"]))
    text = httpx.get(tools.server.endpoint + "/metrics", timeout=10).text
    samples = {
        (s.name, s.labels.get("model_version"), s.labels.get("role"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("churn_predictor_served", "v1", "stable", None)] == 1
    assert samples[("churn_predictor_predictions_total", "v1", "stable", "scored")] >= 1
    assert samples[("churn_predictor_predictions_total", "v1", "stable", "unknown_customer")] >= 1
    assert samples[("churn_predictor_score_seconds_count", "v1", "stable", None)] >= 1


def test_the_server_keeps_its_metrics_in_memory(tools):
    """Feast, imported here, set prometheus_client's multi-process folder, deleted when this process
    exits; the detached server must not write its metrics there."""
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    environ = Path(f"/proc/{tools.server.pid()}/environ").read_bytes().split(b"\0")
    assert not [v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC")]


def test_feast_ui_answers_on_the_project_repo(tools):
    page = _wait_for(tools, "feast_ui", f"{tools.feast_ui}/")
    assert "<html" in page.text.lower()
    projects = httpx.get(f"{tools.feast_ui}/projects-list.json", timeout=10).json()
    assert [p["id"] for p in projects["projects"]] == ["lakehouse_ml"]
    view = httpx.get(
        f"{tools.feast_ui}/api/v1/feature_views/customer_features",
        params={"project": "lakehouse_ml"},
        timeout=10,
    )
    assert view.status_code == 200, view.text
    assert "Sum of order amounts" in view.text


def test_feature_views_describe_shows_the_dbt_column_docs(tools):
    from lakehouse_ml.features.gold_docs import gold_model_docs

    docs = gold_model_docs("fct_customer_features")
    view, entity = _described(tools, "describe_view"), _described(tools, "describe_entity")
    assert (view["owner"], view["description"]) == (docs.owner, docs.description)
    assert {f["name"]: f["description"] for f in view["features"]} == {
        name: docs.column(name) for name in [f["name"] for f in view["features"]]
    }
    assert len(view["features"]) == 7 and all(f["tags"]["owner"] == docs.owner for f in view["features"])
    assert (entity["owner"], entity["description"]) == (docs.owner, docs.column("customer_id"))


def test_evidently_ui_lists_the_snapshots_of_the_workspace(tools):
    (project,) = _wait_for(tools, "evidently_ui", f"{tools.evidently_ui}/api/projects").json()
    assert project["name"] == f"churn-predictor {DRIFT_KIND}"
    listed = httpx.get(f"{tools.evidently_ui}/api/projects/{project['id']}/snapshots", timeout=10).json()
    assert sorted(s["name"] for s in listed) == ["2024-03-10 v1", "2024-03-17 v1"]
    expected = sorted(f"{tools.evidently_ui}/projects/{project['id']}/reports/{s['id']}" for s in listed)
    assert sorted(tools.snapshot_urls) == expected
    assert httpx.get(tools.snapshot_urls[0], timeout=10).status_code == 200  # the asset page's link opens
