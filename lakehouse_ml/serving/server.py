"""Model server process: ``python -m lakehouse_ml.serving.server``.

Local mode (``--serving_dir``): serves what ``deployment.json`` names (stable + optional canary) and
watches the file; on a new generation it loads the versions off the request path and swaps them in
only when all load, so a broken version leaves the old one serving. The outcome is written to
``status.json``. Predictions are appended to ``<serving_dir>/spool``.

Pod mode (``--model_dir --model_version``, used by the InferenceService): one version, no watcher.

Both modes answer KServe's REST protocols on ``--http_port`` and its gRPC V2 protocol on ``--grpc_port``
(KServe's default 8081; ``--enable_grpc false`` turns it off), on ``--bind_host``.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from concurrent import futures
from dataclasses import asdict
from http import HTTPStatus
from pathlib import Path

import kserve
import kserve.model_server
import kserve.protocol.rest.v1_endpoints
import orjson
from fastapi.responses import JSONResponse
from grpc import StatusCode, aio
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer
from kserve.protocol.rest.v2_datamodels import ModelMetadataResponse

from lakehouse_ml.model_artifact import ModelLoadError
from lakehouse_ml.platform.posix import write_json_atomic
from lakehouse_ml.serving.deployment import (
    DEPLOYMENT_FILE,
    SPOOL_DIR,
    STATUS_FILE,
    Deployment,
    read_deployment,
)
from lakehouse_ml.serving.limits import RequestLimits
from lakehouse_ml.serving.model import ChurnPredictor, ModelFailed, Routing
from lakehouse_ml.serving.online_lookup import OnlineFeatures, OnlineStoreUnavailable, open_feature_store
from lakehouse_ml.serving.servable import ServableModel, load_servable
from lakehouse_ml.serving.spool import SpoolWriter
from lakehouse_ml.serving.traffic import TrafficSplit

logger = logging.getLogger(__name__)
WATCH_INTERVAL_SECONDS = 0.2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        parents=[kserve.model_server.parser], description=__doc__.splitlines()[0]
    )
    parser.add_argument("--serving_dir", help="local mode: folder with deployment.json, status.json, spool/")
    parser.add_argument("--model_dir", help="pod mode: the model folder to serve")
    parser.add_argument("--model_version", help="pod mode: the version name of --model_dir")
    parser.add_argument("--feature_repo", help="Feast repo folder (default: the project's feature store)")
    parser.add_argument("--spool_dir", help="where to log predictions (default: <serving_dir>/spool)")
    parser.add_argument("--no_prediction_log", action="store_true", help="do not log predictions")
    parser.add_argument("--bind_host", default="127.0.0.1", help="address to listen on")
    return parser


class _OrjsonResponse(JSONResponse):
    """What KServe answers with (V1 endpoints, and its app's default response class): FastAPI's
    ``ORJSONResponse`` rendering, without the FastAPIDeprecationWarning that class emits on every
    instantiation (two log lines per request)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


class _ServingRESTServer(RESTServer):
    """KServe's REST server with a chosen bind address, request limits, 503 for model and online store
    faults, and full V2 metadata.

    KServe hard-codes 0.0.0.0; the local server must listen on 127.0.0.1 only. KServe's V2 model
    metadata leaves ``versions`` and ``platform`` empty; the churn predictor fills them.
    """

    bind_host = "127.0.0.1"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.host = self.bind_host

    def _register_endpoints(self, app):
        app.router.default_response_class = _OrjsonResponse  # KServe's app defaults to ORJSONResponse
        app.add_api_route(  # registered first, so it answers before KServe's own route
            "/v2/models/{model_name}",
            self._model_metadata,
            methods=["GET"],
            response_model=ModelMetadataResponse,
            response_model_exclude_none=True,
        )
        super()._register_endpoints(app)

    async def _model_metadata(self, model_name: str) -> ModelMetadataResponse:
        metadata = await self.dataplane.model_metadata(model_name)
        model = self.dataplane.get_model_from_registry(model_name)
        if isinstance(model, ChurnPredictor):
            metadata.update(model.served())
        return ModelMetadataResponse.model_validate(metadata)

    def _add_middlewares(self, app):
        super()._add_middlewares(app)
        app.add_middleware(RequestLimits)

    def _add_exception_handlers(self, app):
        super()._add_exception_handlers(app)
        app.add_exception_handler(ModelFailed, _unavailable_handler)
        app.add_exception_handler(OnlineStoreUnavailable, _unavailable_handler)
        app.add_exception_handler(NotImplementedError, _not_supported_handler)


async def _unavailable_handler(_, exc):
    logger.error("%s", exc)
    return JSONResponse(status_code=HTTPStatus.SERVICE_UNAVAILABLE, content={"error": str(exc)})


async def _not_supported_handler(_, exc):
    """KServe raises NotImplementedError for request options it lacks (model_version, explain): the
    client asked for something this server does not offer, a 400 like any other refused request."""
    return JSONResponse(status_code=HTTPStatus.BAD_REQUEST, content={"error": f"not supported: {exc}"})


class _ServingExceptionInterceptor(ExceptionToStatusInterceptor):
    """KServe's gRPC error mapping, plus UNAVAILABLE with the reason for model and online store faults
    (the REST server's 503), which KServe would answer as INTERNAL "Internal server error"."""

    async def handle_exception(self, ex, request_or_iterator, context, method_name):
        if isinstance(ex, ModelFailed | OnlineStoreUnavailable):
            logger.error("%s", ex)
            await context.abort(StatusCode.UNAVAILABLE, str(ex))
        await super().handle_exception(ex, request_or_iterator, context, method_name)


class _ServingGRPCServer(GRPCServer):
    """KServe's gRPC V2 server on a chosen bind address (KServe listens on ``[::]``), with the error
    mapping above; otherwise KServe's own ``start``: servicer, interceptors, message size options."""

    bind_host = "127.0.0.1"

    async def start(self, max_workers):
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), _ServingExceptionInterceptor()),
            options=[
                ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                ("grpc.max_receive_message_length", self._kwargs.get("grpc_max_receive_message_length")),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self._data_plane, self._model_repository_extension), self._server
        )
        address = f"{self.bind_host}:{self._port}"
        self._server.add_insecure_port(address)  # raises RuntimeError naming the address when taken
        logger.info("gRPC V2 on %s", address)
        await self._server.start()
        await self._server.wait_for_termination()


