"""The prod ``InferenceService`` for ``churn-predictor``: the project image as a custom predictor.

KServe's storage initializer downloads the model folder from S3 (``storageUris``) to ``/mnt/models``;
the container runs ``python -m lakehouse_ml.serving.server`` in pod mode, reading features from the
prod Feast online store (Redis) configured through a Kubernetes secret. ``canaryTrafficPercent`` on a
patch makes KServe keep the previous revision serving the rest of the traffic.

Every pod serves REST on ``CONTAINER_PORT`` and gRPC V2 on ``GRPC_PORT`` (KServe's defaults). Knative
routes one container port: ``protocol="rest"`` (default) declares the REST port; ``protocol="grpc"``
declares the gRPC port under the name ``h2c``, as KServe documents for gRPC predictors, and the other
port stays reachable on the pod (port-forward, pod IP).

Prediction log: with ``spool_claim`` (a ReadWriteMany PersistentVolumeClaim, also mounted in the Dagster
run pods, see deploy/helm/values.yaml) every pod spools its predictions to ``SPOOL_MOUNT`` and
``churn_predictions`` loads them; without it the pods log nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lakehouse_ml.platform.k8s_names import FEATURE_STORE_ENV, SECRET_NAME, SPOOL_MOUNT
from lakehouse_ml.serving.names import MODEL_NAME

MODEL_MOUNT = "/mnt/models"
CONTAINER_PORT = 8080
GRPC_PORT = 8081
SPOOL_VOLUME = "prediction-spool"
# KServe then gives the newest revision its own URL (traffic tag ``latest``), for smoke tests.
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"


@dataclass(frozen=True)
class InferenceServiceSpec:
    namespace: str
    image: str
    storage_uri: str  # s3://bucket/prefix/<version> holding model.joblib + metadata.json
    model_version: str
    canary_traffic_percent: int | None = None  # None: the new revision takes all traffic
    secret_name: str = SECRET_NAME  # holds the FEATURE_STORE_ENV keys
    service_account: str | None = None  # with S3 read access for the storage initializer
    spool_claim: str | None = None  # ReadWriteMany PVC for the prediction spool; None: no prediction log
    name: str = MODEL_NAME
    protocol: Literal["rest", "grpc"] = "rest"  # the port Knative routes to


def inference_service(spec: InferenceServiceSpec):
    """A ``V1beta1InferenceService`` object (serialize with ``ApiClient().sanitize_for_serialization``)."""
    from kserve import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1PredictorSpec,
    )
    from kserve.models.v1beta1_storage_uri import V1beta1StorageUri
    from kubernetes.client import (
        V1Container,
        V1ContainerPort,
        V1EnvVar,
        V1EnvVarSource,
        V1HTTPGetAction,
        V1ObjectMeta,
        V1PersistentVolumeClaimVolumeSource,
        V1Probe,
        V1SecretKeySelector,
        V1TCPSocketAction,
        V1Volume,
        V1VolumeMount,
    )

    if not spec.storage_uri.startswith("s3://"):
        raise ValueError(f"storage_uri must be an s3:// URI, got {spec.storage_uri!r}")
    if spec.protocol not in ("rest", "grpc"):
        raise ValueError(f"protocol must be 'rest' or 'grpc', got {spec.protocol!r}")
    if spec.canary_traffic_percent is not None and not 0 <= spec.canary_traffic_percent <= 100:
        raise ValueError(f"canary_traffic_percent must be in [0, 100], got {spec.canary_traffic_percent}")
    env = [V1EnvVar(name="LAKEHOUSE_PROFILE", value="prod")] + [
        V1EnvVar(
            name=key,
            value_from=V1EnvVarSource(secret_key_ref=V1SecretKeySelector(name=spec.secret_name, key=key)),
        )
        for key in FEATURE_STORE_ENV
    ]
    if spec.protocol == "grpc":
        port = V1ContainerPort(name="h2c", container_port=GRPC_PORT, protocol="TCP")
        readiness = V1Probe(tcp_socket=V1TCPSocketAction(port=GRPC_PORT))
    else:
        port = V1ContainerPort(name="http1", container_port=CONTAINER_PORT, protocol="TCP")
        readiness = V1Probe(http_get=V1HTTPGetAction(path="/v2/health/ready", port=CONTAINER_PORT))
    spool_mounts = [V1VolumeMount(name=SPOOL_VOLUME, mount_path=SPOOL_MOUNT)] if spec.spool_claim else None
    container = V1Container(
        name="kserve-container",
        image=spec.image,
        command=["python", "-m", "lakehouse_ml.serving.server"],
        args=[
            f"--model_name={MODEL_NAME}",
            f"--model_dir={MODEL_MOUNT}",
            f"--model_version={spec.model_version}",
            f"--http_port={CONTAINER_PORT}",
            f"--grpc_port={GRPC_PORT}",
            "--bind_host=0.0.0.0",
            f"--spool_dir={SPOOL_MOUNT}" if spec.spool_claim else "--no_prediction_log",
        ],
        env=env,
        volume_mounts=spool_mounts,
        ports=[port],
        readiness_probe=readiness,
    )
    predictor = V1beta1PredictorSpec(
        containers=[container],
        storage_uris=[V1beta1StorageUri(uri=spec.storage_uri, mount_path=MODEL_MOUNT)],
        canary_traffic_percent=spec.canary_traffic_percent,
        service_account_name=spec.service_account,
        min_replicas=1,
        volumes=[
            V1Volume(
                name=SPOOL_VOLUME,
                persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(claim_name=spec.spool_claim),
            )
        ]
        if spec.spool_claim
        else None,
    )
    return V1beta1InferenceService(
        api_version="serving.kserve.io/v1beta1",
        kind="InferenceService",
        metadata=V1ObjectMeta(
            name=spec.name,
            namespace=spec.namespace,
            annotations={TAG_ROUTING_ANNOTATION: "true"},
            labels={
                "app.kubernetes.io/part-of": "lakehouse-ml",
                "lakehouse-ml/model-version": spec.model_version,
            },
        ),
        spec=V1beta1InferenceServiceSpec(predictor=predictor),
    )


def render(isvc) -> dict:
    """The manifest as the JSON the Kubernetes API receives (camelCase keys, no nulls)."""
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(isvc)
