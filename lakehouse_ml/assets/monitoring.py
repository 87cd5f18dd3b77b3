"""Monitoring assets: actuals backfill, performance over time, data / prediction / concept drift.

Each drift asset writes an Evidently HTML report under ``$LAKEHOUSE_HOME/reports``, records the
numbers in its metadata, evaluates its checks with the thresholds of the ``monitoring_policy``
resource and persists a small JSON verdict that ``drift_retrain_sensor`` reads (it never
recomputes drift). The trigger policy is documented in docs/trigger-policy.md.
"""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.policy import (
    TriggerPolicy,
    Verdict,
    concept_drift_verdict,
    data_drift_verdict,
    performance_verdict,
    prediction_drift_verdict,
)
from lakehouse_ml.monitoring.results import write_result
from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.warehouse import Warehouse
from lakehouse_ml.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from lakehouse_ml.monitoring.model import MonitoredModel

GROUP = "monitoring"
DEPLOYMENT = dg.AssetKey("churn_predictor_deployment")
PREDICTIONS = dg.AssetKey("churn_predictions")
FEATURES = dg.AssetKey("fct_customer_features")
ORDERS = dg.AssetKey("fct_orders")


def _reports_dir() -> Path:
    return Settings.from_env().reports_dir


def _report_path(kind: str, as_of: date, version: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    return _reports_dir() / kind / f"{as_of.isoformat()}_{version}_{stamp}.html"


def _production_model(model_registry) -> "MonitoredModel":
    from lakehouse_ml.monitoring.model import MonitoredModel

    registry = model_registry.open() if hasattr(model_registry, "open") else model_registry
    version = registry.production_version()
    if version is None:
        raise dg.Failure("no production model in the registry: deploy a model before monitoring it")
    return MonitoredModel.load(str(version), Path(registry.checkout(version)))


def _active(frame: "pd.DataFrame", policy: TriggerPolicy) -> "pd.DataFrame":
    from lakehouse_ml.monitoring.model import active_customers

    return active_customers(frame) if policy.active_only else frame


def _persist(verdict: Verdict, model_version: str | None, summary: dict, report: Path | None) -> dict:
    return write_result(
        _reports_dir(),
        verdict,
        model_version=model_version,
        summary=summary,
        report_path=str(report) if report else None,
    )


def _report_metadata(report: Path) -> dict[str, dg.MetadataValue]:
    return {"report": dg.MetadataValue.path(str(report)), "report_url": dg.MetadataValue.url(report.as_uri())}


@dg.asset(
    group_name=GROUP,
    kinds={"iceberg", "sql"},
    deps=[PREDICTIONS, ORDERS],
)
def prediction_actuals(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    iceberg: IcebergCatalog,
    warehouse: Warehouse,
    monitoring_policy: MonitoringPolicy,
) -> dg.MaterializeResult:
    """Backfills ``actual`` / ``actual_timestamp`` in ``ml.churn_predictions`` once the label horizon has
    passed, so performance can be measured on real outcomes.

    The label is computed from silver ``fct_orders`` with the rule of ``fct_churn_labels`` (no order in
    [P + 1 day, P + 1 day + horizon) for a prediction made on day P) because prediction days are not
    always snapshot-grid days. Only rows whose ``actual`` is null are written: a second run changes nothing.
    """
    from lakehouse_ml.monitoring.actuals import backfill_actuals

    policy = monitoring_policy.policy()
    as_of = warehouse.pipeline_clock()
    table = iceberg.predictions_table()
    due = query_engine.query(sql.due_actuals_sql(as_of, policy.label_horizon_days))
    labelled = due.rename(columns={"subject_id": "prediction_id"})
    updated = backfill_actuals(table, labelled, policy.label_horizon_days)
    context.log.info(f"backfilled {updated} actual(s) as of {as_of}")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "due_rows": len(labelled),
            "updated_rows": updated,
            "churn_rate_backfilled": float(labelled["churned"].mean()) if len(labelled) else 0.0,
            "label_horizon_days": policy.label_horizon_days,
        }
    )


