"""Snapshot of the code location's shape: assets, groups, kinds, lineage, checks, jobs, schedules, sensors.

A change to the graph shows up here as a readable diff. Refresh after an intended change with
``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_definitions_snapshot.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def definitions_shape(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "upstream": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(check.name for check in node.check_keys),
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
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": {
            s.name: [s.cron_schedule, s.job_name, s.default_status.value] for s in defs.schedules or []
        },
        "sensors": {s.name: s.default_status.value for s in defs.sensors or []},
    }


def test_definitions_match_snapshot():
    from lakehouse_ml.definitions import defs

    shape = definitions_shape(defs)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(shape, indent=2, sort_keys=True) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text())


def test_names_users_rely_on_are_present():
    shape = json.loads(SNAPSHOT.read_text())
    gold_and_model = {"fct_customer_features", "fct_churn_labels", "churn_model", "model_version"}
    assert gold_and_model <= shape["assets"].keys()
    assert "model_version:model_beats_champion" in shape["blocking_checks"]
    assert shape["schedules"]["weekly_model_retrain"] == ["0 2 * * 0", "retrain_churn_model", "RUNNING"]
    assert shape["sensors"]["drift_retrain_sensor"] == "RUNNING"
    assert "retrain_churn_model" in shape["jobs"]


def test_both_profiles_offer_the_same_resource_keys():
    from lakehouse_ml.resources import RESOURCES_BY_PROFILE
    from lakehouse_ml.settings import Settings

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
