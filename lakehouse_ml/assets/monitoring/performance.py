"""``model_performance_metrics``: accuracy, ROC AUC, precision and recall per model version over time."""

from datetime import timedelta

import dagster as dg

from lakehouse_ml.assets.monitoring import common
from lakehouse_ml.assets.monitoring.actuals import prediction_actuals
from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.policy import Verdict, performance_verdict
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.warehouse import Warehouse

CHART_WEEKS = 12  # history shown in the weekly accuracy chart


@dg.asset(
    group_name=common.GROUP,
    kinds={"sql"},
    deps=[prediction_actuals],
    partitions_def=common.WEEKS,
    check_specs=[dg.AssetCheckSpec("performance_floor", asset="model_performance_metrics")],
)
def model_performance_metrics(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    monitoring_policy: MonitoringPolicy,
):
    """Daily accuracy, ROC AUC, precision, recall and prediction count per model version over the
    latest labelled window (default 7 days ending at the newest scoring day with actuals).

    One partition per data week, judged at its day (``common.judged_day``): only predictions labelled by
    then count (scoring day at least the label horizon before it), so a past week recomputed later, when
    newer predictions have their labels too, gives the same figures.

    Computed entirely in SQL (DuckDB locally, Trino in prod). Below the accuracy floor it warns and
    its ``performance_floor`` check fails; the verdict is persisted for ``drift_retrain_sensor``.
    """
    import pandas as pd

    from lakehouse_ml.monitoring.charts import line_chart, png_markdown
    from lakehouse_ml.monitoring.performance import pooled_by_version, weekly_by_version

    policy = monitoring_policy.policy()
    as_of, _ = common.judged_day(context, warehouse, query_engine)
    labelled_until = as_of - timedelta(days=policy.label_horizon_days)
    latest = query_engine.query(sql.latest_labelled_day_sql(labelled_until))["day"].iloc[0]
    end = None
    if latest is None or pd.isna(latest):
        daily = history = pd.DataFrame()
        pooled: list[dict] = []
        window: tuple[str, str] | None = None
    else:
        end = pd.Timestamp(latest).date()
        start = end - timedelta(days=policy.performance_window_days - 1)
        daily = query_engine.query(sql.daily_performance_sql(start, end), predictions_since=start)
        pooled = pooled_by_version(daily)
        window = (start.isoformat(), end.isoformat())
        history = query_engine.query(sql.daily_performance_sql(end - timedelta(weeks=CHART_WEEKS), end))

    verdicts = [
        (row["model_version"], performance_verdict(row["accuracy"], row["labelled_count"], policy))
        for row in pooled
    ]
    breaching = [(version, verdict) for version, verdict in verdicts if verdict.breach]
    reasons = [f"model {version}: {reason}" for version, verdict in breaching for reason in verdict.reasons]
    verdict = Verdict(
        "performance", bool(breaching), reasons, max((v.severity for _, v in breaching), default=0.0)
    )
    for reason in reasons:
        context.log.warning(f"performance below floor: {reason}")
    summary = {
        "as_of": as_of.isoformat(),
        "window": window,
        "versions": pooled,
        "accuracy_floor": policy.accuracy_floor,
    }
    stored = common.persist(verdict, None, summary, None, as_of=as_of)

    metadata: dict[str, object] = {
        "window": dg.MetadataValue.text(
            f"{window[0]} .. {window[1]}" if window else "no labelled predictions"
        ),
        "labelled_rows": sum(row["labelled_count"] for row in pooled),
        "accuracy_floor": policy.accuracy_floor,
        **stored,
        "daily": dg.MetadataValue.md(
            daily.to_markdown(index=False) if len(daily) else "no labelled predictions"
        ),
    }
    for row in pooled:
        for name in ("accuracy", "roc_auc", "precision", "recall"):
            if row[name] is not None:
                metadata[f"{row['model_version']}/{name}"] = float(row[name])
        metadata[f"{row['model_version']}/prediction_count"] = int(row["prediction_count"])
    weeks, accuracy = weekly_by_version(history)
    if weeks:
        chart = line_chart(accuracy, weeks, "accuracy per week per model version", policy.accuracy_floor)
        metadata["weekly_accuracy_chart"] = dg.MetadataValue.md(png_markdown(chart, "weekly accuracy"))
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="performance_floor",
        passed=not verdict.breach,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(reasons)
        or (
            f"accuracy >= {policy.accuracy_floor} for every version with >= "
            f"{policy.min_labelled_rows} labelled rows"
        ),
        metadata={"accuracy_floor": policy.accuracy_floor, "versions_below_floor": len(breaching)},
    )
