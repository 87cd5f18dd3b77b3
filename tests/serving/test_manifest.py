"""The prod InferenceService manifest validates against KServe's CRD schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from lakehouse_ml.serving.manifest import InferenceServiceSpec, inference_service, render

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "kserve-inferenceservice-v1beta1.json").read_text())


def _spec(**changes) -> InferenceServiceSpec:
    base = dict(
        namespace="ml",
        image="registry.local/lakehouse-ml:1.0",
        storage_uri="s3://models/churn/v3",
        model_version="v3",
        canary_traffic_percent=10,
    )
    return InferenceServiceSpec(**{**base, **changes})


@pytest.mark.parametrize("canary", [10, None])
def test_manifest_is_valid_against_the_crd_schema(canary):
    manifest = render(inference_service(_spec(canary_traffic_percent=canary)))
    jsonschema.Draft7Validator(SCHEMA).validate(manifest)
    predictor = manifest["spec"]["predictor"]
    assert manifest["kind"] == "InferenceService" and manifest["metadata"]["name"] == "churn-predictor"
    assert predictor["storageUris"] == [{"uri": "s3://models/churn/v3", "mountPath": "/mnt/models"}]
    assert predictor.get("canaryTrafficPercent") == canary
    args = predictor["containers"][0]["args"]
    assert "--model_version=v3" in args and "--model_dir=/mnt/models" in args


def test_with_a_spool_claim_every_pod_spools_to_the_shared_volume():
    manifest = render(inference_service(_spec(spool_claim="lakehouse-ml-prediction-spool")))
    jsonschema.Draft7Validator(SCHEMA).validate(manifest)
    predictor = manifest["spec"]["predictor"]
    container = predictor["containers"][0]
    assert predictor["volumes"] == [
        {"name": "prediction-spool", "persistentVolumeClaim": {"claimName": "lakehouse-ml-prediction-spool"}}
    ]
    assert container["volumeMounts"] == [{"name": "prediction-spool", "mountPath": "/var/spool/lakehouse-ml"}]
    assert "--spool_dir=/var/spool/lakehouse-ml" in container["args"]
    assert "--no_prediction_log" not in container["args"]

    without = render(inference_service(_spec()))["spec"]["predictor"]
    assert "--no_prediction_log" in without["containers"][0]["args"] and "volumes" not in without


def test_schema_catches_a_broken_manifest():
    manifest = render(inference_service(_spec()))
    manifest["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(manifest)


@pytest.mark.parametrize("changes", [{"storage_uri": "/local/model"}, {"canary_traffic_percent": 150}])
def test_bad_spec_is_refused(changes):
    with pytest.raises(ValueError):
        inference_service(_spec(**changes))


def test_every_pod_serves_grpc_v2_and_the_routed_port_is_declared():
    rest = render(inference_service(_spec()))
    grpc = render(inference_service(_spec(protocol="grpc")))
    for manifest in (rest, grpc):
        jsonschema.Draft7Validator(SCHEMA).validate(manifest)
        assert "--grpc_port=8081" in manifest["spec"]["predictor"]["containers"][0]["args"]
    rest_container = rest["spec"]["predictor"]["containers"][0]
    grpc_container = grpc["spec"]["predictor"]["containers"][0]
    assert rest_container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    assert rest_container["readinessProbe"]["httpGet"]["port"] == 8080
    assert grpc_container["ports"] == [{"name": "h2c", "containerPort": 8081, "protocol": "TCP"}]
    assert grpc_container["readinessProbe"] == {"tcpSocket": {"port": 8081}}
    with pytest.raises(ValueError, match="protocol"):
        inference_service(_spec(protocol="http2"))
