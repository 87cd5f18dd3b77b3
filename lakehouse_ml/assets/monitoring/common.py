"""What the monitoring assets share: keys, the data-week partitions and how a week is judged, report paths,
the production model, persisted verdicts."""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.policy import CONCEPT_DRIFT, DATA_DRIFT, PERFORMANCE, PREDICTION_DRIFT, Verdict
from lakehouse_ml.monitoring.results import verdict_record
from lakehouse_ml.monitoring.weeks import data_week
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.platform.storage import filesystem
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import Warehouse

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
AS_OF_KEY = "as_of"
MODEL_VERSION_KEY = "model_version"
# One partition per week of the pipeline clock, keyed by ``monitoring.weeks.data_week`` (a Sunday,
# YYYY-MM-DD). Dynamic: the data's calendar (CDNOW's 1997, the simulator's) is not known in advance. The
# run that ingests a landing adds its week's key (``raw_landing_sensor``; the CLI: cli/run.py).
WEEKS = dg.DynamicPartitionsDefinition(name=DATA_WEEK_KEY)


def _recorded(context: dg.AssetExecutionContext) -> dict[str, str]:
    """``as_of`` and ``model_version`` of this partition's latest materialization (empty if none)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[context.partition_key]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    metadata = records[0].asset_materialization.metadata
    return {key: str(metadata[key].value) for key in (AS_OF_KEY, MODEL_VERSION_KEY) if key in metadata}


def week_start(week: str) -> date:
    """The first day of the data week named ``week``; a Failure if ``week`` is not a data week's name."""
    try:
        start = date.fromisoformat(week)
    except ValueError:
        start = None
    if start is None or data_week(start) != week:
        raise dg.Failure(f"partition {week!r} is not a data week (a Sunday as YYYY-MM-DD: monitoring.weeks)")
    return start


def judged_day(
    context: dg.AssetExecutionContext, warehouse: Warehouse, query_engine: QueryEngine
) -> tuple[date, dict[str, str]]:
    """The gold snapshot day the partition's week is judged at, and what its last materialization recorded.

    The week of the pipeline clock is judged live, at the clock. A past week (a backfill, a re-run) is
    judged as when it last ran: at the day its latest materialization recorded, while gold still has that
    snapshot, else at the newest snapshot gold has in that week; and with the model version recorded
    (``judged_model``), so it gives the same verdict.
    """
    week = context.partition_key
    start = week_start(week)
    clock = warehouse.pipeline_clock()
    if data_week(clock) == week:
        return clock, {}
    if start > clock:
        raise dg.Failure(f"data week {week} is after the pipeline clock {clock}: gold has no snapshot in it")
    recorded = _recorded(context)
    import pandas as pd

    snapshots = (pd.Timestamp(value).date() for value in query_engine.query(sql.snapshot_days_sql())["day"])
    days = [day for day in snapshots if start <= day < start + timedelta(days=7) and day <= clock]
    if not days:
        raise dg.Failure(f"gold has no snapshot in data week {week} (pipeline clock {clock})")
    day = date.fromisoformat(recorded[AS_OF_KEY]) if AS_OF_KEY in recorded else None
    if day not in days:
        if day is not None:
            context.log.warning(f"snapshot {day} of week {week} is no longer in gold: judged at {max(days)}")
        day = max(days)
    context.log.info(f"past data week {week}: judged at its snapshot {day} (pipeline clock {clock})")
    return day, recorded


def judged_model(model_registry: ModelRegistryResource, recorded: dict[str, str]) -> "MonitoredModel":
    """The model version the week's last materialization judged (a past week), else the production one."""
    version = recorded.get(MODEL_VERSION_KEY)
    if version is None:
        return production_model(model_registry)
    from lakehouse_ml.monitoring.model import MonitoredModel

    return MonitoredModel.load(version, Path(model_registry.open().checkout(version)))


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
    the data week of ``as_of`` it judged, ``as_of`` and the model version (read back when the week is
    recomputed: ``judged_day``), the published HTML report (``publish_report``) and
    ``report_url``: the snapshot in the Evidently UI when there is one (browsers do not open a ``file://``
    link from the Dagster UI's page)."""
    week = data_week(as_of) if as_of is not None else None
    record = verdict_record(
        verdict, model_version=model_version, summary=summary, report_uri=report_uri, data_week=week
    )
    stored = {VERDICT_KEY: dg.MetadataValue.json(record)}
    if week:
        stored[DATA_WEEK_KEY] = dg.MetadataValue.text(week)
        stored[AS_OF_KEY] = dg.MetadataValue.text(as_of.isoformat())
    if model_version is not None:
        stored[MODEL_VERSION_KEY] = dg.MetadataValue.text(str(model_version))
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
