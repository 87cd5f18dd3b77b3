"""The registry's metadata as Iceberg tables: appended at each registration and stage change, equal to the
tables rebuilt from git + DVC alone, queryable with DuckDB and joined by the monitoring SQL."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lakehouse_ml.monitoring.sql import live_vs_registered_sql
from lakehouse_ml.predictions.catalog import local_catalog
from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.catalog_tables import (
    STAGE_HISTORY,
    VERSIONS,
    CatalogHook,
    query,
    read,
    rebuild,
)
from lakehouse_ml.registry.model_registry import Remote
from tests.support.model_builders import write_model
from tests.support.monitoring_fixtures import _engine, prediction_frame, write_predictions

LINEAGE = {
    "kfp_run_id": "churn-training-1",
    "feature_service": "churn_v1",
    "project_revision": {"commit": "abc123", "dirty": False},
    "gold_tables": {"fct_customer_features": {"rows": 10, "sha256": "f" * 64}},
}


def _model(folder: Path, seed: int, **metrics: float) -> Path:
    """A small real model folder whose recorded metrics are ``metrics`` (the builder records 0.5)."""
    write_model(folder, seed=seed)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["metrics"].update(metrics)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def _rows(table) -> list[dict]:
    return table.sort_by([(name, "ascending") for name in table.column_names]).to_pylist()


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Two versions, four stage changes, with the catalog hook appending as they happen."""
    home = tmp_path_factory.mktemp("lakehouse")
    catalog = local_catalog(home / "iceberg")
    registry = ModelRegistry(
        home / "registry", Remote(str(home / "dvc-remote")), hooks=(CatalogHook(lambda: catalog),)
    )
    registry.register(_model(home / "m1", seed=1), LINEAGE)
    registry.promote("v1", "production", reason="first deployment", trigger="manual run r1")
    registry.register(
        _model(home / "m2", seed=2, roc_auc=0.81, accuracy=0.77),
        {**LINEAGE, "kfp_run_id": "churn-training-2"},
    )
    registry.promote("v2", "staging", reason="canary", trigger="sensor:drift_retrain_sensor run r2")
    registry.promote("v2", "production", reason="canary promoted", trigger="sensor:canary run r3")
    registry.promote("v1", "rolled_back", reason="replaced", trigger="manual run r4")
    return home, catalog, registry


def test_each_registration_and_stage_change_is_appended(history):
    _, catalog, registry = history
    versions = _rows(read(catalog, VERSIONS))
    assert [row["version"] for row in versions] == ["v1", "v2"]
    v1 = versions[0]
    assert v1["roc_auc"] == pytest.approx(registry.metrics("v1")["roc_auc"])
    assert v1["model_sha256"] == registry.model_sha256("v1")
    assert v1["training_set_sha256"] == registry.lineage("v1")["artifact_sha256"]["training_set.parquet"]
    assert (v1["code_revision"], v1["code_dirty"], v1["kfp_run_id"]) == ("abc123", False, "churn-training-1")
    assert v1["model_family"] == registry.params("v1")["model_family"]
    assert v1["created_at"].tzinfo is not None
    stages = _rows(read(catalog, STAGE_HISTORY))
    assert [
        (r["version"], r["stage"], r["reason"], r["trigger"])
        for r in sorted(stages, key=lambda r: r["event"])
    ] == [
        ("v1", "production", "first deployment", "manual run r1"),
        ("v2", "staging", "canary", "sensor:drift_retrain_sensor run r2"),
        ("v2", "production", "canary promoted", "sensor:canary run r3"),
        ("v1", "rolled_back", "replaced", "manual run r4"),
    ]


def test_tables_rebuilt_from_the_registry_equal_the_appended_ones(history, tmp_path):
    _, catalog, registry = history
    fresh = local_catalog(tmp_path / "iceberg")
    assert rebuild(fresh, registry) == {VERSIONS: 2, STAGE_HISTORY: 4}
    for name in (VERSIONS, STAGE_HISTORY):
        assert _rows(read(fresh, name)) == _rows(read(catalog, name))


