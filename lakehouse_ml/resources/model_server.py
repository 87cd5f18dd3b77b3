"""Model serving: the local KServe ModelServer process, or a KServe InferenceService in prod.

Both implement ``deploy`` (stable on first deployment, canary afterwards), ``promote``, ``rollback``
and ``predict_url``; they return plain dicts the assets put into metadata.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakehouse_ml.platform.k8s_names import SECRET_NAME, SPOOL_MOUNT
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.platform.storage import s3_filesystem
from lakehouse_ml.serving.deployment import DEFAULT_CANARY_PERCENT
from lakehouse_ml.serving.names import MODEL_NAME

STABLE_ANNOTATION = "lakehouse-ml/stable-version"
STABLE_URI_ANNOTATION = "lakehouse-ml/stable-storage-uri"
ALL_TRAFFIC = 100


class ModelServing(dg.ConfigurableResource):
    """Interface of both serving implementations."""

    canary_traffic_percent: int = DEFAULT_CANARY_PERCENT

    def deploy(self, version: str, model_dir: Path, model_sha256: str, smoke_customers: list[str]) -> dict:
        raise NotImplementedError

    def promote(self) -> dict:
        raise NotImplementedError

    def rollback(self) -> dict:
        raise NotImplementedError

    def predict_url(self) -> str:
        raise NotImplementedError

    def current(self) -> dict:
        """What serves now: ``stable``, ``canary``, ``canary_traffic_percent``, ``endpoint``."""
        raise NotImplementedError

    def served_versions(self) -> dict[str, str]:
        """Role (``stable``, ``canary``) -> the version serving in it; empty before any deployment."""
        current = self.current()
        return {role: current[role] for role in ("stable", "canary") if current.get(role)}

    def spool_dir(self) -> Path | None:
        """Where served predictions are spooled for ``churn_predictions`` (None: not spooled here)."""
        return None

    def metrics_text(self) -> str | None:
        """The server's Prometheus ``/metrics`` text (per-version request counters), or None when not
        readable here."""
        return None


class LocalModelServing(ModelServing):
    """Detached ``python -m lakehouse_ml.serving.server`` on 127.0.0.1:``port`` (REST) and ``grpc_port``
    (gRPC V2; None: off); state in ``serving_dir``."""

    serving_dir: str
    port: int
    feature_repo: str | None = None
    grpc_port: int | None = None

    def server(self):
        from lakehouse_ml.serving.process import LocalServer

        return LocalServer(Path(self.serving_dir), self.port, self.feature_repo, self.grpc_port)

    def deploy(self, version: str, model_dir: Path, model_sha256: str, smoke_customers: list[str]) -> dict:
        from lakehouse_ml.serving.rollout import deploy

        rollout = deploy(
            self.server(), version, model_dir, model_sha256, self.canary_traffic_percent, smoke_customers
        )
        return {
            "version": version,
            "role": rollout.role,
            "stable": rollout.deployment.stable,
            "canary": rollout.deployment.canary,
            "canary_traffic_percent": rollout.deployment.canary_traffic_percent,
            "endpoint": rollout.endpoint,
            "smoke_test": rollout.smoke,
        }

    def promote(self) -> dict:
        from lakehouse_ml.serving.rollout import promote

        deployment = promote(self.server())
        return {"stable": deployment.stable, "canary": None, "endpoint": self.server().endpoint}

    def rollback(self) -> dict:
        from lakehouse_ml.serving.rollout import rollback

        removed, deployment = rollback(self.server())
        return {"removed": removed, "stable": deployment.stable, "endpoint": self.server().endpoint}

    def predict_url(self) -> str:
        server = self.server()
        if server.pid() is None:
            server.start()
        return server.predict_url

    def current(self) -> dict:
        from lakehouse_ml.serving.deployment import read_deployment

        deployment = read_deployment(Path(self.serving_dir))
        return {
            "stable": deployment.stable,
            "canary": deployment.canary,
            "canary_traffic_percent": deployment.canary_traffic_percent,
            "endpoint": self.server().endpoint,
        }

    def metrics_text(self) -> str | None:
        import httpx

        server = self.server()
        if server.pid() is None:
            return None
        response = httpx.get(f"{server.endpoint}/metrics", timeout=10.0)
        response.raise_for_status()
        return response.text

    def spool_dir(self) -> Path | None:
        from lakehouse_ml.serving.deployment import SPOOL_DIR

        return Path(self.serving_dir) / SPOOL_DIR


class KServeModelServing(ModelServing):
    """An ``InferenceService`` named ``churn-predictor``; models are uploaded to ``model_store_uri``."""

    namespace: str
    image: str
    model_store_uri: str  # s3://bucket/prefix: versions go to <prefix>/<version>/
    secret_name: str = SECRET_NAME
    service_account: str | None = None
    s3_endpoint: str | None = None
    spool_claim: str | None = None  # ReadWriteMany PVC mounted at SPOOL_MOUNT in predictor and run pods
    ready_timeout_seconds: int = 600
    ready_poll_seconds: float = 10.0

    def _client(self):
        from kserve import KServeClient

        return KServeClient()

    def _current(self, client):
        try:
            return client.get(MODEL_NAME, namespace=self.namespace)
        except RuntimeError as err:  # KServeClient wraps the API's 404 in a RuntimeError
            if "Not Found" in str(err) or "404" in str(err):
                return None
            raise

    def _apply(self, version: str, storage_uri: str, canary: int | None, stable: tuple[str, str]) -> dict:
        from lakehouse_ml.serving.manifest import InferenceServiceSpec, inference_service

        isvc = inference_service(
            InferenceServiceSpec(
                namespace=self.namespace,
                image=self.image,
                storage_uri=storage_uri,
                model_version=version,
                # KServeClient.patch is a JSON merge patch (RFC 7386): an omitted canaryTrafficPercent
                # keeps the previous split, so a revision that takes all traffic says so explicitly.
                canary_traffic_percent=ALL_TRAFFIC if canary is None else canary,
                secret_name=self.secret_name,
                service_account=self.service_account,
                spool_claim=self.spool_claim,
            )
        )
        isvc.metadata.annotations.update({STABLE_ANNOTATION: stable[0], STABLE_URI_ANNOTATION: stable[1]})
        client = self._client()
        if self._current(client) is None:
            applied = client.create(isvc, namespace=self.namespace)
        else:
            applied = client.patch(MODEL_NAME, isvc, namespace=self.namespace)
        # Ready only once the controller has observed this generation, not the previous revision's status.
        client.wait_isvc_ready(
            MODEL_NAME,
            namespace=self.namespace,
            timeout_seconds=self.ready_timeout_seconds,
            polling_interval=self.ready_poll_seconds,
            expected_generation=applied["metadata"]["generation"],
        )
        url = (client.get(MODEL_NAME, namespace=self.namespace).get("status") or {}).get("url")
        return {
            "version": version,
            "stable": stable[0],
            "canary": version if canary is not None and stable[0] != version else None,
            "canary_traffic_percent": canary or 0,
            "storage_uri": storage_uri,
            "endpoint": url,
        }

    def _upload(self, version: str, model_dir: Path) -> str:
        uri = f"{self.model_store_uri.rstrip('/')}/{version}"
        fs = s3_filesystem(self.s3_endpoint)
        fs.put(str(model_dir), uri.removeprefix("s3://"), recursive=True)
        return uri

    def deploy(self, version: str, model_dir: Path, model_sha256: str, smoke_customers: list[str]) -> dict:
        from lakehouse_ml.model_artifact import MODEL_FILE, sha256_of

        if sha256_of(model_dir / MODEL_FILE) != model_sha256:
            raise dg.Failure(f"{model_dir / MODEL_FILE} does not match the registry's hash for {version}")
        uri = self._upload(version, model_dir)
        current = self._current(self._client())
        annotations = ((current or {}).get("metadata") or {}).get("annotations") or {}
        stable = annotations.get(STABLE_ANNOTATION)
        if current is None or not stable or stable == version:
            outcome = {"role": "stable", **self._apply(version, uri, None, (version, uri))}
            return {**outcome, "smoke_test": self._smoke_test(version, smoke_customers)}
        stable_pair = (stable, annotations.get(STABLE_URI_ANNOTATION, ""))
        outcome = {"role": "canary", **self._apply(version, uri, self.canary_traffic_percent, stable_pair)}
        try:
            return {**outcome, "smoke_test": self._smoke_test(version, smoke_customers)}
        except dg.Failure:
            self._apply(*stable_pair, None, stable_pair)
            raise

    def _smoke_test(self, version: str, customers: list[str]) -> dict:
        """A request pinned to ``version`` at its own revision's URL (traffic tag ``latest``)."""
        from lakehouse_ml.serving.names import VERSION_HEADER
        from lakehouse_ml.serving.process import ServingError, request_json
        from lakehouse_ml.serving.rollout import check_smoke_answer

        status = (self._current(self._client()) or {}).get("status") or {}
        traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
        urls = [entry.get("url") for entry in traffic if entry.get("tag") == "latest" and entry.get("url")]
        url = f"{(urls or [status.get('url') or ''])[0].rstrip('/')}/v1/models/{MODEL_NAME}:predict"
        body = {"instances": [{"customer_id": customer} for customer in customers]}
        try:
            _, answer = request_json(url, body, {VERSION_HEADER: version}, timeout=30.0)
            return check_smoke_answer(answer, version, customers)
        except (OSError, ValueError, ServingError) as err:
            raise dg.Failure(f"smoke test of {version} at {url} failed: {err}") from err

    def _labels(self) -> tuple[str, str, dict]:
        current = self._current(self._client())
        if current is None:
            raise dg.Failure(f"InferenceService {MODEL_NAME} does not exist in {self.namespace}")
        metadata = current.get("metadata") or {}
        version = (metadata.get("labels") or {}).get("lakehouse-ml/model-version", "")
        predictor = current["spec"]["predictor"]
        uri = predictor["storageUris"][0]["uri"]
        return version, uri, metadata.get("annotations") or {}

    def served_versions(self) -> dict[str, str]:
        if self._current(self._client()) is None:
            return {}
        return super().served_versions()

    def current(self) -> dict:
        version, _, annotations = self._labels()
        stable = annotations.get(STABLE_ANNOTATION) or version
        current = self._current(self._client()) or {}
        percent = current["spec"]["predictor"].get("canaryTrafficPercent") if stable != version else None
        return {
            "stable": stable,
            "canary": version if stable != version else None,
            "canary_traffic_percent": percent or 0,
            "endpoint": (current.get("status") or {}).get("url"),
        }

    def promote(self) -> dict:
        version, uri, _ = self._labels()
        return self._apply(version, uri, None, (version, uri))

    def rollback(self) -> dict:
        version, _, annotations = self._labels()
        stable, stable_uri = annotations.get(STABLE_ANNOTATION), annotations.get(STABLE_URI_ANNOTATION)
        if not stable or not stable_uri or stable == version:
            raise dg.Failure("no canary to roll back")
        return {"removed": version, **self._apply(stable, stable_uri, None, (stable, stable_uri))}

    def spool_dir(self) -> Path | None:
        return Path(SPOOL_MOUNT) if self.spool_claim else None

    def metrics_text(self) -> str | None:
        """Each revision's ``/metrics`` at its traffic-tag URL (``latest``, ``prev``: tag routing is on), one
        pod per revision: with several replicas the counts are a sample, the rates still comparable."""
        import httpx

        status = (self._current(self._client()) or {}).get("status") or {}
        traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
        urls = sorted(
            {entry["url"].rstrip("/") for entry in traffic if entry.get("tag") and entry.get("url")}
        )
        if not urls:
            return None
        texts = []
        for url in urls:
            response = httpx.get(f"{url}/metrics", timeout=30.0)
            response.raise_for_status()
            texts.append(response.text)
        return "\n".join(texts)

    def predict_url(self) -> str:
        current = self._current(self._client()) or {}
        url = (current.get("status") or {}).get("url")
        if not url:
            raise dg.Failure(f"InferenceService {MODEL_NAME} has no URL yet")
        return f"{url.rstrip('/')}/v1/models/{MODEL_NAME}:predict"


def local_serving(settings: Settings) -> LocalModelServing:
    return LocalModelServing(
        serving_dir=str(settings.serving_dir),
        port=settings.serving_port,
        grpc_port=settings.serving_grpc_port,
    )


def prod_serving(settings: Settings) -> KServeModelServing:
    return KServeModelServing(
        namespace=settings.kserve_namespace,
        image=settings.image,
        model_store_uri=settings.model_store_uri,
        service_account=settings.kserve_service_account,
        s3_endpoint=settings.s3_endpoint,
        # Run pods always mount SPOOL_CLAIM (deploy/helm/values.yaml); set the variable empty to log nothing.
        spool_claim=settings.prediction_spool_claim or None,
    )
