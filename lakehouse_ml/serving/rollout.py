"""Local rollouts: deploy a version (stable or canary), promote the canary, roll it back.

A new version is staged into ``serving/models/<version>`` (hash checked), loaded by the running server
beside the current one with 0% traffic, smoke-tested through a pinned request, and only then given
its traffic share. Any failure restores the previous deployment, which never stopped serving.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from lakehouse_ml.model_artifact import MODEL_FILE, sha256_of
from lakehouse_ml.serving.deployment import MODELS_DIR, Deployment, read_deployment
from lakehouse_ml.serving.process import LocalServer, ServingError


@dataclass(frozen=True)
class Rollout:
    version: str
    role: str  # "stable" or "canary"
    deployment: Deployment
    endpoint: str
    smoke: dict


def stage_model(serving_dir: Path, version: str, source: Path, expected_sha256: str) -> Path:
    """Copy the model folder to ``serving/models/<version>``, refusing a model file with the wrong hash."""
    actual = sha256_of(source / MODEL_FILE)
    if actual != expected_sha256:
        raise ServingError(
            f"{source / MODEL_FILE}: sha256 {actual} is not the registry's {expected_sha256} for {version}"
        )
    target = serving_dir / MODELS_DIR / version
    if target.exists() and sha256_of(target / MODEL_FILE) == expected_sha256:
        return target
    staging = target.with_name(f".{version}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def smoke_test(server: LocalServer, version: str, customer_ids: list[str]) -> dict:
    """A real request pinned to ``version``: answers must name it; known customers get a probability."""
    return check_smoke_answer(server.predict(customer_ids, version=version), version, customer_ids)


def check_smoke_answer(answer: dict, version: str, customer_ids: list[str]) -> dict:
    """What a smoke test of ``version`` for ``customer_ids`` must get back; raises ServingError otherwise."""
    predictions = answer.get("predictions") or []
    if answer.get("model_version") != version or len(predictions) != len(customer_ids):
        raise ServingError(f"smoke test of {version}: unexpected answer {answer}")
    scored = [p for p in predictions if p.get("churn_probability") is not None]
    if not scored:
        raise ServingError(f"smoke test of {version}: none of {customer_ids} has online features")
    for prediction in scored:
        probability = prediction["churn_probability"]
        if not (isinstance(probability, float) and math.isfinite(probability) and 0 <= probability <= 1):
            raise ServingError(f"smoke test of {version}: bad probability in {prediction}")
        if prediction.get("model_version") != version or prediction.get("churn") not in (0, 1):
            raise ServingError(f"smoke test of {version}: bad prediction {prediction}")
    return {"customers": len(customer_ids), "scored": len(scored), "sample": scored[0]}


def deploy(
    server: LocalServer,
    version: str,
    model_folder: Path,
    expected_sha256: str,
    canary_traffic_percent: int,
    smoke_customers: list[str],
) -> Rollout:
    """Serve ``version``: as stable on a first deployment, else as canary at ``canary_traffic_percent``."""
    if not 1 <= canary_traffic_percent <= 100:
        raise ValueError(f"canary_traffic_percent must be in [1, 100], got {canary_traffic_percent}")
    current = read_deployment(server.serving_dir)
    staged = str(stage_model(server.serving_dir, version, model_folder, expected_sha256))
    models = {**current.models, version: staged}
    if current.stable in (None, version):
        return _deploy_stable(server, current, version, models, smoke_customers)
    if server.pid() is None:
        server.start()
    trial = current.with_changes(canary=version, canary_traffic_percent=0, models=models)
    smoke = _try(server, current, trial, version, smoke_customers)
    final = trial.with_changes(canary_traffic_percent=canary_traffic_percent)
    server.apply(final)
    return Rollout(version, "canary", final, server.endpoint, smoke)


def _deploy_stable(server, current, version, models, smoke_customers) -> Rollout:
    target = current.with_changes(stable=version, canary=None, models=models)
    if server.pid() is not None:
        smoke = _try(server, current, target, version, smoke_customers)
        return Rollout(version, "stable", target, server.endpoint, smoke)
    server.apply(target)
    try:
        server.start()
        smoke = smoke_test(server, version, smoke_customers)
    except ServingError:
        server.stop()
        server.apply(replace(current, generation=target.generation + 1))
        raise
    return Rollout(version, "stable", target, server.endpoint, smoke)


def _try(
    server: LocalServer, current: Deployment, trial: Deployment, version: str, customers: list[str]
) -> dict:
    """Apply ``trial`` to the running server and smoke-test ``version``; restore ``current`` on failure."""
    try:
        server.apply(trial)
        return smoke_test(server, version, customers)
    except ServingError:
        server.apply(replace(current, generation=trial.generation + 1))
        raise


def promote(server: LocalServer) -> Deployment:
    """The canary takes 100% of traffic and becomes the stable version."""
    current = read_deployment(server.serving_dir)
    if not current.canary:
        raise ServingError("no canary to promote")
    final = current.with_changes(stable=current.canary, canary=None)
    server.apply(final)
    return final


def rollback(server: LocalServer) -> tuple[str, Deployment]:
    """Remove the canary; the stable version takes all traffic again. Returns the removed version."""
    current = read_deployment(server.serving_dir)
    if not current.canary:
        raise ServingError("no canary to roll back")
    final = current.with_changes(canary=None)
    server.apply(final)
    return current.canary, final