class ModelCache:
    """Loaded versions by name, so a traffic change does not reload anything."""

    def __init__(self, features: OnlineFeatures | None):
        self.features = features
        self._loaded: dict[str, ServableModel] = {}

    def get(self, version: str, folder: str) -> ServableModel:
        if version not in self._loaded:
            model = load_servable(version, Path(folder))
            if self.features is not None:
                missing = self.features.missing(model.feature_names)
                if missing:
                    raise ModelLoadError(
                        f"version {version} needs features the feature service lacks: {missing}"
                    )
            self._loaded[version] = model
        return self._loaded[version]

    def routing(self, deployment: Deployment) -> Routing:
        if not deployment.stable:
            raise ModelLoadError("deployment.json names no stable version")
        for version in deployment.versions():
            if version not in deployment.models:
                raise ModelLoadError(f"deployment.json has no model folder for version {version}")
        stable = self.get(deployment.stable, deployment.models[deployment.stable])
        canary = (
            self.get(deployment.canary, deployment.models[deployment.canary]) if deployment.canary else None
        )
        self._loaded = {v: m for v, m in self._loaded.items() if v in deployment.versions()}
        return Routing(stable, canary, TrafficSplit(deployment.canary_traffic_percent if canary else 0))


def _status(deployment: Deployment, error: str | None, applied: Deployment, routing: Routing | None) -> dict:
    return {
        "pid": os.getpid(),
        "generation": deployment.generation,
        "error": error,
        "serving": {k: v for k, v in asdict(applied).items() if k != "models"},
        "runtimes": {m.version: m.runtime for m in routing.models()} if routing else {},
    }


