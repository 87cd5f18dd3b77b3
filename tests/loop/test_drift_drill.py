"""The drift drill: baseline -> 30 days with (or without) drift -> monitoring -> sensor -> retraining.

End to end on the real assets (simulator, dbt, Feast, KFP local, DVC registry, local model server,
Iceberg, Evidently). Documented in docs/trigger-policy.md ("Drift drill").
"""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME, RETRAIN_TARGETS, retrain_churn_model
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources import build_resources
from lakehouse_ml.resources.model_server import local_serving
from lakehouse_ml.resources.registry import local_model_registry
from lakehouse_ml.sensors import drift_retrain_sensor
from lakehouse_ml.sensors.drift import stored_verdicts
from lakehouse_ml.simulator import simulate
from tests.support.ports import free_port
from tests.support.weeks import add_clock_week, split_by_week

pytestmark = [pytest.mark.slow, pytest.mark.longest(minutes=4)]

# The signal each simulator scenario must trip (docs/trigger-policy.md).
SCENARIO_SIGNAL = {
    "basket_shift": "data_drift",
    "channel_shift": "data_drift",
    "concept_shift": "concept_drift",
}
# The baseline champion is trained on a small sample, so that the retraining the drill runs later
# (default config, every row) must beat it at the gate and be deployed as the canary.
WEAK_CHAMPION_ROWS = 1_500
WEAK_CHAMPION = {"ops": {"churn_model": {"config": {"max_training_rows": WEAK_CHAMPION_ROWS}}}}
DRIFT_ASSETS = ["feature_drift_report", "prediction_drift_report", "concept_drift_report"]
GOLD_ASSETS = [
    "raw_customers",
    "raw_orders",
    "stg_customers",
    "stg_orders",
    "dim_customers",
    "fct_orders",
    "snapshot_days",
    "fct_customer_features",
    "fct_churn_labels",
]


def _use_home(monkeypatch: pytest.MonkeyPatch, home) -> Settings:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return Settings.from_env()


def _definitions():
    from lakehouse_ml import definitions

    return (
        list(dg.load_assets_from_modules(definitions.ASSET_MODULES)),
        list(dg.load_asset_checks_from_modules(definitions.ASSET_MODULES)),
    )


def _materialize(instance, selection, run_config=None, **resource_overrides):
    """Materialize ``selection``: the assets without partitions, then the monitoring assets for the data
    week of the clock they left (``tests.support.weeks``)."""
    assets, checks = _definitions()
    resources = {**build_resources(Settings.from_env()), **resource_overrides}
    graph = dg.Definitions(assets=assets, asset_checks=checks, resources=resources).resolve_asset_graph()
    others, weekly = split_by_week(graph, selection.resolve(graph))
    result = None
    for keys in (others, weekly):
        if not keys:
            continue
        week = add_clock_week(instance) if keys is weekly else None
        result = dg.materialize(
            [*assets, *checks],
            selection=dg.AssetSelection.assets(*keys),
            resources=resources,
            instance=instance,
            run_config=None if week else run_config,
            partition_key=week,
            raise_on_error=False,
        )
        if not result.success:
            break
    return result


def _tick(instance, cursor=None):
    result = drift_retrain_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
    return result.run_requests or [], result.cursor


def _advance_and_monitor(tmp_path, monkeypatch, baseline_home, scenario):
    """Copy the baseline's landing zone, warehouse and gold, advance the landing zone 30 days, update
    gold (incrementally, as a refresh does) and run the drift monitors against the baseline's production
    model; return the sensor's run requests."""
    home = tmp_path / f"drill-{scenario or 'none'}"
    for folder in ("raw", "gold"):
        shutil.copytree(baseline_home / folder, home / folder)
    shutil.copy2(baseline_home / "warehouse.duckdb", home / "warehouse.duckdb")
    _use_home(monkeypatch, home)
    simulate(home / "raw", days=30, drift=scenario)
    baseline_registry = local_model_registry(Settings.from_env({"LAKEHOUSE_HOME": str(baseline_home)}))
    with dg.DagsterInstance.ephemeral() as instance:
        assert _materialize(instance, dg.AssetSelection.assets(*GOLD_ASSETS)).success
        drift = dg.AssetSelection.assets(*DRIFT_ASSETS)
        assert _materialize(instance, drift, model_registry=baseline_registry).success
        requests, _ = _tick(instance)
        return requests, stored_verdicts(instance)


def test_drift_drill(lakehouse_home, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SERVING_PORT", str(free_port()))
    monkeypatch.setenv("LAKEHOUSE_SERVING_GRPC_PORT", str(free_port()))
    settings = _use_home(monkeypatch, lakehouse_home)
    simulate(lakehouse_home / "raw", days=365)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            baseline = _materialize(instance, dg.AssetSelection.all(), run_config=WEAK_CHAMPION)
            assert baseline.success, "the baseline run of the whole graph failed"
            _, cursor = _tick(instance)

            for scenario in [None, *SCENARIO_SIGNAL]:
                requests, results = _advance_and_monitor(tmp_path, monkeypatch, lakehouse_home, scenario)
                breached = sorted(signal for signal, result in results.items() if result["breach"])
                if scenario is None:
                    assert requests == [], f"false alarm without drift: {breached}"
                else:
                    assert SCENARIO_SIGNAL[scenario] in breached, f"{scenario} not detected: {breached}"
                    assert len(requests) == 1
                    assert SCENARIO_SIGNAL[scenario] in requests[0].tags["lakehouse/signals"]

            # The whole loop on the baseline itself: drift -> monitoring -> sensor -> retrain job.
            _use_home(monkeypatch, lakehouse_home)
            simulate(lakehouse_home / "raw", days=30, drift="basket_shift")
            refresh = dg.AssetSelection.all() - dg.AssetSelection.assets(*RETRAIN_TARGETS)
            assert _materialize(instance, refresh).success
            requests, cursor = _tick(instance, cursor)
            assert len(requests) == 1 and "data_drift" in requests[0].tags["lakehouse/signals"]

            assets, checks = _definitions()
            defs = dg.Definitions(
                assets=assets,
                asset_checks=checks,
                jobs=[retrain_churn_model],
                resources=build_resources(settings),
            )
            retrain = defs.resolve_job_def(RETRAIN_JOB_NAME).execute_in_process(
                instance=instance, tags=requests[0].tags, raise_on_error=False
            )
            registered = retrain.asset_materializations_for_node("model_version")
            assert registered, "retraining registered no model version"
            new_version = str(registered[0].metadata["version"].value)
            gate = [
                e for e in retrain.get_asset_check_evaluations() if e.check_name == "model_beats_champion"
            ]
            assert len(gate) == 1
            deployed = retrain.asset_materializations_for_node("churn_predictor_deployment")
            # The champion saw WEAK_CHAMPION_ROWS rows; the retrain sees all of them, so it must win.
            assert gate[0].passed, f"the retrained model failed the gate: {gate[0].description}"
            assert deployed and deployed[0].metadata["canary_version"].value == new_version

            again, _ = _tick(instance, cursor)
            assert again == [], "one breach launched two runs"
    finally:
        local_serving(Settings.from_env({"LAKEHOUSE_HOME": str(lakehouse_home)})).server().stop()
