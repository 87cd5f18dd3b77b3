"""``concept_drift_report``: concept drift measured on early outcomes."""

import dagster as dg

from lakehouse_ml.assets.monitoring import common
from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.policy import Verdict, concept_drift_verdict
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import Warehouse


@dg.asset(
    group_name=common.GROUP,
    kinds={"evidently", "sql"},
    deps=[common.FEATURES, common.ORDERS, common.DEPLOYMENT],
    partitions_def=common.WEEKS,
    check_specs=[dg.AssetCheckSpec("early_outcome_auc", asset="concept_drift_report")],
)
def concept_drift_report(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    model_registry: ModelRegistryResource,
    monitoring_policy: MonitoringPolicy,
):
    """Concept drift from outcomes: the production model's ROC AUC against the early outcome (no order
    in the next ``early_horizon_days``, the ``fct_churn_labels`` rule with a shorter horizon) on the
    newest snapshot whose outcome is known, against the same measure on its last evaluation day.

    A drop beyond ``max_auc_drop`` means features no longer relate to churn as they did in training,
    which data drift alone cannot show. One partition per data week (``common.judged_day``); only snapshots
    up to the judged day count, so a past week is judged on what was known then.
    """
    import pandas as pd

    from lakehouse_ml.monitoring import concept

    policy = monitoring_policy.policy()
    as_of, recorded = common.judged_day(context, warehouse, query_engine)
    model = common.judged_model(model_registry, recorded)
    days = [pd.Timestamp(d).date() for d in query_engine.query(sql.snapshot_days_sql())["day"]]
    reference_day, current_day = concept.concept_days(days, model, as_of, policy.early_horizon_days)
    report = snapshot_url = None
    if reference_day is None or current_day is None or current_day <= reference_day:
        ref_quality = cur_quality = None
        bands = []
        verdict = Verdict("concept_drift", False, [])
        note = "no snapshot with a known early outcome after the model's evaluation window yet"
    else:
        reference = concept.outcome_frame(query_engine.query, model, reference_day, policy)
        current = concept.outcome_frame(query_engine.query, model, current_day, policy)
        ref_quality = concept.quality(reference["outcome"], reference["score"], model.threshold)
        cur_quality = concept.quality(current["outcome"], current["score"], model.threshold)
        bands = concept.band_shift(reference, current, policy.concept_bands)
        verdict = concept_drift_verdict(
            ref_quality["roc_auc"],
            cur_quality["roc_auc"],
            min(len(reference), len(current)),
            policy,
            [band["z"] for band in bands],
        )
        report = common.report_path("concept_drift", as_of, model.version)
        snapshot_url = concept.classification_report_html(
            reference,
            current,
            model.threshold,
            report,
            common.snapshot_target("concept_drift", as_of, model.version),
        )
        note = (
            f"early-outcome AUC {ref_quality['roc_auc']} on {reference_day} "
            f"vs {cur_quality['roc_auc']} on {current_day}"
        )
    summary = {
        "reference_day": str(reference_day),
        "current_day": str(current_day),
        "reference": ref_quality,
        "current": cur_quality,
        "bands": bands,
        "early_horizon_days": policy.early_horizon_days,
        "early_offset_days": policy.early_offset_days,
        "as_of": as_of.isoformat(),
    }
    stored = common.persist(
        verdict,
        model.version,
        summary,
        common.publish_report(report) if report else None,
        as_of=as_of,
        snapshot_url=snapshot_url,
    )
    for reason in verdict.reasons:
        context.log.warning(f"concept drift: {reason}")
    metadata: dict[str, object] = {
        "model_version": model.version,
        "note": note,
        "breach": verdict.breach,
        "reference_day": str(reference_day),
        "current_day": str(current_day),
        **stored,
    }
    for side, values in (("reference", ref_quality), ("current", cur_quality)):
        for name, value in (values or {}).items():
            if value is not None:
                metadata[f"{side}/{name}"] = float(value)
    for band in bands:
        metadata[f"band_{band['band']}/z"] = float(band["z"])
    yield dg.MaterializeResult(metadata=metadata)
    drop = (
        (ref_quality["roc_auc"] - cur_quality["roc_auc"])
        if (
            ref_quality
            and cur_quality
            and ref_quality["roc_auc"] is not None
            and cur_quality["roc_auc"] is not None
        )
        else 0.0
    )
    yield dg.AssetCheckResult(
        check_name="early_outcome_auc",
        passed=not verdict.breach,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(verdict.reasons) or note,
        metadata={
            "auc_drop": float(drop),
            "max_abs_band_z": float(max((abs(b["z"]) for b in bands), default=0.0)),
            "z_threshold": policy.concept_z_threshold,
            "auc_drop_threshold": policy.max_auc_drop,
        },
    )
