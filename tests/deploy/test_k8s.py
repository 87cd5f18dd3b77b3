"""The Kubernetes manifests under deploy/k8s validate with kubernetes-validate (strict, a current Kubernetes)
and agree with the names the code and the Helm values use."""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest

from lakehouse_ml.platform.settings import ENV_PREFIX, Settings
from tests.support.deploy_kit import (
    DEPLOY,
    KSERVE_SCHEMA,
    KUBERNETES_VERSION,
    ROOT,
    chart_values,
    load_documents,
)

MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
RUN_NAMESPACE = "lakehouse-ml"


def _all() -> list[dict]:
    return [doc for path in MANIFESTS for doc in load_documents(path)]


def _one(kind: str, name: str) -> dict:
    (doc,) = [d for d in _all() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _validate(doc: dict) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_is_valid_kubernetes(path):
    docs = load_documents(path)
    assert docs
    for doc in docs:
        _validate(doc)


@pytest.mark.parametrize(
    ("kind", "name", "change"),
    [
        (
            "PersistentVolumeClaim",
            "lakehouse-ml-prediction-spool",
            lambda d: d["spec"].update(accessModes="RWX"),
        ),
        ("Role", "lakehouse-ml-runs", lambda d: d["rules"][0].update(verb=["get"])),
        (
            "NetworkPolicy",
            "churn-predictor-egress",
            lambda d: d["spec"]["egress"][0]["ports"][0].update(port=[53]),
        ),
    ],
    ids=["access-modes-as-string", "misspelt-field", "port-as-list"],
)
def test_a_broken_manifest_fails_validation(kind, name, change):
    import kubernetes_validate

    doc = copy.deepcopy(_one(kind, name))
    _validate(doc)
    change(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(doc)


def test_secret_templates_hold_keys_but_no_values():
    secrets = [doc for doc in _all() if doc["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        assert "data" not in secret and secret["stringData"]
        assert set(secret["stringData"].values()) == {""}, secret["metadata"]["name"]


def test_run_pods_and_the_predictor_read_one_secret():
    from lakehouse_ml.serving.manifest import FEATURE_STORE_ENV, SECRET_NAME, InferenceServiceSpec

    (deployment,) = chart_values()["dagster-user-deployments"]["deployments"]
    launcher = chart_values()["runLauncher"]["config"]["k8sRunLauncher"]
    assert {item["name"] for item in launcher["envSecrets"] + deployment["envSecrets"]} == {SECRET_NAME}
    assert InferenceServiceSpec.__dataclass_fields__["secret_name"].default == SECRET_NAME
    assert set(FEATURE_STORE_ENV) <= set(_one("Secret", SECRET_NAME)["stringData"])


def test_every_setting_the_prod_resources_require_is_provided_and_every_provided_one_is_read():
    code = (
        "\n".join(
            path.read_text()
            for folder in ("lakehouse_ml", "feast_repo", "dbt_project/models")
            for path in (ROOT / folder).rglob("*")
            if path.suffix in {".py", ".yaml", ".yml", ".sql"}
        )
        + (ROOT / "dbt_project" / "profiles.yml").read_text()
    )
    required = set(re.findall(r'EnvVar(?:\.int)?\("(LAKEHOUSE_\w+)"\)', code))
    config = _one("ConfigMap", "lakehouse-ml-config")["data"]
    secret = _one("Secret", "lakehouse-ml-secrets")["stringData"]
    assert required - set(config) - set(secret) == set()
    provided = {key for key in {*config, *secret} if key.startswith("LAKEHOUSE_")}
    read = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | set(
        re.findall(r"LAKEHOUSE_\w+", code)
    )
    assert provided - read == set()
    assert config["LAKEHOUSE_PROFILE"] == "prod"


def test_the_spool_claim_is_the_one_the_code_and_the_run_pods_use():
    from lakehouse_ml.platform.k8s_names import SPOOL_CLAIM

    claim = _one("PersistentVolumeClaim", SPOOL_CLAIM)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["namespace"] == RUN_NAMESPACE
    assert _one("ConfigMap", "lakehouse-ml-config")["data"]["LAKEHOUSE_PREDICTION_SPOOL_CLAIM"] == SPOOL_CLAIM


def test_roles_grant_only_what_runs_serving_and_training_need():
    runs = {
        (group, resource): set(rule["verbs"])
        for rule in _one("Role", "lakehouse-ml-runs")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert runs[("batch", "jobs")] >= {"create", "get", "watch"}
    assert runs[("", "pods/log")] == {"get"}
    assert runs[("serving.kserve.io", "inferenceservices")] == {"create", "get", "list", "watch", "patch"}
    assert "secrets" not in {resource for _, resource in runs}
    training = {
        resource for rule in _one("Role", "lakehouse-ml-training")["rules"] for resource in rule["resources"]
    }
    assert {"runs", "experiments"} <= training
    for doc in _all():
        for rule in doc.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], doc["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_role_bindings_bind_existing_roles_to_the_dagster_service_account():
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in _all() if d["kind"] == "ServiceAccount"
    }
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in _all() if d["kind"] == "Role"}
    bindings = [d for d in _all() if d["kind"] == "RoleBinding"]
    assert len(bindings) == len(roles) == 2
    for binding in bindings:
        assert (binding["metadata"]["namespace"], binding["roleRef"]["name"]) in roles
        for subject in binding["subjects"]:
            assert (subject["namespace"], subject["name"]) in accounts
            assert subject["name"] == chart_values()["global"]["serviceAccountName"]


def test_the_predictor_may_reach_only_dns_redis_the_feast_registry_and_s3():
    from lakehouse_ml.serving.names import MODEL_NAME

    policy = _one("NetworkPolicy", "churn-predictor-egress")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"serving.kserve.io/inferenceservice": MODEL_NAME}}
    assert policy["policyTypes"] == ["Egress"]
    ports = sorted({(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]})
    assert ports == [("TCP", 53), ("TCP", 443), ("TCP", 5432), ("TCP", 6379), ("UDP", 53)]
    assert all(rule.get("to") for rule in policy["egress"])  # no rule without a destination


def test_the_inference_service_the_code_creates_fits_the_deploy_kit():
    from lakehouse_ml.serving.manifest import InferenceServiceSpec, inference_service, render

    config = _one("ConfigMap", "lakehouse-ml-config")["data"]
    manifest = render(
        inference_service(
            InferenceServiceSpec(
                namespace=config["LAKEHOUSE_KSERVE_NAMESPACE"],
                image=config["LAKEHOUSE_IMAGE"],
                storage_uri=f"{config['LAKEHOUSE_MODEL_STORE_URI']}/v1",
                model_version="v1",
                service_account=config["LAKEHOUSE_KSERVE_SERVICE_ACCOUNT"],
                spool_claim=config["LAKEHOUSE_PREDICTION_SPOOL_CLAIM"],
            )
        )
    )
    import json

    jsonschema.Draft7Validator(json.loads(KSERVE_SCHEMA.read_text())).validate(manifest)
    predictor = manifest["spec"]["predictor"]
    account = _one("ServiceAccount", predictor["serviceAccountName"])
    assert account["metadata"]["namespace"] == manifest["metadata"]["namespace"] == RUN_NAMESPACE
    s3 = _one("Secret", account["secrets"][0]["name"])
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(s3["stringData"])
    assert "serving.kserve.io/s3-endpoint" in s3["metadata"]["annotations"]
    secret_refs = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for env in predictor["containers"][0]["env"]
        if "valueFrom" in env
    }
    assert secret_refs == {_one("Secret", "lakehouse-ml-secrets")["metadata"]["name"]}
