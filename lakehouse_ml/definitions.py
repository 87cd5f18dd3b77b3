"""The lakehouse-ml code location: one ``dg.Definitions`` for both profiles."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.assets import (
    canary,
    features,
    freshness,
    gold,
    predictions,
    raw,
    registry,
    serving,
    training,
)
from lakehouse_ml.assets.monitoring import (
    actuals,
    concept_drift,
    feature_drift,
    performance,
    prediction_drift,
)
from lakehouse_ml.orchestration.jobs import daily_refresh, retrain_churn_model, whole_loop
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources import build_resources
from lakehouse_ml.sensors import SCHEDULES, SENSORS

settings = Settings.from_env()

ASSET_MODULES: list = [
    raw,
    gold,
    features,
    training,
    registry,
    serving,
    predictions,
    canary,
    actuals,
    performance,
    feature_drift,
    prediction_drift,
    concept_drift,
    freshness,
]


def executor_for(profile: str) -> dg.ExecutorDefinition:
    """Local runs every step in one process; prod runs each step as its own Kubernetes Job."""
    if profile == "local":
        return dg.in_process_executor
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor


defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[serving.promote_canary, serving.rollback_canary, retrain_churn_model, daily_refresh, whole_loop],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(settings),
    executor=executor_for(settings.profile),
)
