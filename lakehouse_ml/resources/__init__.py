"""Resources per deployment profile, chosen from one mapping (hooli-data-eng style).

Both profiles expose the same resource keys; only the implementations differ.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.alerts import alert_channel
from lakehouse_ml.resources.feature_store import local_feature_store, prod_feature_store
from lakehouse_ml.resources.iceberg import local_iceberg, prod_iceberg
from lakehouse_ml.resources.io_manager import prod_io_manager
from lakehouse_ml.resources.landing_zone import local_landing_zone, prod_landing_zone
from lakehouse_ml.resources.model_server import local_serving, prod_serving
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import local_query_engine, prod_query_engine
from lakehouse_ml.resources.registry import local_model_registry, prod_model_registry
from lakehouse_ml.resources.training_pipeline import local_training_runner, prod_training_runner
from lakehouse_ml.resources.warehouse import dbt_resource, local_warehouse, prod_warehouse


def local_resources(settings: Settings) -> dict[str, Any]:
    return {
        "landing_zone": local_landing_zone(settings),
        "feature_store": local_feature_store(settings),
        "warehouse": local_warehouse(settings),
        "dbt": dbt_resource(settings),
        "query_engine": local_query_engine(settings),
        "model_server": local_serving(settings),
        "iceberg": local_iceberg(settings),
        "training_pipeline": local_training_runner(settings),
        "model_registry": local_model_registry(settings),
        "monitoring_policy": MonitoringPolicy(label_horizon_days=settings.label_horizon_days),
        "alerts": alert_channel(settings),
        "io_manager": dg.FilesystemIOManager(),  # Dagster's default: the instance's storage folder
    }


def prod_resources(settings: Settings) -> dict[str, Any]:
    return {
        "landing_zone": prod_landing_zone(settings),
        "feature_store": prod_feature_store(settings),
        "warehouse": prod_warehouse(settings),
        "dbt": dbt_resource(settings),
        "query_engine": prod_query_engine(settings),
        "model_server": prod_serving(settings),
        "iceberg": prod_iceberg(settings),
        "training_pipeline": prod_training_runner(settings),
        "model_registry": prod_model_registry(settings),
        "monitoring_policy": MonitoringPolicy(label_horizon_days=settings.label_horizon_days),
        "alerts": alert_channel(settings),
        "io_manager": prod_io_manager(settings),
    }


RESOURCES_BY_PROFILE = {"local": local_resources, "prod": prod_resources}


def build_resources(settings: Settings) -> dict[str, Any]:
    return RESOURCES_BY_PROFILE[settings.profile](settings)
