"""``prediction_drift_report``: Evidently drift of the production model's churn scores."""

import dagster as dg

from lakehouse_ml.assets.monitoring import common
from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.policy import prediction_drift_verdict
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import Warehouse


@dg.asset(
    group_name=common.GROUP,
    kinds={"evidently"},
    deps=[common.PREDICTIONS, common.FEATURES, common.DEPLOYMENT],
    partitions_def=common.WEEKS,
    check_specs=[dg.AssetCheckSpec("prediction_drift_score", asset="prediction_drift_report")],
)
def prediction_drift_report(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    model_registry: ModelRegistryResource,
    monitoring_policy: MonitoringPolicy,
):
    """Evidently drift of the churn-probability distribution: the production model's scores on its
    reference snapshot against its newest logged predictions (or its scores on the newest features).

    Both sides are restricted to active customers, as for feature drift, so an ageing base with more
    dormant customers does not read as drift. One partition per data week (``common.judged_day``).
    """
    import pandas as pd

    from lakehouse_ml.monitoring import comparisons
    from lakehouse_ml.monitoring.drift import drift_report
    from lakehouse_ml.monitoring.model import compared_customers, latest_snapshot

    policy = monitoring_policy.policy()
    as_of, recorded = common.judged_day(context, warehouse, query_engine)
    model = common.judged_model(model_registry, recorded)
    reference_frame = compared_customers(latest_snapshot(model.training_set()), policy)
    current_frame = compared_customers(query_engine.query(sql.snapshot_sql(as_of)), policy)
    current_scores, source = comparisons.current_scores(query_engine.query, model, as_of, current_frame)
    reference = pd.DataFrame({"churn_score": model.scores(reference_frame).to_numpy()})
    current = pd.DataFrame({"churn_score": current_scores.to_numpy()})
    report = common.report_path("prediction_drift", as_of, model.version)
    result = drift_report(
        reference,
        current,
        ["churn_score"],
        [],
        column_threshold=policy.column_drift_threshold,
        sample_size=policy.sample_size,
        seed=policy.sample_seed,
        html_path=report,
        snapshot_to=common.snapshot_target("prediction_drift", as_of, model.version),
    )
    score = result.column_scores["churn_score"]
    verdict = prediction_drift_verdict(score, policy)
    summary = {
        **result.to_dict(),
        "current_source": source,
        "as_of": as_of.isoformat(),
        "reference_mean": float(reference["churn_score"].mean()),
        "current_mean": float(current["churn_score"].mean()),
    }
    stored = common.persist(
        verdict,
        model.version,
        summary,
        common.publish_report(report),
        as_of=as_of,
        snapshot_url=result.snapshot_url,
    )
    for reason in verdict.reasons:
        context.log.warning(f"prediction drift: {reason}")
    yield dg.MaterializeResult(
        metadata={
            **stored,
            "model_version": model.version,
            "current_source": source,
            "score/churn_score": float(score),
            "drifted_share": float(result.drifted_share),
            "reference_mean_score": summary["reference_mean"],
            "current_mean_score": summary["current_mean"],
            "reference_rows": result.reference_rows,
            "current_rows": result.current_rows,
            "breach": verdict.breach,
        }
    )
    yield dg.AssetCheckResult(
        check_name="prediction_drift_score",
        passed=not verdict.breach,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"churn score drift {score:.3f} (threshold {policy.prediction_score_threshold})",
        metadata={"score": float(score), "threshold": policy.prediction_score_threshold},
    )
