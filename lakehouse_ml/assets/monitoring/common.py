"""What the monitoring assets share: keys, report paths, the production model, persisted verdicts."""

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.monitoring.policy import CONCEPT_DRIFT, DATA_DRIFT, PERFORMANCE, PREDICTION_DRIFT, Verdict
from lakehouse_ml.monitoring.results import verdict_record
from lakehouse_ml.monitoring.weeks import data_week
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.platform.storage import filesystem
from lakehouse_ml.resources.registry import ModelRegistryResource

if TYPE_CHECKING:
    from lakehouse_ml.monitoring.model import MonitoredModel
    from lakehouse_ml.monitoring.workspace import SnapshotTarget

GROUP = "monitoring"
DEPLOYMENT = dg.AssetKey("churn_predictor_deployment")
PREDICTIONS = dg.AssetKey("churn_predictions")
FEATURES = dg.AssetKey("fct_customer_features")
ORDERS = dg.AssetKey("fct_orders")
# Where each signal's verdict is stored: the latest materialization of its asset, under VERDICT_KEY.
SIGNAL_ASSETS = {
    DATA_DRIFT: dg.AssetKey("feature_drift_report"),
    PREDICTION_DRIFT: dg.AssetKey("prediction_drift_report"),
    CONCEPT_DRIFT: dg.AssetKey("concept_drift_report"),
    PERFORMANCE: dg.AssetKey("model_performance_metrics"),
}
VERDICT_KEY = "verdict"
DATA_WEEK_KEY = "data_week"


def _reports_dir() -> Path:
    return Settings.from_env().reports_dir


def report_path(kind: str, as_of: date, version: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    return _reports_dir() / kind / f"{as_of.isoformat()}_{version}_{stamp}.html"


def snapshot_target(kind: str, as_of: date, version: str) -> "SnapshotTarget":
    """Where the report of ``kind`` goes in the Evidently workspace (``LAKEHOUSE_EVIDENTLY_*``)."""
    from lakehouse_ml.monitoring.workspace import SnapshotTarget

    settings = Settings.from_env()
    return SnapshotTarget(
        workspace=settings.evidently_workspace,
        ui_url=settings.evidently_ui_url,
        kind=kind,
        name=f"{as_of.isoformat()} {version}",
        as_of=as_of,
        tags=(f"model_version={version}",),
    )


def production_model(model_registry: ModelRegistryResource) -> "MonitoredModel":
    from lakehouse_ml.monitoring.model import MonitoredModel

    registry = model_registry.open()
    version = registry.production_version()
    if version is None:
        raise dg.Failure("no production model in the registry: deploy a model before monitoring it")
    return MonitoredModel.load(str(version), Path(registry.checkout(version)))


def persist(
    verdict: Verdict,
    model_version: str | None,
    summary: dict,
    report_uri: str | None,
    as_of: date | None = None,
    snapshot_url: str | None = None,
) -> dict[str, dg.MetadataValue]:
    """Materialization metadata holding the verdict (read by ``drift_retrain_sensor`` from the instance),
    the data week of ``as_of`` it judged, the published HTML report (``publish_report``) and
    ``report_url``: the snapshot in the Evidently UI when there is one (browsers do not open a ``file://``
    link from the Dagster UI's page)."""
    week = data_week(as_of) if as_of is not None else None
    record = verdict_record(
        verdict, model_version=model_version, summary=summary, report_uri=report_uri, data_week=week
    )
    stored = {VERDICT_KEY: dg.MetadataValue.json(record)}
    if week:
        stored[DATA_WEEK_KEY] = dg.MetadataValue.text(week)
    url = snapshot_url
    if report_uri:
        stored["report"] = dg.MetadataValue.path(report_uri)
        url = url or (report_uri if "://" in report_uri else Path(report_uri).as_uri())
    if url:
        stored["report_url"] = dg.MetadataValue.url(url)
    return stored


def publish_report(report: Path) -> str:
    """Copy the report to ``LAKEHOUSE_REPORTS_URI`` when set (a pod's disk goes with the pod); its URI."""
    base = Settings.from_env().reports_uri
    if not base:
        return str(report)
    uri = f"{base.rstrip('/')}/{report.relative_to(_reports_dir()).as_posix()}"
    fs, path = filesystem(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.put_file(str(report), path)
    return uri
