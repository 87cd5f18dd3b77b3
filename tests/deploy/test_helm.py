"""deploy/helm/values.yaml, merged over the official Dagster chart's default values, validates against the
chart's values schema, with the schema's Kubernetes types resolved offline."""

from __future__ import annotations

import tomllib

import pytest

from tests.support.deploy_kit import DEPLOY, ROOT, chart_validator, chart_values, load_documents


def _errors(values: dict) -> list[str]:
    return [f"{error.json_path}: {error.message[:200]}" for error in chart_validator().iter_errors(values)]


def test_values_merged_over_the_chart_defaults_match_the_schema():
    assert _errors(chart_values()) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"dagster-user-deployments": {"deployments": [{"name": "x", "image": {}, "port": "3030"}]}},
        {
            "dagsterDaemon": {
                "runCoordinator": {"config": {"queuedRunCoordinator": {"maxConcurrentRuns": "4"}}}
            }
        },
        {"postgresql": {"service": {"port": "5432"}}},
        # a Kubernetes type behind one of the chart's remote $refs: claimName must be a string
        {
            "runLauncher": {
                "config": {
                    "k8sRunLauncher": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": 5}}]}
                }
            }
        },
    ],
    ids=["port-as-string", "max-runs-as-string", "postgres-port-as-string", "k8s-volume-claim-as-int"],
)
def test_a_wrongly_typed_value_fails(overrides):
    assert _errors(chart_values(overrides))


def test_the_user_code_deployment_serves_this_code_location():
    (deployment,) = chart_values()["dagster-user-deployments"]["deployments"]
    module = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]
    assert f"EXPOSE {deployment['port']}" in (DEPLOY / "Dockerfile").read_text()
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_every_secret_configmap_and_claim_the_chart_uses_is_in_the_manifests():
    values = chart_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    declared = {
        (doc["kind"], doc["metadata"]["name"])
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in load_documents(path)
    }
    used = (
        {("Secret", values["global"]["postgresqlSecretName"])}
        | {("ServiceAccount", values["global"]["serviceAccountName"])}
        | {("Secret", item["name"]) for item in deployment["envSecrets"] + launcher["envSecrets"]}
        | {("ConfigMap", item["name"]) for item in deployment["envConfigMaps"] + launcher["envConfigMaps"]}
        | {
            ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
            for volume in launcher["volumes"]
            if "persistentVolumeClaim" in volume
        }
    )
    assert used - declared == set()
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False


def test_prod_instance_has_the_local_pools_run_queue_limits_and_freshness(tmp_path):
    import dagster as dg

    from lakehouse_ml.orchestration.instance import INSTANCE_SETTINGS, ensure_instance_config
    from lakehouse_ml.orchestration.pools import PREDICTIONS_POOL, RUN_QUEUE_LIMITS

    values = chart_values()
    extra = values["additionalInstanceConfig"]
    assert extra["concurrency"] == {"pools": INSTANCE_SETTINGS["concurrency"]["pools"]}
    assert extra["freshness"] == INSTANCE_SETTINGS["freshness"] == {"enabled": True}
    retries = values["dagsterDaemon"]["runRetries"]["enabled"]
    assert retries is INSTANCE_SETTINGS["run_retries"]["enabled"] is True  # the jobs' RETRY_TAGS act in both
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["tagConcurrencyLimits"] == list(RUN_QUEUE_LIMITS)
    ensure_instance_config(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:  # Dagster accepts the local settings
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == list(RUN_QUEUE_LIMITS)

    from lakehouse_ml.definitions import defs

    graph = defs.resolve_asset_graph()
    writers = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).pools == {PREDICTIONS_POOL}
    }
    assert writers == {
        "batch_scores",
        "churn_predictions",
        "prediction_actuals",
        "churn_predictions_maintenance",
    }