def test_the_models_view_answers_version_roc_auc_and_current_stage(history):
    _, catalog, registry = history
    frame = query(catalog)
    assert list(frame.columns) == ["version", "roc_auc", "stage"]
    assert frame["version"].tolist() == ["v1", "v2"]
    assert frame["stage"].tolist() == ["rolled_back", "production"]
    assert frame["roc_auc"].tolist() == pytest.approx([registry.metrics(v)["roc_auc"] for v in ("v1", "v2")])


def test_monitoring_joins_predictions_to_the_versions_registered_metrics(history):
    home, _, _ = history
    stamp = datetime(2026, 3, 2, 9, tzinfo=UTC)
    rows = [
        {
            "prediction_id": f"p{i}",
            "customer_id": f"c{i}",
            "prediction": int(i < 3),
            "confidence": 0.9,
            "model_version": version,
            "prediction_timestamp": stamp,
            "actual": actual,
            "actual_timestamp": stamp,
        }
        for i, (version, actual) in enumerate([("v1", 1), ("v1", 0), ("v2", 1), ("v2", 0), ("v2", None)])
    ]
    write_predictions(home, prediction_frame(rows))
    frame = _engine(home).query(live_vs_registered_sql(date(2026, 3, 1), date(2026, 3, 3)))
    by_version = frame.set_index("model_version")
    assert by_version.loc["v1", "live_accuracy"] == pytest.approx(0.5)  # p0 right, p1 wrong
    assert by_version.loc["v2", "labelled_count"] == 2 and by_version.loc["v2", "prediction_count"] == 3
    assert by_version.loc["v2", "live_accuracy"] == pytest.approx(1.0)  # p2, p3 right; p4 unlabelled
    assert by_version["registered_roc_auc"].tolist() == pytest.approx([0.5, 0.81])
    assert by_version["registered_accuracy"].tolist() == pytest.approx([0.5, 0.77])


def test_a_catalog_failure_leaves_the_registry_change_and_the_next_change_catches_up(
    history, tmp_path, caplog
):
    _, _, registry = history
    catalog_dir = tmp_path / "iceberg"
    down = {"yes": True}

    def open_catalog():
        if down["yes"]:
            raise ConnectionError("catalog unreachable")
        return local_catalog(catalog_dir)

    copy = shutil.copytree(registry.root, tmp_path / "registry", symlinks=True)  # the shared one stays as is
    flaky = ModelRegistry(copy, registry.remote, hooks=(CatalogHook(open_catalog),))
    with caplog.at_level(logging.ERROR):
        assert flaky.promote("v1", "archived", reason="kept for audit") == "v1"
    assert "rebuild-catalog" in caplog.text
    assert flaky.stage_version("archived") == "v1"
    down["yes"] = False
    flaky.promote("v2", "archived", reason="audit")
    stages = {(r["version"], r["stage"]) for r in read(local_catalog(catalog_dir), STAGE_HISTORY).to_pylist()}
    assert {("v1", "archived"), ("v2", "archived"), ("v1", "production")} <= stages
    assert len(read(local_catalog(catalog_dir), VERSIONS)) == 2


def test_the_registry_command_rebuilds_and_queries_the_local_catalog(history, monkeypatch, capsys):
    from lakehouse_ml.cli.main import main

    home, _, _ = history
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "local")
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    assert main(["registry", "rebuild-catalog"]) == 0
    rebuilt = capsys.readouterr().out
    assert "models.model_versions: 2 rows" in rebuilt and "models.model_stage_history: 4 rows" in rebuilt
    assert main(["registry", "query"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.strip().splitlines()]
    assert lines == [
        ["version", "roc_auc", "stage"],
        ["v1", "0.50", "rolled_back"],
        ["v2", "0.81", "production"],
    ]


def test_the_trigger_names_what_started_the_run():
    from lakehouse_ml.resources.registry import run_trigger

    assert run_trigger("r1", {"dagster/schedule_name": "weekly_model_retrain"}) == (
        "schedule:weekly_model_retrain run r1"
    )
    assert (
        run_trigger("r2", {"dagster/sensor_name": "drift_retrain_sensor"})
        == "sensor:drift_retrain_sensor run r2"
    )
    assert run_trigger("r3", {"dagster/from_automation_condition": "true"}) == "automation run r3"
    assert run_trigger("r4", {}) == "manual run r4"
    assert run_trigger(None, {}) == "manual"
