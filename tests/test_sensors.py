"""drift_retrain_sensor and weekly_model_retrain, evaluated against an ephemeral instance."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import pytest

from lakehouse_ml.jobs import RETRAIN_JOB_NAME, retrain_churn_model
from lakehouse_ml.monitoring.policy import Verdict
from lakehouse_ml.monitoring.results import write_result
from lakehouse_ml.sensors import drift_retrain_sensor, weekly_model_retrain
from lakehouse_ml.settings import project_root


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = drift_retrain_sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor


def _signal(home, signal, breach):
    reasons = [f"{signal} over threshold"] if breach else []
    return write_result(home / "reports", Verdict(signal, breach, reasons), model_version="1", summary={})


def test_one_breach_requests_exactly_one_run(lakehouse_home, instance):
    _signal(lakehouse_home, "data_drift", True)
    _signal(lakehouse_home, "performance", False)
    requests, cursor = _tick(instance)
    assert len(requests) == 1
    assert requests[0].tags["lakehouse/signals"] == "data_drift"
    assert requests[0].run_key

    again, cursor_after = _tick(instance, cursor)
    assert again == []
    assert json.loads(cursor_after) == json.loads(cursor)


def test_no_breach_requests_nothing(lakehouse_home, instance):
    assert _tick(instance) == ([], json.dumps({}))
    for signal in ("data_drift", "prediction_drift", "concept_drift", "performance"):
        _signal(lakehouse_home, signal, False)
    requests, _ = _tick(instance)
    assert requests == []


def test_a_new_breach_after_a_handled_one_requests_a_new_run(lakehouse_home, instance):
    _signal(lakehouse_home, "concept_drift", True)
    first, cursor = _tick(instance)
    _signal(lakehouse_home, "concept_drift", True)
    second, _ = _tick(instance, cursor)
    assert len(first) == len(second) == 1
    assert first[0].run_key != second[0].run_key


def test_breaches_are_not_stacked_on_a_retraining_in_flight(lakehouse_home, instance):
    instance.add_run(
        dg.DagsterRun(job_name=RETRAIN_JOB_NAME, run_id="r1", status=dg.DagsterRunStatus.STARTED)
    )
    _signal(lakehouse_home, "data_drift", True)
    requests, cursor = _tick(instance)
    assert requests == []
    assert "data_drift" in json.loads(cursor)


def test_a_tick_reads_stored_results_without_loading_drift_code(lakehouse_home):
    """A tick must only read the persisted verdicts: recomputing drift would load these modules."""
    _signal(lakehouse_home, "prediction_drift", True)
    drift_code = ["evidently", "pandas", "lakehouse_ml.monitoring.drift", "lakehouse_ml.monitoring.concept"]
    code = (
        "import json, sys; import dagster as dg; from lakehouse_ml.sensors import drift_retrain_sensor\n"
        "with dg.DagsterInstance.ephemeral() as instance:\n"
        "    result = drift_retrain_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))\n"
        f"print(json.dumps([len(result.run_requests), [m for m in {drift_code!r} if m in sys.modules]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project_root(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    requests, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert requests == 1
    assert loaded == []


def test_corrupt_result_fails_with_the_file_named(lakehouse_home, instance):
    _signal(lakehouse_home, "data_drift", True)
    (lakehouse_home / "reports" / "signals" / "data_drift.json").write_text("{")
    with pytest.raises(Exception, match="data_drift.json"):
        _tick(instance)


def test_weekly_schedule_fires_sundays_at_two():
    assert weekly_model_retrain.cron_schedule == "0 2 * * 0"
    assert weekly_model_retrain.job_name == RETRAIN_JOB_NAME
    context = dg.build_schedule_context(scheduled_execution_time=None)
    result = weekly_model_retrain.evaluate_tick(context)
    assert len(result.run_requests) == 1


def test_retrain_job_selects_training_registry_deployment_and_their_inputs():
    def stub(name, deps=()):
        @dg.asset(name=name, deps=list(deps))
        def _asset():
            return None

        return _asset

    assets = [
        stub("fct_customer_features"),
        stub("churn_model", ["fct_customer_features"]),
        stub("model_version", ["churn_model"]),
        stub("churn_predictor_deployment", ["model_version"]),
        stub("churn_predictions", ["churn_predictor_deployment"]),
        stub("feature_drift_report", ["churn_predictor_deployment", "fct_customer_features"]),
    ]
    defs = dg.Definitions(
        assets=assets,
        jobs=[retrain_churn_model],
        sensors=[drift_retrain_sensor],
        schedules=[weekly_model_retrain],
    )
    job = defs.resolve_job_def(RETRAIN_JOB_NAME)
    selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert selected == {"fct_customer_features", "churn_model", "model_version", "churn_predictor_deployment"}
