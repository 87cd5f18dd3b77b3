"""Monitoring assets on a small hand-made world: drift, concept drift, actuals, performance floor."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from lakehouse_ml.assets.monitoring.actuals import prediction_actuals
from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, VERDICT_KEY, WEEKS
from lakehouse_ml.assets.monitoring.concept_drift import concept_drift_report
from lakehouse_ml.assets.monitoring.feature_drift import feature_drift_report
from lakehouse_ml.assets.monitoring.performance import model_performance_metrics
from lakehouse_ml.assets.monitoring.prediction_drift import prediction_drift_report
from lakehouse_ml.monitoring.weeks import data_week
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import DuckDBWarehouse
from tests.support.charts import assert_png_chart
from tests.support.monitoring_fixtures import (
    _engine,
    churn_outcome,
    order_frame,
    orders_after,
    random_predictions,
    snapshot,
    write_model,
    write_predictions,
    write_warehouse,
)

TRAIN_DAY, REF_DAY, CUR_DAY, AS_OF = date(2024, 12, 1), date(2025, 3, 2), date(2025, 9, 1), date(2025, 9, 30)
WEEK = data_week(AS_OF)
N = 3000


def build_world(home, *, basket=1.0, concept=False, age_days=0):
    training = snapshot(TRAIN_DAY, N, seed=1)
    training["churned"] = churn_outcome(training, seed=11)
    reference, current = snapshot(REF_DAY, N, seed=2), snapshot(CUR_DAY, N, seed=3)
    latest = snapshot(AS_OF, N, seed=4, basket=basket, age_days=age_days)
    orders = order_frame(
        orders_after(reference, churn_outcome(reference, seed=12), "r")
        + orders_after(current, churn_outcome(current, seed=13, flipped=concept), "c")
    )
    write_warehouse(home, orders, pd.concat([training.drop(columns="churned"), reference, current, latest]))
    registry = empty_registry(home)
    opened = registry.open()
    opened.promote(opened.register(write_model(home / "model", training, eval_end=REF_DAY), {}), "production")
    return registry


def empty_registry(home) -> ModelRegistryResource:
    return ModelRegistryResource(registry_dir=str(home / "registry"), remote_url=str(home / "dvc-remote"))


def resources(home, registry):
    return {
        "query_engine": _engine(home),
        "warehouse": DuckDBWarehouse(path=str(home / "warehouse.duckdb"), gold_dir=str(home / "gold")),
        "model_registry": registry,
        "iceberg": LocalIcebergCatalog(iceberg_dir=str(home / "iceberg")),
        "monitoring_policy": MonitoringPolicy(sample_size=2_000),
    }


def run(home, registry, assets, instance=None, week=WEEK):
    """Materialize ``assets``; those partitioned by data week for ``week`` (added to the instance)."""
    instance = instance or dg.DagsterInstance.ephemeral()
    partition = week if any(asset.partitions_def for asset in assets) else None
    if partition:
        instance.add_dynamic_partitions(WEEKS.name, [partition])
    result = dg.materialize(
        assets, resources=resources(home, registry), instance=instance, partition_key=partition
    )
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    return result, checks


def signal(result, name):
    """The verdict the run stored in the instance for signal ``name`` (what drift_retrain_sensor reads)."""
    node = SIGNAL_ASSETS[name].to_user_string()
    return result.asset_materializations_for_node(node)[0].metadata[VERDICT_KEY].value


DRIFT_ASSETS = [
    feature_drift_report,
    prediction_drift_report,
    concept_drift_report,
]


def test_stable_world_ages_without_triggering(lakehouse_home):
    registry = build_world(lakehouse_home, age_days=200)
    result, checks = run(lakehouse_home, registry, DRIFT_ASSETS)
    assert checks == {
        "drifted_feature_share": True,
        "feature_drift_scores": True,
        "prediction_drift_score": True,
        "early_outcome_auc": True,
    }
    data = signal(result, "data_drift")
    assert not data["breach"]
    recent = data["summary"]["comparisons"]["recent_active"]
    assert "tenure_days" in recent["drifted_columns"]  # drifts by construction, reported only
    assert not signal(result, "prediction_drift")["breach"]
    assert not signal(result, "concept_drift")["breach"]
    metadata = result.asset_materializations_for_node("feature_drift_report")[0].metadata
    assert isinstance(metadata["drifted_share"].value, float)
    assert metadata["recent_active/score/tenure_days"].value >= 0.1
    assert "since_training/score/avg_order_value" in metadata
    assert (lakehouse_home / "reports" / "feature_drift").exists()
    assert metadata["report"].value.endswith(".html")
    assert_png_chart(metadata["column_scores_chart"])
    # each report is also a snapshot in the Evidently workspace, linked over http from the asset page
    from lakehouse_ml.monitoring.workspace import list_snapshots

    workspace = str(lakehouse_home / "evidently")
    for kind in ("feature_drift/recent_active", "feature_drift/since_training", "prediction_drift"):
        assert len(list_snapshots(workspace, kind)) == 1, kind
    (recent,) = list_snapshots(workspace, "feature_drift/recent_active")
    assert metadata["report_url"].value.startswith("http://127.0.0.1:8000/projects/")
    assert metadata["report_url"].value.endswith(recent["id"])
    assert metadata["recent_active/report_url"].value == metadata["report_url"].value


def test_basket_shift_trips_data_drift(lakehouse_home):
    registry = build_world(lakehouse_home, basket=1.6)
    result, checks = run(lakehouse_home, registry, [feature_drift_report])
    data = signal(result, "data_drift")
    assert data["breach"]
    assert "avg_order_value" in " ".join(data["reasons"])
    assert checks["feature_drift_scores"] is False


def test_concept_shift_trips_the_outcome_signal_not_data_drift(lakehouse_home):
    registry = build_world(lakehouse_home, concept=True)
    result, checks = run(lakehouse_home, registry, [feature_drift_report, concept_drift_report])
    concept = signal(result, "concept_drift")
    assert concept["breach"]
    assert concept["summary"]["reference_day"] == REF_DAY.isoformat()
    assert concept["summary"]["current_day"] == CUR_DAY.isoformat()
    assert concept["summary"]["current"]["roc_auc"] < concept["summary"]["reference"]["roc_auc"]
    assert checks["early_outcome_auc"] is False
    assert not signal(result, "data_drift")["breach"]
    from lakehouse_ml.monitoring.workspace import list_snapshots

    (stored,) = list_snapshots(str(lakehouse_home / "evidently"), "concept_drift")
    assert stored["timestamp"].date() == AS_OF
    url = result.asset_materializations_for_node("concept_drift_report")[0].metadata["report_url"].value
    assert url.startswith("http://127.0.0.1:8000/projects/") and url.endswith(stored["id"])


def test_actuals_then_performance_floor(lakehouse_home):
    registry = build_world(lakehouse_home)
    good = random_predictions(400, date(2025, 6, 20), "3", seed=5, quality=0.9)
    weak = random_predictions(400, date(2025, 6, 21), "2", seed=6, quality=0.05)
    unlabelled = random_predictions(50, date(2025, 6, 25), "3", seed=7, quality=0.5)
    unlabelled = unlabelled.assign(
        prediction_id=lambda f: "u" + f["prediction_id"], actual=None, actual_timestamp=pd.NaT
    )
    unlabelled["actual"] = unlabelled["actual"].astype("Int32")
    write_predictions(lakehouse_home, pd.concat([good, weak, unlabelled], ignore_index=True))

    assets = [prediction_actuals, model_performance_metrics]
    result, checks = run(lakehouse_home, registry, assets)
    actuals_meta = result.asset_materializations_for_node("prediction_actuals")[0].metadata
    assert actuals_meta["updated_rows"].value == 50  # 2025-06-25 + 90 days <= 2025-09-30
    assert checks["performance_floor"] is False
    performance = signal(result, "performance")
    assert performance["breach"]
    assert any("model 2" in reason for reason in performance["reasons"])
    assert not any("model 3" in reason for reason in performance["reasons"])
    metadata = result.asset_materializations_for_node("model_performance_metrics")[0].metadata
    assert metadata["3/accuracy"].value > 0.8 > metadata["2/accuracy"].value
    assert isinstance(metadata["3/accuracy"], dg.FloatMetadataValue)
    assert_png_chart(metadata["weekly_accuracy_chart"])

    again, _ = run(lakehouse_home, registry, [prediction_actuals])
    assert again.asset_materializations_for_node("prediction_actuals")[0].metadata["updated_rows"].value == 0


def test_replayed_predictions_fall_due_on_the_data_calendar_and_get_performance(lakehouse_home):
    """A replay logs predictions today (wall clock) on features of REF_DAY (the data's calendar): their
    actuals fall due on scoring_day + horizon <= AS_OF, so performance has labelled rows."""
    from datetime import UTC, datetime

    registry = build_world(lakehouse_home)
    reference = snapshot(REF_DAY, N, seed=2)
    churned = dict(zip(reference["customer_id"], churn_outcome(reference, seed=12), strict=True))
    replayed = random_predictions(300, REF_DAY, "3", seed=8, quality=0.5).assign(
        prediction_timestamp=pd.Timestamp(datetime.now(UTC)), actual=None, scoring_day=REF_DAY
    )
    replayed["actual_timestamp"] = pd.NaT
    write_predictions(lakehouse_home, replayed)

    result, _ = run(lakehouse_home, registry, [prediction_actuals, model_performance_metrics])
    actuals_meta = result.asset_materializations_for_node("prediction_actuals")[0].metadata
    assert actuals_meta["updated_rows"].value == 300
    metadata = result.asset_materializations_for_node("model_performance_metrics")[0].metadata
    assert metadata["labelled_rows"].value == 300
    assert metadata["window"].value.endswith(REF_DAY.isoformat())
    log = _logged(lakehouse_home)
    assert {row["customer_id"]: int(row["actual"]) for row in log} == {
        f"c{i}": int(churned[f"c{i}"]) for i in range(300)
    }
    assert {row["actual_timestamp"].date() for row in log} == {REF_DAY + timedelta(days=91)}


def _logged(home) -> list[dict]:
    from tests.support.monitoring_fixtures import make_catalog

    return make_catalog(home).load_table("ml.churn_predictions").scan().to_arrow().to_pylist()


def test_monitoring_without_a_production_model_fails_clearly(lakehouse_home):
    build_world(lakehouse_home)
    with pytest.raises(dg.Failure, match="no production model"):
        run(lakehouse_home, empty_registry(lakehouse_home / "other"), [feature_drift_report])


@pytest.mark.s3
def test_reports_are_published_to_object_storage_and_linked(lakehouse_home, s3_endpoint, monkeypatch):
    """A pod's disk goes with the pod: the HTML goes to LAKEHOUSE_REPORTS_URI and the verdict links it."""
    import boto3

    from lakehouse_ml.monitoring.workspace import list_snapshots
    from lakehouse_ml.platform.storage import s3_filesystem

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="monitoring-reports")
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("LAKEHOUSE_REPORTS_URI", "s3://monitoring-reports/reports")
    monkeypatch.setenv("LAKEHOUSE_EVIDENTLY_WORKSPACE", "s3://monitoring-reports/evidently")
    monkeypatch.setenv("LAKEHOUSE_EVIDENTLY_UI_URL", "http://evidently.example:8000")
    registry = build_world(lakehouse_home, basket=1.6)
    result, _ = run(lakehouse_home, registry, [prediction_drift_report])
    metadata = result.asset_materializations_for_node("prediction_drift_report")[0].metadata
    uri = metadata["report"].value
    assert uri.startswith("s3://monitoring-reports/reports/prediction_drift/") and uri.endswith(".html")
    assert signal(result, "prediction_drift")["report_uri"] == uri
    assert b"<html" in s3_filesystem(s3_endpoint).cat_file(uri.removeprefix("s3://"))[:2000].lower()
    (stored,) = list_snapshots("s3://monitoring-reports/evidently", "prediction_drift")
    assert metadata["report_url"].value.startswith("http://evidently.example:8000/projects/")
    assert metadata["report_url"].value.endswith(f"/reports/{stored['id']}")
