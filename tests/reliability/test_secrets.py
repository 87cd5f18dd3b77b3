"""Planted secrets in every credential setting (Trino, Redis, PostgreSQL, S3, Polaris) appear nowhere a
person or another tool can read them: resource reprs, run events and their error messages, logs, the
rendered KServe manifest, configuration error messages."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from lakehouse_ml.features.store import FeatureStoreConfigError, redis_connection_string
from tests.support.planted_secrets import PLANTED, SECRETS, SETTINGS


def _leaks(text: str) -> list[str]:
    return [marker for marker in PLANTED if marker in text]


@pytest.fixture
def prod_resources(monkeypatch, lakehouse_home) -> dict[str, Any]:
    for name, value in {**SETTINGS, **SECRETS}.items():
        monkeypatch.setenv(name, value)
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.resources import build_resources

    return build_resources(Settings.from_env())


def test_resources_do_not_show_secrets(prod_resources):
    for name, resource in prod_resources.items():
        assert _leaks(repr(resource)) == [], name
        assert _leaks(str(resource)) == [], name


@dg.asset
def query_trino(warehouse: dg.ResourceParam[Any]):
    warehouse.query("select 1")


@dg.asset
def open_polaris(iceberg: dg.ResourceParam[Any]):
    iceberg.predictions_table()


@dg.asset
def open_feature_store(feature_store: dg.ResourceParam[Any]):
    feature_store.open().list_feature_views()


@pytest.mark.parametrize(
    "asset", [query_trino, open_polaris, open_feature_store], ids=lambda a: a.key.path[-1]
)
def test_failing_runs_do_not_show_secrets(prod_resources, asset, capsys, caplog):
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources=prod_resources, instance=instance, raise_on_error=False)
        assert not result.success  # every service is unreachable: the step fails with its error
        records = instance.all_logs(result.run_id)
        text = "\n".join(str(record.user_message) + repr(record.dagster_event) for record in records)
    failure = result.get_step_failure_events()[0].step_failure_data.error
    chain, error = [], failure
    while error is not None:
        chain.append(error.to_string())
        error = error.cause or error.context
    assert _leaks(text) == [] and _leaks("\n".join(chain)) == []
    captured = capsys.readouterr()
    assert _leaks(captured.out + captured.err + caplog.text) == []


def test_the_kserve_manifest_refers_to_secrets_by_name(prod_resources):
    import json

    from lakehouse_ml.serving.manifest import InferenceServiceSpec, inference_service, render

    server = prod_resources["model_server"]
    spec = InferenceServiceSpec(
        namespace="ml",
        image="lakehouse-ml:test",
        storage_uri="s3://lake/models/v1",
        model_version="v1",
        secret_name=server.secret_name,
    )
    manifest = json.dumps(render(inference_service(spec)))
    assert _leaks(manifest) == []
    assert "secretKeyRef" in manifest


@pytest.mark.parametrize(
    "url", ["http://:planted-redis-Zq82@cache:6379", "redis://:planted-redis-Zq82@cache:6379/zero"]
)
def test_configuration_errors_do_not_echo_the_password(url):
    with pytest.raises(FeatureStoreConfigError) as refused:
        redis_connection_string(url)
    assert _leaks(str(refused.value)) == []
    assert "LAKEHOUSE_REDIS_URL" in str(refused.value)