def _watch(serving_dir: Path, model: ChurnPredictor, cache: ModelCache, applied: Deployment) -> None:
    path = serving_dir / DEPLOYMENT_FILE
    seen = path.stat().st_mtime_ns
    while True:
        time.sleep(WATCH_INTERVAL_SECONDS)
        try:
            mtime = path.stat().st_mtime_ns
            if mtime == seen:
                continue
            seen = mtime
            wanted = read_deployment(serving_dir)
        except (OSError, ValueError, TypeError) as err:
            logger.warning("cannot read %s: %s", path, err)
            continue
        if wanted.generation == applied.generation:
            continue
        try:
            model.routing = cache.routing(wanted)
        except Exception as err:  # keep serving the old versions whatever went wrong
            logger.error("deployment generation %s not applied: %s", wanted.generation, err)
            write_json_atomic(serving_dir / STATUS_FILE, _status(wanted, str(err), applied, model.routing))
            continue
        applied = wanted
        status = _status(wanted, None, applied, model.routing)
        logger.info("serving %s with %s", status["serving"], status["runtimes"])
        write_json_atomic(serving_dir / STATUS_FILE, status)


def main(argv: list[str] | None = None) -> None:
    import sklearn
    from threadpoolctl import threadpool_limits

    args = build_parser().parse_args(argv)
    sklearn.set_config(assume_finite=True)  # rows come from the feature store; skip per-call NaN scans
    threadpool_limits(1)  # scikit-learn fallback: OpenMP/BLAS threads only contend on single rows
    if bool(args.serving_dir) == bool(args.model_dir):
        raise SystemExit("give exactly one of --serving_dir (local) or --model_dir (pod)")
    features = OnlineFeatures(open_feature_store(args.feature_repo))
    cache = ModelCache(features)
    serving_dir = Path(args.serving_dir) if args.serving_dir else None
    if serving_dir is not None:
        deployment = read_deployment(serving_dir)
    else:
        version = args.model_version or "unversioned"
        deployment = Deployment(stable=version, models={version: args.model_dir}, generation=1)
    try:
        routing = cache.routing(deployment)
    except Exception as err:
        if serving_dir is not None:
            write_json_atomic(serving_dir / STATUS_FILE, _status(deployment, str(err), Deployment(), None))
        raise SystemExit(f"cannot load deployment generation {deployment.generation}: {err}") from err
    spool_dir = args.spool_dir or (str(serving_dir / SPOOL_DIR) if serving_dir else None)
    spool = SpoolWriter(Path(spool_dir)) if spool_dir and not args.no_prediction_log else None
    model = ChurnPredictor(features, routing, spool)
    if serving_dir is not None:
        write_json_atomic(serving_dir / STATUS_FILE, _status(deployment, None, deployment, routing))
        threading.Thread(target=_watch, args=(serving_dir, model, cache, deployment), daemon=True).start()
    _ServingRESTServer.bind_host = _ServingGRPCServer.bind_host = args.bind_host
    kserve.model_server.RESTServer = _ServingRESTServer
    kserve.model_server.GRPCServer = _ServingGRPCServer
    kserve.protocol.rest.v1_endpoints.ORJSONResponse = _OrjsonResponse
    logger.info("serving %s", {m.version: m.runtime for m in routing.models()})
    server = kserve.ModelServer(
        http_port=args.http_port, grpc_port=args.grpc_port, enable_grpc=args.enable_grpc, workers=1
    )
    for name in ("kserve.trace", "uvicorn.access"):  # per-request lines; the spool is the prediction log
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([model])


if __name__ == "__main__":
    main()
