"""The prod serving path (``KServeModelServing``) without a cluster: models uploaded to S3 (moto's server),
the real ``KServeClient`` in front of a stand-in Kubernetes API (merge-patch semantics, generations, a
controller that reconciles late, every object validated against KServe's CRD schema:
tests/support/standins/kserve_standin.py),
and the revisions played by real ``churn-predictor`` servers started with the manifest's own arguments.
A canary whose revision fails its smoke test is rolled back to the stable version."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.model_artifact import sha256_of
from lakehouse_ml.resources.model_server import KServeModelServing
from lakehouse_ml.serving.canary_analysis import parse_server_metrics
from lakehouse_ml.serving.manifest import InferenceServiceSpec, inference_service, render
from tests.support.model_builders import write_feature_repo, write_model
from tests.support.ports import free_port
from tests.support.standins.kserve_standin import StandInCustomObjectsApi, kserve_client

pytestmark = [pytest.mark.slow, pytest.mark.s3]
SMOKE = ["c00001", "c00002", "c00003"]


def pod_command(version: str, model_dir: Path, port: int, feature_repo: Path) -> list[str]:
    """The container command of the rendered manifest, with this machine's paths and port."""
    spec = InferenceServiceSpec("ml", "lakehouse-ml:test", f"s3://unused/{version}", version)
    container = render(inference_service(spec))["spec"]["predictor"]["containers"][0]
    local = {"--model_dir": str(model_dir), "--http_port": str(port), "--bind_host": "127.0.0.1"}
    args = []
    for arg in container["args"]:
        name = arg.split("=", 1)[0]
        args.append(f"{name}={local[name]}" if name in local else arg)
    return [sys.executable, *container["command"][1:], *args, f"--feature_repo={feature_repo}"]


@pytest.fixture(scope="module")
def pods(tmp_path_factory):
    """Two revisions, v1 and v2, each a real server in pod mode: {version: (base URL, model folder)}."""
    root = tmp_path_factory.mktemp("pods")
    repo = write_feature_repo(root / "feast", customers=100)
    started = {}
    for seed, version in enumerate(("v1", "v2")):
        folder = write_model(root / version, seed=seed)
        port = free_port()
        process = subprocess.Popen(pod_command(version, folder, port, repo), stdout=subprocess.DEVNULL)
        started[version] = (process, f"http://127.0.0.1:{port}", folder)
    for process, url, _ in started.values():
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert process.poll() is None, "the pod server exited"
                assert time.monotonic() < deadline, "the pod server did not get ready"
                time.sleep(0.3)
    yield {version: (url, folder) for version, (_, url, folder) in started.items()}
    for process, _, _ in started.values():
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def serving(s3_endpoint, monkeypatch):
    import boto3

    bucket = f"models-{time.time_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)

    def with_api(api: StandInCustomObjectsApi) -> KServeModelServing:
        monkeypatch.setattr(KServeModelServing, "_client", lambda self: kserve_client(api))
        return KServeModelServing(
            namespace="ml",
            image="lakehouse-ml:test",
            model_store_uri=f"s3://{bucket}/churn",
            s3_endpoint=s3_endpoint,
            ready_poll_seconds=0.01,
        )

    return with_api


def deploy(serving: KServeModelServing, version: str, folder: Path) -> dict:
    return serving.deploy(version, folder, sha256_of(folder / "model.joblib"), SMOKE)


def test_first_deployment_canary_promote_through_the_kserve_client(pods, serving):
    import s3fs

    api = StandInCustomObjectsApi({version: url for version, (url, _) in pods.items()})
    kserve = serving(api)

    first = deploy(kserve, "v1", pods["v1"][1])
    assert (first["role"], first["stable"], first["canary"]) == ("stable", "v1", None)
    assert first["smoke_test"]["scored"] == len(SMOKE)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": kserve.s3_endpoint})
    assert fs.exists(f"{kserve.model_store_uri.removeprefix('s3://')}/v1/model.joblib")

    canary = deploy(kserve, "v2", pods["v2"][1])
    assert (canary["role"], canary["stable"], canary["canary"]) == ("canary", "v1", "v2")
    predictor = api.applied[-1]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10 and predictor["storageUris"][0]["uri"].endswith("/v2")
    assert canary["smoke_test"]["sample"]["model_version"] == "v2"
    assert api.traffic("ml", "churn-predictor") == {"v2": 10, "v1": 90}

    # The canary analysis reads each revision's per-version counters at its tag URL.
    for url, _ in pods.values():
        urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/v1/models/churn-predictor:predict",
                data=b'{"instances": [{"customer_id": "c00001"}]}',
                headers={"Content-Type": "application/json"},
            ),
            timeout=30,
        ).close()
    served = parse_server_metrics(kserve.metrics_text())
    assert served["v1"].requests >= 1 and served["v2"].requests >= 1 and served["v2"].errors == 0

    promoted = kserve.promote()
    assert (promoted["stable"], promoted["canary"]) == ("v2", None)
    assert api.traffic("ml", "churn-predictor") == {"v2": 100}
    assert kserve.current()["canary_traffic_percent"] == 0


def test_rollback_of_a_healthy_canary_gives_the_stable_version_all_traffic(pods, serving):
    api = StandInCustomObjectsApi({version: url for version, (url, _) in pods.items()})
    kserve = serving(api)
    deploy(kserve, "v1", pods["v1"][1])
    deploy(kserve, "v2", pods["v2"][1])

    rolled_back = kserve.rollback()
    assert (rolled_back["removed"], rolled_back["stable"], rolled_back["canary"]) == ("v2", "v1", None)
    assert api.traffic("ml", "churn-predictor") == {"v1": 100}
    assert api.applied[-1]["spec"]["predictor"]["storageUris"][0]["uri"].endswith("/v1")


def test_a_canary_that_fails_its_smoke_test_is_rolled_back(pods, serving):
    v1_url = pods["v1"][0]
    api = StandInCustomObjectsApi({"v1": v1_url, "v2": v1_url})  # the new revision still serves v1
    kserve = serving(api)
    deploy(kserve, "v1", pods["v1"][1])

    with pytest.raises(dg.Failure, match="smoke test of v2"):
        deploy(kserve, "v2", pods["v2"][1])
    restored = api.applied[-1]
    assert restored["metadata"]["labels"]["lakehouse-ml/model-version"] == "v1"
    assert restored["spec"]["predictor"]["storageUris"][0]["uri"].endswith("/v1")
    assert restored["spec"]["predictor"]["canaryTrafficPercent"] == 100
    assert kserve.current()["stable"] == "v1" and kserve.current()["canary"] is None
