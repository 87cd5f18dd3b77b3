"""Automated canary analysis: every refresh judges a deployed canary and promotes or rolls it back."""

import dataclasses

import dagster as dg

from lakehouse_ml.assets.predictions import batch_scores, churn_predictions
from lakehouse_ml.assets.serving import GROUP, promote_serving_canary, roll_back_serving_canary
from lakehouse_ml.orchestration.pools import DEPLOYMENT_POOL
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.model_server import ModelServing
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.serving.canary_analysis import (
    CanaryPolicy,
    CanaryState,
    ServedCounts,
    decide,
    evaluate,
    parse_server_metrics,
    read_traffic,
    state_from_metadata,
    state_metadata,
)

NO_CANARY = "no canary"


def _previous_state(context: dg.AssetExecutionContext) -> CanaryState:
    """The consecutive-pass count survives between runs in this asset's last materialization."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    if event is None or event.asset_materialization is None:
        return CanaryState()
    return state_from_metadata(dict(event.asset_materialization.metadata))


def _failed_batch(context: dg.AssetExecutionContext, canary: str) -> bool:
    """Whether the refresh's batch scoring found ``canary`` failing (its rows went to the stable version)."""
    event = context.instance.get_latest_materialization_event(batch_scores.key)
    if event is None or event.asset_materialization is None:
        return False
    metadata = event.asset_materialization.metadata
    version, errors = metadata.get("canary_version"), metadata.get("canary_errors")
    return getattr(version, "value", None) == canary and bool(getattr(errors, "value", 0))


@dg.asset(group_name=GROUP, kinds={"kserve", "python"}, deps=[churn_predictions], pool=DEPLOYMENT_POOL)
def canary_analysis(
    context: dg.AssetExecutionContext,
    model_server: ModelServing,
    model_registry: ModelRegistryResource,
    iceberg: IcebergCatalog,
) -> dg.MaterializeResult:
    """The automated verdict on the deployed canary against the stable version, and its action.

    Compares the two on the traffic each served: error rate and latency from the model server's
    counters, the score distribution (PSI) and, once labels exist, ROC AUC from the prediction log.
    Rolls back on any failing evaluation, promotes after ``LAKEHOUSE_CANARY_MIN_PASSES`` consecutive
    passes on new traffic, waits otherwise (docs/trigger-policy.md, "Canary policy"). Without a
    canary it records "no canary" and does nothing.
    """
    served = model_server.served_versions()
    stable, canary = served.get("stable"), served.get("canary")
    if not canary or not stable:
        context.log.info("no canary deployed: nothing to analyse")
        return dg.MaterializeResult(metadata={"decision": NO_CANARY, "stable_version": stable or ""})
    policy = CanaryPolicy.from_settings(Settings.from_env())
    metrics = model_server.metrics_text()
    counts = None if metrics is None else parse_server_metrics(metrics)
    if _failed_batch(context, canary):  # the batch counts as one failed request of the canary
        counts = counts or {}
        served_counts = counts.get(canary, ServedCounts())
        counts[canary] = dataclasses.replace(
            served_counts, requests=served_counts.requests + 1, errors=served_counts.errors + 1
        )
    evaluation = evaluate(
        read_traffic(iceberg.predictions_table(), stable, canary),
        stable,
        canary,
        counts,
        policy,
    )
    decision = decide(evaluation, canary, _previous_state(context), policy)
    if decision.action == "promote":
        outcome = promote_serving_canary(
            model_registry, model_server, "canary analysis: " + "; ".join(decision.reasons)
        )
    elif decision.action == "rollback":
        outcome = roll_back_serving_canary(
            model_registry, model_server, "canary analysis: " + "; ".join(decision.reasons)
        )
    else:
        outcome = {}
    summary = f"canary {canary} vs stable {stable}: {decision.action} ({evaluation.verdict})"
    context.log.info(f"{summary}: {'; '.join(decision.reasons)}")
    return dg.MaterializeResult(
        metadata={
            "decision": decision.action,
            "verdict": evaluation.verdict,
            "canary_version": canary,
            "stable_version": stable,
            "serving_after": dg.MetadataValue.json(
                {"stable": outcome.get("stable", stable), "canary": None if outcome else canary}
            ),
            "reasons": dg.MetadataValue.md("\n".join(f"- {reason}" for reason in decision.reasons)),
            "measurements": dg.MetadataValue.json(evaluation.measurements),
            "policy": dg.MetadataValue.json(policy.__dict__),
            **state_metadata(decision.state),
        }
    )
