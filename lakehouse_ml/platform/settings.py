"""Project settings: every non-secret ``LAKEHOUSE_*`` environment variable, read and validated in one place.

Plain module (no Dagster import) so the CLI, the KFP components and the model server read the same
configuration as the code location. Secrets (passwords, credentials, connection URLs that carry them)
are not settings: resources read them with ``dg.EnvVar`` at run time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS
from lakehouse_ml.platform.k8s_names import SPOOL_CLAIM

ENV_PREFIX = "LAKEHOUSE_"
GOLD_URI_REQUIRED = "LAKEHOUSE_GOLD_URI (e.g. s3://lakehouse/gold) is required in prod"
Profile = Literal["local", "prod"]
PROFILES: tuple[Profile, ...] = ("local", "prod")
DEFAULT_IMAGE = "lakehouse-ml:latest"  # deploy/Dockerfile
POLARIS_SCOPE = "PRINCIPAL_ROLE:ALL"  # pyiceberg's default scope "catalog" grants a Polaris principal nothing


class Settings(BaseSettings):
    """``LAKEHOUSE_<FIELD>`` for each field (``LAKEHOUSE_HOME`` -> ``home``). Get them with ``from_env()``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    profile: Profile = "local"
    home: Path = Path(".lakehouse")
    raw_uri: str = Field("", description="raw landing zone; default $LAKEHOUSE_HOME/raw")
    as_of: date | None = Field(None, description="pipeline clock; default: the day before the last order day")
    serving_port: int = Field(8080, gt=0, lt=65536, description="local model server port on 127.0.0.1")
    label_horizon_days: int = Field(
        LABEL_HORIZON_DAYS,
        gt=0,
        description="days after a prediction's scoring day until its actual falls due (shorter in drills)",
    )
    landing_sensor_interval_seconds: int = Field(
        30, gt=0, description="least seconds between two ticks of raw_landing_sensor (shorter in drills)"
    )
    drift_sensor_interval_seconds: int = Field(
        300, gt=0, description="least seconds between two ticks of drift_retrain_sensor (shorter in drills)"
    )
    serving_grpc_port: int = Field(
        8081, gt=0, lt=65536, description="local model server's gRPC V2 port on 127.0.0.1 (KServe's default)"
    )
    gold_uri: str | None = Field(None, description="prod: where the gold Parquet files live (s3://...)")
    s3_endpoint: str | None = Field(None, description="S3 API endpoint; empty for AWS")
    image: str = Field(DEFAULT_IMAGE, description="project image of KFP components and KServe pods")
    dvc_remote_url: str = "s3://lakehouse/dvc-remote"
    kfp_host: str = "http://ml-pipeline.kubeflow.svc:8888"
    kfp_namespace: str | None = None
    kfp_pipeline_root: str = "s3://lakehouse/kfp"
    kfp_export_root: str = "s3://lakehouse/kfp-exports"
    tuning: Literal["kfp", "katib"] = Field("kfp", description="prod tuning: KFP tasks or Katib Experiments")
    kfp_lakehouse_home: str = Field("/lakehouse", description="LAKEHOUSE_HOME inside KFP component pods")
    kserve_namespace: str = "lakehouse-ml"
    kserve_service_account: str | None = None
    model_store_uri: str = "s3://lakehouse-ml/models/churn-predictor"
    prediction_spool_claim: str = Field(SPOOL_CLAIM, description="PVC the KServe pods spool to; empty: none")
    iceberg_warehouse: str | None = None
    io_manager_uri: str = Field("s3://lakehouse/dagster-io", description="prod: step outputs (s3://)")
    reports_uri: str | None = Field(None, description="where HTML reports are published; unset: reports_dir")
    evidently_workspace: str = Field(
        "", description="Evidently workspace (folder, or s3://... in prod); default $LAKEHOUSE_HOME/evidently"
    )
    evidently_ui_url: str = Field(
        "http://127.0.0.1:8000",
        description="where `evidently ui` serves the workspace (asset pages link to it)",
    )
    iceberg_scope: str = Field(POLARIS_SCOPE, description="OAuth scope of the Iceberg REST catalog token")
    iceberg_catalog: Literal["rest", "sql"] = Field(
        "rest",
        description="prod Iceberg catalog: REST (Polaris) or SQL (LAKEHOUSE_ICEBERG_SQL_URI)",
    )

    canary_min_passes: int = Field(3, ge=1, description="canary: consecutive passing evaluations to promote")
    canary_min_predictions: int = Field(200, ge=1, description="canary: predictions per version to compare")
    canary_max_error_rate: float = Field(0.01, ge=0, le=1, description="canary: failed share of requests")
    canary_max_latency_ratio: float = Field(2.0, gt=0, description="canary: mean latency / stable's")
    canary_latency_floor_ms: float = Field(5.0, ge=0, description="canary: mean latency always accepted")
    canary_max_score_psi: float = Field(0.2, gt=0, description="canary: PSI of scores against stable's")
    canary_min_labelled: int = Field(100, ge=1, description="canary: labelled predictions to compare AUC")
    canary_max_auc_drop: float = Field(0.05, ge=0, le=1, description="canary: ROC AUC below stable's")

    alerts: Literal["log", "webhook"] = Field(
        "log", description="alert channel; webhook: LAKEHOUSE_ALERT_WEBHOOK_URL"
    )
    dagster_ui_url: str = Field("http://127.0.0.1:3000", description="Dagster UI that alert links point to")
    freshness_refresh_hours: float = Field(
        26, gt=0, description="gold, online features, predictions: max age"
    )
    freshness_monitoring_hours: float = Field(8 * 24, gt=0, description="monitoring results: max age")
    retrain_cooldown_days: int = Field(
        7, ge=0, description="drift retraining at most once per these data days"
    )
    retrain_growth_factor: float = Field(
        1.5, ge=1, description="breach severity that retrains in the cool-down"
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @field_validator(
        "as_of",
        "gold_uri",
        "s3_endpoint",
        "kfp_namespace",
        "kserve_service_account",
        "iceberg_warehouse",
        "reports_uri",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _default_raw_uri(self) -> Settings:
        if not self.raw_uri:
            object.__setattr__(self, "raw_uri", str(self.home / "raw"))
        if not self.evidently_workspace:
            object.__setattr__(self, "evidently_workspace", str(self.home / "evidently"))
        return self

    @classmethod
    def from_env(cls, overrides: Mapping[str, str] | None = None) -> Settings:
        """The settings of the current environment with ``overrides`` (``LAKEHOUSE_*`` names) on top.

        Validated once per distinct set of values, so call it wherever settings are needed: a test or
        a process that changes the environment gets fresh settings, everyone else a cached object.
        """
        names = {ENV_PREFIX + name.upper() for name in cls.model_fields}
        # Other names are ignored, as in the environment: a whole os.environ copy may be passed.
        chosen = tuple(sorted((k, v) for k, v in (overrides or {}).items() if k in names))
        current = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)))
        return _validated(current, chosen)

    @property
    def raw_is_local(self) -> bool:
        return "://" not in self.raw_uri

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def gold_dir(self) -> Path:
        return self.home / "gold"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def kfp_root(self) -> Path:
        return self.home / "kfp"

    @property
    def registry_dir(self) -> Path:
        return self.home / "registry"

    @property
    def dvc_remote_dir(self) -> Path:
        return self.home / "dvc-remote"

    @property
    def iceberg_dir(self) -> Path:
        return self.home / "iceberg"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def serving_dir(self) -> Path:
        return self.home / "serving"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


@lru_cache(maxsize=32)
def _validated(environment: tuple[tuple[str, str], ...], overrides: tuple[tuple[str, str], ...]) -> Settings:
    # ``environment`` is the cache key only: pydantic-settings reads the same values from os.environ.
    try:
        return Settings(**{key[len(ENV_PREFIX) :].lower(): value for key, value in overrides})
    except ValidationError as err:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}, got {e['input']!r}"
            for e in err.errors()
        )
        raise ValueError(f"invalid settings: {problems}") from None


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]
