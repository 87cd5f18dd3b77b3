"""Serving: deploy the registry's newest gated model version; promote or roll back its canary.

Promote and rollback are ops in jobs (``promote_canary``, ``rollback_canary``), not assets, so that
materializing every asset never rolls anything back.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.orchestration.jobs import DEPLOYS_TAG
from lakehouse_ml.orchestration.pools import DEPLOYMENT_POOL
from lakehouse_ml.predictions.batch import active_customers_sql
from lakehouse_ml.resources.model_server import ModelServing
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import GOLD_SCHEMA, Warehouse

if TYPE_CHECKING:
    from lakehouse_ml.registry import ModelRegistry

GROUP = "serving"
ONLINE_FEATURES = dg.AssetKey("online_features")
SMOKE_CUSTOMERS = 20
STABLE_STAGE = "production"
CANARY_STAGE = "staging"
ROLLED_BACK_STAGE = "rolled_back"
GATE_CHECK = dg.AssetCheckKey(dg.AssetKey("model_version"), "model_beats_champion")


def gate_refusal(registry: "ModelRegistry", version: str) -> str | None:
    """Why ``version`` may not be deployed, or None when the gate passed it.

    A blocking check only stops downstream steps of its own run; this keeps a later run that
    materializes only the deployment from shipping a version the gate refused. The verdict is the one
    the registry records for this version: a concurrent run gating another version cannot hide it.
    """
    verdict = registry.gate_verdict(version)
    if verdict is None:
        return f"{GATE_CHECK.name} has no recorded evaluation for {version}"
    if not verdict["passed"]:
        return f"{version} failed {GATE_CHECK.name}: {verdict['reason']}"
    return None


def _deployment_metadata(version: str, role: str, outcome: dict) -> dict:
    return {
        "model_version": version,
        "role": role,
        "stable_version": str(outcome.get("stable") or ""),
        "canary_version": str(outcome.get("canary") or ""),
        "canary_traffic_percent": int(outcome.get("canary_traffic_percent") or 0),
        "endpoint": dg.MetadataValue.url(str(outcome.get("endpoint") or "")),
        "smoke_test": dg.MetadataValue.json(outcome.get("smoke_test") or {}),
    }


def _record_what_serves(
    context: dg.AssetExecutionContext, registry, model_server: ModelServing, trigger: str
) -> None:
    """A run killed after the server took a version but before the registry recorded its stage leaves the
    registry behind (no production version while one serves, and monitoring refuses to run): record the
    serving versions' stages before deploying the next one."""
    registered = set(registry.versions())
    for role, served in model_server.served_versions().items():
        stage = STABLE_STAGE if role == "stable" else CANARY_STAGE
        if served in registered and registry.stage_version(stage) != served:
            reason = f"serves as {role} but the registry had not recorded it (an interrupted deployment)"
            registry.promote(served, stage, reason=reason, trigger=trigger)
            context.log.warning(f"{served} serves as {role} but the registry did not record it: now {stage}")


@dg.asset(
    group_name=GROUP,
    kinds={"kserve", "python"},
    deps=[ONLINE_FEATURES],
    pool=DEPLOYMENT_POOL,
    tags=DEPLOYS_TAG,
)
def churn_predictor_deployment(
    context: dg.AssetExecutionContext,
    model_version: str,
    model_registry: ModelRegistryResource,
    model_server: ModelServing,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    """The ``churn-predictor`` model server running the version ``model_version`` registered and gated.

    First deployment: stable at 100%. Later versions: a canary beside the stable one with
    ``canary_traffic_percent`` of the traffic (promote / roll back with the jobs). The model file hash
    is checked against the registry, the version is smoke-tested with a real request before it gets
    traffic, and a version that fails leaves the old one serving. A version that was rolled back is
    not deployed again.
    """
    registry = model_registry.open()
    version = str(model_version)
    _record_what_serves(context, registry, model_server, model_registry.trigger)
    refusal = gate_refusal(registry, version)
    if refusal:
        raise dg.Failure(f"not deploying {version}: {refusal}; the current deployment keeps serving")
    if registry.stage_version(ROLLED_BACK_STAGE) == version:
        context.log.info(f"{version} was rolled back; the current deployment stays as it is")
        return dg.MaterializeResult(metadata=_deployment_metadata(version, "skipped", model_server.current()))
    folder = Path(registry.checkout(version))
    smoke = (
        warehouse.query(active_customers_sql(GOLD_SCHEMA))["customer_id"].astype(str).head(SMOKE_CUSTOMERS)
    )
    outcome = model_server.deploy(version, folder, registry.model_sha256(version), list(smoke))
    registry.promote(
        version,
        STABLE_STAGE if outcome["role"] == "stable" else CANARY_STAGE,
        reason=f"deployed as {outcome['role']} after passing the gate and the smoke test",
        trigger=model_registry.trigger,
    )
    context.log.info(f"deployed {version} as {outcome['role']}: {outcome}")
    return dg.MaterializeResult(metadata=_deployment_metadata(version, outcome["role"], outcome))


def promote_serving_canary(
    model_registry: ModelRegistryResource,
    model_server: ModelServing,
    reason: str = "canary promoted to 100% of traffic",
) -> dict:
    """The canary takes 100% of traffic; the registry records it as the production version."""
    outcome = model_server.promote()
    model_registry.open().promote(
        outcome.get("stable") or outcome["version"],
        STABLE_STAGE,
        reason=reason,
        trigger=model_registry.trigger,
    )
    return outcome


def roll_back_serving_canary(
    model_registry: ModelRegistryResource,
    model_server: ModelServing,
    reason: str = "canary rolled back; the stable version serves all traffic",
) -> dict:
    """The canary is removed; the registry records it as ``rolled_back`` so it is never deployed again."""
    outcome = model_server.rollback()
    model_registry.open().promote(
        outcome["removed"], ROLLED_BACK_STAGE, reason=reason, trigger=model_registry.trigger
    )
    return outcome


@dg.op(pool=DEPLOYMENT_POOL)
def promote_canary_op(
    context: dg.OpExecutionContext, model_registry: ModelRegistryResource, model_server: ModelServing
):
    """Move the canary to 100% of traffic and mark it as the production version in the registry."""
    outcome = promote_serving_canary(model_registry, model_server)
    context.log.info(f"promoted: {outcome}")
    return outcome


@dg.op(pool=DEPLOYMENT_POOL)
def rollback_canary_op(
    context: dg.OpExecutionContext, model_registry: ModelRegistryResource, model_server: ModelServing
):
    """Remove the canary; the stable version takes all traffic again. The registry records the removed
    version as ``rolled_back`` so the deployment asset does not bring it back."""
    outcome = roll_back_serving_canary(model_registry, model_server)
    context.log.info(f"rolled back: {outcome}")
    return outcome


@dg.job(description="Promote the churn-predictor canary to 100% of traffic.")
def promote_canary():
    promote_canary_op()


@dg.job(description="Roll back the churn-predictor canary; the stable version keeps serving.")
def rollback_canary():
    rollback_canary_op()