def _pooled(daily: "pd.DataFrame") -> "pd.DataFrame":
    """Window totals per model version; ROC AUC is the labelled-count weighted mean of the daily AUCs."""
    import pandas as pd

    rows = []
    for version, frame in daily.groupby("model_version"):
        labelled = int(frame["labelled_count"].sum())
        tp, fp, fn = (int(frame[c].sum()) for c in ("tp", "fp", "fn"))
        aucs = frame.dropna(subset=["roc_auc"])
        rows.append(
            {
                "model_version": str(version),
                "prediction_count": int(frame["prediction_count"].sum()),
                "labelled_count": labelled,
                "accuracy": float(frame["correct"].sum()) / labelled if labelled else None,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
                "roc_auc": float(
                    (aucs["roc_auc"] * aucs["labelled_count"]).sum() / aucs["labelled_count"].sum()
                )
                if len(aucs)
                else None,
            }
        )
    return pd.DataFrame(rows)


@dg.asset(
    group_name=GROUP,
    kinds={"sql"},
    deps=[prediction_actuals],
    check_specs=[dg.AssetCheckSpec("performance_floor", asset="model_performance_metrics")],
)
def model_performance_metrics(
    context: dg.AssetExecutionContext, query_engine: QueryEngine, monitoring_policy: MonitoringPolicy
):
    """Daily accuracy, ROC AUC, precision, recall and prediction count per model version over the
    latest labelled window (default 7 days ending at the newest day with actuals).

    Computed entirely in SQL (DuckDB locally, Trino in prod). Below the accuracy floor it warns and
    its ``performance_floor`` check fails; the verdict is persisted for ``drift_retrain_sensor``.
    """
    import pandas as pd

    policy = monitoring_policy.policy()
    latest = query_engine.query(sql.latest_labelled_day_sql())["day"].iloc[0]
    if latest is None or pd.isna(latest):
        daily = pd.DataFrame()
        pooled = pd.DataFrame()
        window: tuple[str, str] | None = None
    else:
        end = pd.Timestamp(latest).date()
        start = end - timedelta(days=policy.performance_window_days - 1)
        daily = query_engine.query(sql.daily_performance_sql(start, end))
        pooled = _pooled(daily)
        window = (start.isoformat(), end.isoformat())

    verdicts = [
        (row["model_version"], performance_verdict(row["accuracy"], row["labelled_count"], policy))
        for row in pooled.to_dict("records")
    ]
    breaching = [(version, verdict) for version, verdict in verdicts if verdict.breach]
    reasons = [f"model {version}: {reason}" for version, verdict in breaching for reason in verdict.reasons]
    verdict = Verdict("performance", bool(breaching), reasons)
    for reason in reasons:
        context.log.warning(f"performance below floor: {reason}")
    summary = {
        "window": window,
        "versions": pooled.to_dict("records"),
        "accuracy_floor": policy.accuracy_floor,
    }
    _persist(verdict, None, summary, None)

    metadata: dict[str, object] = {
        "window": dg.MetadataValue.text(
            f"{window[0]} .. {window[1]}" if window else "no labelled predictions"
        ),
        "labelled_rows": int(pooled["labelled_count"].sum()) if len(pooled) else 0,
        "accuracy_floor": policy.accuracy_floor,
        "daily": dg.MetadataValue.md(
            daily.to_markdown(index=False) if len(daily) else "no labelled predictions"
        ),
    }
    for row in pooled.to_dict("records"):
        for name in ("accuracy", "roc_auc", "precision", "recall"):
            if row[name] is not None:
                metadata[f"{row['model_version']}/{name}"] = float(row[name])
        metadata[f"{row['model_version']}/prediction_count"] = int(row["prediction_count"])
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


def _comparisons(query_engine: QueryEngine, model: "MonitoredModel", as_of: date, policy: TriggerPolicy):
    """(name, reference, current, triggers) per comparison; see docs/trigger-policy.md."""
    import pandas as pd

    from lakehouse_ml.monitoring.model import latest_snapshot

    current = query_engine.query(sql.snapshot_sql(as_of))
    days = [pd.Timestamp(d).date() for d in query_engine.query(sql.snapshot_days_sql())["day"]]
    earlier = [d for d in days if d <= as_of - timedelta(days=policy.recent_window_days)]
    comparisons = [
        (
            "since_training",
            _active(latest_snapshot(model.training_set()), policy),
            _active(current, policy),
            False,
        )
    ]
    if earlier:
        previous = query_engine.query(sql.snapshot_sql(max(earlier)))
        comparisons.append(("recent_active", _active(previous, policy), _active(current, policy), True))
        newcomers = [frame[frame["tenure_days"] < policy.new_customer_days] for frame in (previous, current)]
        if all(len(frame) for frame in newcomers):
            comparisons.append(("recent_new_customers", newcomers[0], newcomers[1], True))
    return comparisons


