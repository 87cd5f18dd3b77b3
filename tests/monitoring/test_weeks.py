"""Monitoring partitioned by data week: a past week recomputed (a backfill) gives the verdict it gave when
it ran, and ``drift_retrain_sensor`` acts on the newest week only."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pytest

from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, VERDICT_KEY, WEEKS, week_start
from lakehouse_ml.monitoring.weeks import data_week
from lakehouse_ml.sensors.drift import DATA_WEEKS, drift_retrain_sensor, stored_verdicts
from tests.monitoring.test_assets import AS_OF, DRIFT_ASSETS, REF_DAY, TRAIN_DAY, WEEK, N, build_world, run
from tests.support.monitoring_fixtures import append_snapshot, churn_outcome, snapshot, write_model

NEXT_DAY = AS_OF + timedelta(days=7)
NEXT_WEEK = data_week(NEXT_DAY)
# what must not change when a week is recomputed (result_id and computed_at are per computation)
SAME = ("signal", "data_week", "model_version", "breach", "severity", "reasons")


def verdicts(result) -> dict[str, dict]:
    return {
        signal: result.asset_materializations_for_node(key.to_user_string())[0].metadata[VERDICT_KEY].value
        for signal, key in SIGNAL_ASSETS.items()
        if result.asset_materializations_for_node(key.to_user_string())
    }


def kept(verdict: dict) -> dict:
    comparisons = verdict["summary"].get("comparisons", {})
    scores = {name: c["column_scores"] for name, c in comparisons.items()}
    return {
        **{field: verdict[field] for field in SAME},
        "as_of": verdict["summary"]["as_of"],
        "scores": scores,
    }


def test_a_backfilled_week_gives_its_verdict_and_never_retrains(lakehouse_home):
    instance = dg.DagsterInstance.ephemeral()
    registry = build_world(lakehouse_home)  # week WEEK: the stable world, model v1 in production
    first, _ = run(lakehouse_home, registry, DRIFT_ASSETS, instance)
    before = verdicts(first)
    assert {v["data_week"] for v in before.values()} == {WEEK}
    assert not any(v["breach"] for v in before.values())

    # the clock moves on a week with a basket shift, and a new model version goes into production
    append_snapshot(lakehouse_home, snapshot(NEXT_DAY, N, seed=5, basket=1.6))
    training = snapshot(TRAIN_DAY, N, seed=9)
    training["churned"] = churn_outcome(training, seed=19)
    opened = registry.open()
    newer = opened.register(write_model(lakehouse_home / "model2", training, eval_end=REF_DAY), {})
    opened.promote(newer, "production")
    latest, _ = run(lakehouse_home, registry, DRIFT_ASSETS, instance, week=NEXT_WEEK)
    assert verdicts(latest)["data_drift"]["breach"]
    assert verdicts(latest)["data_drift"]["model_version"] == str(newer)

    # backfill the past week: judged at its own snapshot with the version then in production
    again, _ = run(lakehouse_home, registry, DRIFT_ASSETS, instance)
    after = verdicts(again)
    assert {signal: kept(v) for signal, v in after.items()} == {
        signal: kept(v) for signal, v in before.items()
    }
    assert {v["result_id"] for v in after.values()}.isdisjoint(v["result_id"] for v in before.values())
    metadata = again.asset_materializations_for_node("feature_drift_report")[0].metadata
    assert metadata["as_of"].value == AS_OF.isoformat()
    assert metadata["model_version"].value == before["data_drift"]["model_version"] != str(newer)
    assert isinstance(metadata["drifted_share"].value, float)  # one point per week in the asset's plots

    # the newest week is what the sensor reads, though the backfill materialized last: it retrains once
    assert set(instance.get_dynamic_partitions(WEEKS.name)) == {WEEK, NEXT_WEEK}
    assert {v["data_week"] for v in stored_verdicts(instance).values()} == {NEXT_WEEK}
    tick = drift_retrain_sensor(dg.build_sensor_context(instance=instance))
    assert len(tick.run_requests) == 1 and "data_drift" in tick.run_requests[0].tags["lakehouse/signals"]
    assert json.loads(tick.cursor)[DATA_WEEKS]["data_drift"] == NEXT_WEEK

    # and another backfill of the past week afterwards starts nothing
    run(lakehouse_home, registry, DRIFT_ASSETS, instance)
    retick = drift_retrain_sensor(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
    assert not retick.run_requests


def test_a_week_after_the_clock_or_not_a_week_fails_clearly(lakehouse_home):
    registry = build_world(lakehouse_home)
    with pytest.raises(dg.Failure, match="after the pipeline clock"):
        run(lakehouse_home, registry, DRIFT_ASSETS[:1], week=NEXT_WEEK)
    with pytest.raises(dg.Failure, match="not a data week"):
        week_start(AS_OF.isoformat())  # a Tuesday
