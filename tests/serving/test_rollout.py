"""Local rollouts end to end: first deployment, canary split, failed versions, promote, rollback, SIGKILL."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from lakehouse_ml.model_artifact import sha256_of
from lakehouse_ml.predictions.spool_loader import load_spool
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.serving import rollout
from lakehouse_ml.serving.deployment import read_deployment, read_status
from lakehouse_ml.serving.process import LocalServer, ServingError
from tests.support.model_builders import write_feature_repo, write_model
from tests.support.ports import free_port

pytestmark = pytest.mark.slow
SMOKE = ["c00001", "c00002", "c00003"]
ANSWERS_BEFORE_KILL = 300  # the kill lands mid-stream, with requests in flight on every worker


@pytest.fixture(scope="module")
def feature_repo(tmp_path_factory):
    return write_feature_repo(tmp_path_factory.mktemp("feast"), customers=100)


@pytest.fixture
def server(lakehouse_home, feature_repo):
    local = LocalServer(lakehouse_home / "serving", free_port(), str(feature_repo))
    yield local
    local.stop()


def _model(home, name, seed):
    folder = write_model(home / "registry-checkouts" / name, seed=seed)
    return folder, sha256_of(folder / "model.joblib")


def _versions(server: LocalServer, requests: int, threads: int = 4) -> Counter:
    """Send ``requests`` single-customer requests over keep-alive connections; count the serving versions."""

    def worker(count: int) -> Counter:
        seen: Counter = Counter()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        path = server.predict_url.removeprefix(server.endpoint)
        for n in range(count):
            body = json.dumps({"instances": [{"customer_id": f"c{n % 100:05d}"}]})
            connection.request("POST", path, body, {"content-type": "application/json"})
            answer = json.loads(connection.getresponse().read())
            assert answer["predictions"][0]["model_version"] == answer["model_version"]
            seen[answer["model_version"]] += 1
        connection.close()
        return seen

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(worker, [requests // threads] * threads), Counter())


def test_canary_lifecycle_and_failed_versions_leave_the_old_one_serving(server, lakehouse_home):
    v1, v1_hash = _model(lakehouse_home, "v1", 1)
    first = rollout.deploy(server, "v1", v1, v1_hash, 10, SMOKE)
    assert first.role == "stable" and server.predict(SMOKE)["model_version"] == "v1"

    v2, v2_hash = _model(lakehouse_home, "v2", 2)
    second = rollout.deploy(server, "v2", v2, v2_hash, 10, SMOKE)
    assert (second.role, second.deployment.stable, second.deployment.canary) == ("canary", "v1", "v2")
    served = _versions(server, 10_000)
    assert abs(served["v2"] / 100 - 10) <= 2 and set(served) == {"v1", "v2"}

    broken, _ = _model(lakehouse_home, "v3", 3)
    (broken / "model.onnx").write_bytes(b"corrupt")  # what the server scores with
    with pytest.raises(ServingError, match="rejected"):
        rollout.deploy(server, "v3", broken, sha256_of(broken / "model.joblib"), 10, SMOKE)
    state = read_deployment(server.serving_dir)
    assert (state.stable, state.canary, state.canary_traffic_percent) == ("v1", "v2", 10)
    assert read_status(server.serving_dir)["error"] is None
    assert set(_versions(server, 200)) == {"v1", "v2"}

    wrong, _ = _model(lakehouse_home, "v4", 4)  # names features its compiled model was not built on
    metadata = json.loads((wrong / "metadata.json").read_text())
    metadata["feature_names"] = ["lifetime_value", "tenure_days"]
    (wrong / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ServingError, match="rejected.*not the artifact's feature_names"):
        rollout.deploy(server, "v4", wrong, sha256_of(wrong / "model.joblib"), 10, SMOKE)
    assert read_deployment(server.serving_dir).canary == "v2"
    assert set(_versions(server, 200)) == {"v1", "v2"}

    removed, state = rollout.rollback(server)
    assert removed == "v2" and state.canary is None
    assert set(_versions(server, 200)) == {"v1"}

    rollout.deploy(server, "v2", v2, v2_hash, 25, SMOKE)
    state = rollout.promote(server)
    assert (state.stable, state.canary) == ("v2", None)
    assert set(_versions(server, 200)) == {"v2"}


def test_a_model_file_that_does_not_match_the_registry_is_refused(server, lakehouse_home):
    folder, _ = _model(lakehouse_home, "v1", 1)
    with pytest.raises(ServingError, match="sha256"):
        rollout.deploy(server, "v1", folder, "0" * 64, 10, SMOKE)
    assert server.pid() is None and read_deployment(server.serving_dir).stable is None


def test_sigkill_under_load_loses_and_duplicates_nothing(server, lakehouse_home):
    folder, digest = _model(lakehouse_home, "v1", 1)
    rollout.deploy(server, "v1", folder, digest, 10, SMOKE)
    pid = server.pid()
    answered: list[str] = []
    stop = threading.Event()

    def hammer():
        with httpx.Client(timeout=5) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"instances": [{"customer_id": f"c{(n + k) % 100:05d}"} for k in range(3)]}
                try:
                    answer = client.post(server.predict_url, json=body)
                except httpx.HTTPError:
                    return
                answered.extend(p["prediction_id"] for p in answer.json()["predictions"])

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 120
    while (
        len(answered) < ANSWERS_BEFORE_KILL
        and time.monotonic() < deadline
        and any(worker.is_alive() for worker in workers)
    ):
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    stop.set()
    for worker in workers:
        worker.join()
    assert len(answered) >= ANSWERS_BEFORE_KILL, "the server answered too few requests before the kill"

    table = LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")).predictions_table()
    spool = server.serving_dir / "spool"
    first = load_spool(table, spool)
    second = load_spool(table, spool)
    assert second.rows_inserted == 0
    table.refresh()
    ids = [
        str(i) for i in table.scan(selected_fields=("prediction_id",)).to_arrow()["prediction_id"].to_pylist()
    ]
    assert len(ids) == len(set(ids)) == first.rows_inserted
    assert set(answered) <= set(ids)
