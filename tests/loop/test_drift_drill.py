"""The drift drill: baseline -> 30 days with a drift scenario -> monitoring -> the sensor's run request:
``channel_shift`` trips data drift and ``concept_shift`` concept drift, each in its own copy of the
baseline.

End to end on the real assets (simulator, dbt, Feast, KFP local, DVC registry, local model server,
Iceberg, Evidently). Documented in docs/trigger-policy.md ("Drift drill"). The other two cases of the
drill are proven by the whole-loop tests that also act on them, so CI builds them once:
``basket_shift`` tripping data drift and one request (tests/loop/test_drill_command.py through
`lakehouse-ml drill`, and tests/loop/test_autopilot.py's drift landing), and the no-drift control
requesting nothing (`lakehouse-ml drill --scenario none` there, and the autopilot's control weeks). What
follows a request is proven there too: the daemon running the retraining once per breach
(tests/loop/test_autopilot.py), a retrained model passing the gate and deployed as the canary
(tests/prod/test_drill.py, and tests/loop/test_drill_command.py).
"""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from lakehouse_ml.cli.run import split_by_week
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources import build_resources
from lakehouse_ml.resources.model_server import local_serving
from lakehouse_ml.resources.registry import local_model_registry
from lakehouse_ml.sensors import drift_retrain_sensor
from lakehouse_ml.sensors.drift import stored_verdicts
from lakehouse_ml.simulator import simulate
from tests.support.ports import free_port
from tests.support.weeks import add_clock_week

pytestmark = [pytest.mark.slow, pytest.mark.longest(minutes=4)]

# The signal each scenario must trip (docs/trigger-policy.md); basket_shift's is proven where the header says.
SCENARIO_SIGNAL = {
    "channel_shift": "data_drift",
    "concept_shift": "concept_drift",
}
# The baseline champion is trained on a small sample (quicker; the scenarios' thresholds were set with it).
BASELINE = {"ops": {"churn_model": {"config": {"max_training_rows": 1_500}}}}
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
    home = tmp_path / f"drill-{scenario}"
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
    _use_home(monkeypatch, lakehouse_home)
    simulate(lakehouse_home / "raw", days=365)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            baseline = _materialize(instance, dg.AssetSelection.all(), run_config=BASELINE)
            assert baseline.success, "the baseline run of the whole graph failed"

            for scenario, signal in SCENARIO_SIGNAL.items():
                requests, results = _advance_and_monitor(tmp_path, monkeypatch, lakehouse_home, scenario)
                breached = sorted(name for name, result in results.items() if result["breach"])
                assert signal in breached, f"{scenario} not detected: {breached}"
                assert len(requests) == 1
                assert signal in requests[0].tags["lakehouse/signals"]
    finally:
        local_serving(Settings.from_env({"LAKEHOUSE_HOME": str(lakehouse_home)})).server().stop()
