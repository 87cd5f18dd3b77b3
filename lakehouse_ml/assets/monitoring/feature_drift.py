"""``feature_drift_report``: Evidently data drift of the production model's features."""

import dagster as dg

from lakehouse_ml.assets.monitoring import common
from lakehouse_ml.monitoring.policy import Verdict, data_drift_verdict
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import Warehouse


@dg.asset(
    group_name=common.GROUP,
    kinds={"evidently"},
    deps=[common.FEATURES, common.DEPLOYMENT],
    partitions_def=common.WEEKS,
    check_specs=[
        dg.AssetCheckSpec("drifted_feature_share", asset="feature_drift_report"),
        dg.AssetCheckSpec("feature_drift_scores", asset="feature_drift_report"),
    ],
)
def feature_drift_report(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    model_registry: ModelRegistryResource,
    monitoring_policy: MonitoringPolicy,
):
    """Evidently data drift of the production model's features, as three comparisons:

    - ``since_training``: the newest snapshot of its training set (reference) against the newest
      snapshot of ``fct_customer_features`` (current), active customers. Reported, never a trigger:
      labels need 90 days, so this gap always spans months of ageing and seasonality.
    - ``recent_active``: the snapshot ``recent_window_days`` earlier against the newest, active
      customers. A trigger.
    - ``recent_new_customers``: the same two days restricted to the acquisition cohort (tenure below
      ``new_customer_days``), which shows a change in who arrives. A trigger.

    Features that drift by construction (tenure, lifetime value) never trigger on their own. In the
    triggering comparisons a score counts only above its noise floor (what chance reaches at the
    compared sizes, ``noise_floor/<column>``). Inputs are sampled to ``sample_size`` rows per side
    with a fixed seed. One partition per data week (``common.judged_day``, ``common.judged_model``).
    """
    from lakehouse_ml.monitoring.charts import bar_chart, png_markdown
    from lakehouse_ml.monitoring.comparisons import feature_comparisons
    from lakehouse_ml.monitoring.drift import drift_report

    policy = monitoring_policy.policy()
    as_of, recorded = common.judged_day(context, warehouse, query_engine)
    model = common.judged_model(model_registry, recorded)
    results, reasons, metadata, report_uris = {}, [], {}, {}
    severity = 0.0
    for name, reference, current, triggers in feature_comparisons(query_engine.query, model, as_of, policy):
        report = common.report_path(f"feature_drift/{name}", as_of, model.version)
        result = drift_report(
            reference,
            current,
            model.numerical_features,
            model.categorical_features,
            column_threshold=policy.column_drift_threshold,
            sample_size=policy.sample_size,
            seed=policy.sample_seed,
            html_path=report,
            noise=policy.noise() if triggers else None,
            snapshot_to=common.snapshot_target(f"feature_drift/{name}", as_of, model.version),
        )
        report_uris[name] = common.publish_report(report)
        verdict = data_drift_verdict(result.column_scores, policy, result.noise_floors)
        signal = policy.signal_features(list(result.column_scores))
        share = len([c for c in result.drifted_columns if c in signal]) / len(signal) if signal else 0.0
        worst = max((result.column_scores[c] for c in signal), default=0.0)
        results[name] = {
            **result.to_dict(),
            "triggers": triggers,
            "signal_drifted_share": share,
            "max_signal_score": worst,
            "breach": verdict.breach and triggers,
        }
        if triggers:
            reasons += [f"{name}: {reason}" for reason in verdict.reasons]
            severity = max(severity, verdict.severity)
        metadata.update(
            {
                f"{name}/report": dg.MetadataValue.path(report_uris[name]),
                f"{name}/report_url": dg.MetadataValue.url(result.snapshot_url),
                f"{name}/drifted_share": float(result.drifted_share),
                f"{name}/signal_drifted_share": float(share),
                f"{name}/rows": dg.MetadataValue.text(f"{result.reference_rows} vs {result.current_rows}"),
                **{f"{name}/score/{col}": float(score) for col, score in result.column_scores.items()},
                **{f"{name}/noise_floor/{col}": float(floor) for col, floor in result.noise_floors.items()},
            }
        )
    verdict = Verdict("data_drift", bool(reasons), reasons, severity)
    triggering = [r for r in results.values() if r["triggers"]]
    main_name = "recent_active" if "recent_active" in results else "since_training"
    main = results[main_name]
    stored = common.persist(
        verdict,
        model.version,
        {"as_of": as_of.isoformat(), "comparisons": results},
        report_uris[main_name],
        as_of=as_of,
        snapshot_url=main["snapshot_url"],
    )
    for reason in reasons:
        context.log.warning(f"data drift: {reason}")
    chart = bar_chart(
        main["column_scores"], f"drift score per feature, {main_name}", policy.column_drift_threshold
    )

    yield dg.MaterializeResult(
        metadata={
            **stored,
            "model_version": model.version,
            "as_of": as_of.isoformat(),
            "drifted_share": float(main["drifted_share"]),
            "column_scores": dg.MetadataValue.json(main["column_scores"]),
            "column_scores_chart": dg.MetadataValue.md(png_markdown(chart, "drift score per feature")),
            **metadata,
            "breach": verdict.breach,
        }
    )
    share = max((r["signal_drifted_share"] for r in triggering), default=0.0)
    yield dg.AssetCheckResult(
        check_name="drifted_feature_share",
        passed=share < policy.drift_share_threshold,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"largest share of drifted signal features {share:.2f} in a recent comparison "
        f"(threshold {policy.drift_share_threshold}); construct-drift features excluded: "
        f"{list(policy.construct_drift_features)}",
        metadata={"signal_drifted_share": float(share), "threshold": policy.drift_share_threshold},
    )
    worst = max((r["max_signal_score"] for r in triggering), default=0.0)
    yield dg.AssetCheckResult(
        check_name="feature_drift_scores",
        passed=worst < policy.feature_score_threshold,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"largest signal-feature drift score {worst:.3f} in a recent comparison "
        f"(threshold {policy.feature_score_threshold})",
        metadata={"max_signal_score": float(worst), "threshold": policy.feature_score_threshold},
    )
