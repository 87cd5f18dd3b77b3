"""Helpers for the deploy/ validation tests: the Dagster chart's values, its instance rendering and the
Kubernetes JSON schemas that kubernetes-validate ships, all offline."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART_SCHEMAS = ROOT / "tests" / "data" / "dagster-helm"
KSERVE_SCHEMA = ROOT / "tests" / "data" / "kserve-inferenceservice-v1beta1.json"
KUBERNETES_VERSION = "1.37.0"
# The chart's values.schema.json points its Kubernetes types at this (unreachable) URL.
CHART_K8S_DEFINITIONS = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json"


def helm_merge(defaults: dict, overrides: dict) -> dict:
    """Helm's values merge: maps merge key by key, anything else (lists too) is replaced; null deletes."""
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def chart_values(overrides: dict | None = None) -> dict:
    directory = CHART_SCHEMAS
    defaults = yaml.safe_load((directory / "values.yaml").read_text())
    ours = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    return helm_merge(helm_merge(defaults, ours), overrides or {})


@cache
def kubernetes_definitions() -> dict:
    """``_definitions.json`` of kubernetes-validate's schemas. Not the strict ones: the chart's schema adds
    its own keys (``enabled``) to Kubernetes types such as ``Probe``."""
    import importlib.resources

    folder = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    path = folder / f"v{KUBERNETES_VERSION}-local" / "_definitions.json"
    return json.loads(path.read_text())


def chart_validator():
    """A Draft 7 validator for the chart's values schema whose Kubernetes ``$ref``s resolve to the
    schemas kubernetes-validate ships (served under the chart's URL, with ``definitions`` as an alias of
    ``$defs``), so nothing is fetched and nothing is waved through."""
    import jsonschema
    from referencing import Registry, Resource

    schema = json.loads((CHART_SCHEMAS / "values.schema.json").read_text())
    definitions = kubernetes_definitions()
    served = Resource.from_contents({**definitions, "definitions": definitions["$defs"]})
    registry = Registry().with_resources([(CHART_K8S_DEFINITIONS, served), (definitions["$id"], served)])
    return jsonschema.Draft7Validator(schema, registry=registry)


def render_instance(values: dict, release_namespace: str) -> dict:
    """The instance parts of the chart's ConfigMap ``<release>-instance`` (templates/helpers/instance/
    ``_postgresql.tpl``, ``_run-launcher.tpl`` (K8sRunLauncher), ``_run-coordinator.tpl`` (queued)),
    rendered from ``values`` as the chart does."""
    postgres = values["postgresql"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    run_launcher = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or release_namespace,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}]
        + [item["name"] for item in launcher["envConfigMaps"] if "name" in item],
    }
    if launcher["envSecrets"]:
        run_launcher["env_secrets"] = [item["name"] for item in launcher["envSecrets"] if "name" in item]
    for key, field in (("envVars", "env_vars"), ("volumeMounts", "volume_mounts"), ("volumes", "volumes")):
        if launcher.get(key):
            run_launcher[field] = launcher[key]
    coordinator = {
        field: queued[key]
        for key, field in (
            ("maxConcurrentRuns", "max_concurrent_runs"),
            ("tagConcurrencyLimits", "tag_concurrency_limits"),
            ("dequeueIntervalSeconds", "dequeue_interval_seconds"),
        )
        if queued.get(key)
    }
    return {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": postgres["postgresqlUsername"],
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                    "hostname": postgres["postgresqlHost"],
                    "db_name": postgres["postgresqlDatabase"],
                    "port": postgres["service"]["port"],
                    "params": postgres["postgresqlParams"],
                }
            }
        },
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": run_launcher},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": coordinator,
        },
    }
