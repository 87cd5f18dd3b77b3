"""drift_retrain_sensor on drift that never stops: a cool-down, growth, an alert for an unfixed breach,
and no retraining of a gate-refused candidate on the same data."""

from __future__ import annotations

import json
from datetime import date, timedelta

import dagster as dg
import pytest

from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, persist
from lakehouse_ml.monitoring.policy import Verdict
from lakehouse_ml.monitoring.retraining import (
    DataState,
    LastRetraining,
    RetrainingPolicy,
    decide_retraining,
)
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.sensors import drift_retrain_sensor
from lakehouse_ml.sensors.drift import DATA_TAG, RAW_ORDERS

START = date(1997, 3, 2)


@pytest.fixture
def instance(lakehouse_home):
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _land(instance, day: date, rows: int) -> str:
    metadata = {"last_order_ts": f"{day.isoformat()} 18:00:00", "dagster/row_count": rows}
    instance.report_runless_asset_event(dg.AssetMaterialization(RAW_ORDERS, metadata=metadata))
    return f"{day.isoformat()} 18:00:00|{rows}"


def _breach(instance, version: str, severity: float, signal: str = "prediction_drift") -> None:
    verdict = Verdict(signal, True, [f"{signal} over threshold"], severity)
    metadata = persist(verdict, version, {}, None)
    instance.report_runless_asset_event(dg.AssetMaterialization(SIGNAL_ASSETS[signal], metadata=metadata))


def _tick(instance, cursor):
    result = drift_retrain_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
    return result, result.cursor


def test_drift_that_never_stops_retrains_once_per_cooldown_unless_it_grows_then_alerts(instance):
    cursor, retrains, alerts = None, [], []
    # Every daily refresh lands new orders and breaches again on the production model.
    plan = [("v1", 1.2)] * 3 + [("v1", 2.0)] + [("v1", 2.1)] * 3 + [("v2", 1.3)] * 4
    for offset, (version, severity) in enumerate(plan):
        _land(instance, START + timedelta(days=offset), 1000 + offset)
        _breach(instance, version, severity)
        result, cursor = _tick(instance, cursor)
        retrains += [(offset, r.tags) for r in result.run_requests or []]
        alerts += [(offset, e) for e in result.asset_events]
    assert [offset for offset, _ in retrains] == [0, 3]
    assert retrains[1][1]["lakehouse/retraining_reason"].startswith("breach grew within the cool-down")
    assert retrains[1][1][DATA_TAG] == f"{(START + timedelta(days=3)).isoformat()} 18:00:00|1003"
    assert len(alerts) == 1
    offset, alert = alerts[0]
    assert offset == 7 and alert.metadata["retraining"].value == "alert"
    assert "breaches again on v2" in alert.metadata["reason"].value
    assert json.loads(cursor)["alerted"] == ["prediction_drift@v2"]


def test_after_the_cooldown_a_steady_breach_retrains_again(instance):
    _land(instance, START, 100)
    _breach(instance, "v1", 1.2)
    first, cursor = _tick(instance, None)
    _land(instance, START + timedelta(days=7), 200)
    _breach(instance, "v1", 1.2)
    second, _ = _tick(instance, cursor)
    assert len(first.run_requests) == len(second.run_requests) == 1


def test_a_candidate_that_failed_the_gate_is_not_retrained_on_the_same_data(instance):
    data = _land(instance, START, 500)

    @dg.asset(
        name="model_version",
        check_specs=[dg.AssetCheckSpec("model_beats_champion", asset="model_version")],
    )
    def refused_candidate():
        yield dg.Output("v2")
        yield dg.AssetCheckResult(check_name="model_beats_champion", passed=False)

    dg.materialize([refused_candidate], instance=instance, tags={DATA_TAG: data})
    _breach(instance, "v1", 1.5)
    skipped, cursor = _tick(instance, None)
    assert not skipped.run_requests
    assert "failed the gate" in skipped.skip_message
    _land(instance, START + timedelta(days=1), 600)
    _breach(instance, "v1", 1.5)
    fresh, _ = _tick(instance, cursor)
    assert len(fresh.run_requests) == 1


def test_policy_without_a_data_clock_does_not_apply_the_cooldown():
    last = LastRetraining(None, None, 1.0, ("data_drift",), "v1")
    breach = {"signal": "data_drift", "model_version": "v1", "severity": 1.0, "result_id": "r"}
    decision = decide_retraining(
        [breach], DataState(), None, last, RetrainingPolicy.from_settings(Settings.from_env({}))
    )
    assert decision.action == "retrain"
