"""What the monitoring assets share: keys, report paths, the production model, persisted verdicts."""

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.monitoring.policy import Verdict
from lakehouse_ml.monitoring.results import write_result
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.settings import Settings

if TYPE_CHECKING:
    from lakehouse_ml.monitoring.model import MonitoredModel

GROUP = "monitoring"
DEPLOYMENT = dg.AssetKey("churn_predictor_deployment")
PREDICTIONS = dg.AssetKey("churn_predictions")
FEATURES = dg.AssetKey("fct_customer_features")
ORDERS = dg.AssetKey("fct_orders")


def _reports_dir() -> Path:
    return Settings.from_env().reports_dir


def report_path(kind: str, as_of: date, version: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    return _reports_dir() / kind / f"{as_of.isoformat()}_{version}_{stamp}.html"


def production_model(model_registry: ModelRegistryResource) -> "MonitoredModel":
    from lakehouse_ml.monitoring.model import MonitoredModel

    registry = model_registry.open()
    version = registry.production_version()
    if version is None:
        raise dg.Failure("no production model in the registry: deploy a model before monitoring it")
    return MonitoredModel.load(str(version), Path(registry.checkout(version)))


def persist(verdict: Verdict, model_version: str | None, summary: dict, report: Path | None) -> dict:
    return write_result(
        _reports_dir(),
        verdict,
        model_version=model_version,
        summary=summary,
        report_path=str(report) if report else None,
    )


def report_metadata(report: Path) -> dict[str, dg.MetadataValue]:
    return {"report": dg.MetadataValue.path(str(report)), "report_url": dg.MetadataValue.url(report.as_uri())}
