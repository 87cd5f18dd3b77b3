"""drift_retrain_sensor and weekly_model_retrain, evaluated against real instances: verdicts are stored
as the monitoring assets store them (materialization metadata), read back from the instance's storage,
ephemeral or PostgreSQL as in prod."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, persist
from lakehouse_ml.monitoring.policy import Verdict
from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME, retrain_churn_model
from lakehouse_ml.platform.settings import project_root
from lakehouse_ml.sensors import drift_retrain_sensor, weekly_model_retrain


@pytest.fixture
def postgres_database(postgres_url: str):
    """A fresh database on the shared PostgreSQL (name starting with this checkout's test database)."""
    import uuid

    import psycopg2

    base = postgres_url.rsplit("/", 1)
    name = f"{base[1]}_sensor_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield f"{base[0]}/{name}"
    admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = drift_retrain_sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor


# A monitoring run in its own process: stores a prediction-drift breach in the instance given by argv.
WRITER = """
import json, sys
import dagster as dg
from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, persist
from lakehouse_ml.monitoring.policy import Verdict
overrides = {"storage": json.loads(sys.argv[2])}
with dg.instance_for_test(temp_dir=sys.argv[1], overrides=overrides) as instance:
    metadata = persist(Verdict("prediction_drift", True, ["score over threshold"]), "v3", {}, None)
    event = dg.AssetMaterialization(SIGNAL_ASSETS["prediction_drift"], metadata=metadata)
    instance.report_runless_asset_event(event)
"""


def _signal(instance, signal, breach):
    reasons = [f"{signal} over threshold"] if breach else []
    metadata = persist(Verdict(signal, breach, reasons), "1", {}, None)
    instance.report_runless_asset_event(dg.AssetMaterialization(SIGNAL_ASSETS[signal], metadata=metadata))
    return metadata["verdict"].value


def test_one_breach_requests_exactly_one_run(lakehouse_home, instance):
    _signal(instance, "data_drift", True)
    _signal(instance, "performance", False)
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
        _signal(instance, signal, False)
    requests, _ = _tick(instance)
    assert requests == []


def test_a_new_breach_after_a_handled_one_requests_a_new_run(lakehouse_home, instance):
    _signal(instance, "concept_drift", True)
    first, cursor = _tick(instance)
    _signal(instance, "concept_drift", True)
    second, _ = _tick(instance, cursor)
    assert len(first) == len(second) == 1
    assert first[0].run_key != second[0].run_key


def test_only_the_newest_data_week_can_request_a_retraining(lakehouse_home, instance):
    from datetime import date

    def week_signal(day: date, breach: bool) -> None:
        verdict = Verdict("data_drift", breach, ["drift"] if breach else [])
        metadata = persist(verdict, "1", {}, None, as_of=day)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(SIGNAL_ASSETS["data_drift"], metadata=metadata)
        )

    week_signal(date(1997, 6, 18), False)  # data week 1997-06-15
    requests, cursor = _tick(instance)
    assert requests == [] and json.loads(cursor)["data_weeks"] == {"data_drift": "1997-06-15"}
    week_signal(date(1997, 6, 4), True)  # a past week recomputed after it: breaches, but is not acted on
    requests, cursor = _tick(instance, cursor)
    assert requests == [] and json.loads(cursor)["data_weeks"] == {"data_drift": "1997-06-15"}
    week_signal(date(1997, 6, 21), True)  # the newest week (still 1997-06-15) breaches: one retraining
    requests, cursor = _tick(instance, cursor)
    assert len(requests) == 1
    week_signal(date(1997, 6, 22), True)  # the next week
    requests, cursor = _tick(instance, cursor)
    assert len(requests) == 1 and json.loads(cursor)["data_weeks"] == {"data_drift": "1997-06-22"}


def test_breaches_are_not_stacked_on_a_retraining_in_flight(lakehouse_home, instance):
    instance.add_run(
        dg.DagsterRun(job_name=RETRAIN_JOB_NAME, run_id="r1", status=dg.DagsterRunStatus.STARTED)
    )
    _signal(instance, "data_drift", True)
    requests, cursor = _tick(instance)
    assert requests == []
    assert "data_drift" in json.loads(cursor)


def test_a_tick_reads_stored_verdicts_without_loading_drift_code(lakehouse_home):
    """A tick must only read the verdicts in the instance: recomputing drift would load these modules."""
    with dg.DagsterInstance.get() as stored:
        _signal(stored, "prediction_drift", True)
    drift_code = ["evidently", "pandas", "lakehouse_ml.monitoring.drift", "lakehouse_ml.monitoring.concept"]
    code = (
        "import json, sys; import dagster as dg; from lakehouse_ml.sensors import drift_retrain_sensor\n"
        "with dg.DagsterInstance.get() as instance:\n"
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


def test_sensor_intervals_come_from_the_settings(lakehouse_home):
    """Drills shorten the sensors' intervals through settings; the defaults are the documented ones."""
    code = (
        "import json; from lakehouse_ml.sensors import drift_retrain_sensor, raw_landing_sensor\n"
        "print(json.dumps([s.minimum_interval_seconds for s in (raw_landing_sensor, drift_retrain_sensor)]))"
    )
    shortened = {
        "LAKEHOUSE_LANDING_SENSOR_INTERVAL_SECONDS": "3",
        "LAKEHOUSE_DRIFT_SENSOR_INTERVAL_SECONDS": "4",
    }
    intervals = []
    for overrides in ({}, shortened):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=project_root(),
            env={**os.environ, **overrides},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        intervals.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert intervals == [[30, 300], [3, 4]]


def test_a_malformed_verdict_fails_with_the_asset_named(instance):
    bad = {"verdict": dg.MetadataValue.json({"signal": "data_drift"})}
    instance.report_runless_asset_event(dg.AssetMaterialization(SIGNAL_ASSETS["data_drift"], metadata=bad))
    with pytest.raises(Exception, match="feature_drift_report"):
        _tick(instance)


def test_verdicts_written_by_one_process_are_seen_by_the_sensor_on_postgres_storage(
    postgres_database, tmp_path
):
    """As in prod: the monitoring run's pod and the daemon's pod share only the PostgreSQL storage."""
    import subprocess
    import sys

    storage = {"postgres": {"postgres_url": postgres_database}}
    for pod in ("writer", "daemon"):
        (tmp_path / pod).mkdir()
    subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path / "writer"), json.dumps(storage)], check=True, timeout=120
    )
    with dg.instance_for_test(temp_dir=str(tmp_path / "daemon"), overrides={"storage": storage}) as instance:
        requests, cursor = _tick(instance)
        assert [r.tags["lakehouse/signals"] for r in requests] == ["prediction_drift"]
        assert requests[0].tags["lakehouse/monitored_version"] == "v3"
        assert _tick(instance, cursor)[0] == []


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
