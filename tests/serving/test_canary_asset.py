"""``canary_analysis`` on a real local deployment: an automatic promote, then automatic rollbacks of a canary
whose scores are far from stable's and of one that errors."""

from __future__ import annotations

import dagster as dg
import pytest

from lakehouse_ml.assets.canary import canary_analysis
from lakehouse_ml.assets.predictions import churn_predictions
from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.model_registry import Remote
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.resources.model_server import LocalModelServing
from lakehouse_ml.resources.registry import ModelRegistryResource
from tests.support.model_builders import (
    LONG_TENURE_DAYS,
    sample_features,
    write_failing_model,
    write_feature_repo,
    write_model,
)
from tests.support.ports import free_port

pytestmark = pytest.mark.slow
CUSTOMERS = 300
FEATURES = sample_features(CUSTOMERS)
CUSTOMER_IDS = FEATURES["customer_id"].tolist()
SMOKE = FEATURES[FEATURES["tenure_days"] <= LONG_TENURE_DAYS]["customer_id"].head(5).tolist()


@pytest.fixture
def deployment(lakehouse_home, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_CANARY_MIN_PASSES", "2")
    monkeypatch.setenv("LAKEHOUSE_CANARY_MIN_PREDICTIONS", "50")
    repo = write_feature_repo(lakehouse_home / "feast-sample", customers=CUSTOMERS)
    serving = LocalModelServing(
        serving_dir=str(lakehouse_home / "serving"),
        port=free_port(),
        feature_repo=str(repo),
        canary_traffic_percent=50,
    )
    registry = ModelRegistry(lakehouse_home / "registry", Remote(str(lakehouse_home / "dvc-remote")))
    resources = {
        "model_server": serving,
        "model_registry": ModelRegistryResource(
            registry_dir=str(lakehouse_home / "registry"), remote_url=str(lakehouse_home / "dvc-remote")
        ),
        "iceberg": LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")),
    }
    yield registry, resources
    serving.server().stop()


def _deploy(registry: ModelRegistry, serving: LocalModelServing, folder) -> str:
    version = registry.register(folder, {"kfp_run_id": folder.name})
    outcome = serving.deploy(version, registry.checkout(version), registry.model_sha256(version), SMOKE)
    registry.promote(version, "production" if outcome["role"] == "stable" else "staging")
    return version


def _traffic(predict_url: str, customer_ids: list[str], batch_size: int = 10, retries: int = 2) -> None:
    """Clients' requests to the server, a few customers each (the split assigns whole requests); a 503 is
    sent again, and the traffic split then routes it to the stable version or the canary anew."""
    import httpx

    with httpx.Client(timeout=60) as client:
        for start in range(0, len(customer_ids), batch_size):
            body = {"instances": [{"customer_id": c} for c in customer_ids[start : start + batch_size]]}
            for _ in range(retries + 1):
                response = client.post(predict_url, json=body)
                if response.status_code != 503:
                    break
            assert response.status_code == 200, response.text[:500]


def _refresh(resources, instance) -> dict:
    """Online traffic, its log load, then the analysis."""
    _traffic(resources["model_server"].predict_url(), CUSTOMER_IDS)
    result = dg.materialize([churn_predictions, canary_analysis], resources=resources, instance=instance)
    event = result.asset_materializations_for_node("canary_analysis")[0]
    return {key: getattr(value, "value", value) for key, value in event.metadata.items()}


def test_canary_is_promoted_then_a_shifted_and_an_erroring_canary_rolled_back(deployment, lakehouse_home):
    registry, resources = deployment
    serving = resources["model_server"]
    instance = dg.DagsterInstance.ephemeral()
    assert _deploy(registry, serving, write_model(lakehouse_home / "m1", seed=1)) == "v1"
    assert _refresh(resources, instance)["decision"] == "no canary"

    assert _deploy(registry, serving, write_model(lakehouse_home / "m2", seed=2)) == "v2"
    first = _refresh(resources, instance)
    assert (first["decision"], first["verdict"], first["state_consecutive_passes"]) == ("wait", "pass", 1)
    assert "passing evaluation 1 of 2" in first["reasons"]
    assert first["measurements"]["canary_errors"] == 0 and first["measurements"]["canary_predictions"] >= 50
    second = _refresh(resources, instance)
    assert (second["decision"], second["state_consecutive_passes"]) == ("promote", 2)
    assert serving.current()["stable"] == "v2" and serving.current()["canary"] is None
    assert registry.production_version() == "v2"

    bad = write_model(lakehouse_home / "m3", seed=3, churn_after_days=5)
    assert _deploy(registry, serving, bad) == "v3"
    judged = _refresh(resources, instance)
    assert (judged["decision"], judged["verdict"]) == ("rollback", "fail")
    assert "score distribution: PSI" in judged["reasons"]
    assert serving.current() | {"endpoint": None} == {
        "stable": "v2",
        "canary": None,
        "canary_traffic_percent": 0,
        "endpoint": None,
    }
    assert registry.stage_version("rolled_back") == "v3"
    answer = serving.server().predict(CUSTOMER_IDS[:20])
    assert answer["model_version"] == "v2"
    assert _refresh(resources, instance)["decision"] == "no canary"

    # A canary that errors on a third of the customers: the refresh still completes (scoring retries
    # land on the stable version) and the analysis rolls it back on its error rate.
    assert _deploy(registry, serving, write_failing_model(lakehouse_home / "m4", seed=4)) == "v4"
    failing = _refresh(resources, instance)
    assert (failing["decision"], failing["verdict"]) == ("rollback", "fail")
    assert "error rate: canary v4 failed" in failing["reasons"]
    assert failing["measurements"]["canary_errors"] >= 1
    assert serving.current()["stable"] == "v2" and serving.current()["canary"] is None
    assert registry.stage_version("rolled_back") == "v4"
