"""Snapshot of the code location's shape: assets, groups, kinds, lineage, checks, partitions (on the
partitioned assets and jobs only), jobs with what they select, schedules and sensors with what they target.

A change to the graph shows up here as a readable diff (syrupy). Refresh after an intended change with
``.venv/bin/pytest tests/definitions/test_snapshot.py --snapshot-update`` and review the diff.
"""

from __future__ import annotations

import dagster as dg
import pytest
from syrupy.extensions.json import JSONSnapshotExtension


def _names(keys) -> list[str]:
    return sorted(key.to_user_string() for key in keys)


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> dict:
    """``{"partitions": <dynamic partitions' name, else the definition's type>}``; empty if unpartitioned."""
    if partitions_def is None:
        return {}
    return {"partitions": getattr(partitions_def, "name", None) or type(partitions_def).__name__}


def _job_shape(job: dg.JobDefinition) -> dict:
    layer = job.asset_layer
    return {
        "assets": _names(layer.selected_asset_keys),
        "checks": sorted(
            f"{key.asset_key.to_user_string()}:{key.name}" for key in layer.asset_graph.asset_check_keys
        ),
        "ops": sorted(job.graph.node_names()),
        **_partitions(job.partitions_def),
    }


def definitions_shape(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "upstream": _names(node.parent_keys),
            "checks": sorted(check.name for check in node.check_keys),
            **_partitions(node.partitions_def),
        }
    blocking = sorted(
        f"{spec.asset_key.to_user_string()}:{spec.name}"
        for assets_def in graph.assets_defs
        for spec in assets_def.check_specs
        if spec.blocking
    )
    return {
        "assets": assets,
        "blocking_checks": blocking,
        "jobs": {
            job.name: _job_shape(job) for job in defs.resolve_all_job_defs() if not job.name.startswith("__")
        },
        "schedules": {
            s.name: {
                "cron": s.cron_schedule,
                "timezone": s.execution_timezone,
                "target": s.job_name,
                "status": s.default_status.value,
            }
            for s in defs.schedules or []
        },
        "sensors": {
            s.name: {
                "targets": sorted(target.job_name for target in s.targets),
                "status": s.default_status.value,
                "minimum_interval_seconds": s.minimum_interval_seconds,
            }
            for s in defs.sensors or []
        },
    }


@pytest.fixture
def shape() -> dict:
    from lakehouse_ml.definitions import defs

    return definitions_shape(defs)


def test_definitions_match_snapshot(shape, snapshot):
    assert shape == snapshot.use_extension(JSONSnapshotExtension)


def test_names_users_rely_on_are_present(shape):
    gold_and_model = {"fct_customer_features", "fct_churn_labels", "churn_model", "model_version"}
    assert gold_and_model <= shape["assets"].keys()
    assert "model_version:model_beats_champion" in shape["blocking_checks"]
    weekly = shape["schedules"]["weekly_model_retrain"]
    assert (weekly["cron"], weekly["target"], weekly["status"]) == (
        "0 2 * * 0",
        "retrain_churn_model",
        "RUNNING",
    )
    assert shape["sensors"]["drift_retrain_sensor"]["targets"] == ["retrain_churn_model"]
    assert shape["sensors"]["drift_retrain_sensor"]["status"] == "RUNNING"
    retrain = shape["jobs"]["retrain_churn_model"]
    assert {"churn_model", "model_version", "churn_predictor_deployment"} <= set(retrain["assets"])
    assert "model_version:model_beats_champion" in retrain["checks"]
    refresh = set(shape["jobs"]["daily_refresh"]["assets"])
    assert {"raw_orders", "fct_customer_features", "online_features", "batch_scores"} <= refresh
    assert {"churn_predictions", "prediction_actuals", "model_performance_metrics"} <= refresh
    assert not {"churn_model", "model_version", "churn_predictor_deployment"} & refresh
    landing = shape["sensors"]["raw_landing_sensor"]
    assert (landing["targets"], landing["status"]) == (["daily_refresh", "whole_loop"], "RUNNING")


def test_both_profiles_offer_the_same_resource_keys():
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.resources import RESOURCES_BY_PROFILE

    local = RESOURCES_BY_PROFILE["local"](Settings.from_env({"LAKEHOUSE_PROFILE": "local"}))
    prod = RESOURCES_BY_PROFILE["prod"](Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    assert local.keys() == prod.keys()
    differing = {key for key in local if type(local[key]) is not type(prod[key])}
    assert {
        "warehouse",
        "feature_store",
        "model_server",
        "iceberg",
        "training_pipeline",
        "io_manager",
    } <= differing
