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