@dg.asset(
    group_name=GROUP,
    kinds={"evidently"},
    deps=[FEATURES, DEPLOYMENT],
    check_specs=[
        dg.AssetCheckSpec("drifted_feature_share", asset="feature_drift_report"),
        dg.AssetCheckSpec("feature_drift_scores", asset="feature_drift_report"),
    ],
)
def feature_drift_report(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    model_registry: dg.ResourceParam[Any],
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

    Features that drift by construction (tenure, lifetime value) never trigger on their own. Inputs
    are sampled to ``sample_size`` rows per side with a fixed seed.
    """
    from lakehouse_ml.monitoring.drift import drift_report

    policy = monitoring_policy.policy()
    model = _production_model(model_registry)
    as_of = warehouse.pipeline_clock()
    results, reasons, metadata = {}, [], {}
    for name, reference, current, triggers in _comparisons(query_engine, model, as_of, policy):
        report = _report_path(f"feature_drift/{name}", as_of, model.version)
        result = drift_report(
            reference,
            current,
            model.numerical_features,
            model.categorical_features,
            column_threshold=policy.column_drift_threshold,
            sample_size=policy.sample_size,
            seed=policy.sample_seed,
            html_path=report,
        )
        verdict = data_drift_verdict(result.column_scores, policy)
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
        metadata.update(
            {
                f"{name}/report": dg.MetadataValue.path(str(report)),
                f"{name}/drifted_share": float(result.drifted_share),
                f"{name}/signal_drifted_share": float(share),
                f"{name}/rows": dg.MetadataValue.text(f"{result.reference_rows} vs {result.current_rows}"),
                **{f"{name}/score/{col}": float(score) for col, score in result.column_scores.items()},
            }
        )
    verdict = Verdict("data_drift", bool(reasons), reasons)
    triggering = [r for r in results.values() if r["triggers"]]
    main = results.get("recent_active") or results["since_training"]
    _persist(
        verdict, model.version, {"as_of": as_of.isoformat(), "comparisons": results}, Path(main["html_path"])
    )
    for reason in reasons:
        context.log.warning(f"data drift: {reason}")

    yield dg.MaterializeResult(
        metadata={
            **_report_metadata(Path(main["html_path"])),
            "model_version": model.version,
            "as_of": as_of.isoformat(),
            "drifted_share": float(main["drifted_share"]),
            "column_scores": dg.MetadataValue.json(main["column_scores"]),
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


def _current_scores(
    query_engine: QueryEngine, model: "MonitoredModel", as_of: date, current_features: "pd.DataFrame"
) -> "tuple[pd.Series, str]":
    """Scores of the newest logged prediction day (within a week of as_of), else the model's scores now."""
    import pandas as pd

    try:
        logged = query_engine.query(
            sql.recent_predictions_sql(model.version, as_of - timedelta(days=6), as_of)
        )
    except ValueError:
        logged = pd.DataFrame()
    if len(logged):
        days = pd.to_datetime(logged["prediction_timestamp"], utc=True).dt.date
        newest = logged[days == days.max()]
        newest = newest[newest["customer_id"].isin(current_features["customer_id"])]
        if len(newest):
            return newest["confidence"].astype(float), "prediction log"
    return model.scores(current_features), "model scores on current features"


@dg.asset(
    group_name=GROUP,
    kinds={"evidently"},
    deps=[PREDICTIONS, FEATURES, DEPLOYMENT],
    check_specs=[dg.AssetCheckSpec("prediction_drift_score", asset="prediction_drift_report")],
)
def prediction_drift_report(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    model_registry: dg.ResourceParam[Any],
    monitoring_policy: MonitoringPolicy,
):
    """Evidently drift of the churn-probability distribution: the production model's scores on its
    reference snapshot against its newest logged predictions (or its scores on the newest features).

    Both sides are restricted to active customers, as for feature drift, so an ageing base with more
    dormant customers does not read as drift.
    """
    import pandas as pd

    from lakehouse_ml.monitoring.drift import drift_report
    from lakehouse_ml.monitoring.model import latest_snapshot

    policy = monitoring_policy.policy()
    model = _production_model(model_registry)
    as_of = warehouse.pipeline_clock()
    reference_frame = _active(latest_snapshot(model.training_set()), policy)
    current_frame = _active(query_engine.query(sql.snapshot_sql(as_of)), policy)
    current_scores, source = _current_scores(query_engine, model, as_of, current_frame)
    reference = pd.DataFrame({"churn_score": model.scores(reference_frame).to_numpy()})
    current = pd.DataFrame({"churn_score": current_scores.to_numpy()})
    report = _report_path("prediction_drift", as_of, model.version)
    result = drift_report(
        reference,
        current,
        ["churn_score"],
        [],
        column_threshold=policy.column_drift_threshold,
        sample_size=policy.sample_size,
        seed=policy.sample_seed,
        html_path=report,
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
    _persist(verdict, model.version, summary, report)
    for reason in verdict.reasons:
        context.log.warning(f"prediction drift: {reason}")
    yield dg.MaterializeResult(
        metadata={
            **_report_metadata(report),
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


def _outcome_frame(query_engine: QueryEngine, model: "MonitoredModel", day: date, policy: TriggerPolicy):
    import pandas as pd

    outcomes = sql.snapshot_outcomes_sql(day, policy.early_horizon_days, policy.early_offset_days)
    frame = _active(query_engine.query(outcomes), policy)
    return pd.DataFrame(
        {"outcome": frame["churned"].astype(int).to_numpy(), "score": model.scores(frame).to_numpy()}
    )


def concept_days(snapshot_days: list[date], model: "MonitoredModel", as_of: date, horizon: int):
    """Reference day: the model's last evaluation day (out of sample), else its last training day.
    Current day: the newest snapshot whose early outcome is known (day + horizon <= as_of)."""
    eval_window = model.metadata.get("eval_window") or model.metadata.get("train_window")
    reference = date.fromisoformat(str(eval_window[1])[:10]) if eval_window else None
    known = [d for d in snapshot_days if d + timedelta(days=horizon) <= as_of]
    current = max(known) if known else None
    if reference is not None and reference not in snapshot_days:
        reference = max((d for d in snapshot_days if d <= reference), default=None)
    return reference, current


@dg.asset(
    group_name=GROUP,
    kinds={"evidently", "sql"},
    deps=[FEATURES, ORDERS, DEPLOYMENT],
    check_specs=[dg.AssetCheckSpec("early_outcome_auc", asset="concept_drift_report")],
)
def concept_drift_report(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    warehouse: Warehouse,
    model_registry: dg.ResourceParam[Any],
    monitoring_policy: MonitoringPolicy,
):
    """Concept drift from outcomes: the production model's ROC AUC against the early outcome (no order
    in the next ``early_horizon_days``, the ``fct_churn_labels`` rule with a shorter horizon) on the
    newest snapshot whose outcome is known, against the same measure on its last evaluation day.

    A drop beyond ``max_auc_drop`` means features no longer relate to churn as they did in training,
    which data drift alone cannot show.
    """
    import pandas as pd

    from lakehouse_ml.monitoring import concept

    policy = monitoring_policy.policy()
    model = _production_model(model_registry)
    as_of = warehouse.pipeline_clock()
    days = [pd.Timestamp(d).date() for d in query_engine.query(sql.snapshot_days_sql())["day"]]
    reference_day, current_day = concept_days(days, model, as_of, policy.early_horizon_days)
    report = None
    if reference_day is None or current_day is None or current_day <= reference_day:
        ref_quality = cur_quality = None
        bands = []
        verdict = Verdict("concept_drift", False, [])
        note = "no snapshot with a known early outcome after the model's evaluation window yet"
    else:
        reference = _outcome_frame(query_engine, model, reference_day, policy)
        current = _outcome_frame(query_engine, model, current_day, policy)
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
        report = _report_path("concept_drift", as_of, model.version)
        concept.classification_report_html(reference, current, model.threshold, report)
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
    _persist(verdict, model.version, summary, report)
    for reason in verdict.reasons:
        context.log.warning(f"concept drift: {reason}")
    metadata: dict[str, object] = {
        "model_version": model.version,
        "note": note,
        "breach": verdict.breach,
        "reference_day": str(reference_day),
        "current_day": str(current_day),
    }
    if report is not None:
        metadata.update(_report_metadata(report))
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
