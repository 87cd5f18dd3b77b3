"""The daemon-only drill (issue 22): nobody at the keyboard, only the simulator acts on the loop.

A fresh Dagster instance on its own PostgreSQL database and a fresh ``LAKEHOUSE_HOME``; the real
``dagster-daemon`` runs the project's ``workspace.yaml`` (local profile). The simulator lands a small
world, then one week at a time, with drift from the fourth landing; between landings the test only
reads the instance and waits until the daemon is idle (as a week passes between real landings). Two
releases are made by hand, as a team ships a model outside the loop: a copy of the production model
before landing 2 and a model whose scores are far from stable's before landing 3; the canary analysis
must promote the first and roll back the second, with one alert.

It asserts what the daemon did: every landing ingested by exactly one run, predictions and a monitoring
verdict for every data week, labelled performance rows by the end, no retraining and no breach alert in
the control weeks before the drift, exactly one retraining after it. In this world the retrained
candidate is refused by the champion gate (deterministic: seeded simulator, deterministic training), so
the promotion is shown on the hand-made release. Last, one more week lands and the daemon's whole process
group (daemon, code server, run workers) is SIGKILLed while the refresh scores, then started again: the
interrupted run must be failed with the reason, re-executed once, and no landing or prediction lost or
doubled. docs/operations.md ("The daemon-only drill").
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest

from lakehouse_ml.assets.monitoring.common import DATA_WEEK_KEY, SIGNAL_ASSETS
from lakehouse_ml.monitoring.policy import DATA_DRIFT, PERFORMANCE, PREDICTION_DRIFT
from lakehouse_ml.monitoring.weeks import data_week
from lakehouse_ml.orchestration.jobs import REFRESH_JOB_NAME, RETRAIN_JOB_NAME, WHOLE_LOOP_JOB_NAME
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.simulator import simulate
from tests.support.daemon_drill import (
    Daemon,
    create_database,
    drop_database,
    last_finished_tick,
    prepare_postgres_instance,
    run_failures,
    wait_for,
)
from tests.support.drill_timeline import drill_marks, timeline_png
from tests.support.model_builders import write_model
from tests.support.ports import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.longest(minutes=8),
    pytest.mark.postgres,
]

# A long history on few customers: the population is near its steady state, so the gap between the
# model's training snapshot and today is not read as drift, and each week has fewer active customers
# than the performance signal's minimum labelled rows (its 7-day labels are not the model's 90-day ones).
CUSTOMERS, HISTORY_DAYS, SEED = 280, 540, 7
DRIFT_FROM_LANDING, DRIFT = 4, "basket_shift"
LABEL_HORIZON_DAYS = 7  # actuals of one landing's predictions fall due by the next landing
SENSOR_INTERVAL_SECONDS = 5
DRILL_SETTINGS = {
    "LAKEHOUSE_LABEL_HORIZON_DAYS": str(LABEL_HORIZON_DAYS),
    "LAKEHOUSE_LANDING_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL_SECONDS),
    "LAKEHOUSE_DRIFT_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL_SECONDS),
    # The canary gets ~10% of ~180 customers per weekly landing: one evaluation decides.
    "LAKEHOUSE_CANARY_MIN_PASSES": "1",
    "LAKEHOUSE_CANARY_MIN_PREDICTIONS": "10",
    # A week of landings stands for days of production refreshes: the cool-down spans the drill.
    "LAKEHOUSE_RETRAIN_COOLDOWN_DAYS": "28",
}
FIRST_LANDING_TIMEOUT, LANDING_TIMEOUT, ALERT_TIMEOUT = 900, 600, 120
LANDING_TRIGGER = "lakehouse/trigger"
DRIFT_SIGNALS = (DATA_DRIFT, PREDICTION_DRIFT)
SENSORS = ("raw_landing_sensor", "drift_retrain_sensor")
CANARY_ANALYSIS = dg.AssetKey("canary_analysis")
GATE_STEP = "model_version_model_beats_champion"
KILL_AT_STEP = "batch_scores"  # the refresh is killed once this step has started
WORKER_GONE = "is gone (killed or crashed)"  # run_recovery.worker_gone's reason


@pytest.fixture
def autopilot(postgres_url, tmp_path, monkeypatch):
    """A fresh lakehouse and instance with the daemon running on them; everything ended afterwards."""
    from lakehouse_ml.serving.process import LocalServer

    home = tmp_path / "lakehouse"
    environment = {
        "LAKEHOUSE_PROFILE": "local",
        "LAKEHOUSE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "LAKEHOUSE_SERVING_PORT": str(free_port()),
        "LAKEHOUSE_SERVING_GRPC_PORT": str(free_port()),
        "LAKEHOUSE_ALERTS": "log",
        **DRILL_SETTINGS,
    }
    for name in ("LAKEHOUSE_AS_OF", "LAKEHOUSE_RAW_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    database = f"{postgres_url.rsplit('/', 1)[1]}_autopilot_{uuid.uuid4().hex[:8]}"
    prepare_postgres_instance(home / "dagster", create_database(postgres_url, database))
    settings = Settings.from_env()
    daemon = Daemon(tmp_path / "daemon.log")
    daemon.start()
    try:
        with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
            yield instance, daemon, settings, tmp_path
    finally:
        daemon.stop()
        LocalServer(settings.serving_dir, settings.serving_port).stop()
        drop_database(postgres_url, database)


def _idle(instance: dg.DagsterInstance, landings: int) -> bool:
    """True when ``landings`` landings have been requested, no run is queued or running, and both sensors
    finished a tick that started after the last run ended (so no request of theirs is still coming)."""
    runs = instance.get_run_records()
    requested = [r for r in runs if r.dagster_run.tags.get(LANDING_TRIGGER) == "landing"]
    if len(requested) < landings or any(not r.dagster_run.is_finished for r in runs):
        return False
    failed = [
        r.dagster_run
        for r in runs
        if r.dagster_run.status == dg.DagsterRunStatus.FAILURE
        and not _refused_by_the_gate(instance, r.dagster_run)
    ]
    assert not failed, "\n".join(
        f"{run.job_name} {run.run_id} failed: {run_failures(instance, run.run_id)}" for run in failed
    )
    ended = max(r.end_time or 0.0 for r in runs)
    ticks = [last_finished_tick(instance, name) for name in SENSORS]
    return all(tick is not None and tick.timestamp > ended for tick in ticks)


def _refused_by_the_gate(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """A retraining whose only failed step is the champion gate: the loop refusing a candidate."""
    steps = [failure.split(":")[0] for failure in run_failures(instance, run.run_id)]
    return run.job_name == RETRAIN_JOB_NAME and steps == [GATE_STEP, "run"]


def _land(raw, days: int, **kwargs) -> date:
    """The simulator lands ``days`` days of data; returns the pipeline clock they give (the day before
    the last order day)."""
    summary = simulate(raw, days=days, **kwargs)
    return summary.last_day - timedelta(days=1)


def _verdict_weeks(instance: dg.DagsterInstance, signal: str) -> list[str]:
    records = instance.fetch_materializations(SIGNAL_ASSETS[signal], limit=100).records
    weeks = [r.asset_materialization.metadata.get(DATA_WEEK_KEY) for r in records]
    return sorted(week.value for week in weeks if week is not None)


def _predictions(settings: Settings):
    from lakehouse_ml.predictions.catalog import local_catalog

    table = local_catalog(settings.iceberg_dir).load_table("ml.churn_predictions")
    return table.scan(selected_fields=("prediction_id", "customer_id", "scoring_day")).to_pandas()


def _active_customers(settings: Settings, day: date) -> int:
    import pandas as pd

    features = pd.read_parquet(
        settings.gold_dir / "fct_customer_features.parquet",
        columns=["customer_id", "event_timestamp", "order_count_90d"],
    )
    snapshot = features[features["event_timestamp"].dt.date == day]
    return int((snapshot["order_count_90d"] > 0).sum())


def _canary_decisions(instance: dg.DagsterInstance) -> list[dict]:
    records = instance.fetch_materializations(CANARY_ANALYSIS, limit=200, ascending=True).records
    decisions = []
    for record in records:
        metadata = record.asset_materialization.metadata
        decisions.append(
            {name: metadata[name].value for name in ("decision", "canary_version") if name in metadata}
        )
    return decisions


def _deploy_release(settings: Settings, folder, run_id: str) -> str:
    """A release made by hand: a model folder registered and deployed as canary the way the deployment
    asset does (smoke test on real customers, registry stage ``staging``); the analysis judges it."""
    from lakehouse_ml.resources import build_resources

    resources = build_resources(settings)
    registry = resources["model_registry"].open()
    version = registry.register(folder, {"kfp_run_id": run_id})
    smoke = _predictions(settings)["customer_id"].head(5).tolist()
    outcome = resources["model_server"].deploy(
        version, registry.checkout(version), registry.model_sha256(version), smoke
    )
    assert outcome["role"] == "canary", outcome
    registry.promote(version, "staging")
    return version


def _production_copy(settings: Settings, folder):
    """A good release: the production model's own registered files (scores as stable's)."""
    import shutil

    from lakehouse_ml.resources import build_resources

    registry = build_resources(settings)["model_registry"].open()
    source = registry.checkout(registry.production_version())
    shutil.copytree(
        source, folder, ignore=shutil.ignore_patterns("model.onnx", "compiled.json", "lineage.json")
    )
    return folder


def _alerts(daemon: Daemon, kind: str) -> list[str]:
    return [line for line in daemon.log.read_text().splitlines() if f"ALERT [{kind}]" in line]


def test_the_daemon_runs_the_loop_from_the_first_landing(autopilot):
    instance, daemon, settings, tmp_path = autopilot
    raw = settings.home / "raw"
    landed = [(time.time(), "1 history")]
    clocks = [_land(raw, HISTORY_DAYS, customers=CUSTOMERS, seed=SEED)]
    wait_for("the first landing's run", lambda: _idle(instance, 1), FIRST_LANDING_TIMEOUT, daemon.check_alive)

    def land_a_week(label: str, drift: str | None = None) -> None:
        landed.append((time.time(), label))
        clocks.append(_land(raw, 7, drift=drift))
        count = len(clocks)
        wait_for(f"landing {label}", lambda: _idle(instance, count), LANDING_TIMEOUT, daemon.check_alive)

    good = _deploy_release(settings, _production_copy(settings, tmp_path / "good-release"), "good-release")
    land_a_week(f"2 (canary {good})")
    bad_model = write_model(tmp_path / "bad-release", seed=3, churn_after_days=5)
    bad = _deploy_release(settings, bad_model, "bad-release")
    land_a_week(f"3 (canary {bad})")
    assert [r for r in instance.get_runs() if r.job_name == RETRAIN_JOB_NAME] == [], "control weeks retrained"
    assert _alerts(daemon, "monitoring_breach") == [], "the control weeks must not alert a breach"
    land_a_week(f"{DRIFT_FROM_LANDING} {DRIFT}", DRIFT)
    rollback = wait_for(
        "the rollback alert", lambda: _alerts(daemon, "canary_rollback"), ALERT_TIMEOUT, daemon.check_alive
    )

    minutes = (time.time() - landed[0][0]) / 60
    picture = tmp_path / "autopilot-timeline.png"
    picture.write_bytes(timeline_png(drill_marks(instance, landed), f"daemon-only drill: {minutes:.1f} min"))
    print(f"drill took {minutes:.1f} min over {len(clocks)} landings; timeline: {picture}")

    runs = list(reversed(instance.get_runs()))  # oldest first
    landing_runs = [run for run in runs if run.tags.get(LANDING_TRIGGER) == "landing"]
    assert [run.job_name for run in landing_runs] == [WHOLE_LOOP_JOB_NAME] + [REFRESH_JOB_NAME] * (
        len(clocks) - 1
    ), "each landing must be ingested by exactly one run: whole_loop first, then daily_refresh"
    assert len({run.tags["dagster/run_key"] for run in landing_runs}) == len(clocks)

    predictions = _predictions(settings)
    assert predictions["prediction_id"].is_unique
    per_day = Counter(predictions["scoring_day"])
    assert sorted(per_day) == clocks, "every landing's clock must have predictions, and no other day"
    assert not predictions.duplicated(["customer_id", "scoring_day"]).any(), "a customer scored twice a day"
    final = clocks[-1]
    assert per_day[final] == _active_customers(settings, final) > 0, "every active customer is scored"

    weeks = sorted({data_week(clock) for clock in clocks})
    for signal in DRIFT_SIGNALS:
        assert sorted(set(_verdict_weeks(instance, signal))) == weeks, f"{signal}: one verdict per data week"
        assert instance.get_materialized_partitions(SIGNAL_ASSETS[signal]) == set(weeks), "a partition a week"
    performance = instance.get_latest_materialization_event(SIGNAL_ASSETS[PERFORMANCE])
    assert performance.asset_materialization.metadata["labelled_rows"].value > 0

    decisions = [d for d in _canary_decisions(instance) if d["decision"] in ("promote", "rollback")]
    assert decisions == [
        {"decision": "promote", "canary_version": good},
        {"decision": "rollback", "canary_version": bad},
    ], "the analysis promotes the good release and rolls back the bad one"
    assert len(rollback) == 1 and bad in rollback[0], "the rollback alerts exactly once"

    retrains = [run for run in runs if run.job_name == RETRAIN_JOB_NAME]
    assert len(retrains) == 1, f"the breach must cause exactly one retraining, got {len(retrains)}"
    assert runs.index(retrains[0]) > runs.index(landing_runs[DRIFT_FROM_LANDING - 1])
    assert "data_drift" in retrains[0].tags["lakehouse/signals"], retrains[0].tags
    # This world's candidate misses the champion by 0.035 ROC AUC (tolerance 0.02): the gate refuses it.
    assert [f.split(":")[0] for f in run_failures(instance, retrains[0].run_id)] == [GATE_STEP, "run"]

    _kill_the_daemon_during_a_refresh(instance, daemon, settings, clocks)


def _step_started(instance: dg.DagsterInstance, run_id: str, step_key: str) -> bool:
    starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    return any(entry.step_key == step_key for entry in starts)


def _refresh_scoring(instance: dg.DagsterInstance, known: set[str]) -> dg.DagsterRun | None:
    """The new landing's refresh once it is STARTED and has begun ``KILL_AT_STEP``."""
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=REFRESH_JOB_NAME)):
        if run.run_id in known:
            continue
        assert not run.is_finished, f"refresh {run.run_id} ended ({run.status}) before it could be killed"
        if run.status == dg.DagsterRunStatus.STARTED and _step_started(instance, run.run_id, KILL_AT_STEP):
            return run
    return None


def _recovered(instance: dg.DagsterInstance, killed: str) -> bool:
    """True when the killed run has failed, its one re-execution has ended, nothing else is queued or
    running, and both sensors finished a tick after that (no request of theirs still coming)."""
    runs = instance.get_run_records()
    if any(not r.dagster_run.is_finished for r in runs):
        return False
    if not any(r.dagster_run.parent_run_id == killed for r in runs):
        return False
    ended = max(r.end_time or 0.0 for r in runs)
    ticks = [last_finished_tick(instance, name) for name in SENSORS]
    return all(tick is not None and tick.timestamp > ended for tick in ticks)


def _kill_the_daemon_during_a_refresh(instance, daemon: Daemon, settings: Settings, clocks: list) -> None:
    """SIGKILL of the daemon's process group while a landing's refresh scores, then a restart: the run is
    failed with the reason (LocalRunLauncher's health check for run monitoring), Dagster's run retries
    re-execute it once, and the landing's predictions are there once per active customer."""
    began = time.time()
    known = {run.run_id for run in instance.get_runs()}
    clocks.append(_land(settings.home / "raw", 7, drift=DRIFT))
    run = wait_for(
        f"the refresh to start {KILL_AT_STEP}",
        lambda: _refresh_scoring(instance, known),
        LANDING_TIMEOUT,
        daemon.check_alive,
    )
    daemon.kill()
    killed_at = time.time()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # as Dagster leaves it
    daemon.start()
    wait_for("the recovery", lambda: _recovered(instance, run.run_id), LANDING_TIMEOUT, daemon.check_alive)
    print(
        f"SIGKILL phase took {(time.time() - began) / 60:.1f} min "
        f"({time.time() - killed_at:.0f} s from the kill to idle again)"
    )

    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    new_runs = [r for r in instance.get_runs() if r.run_id not in known]
    retries = [r for r in new_runs if r.parent_run_id == run.run_id]
    assert [r.status for r in retries] == [dg.DagsterRunStatus.SUCCESS], "exactly one re-execution succeeds"
    refreshes = {r.run_id for r in new_runs if r.job_name in (REFRESH_JOB_NAME, WHOLE_LOOP_JOB_NAME)}
    assert refreshes == {run.run_id, retries[0].run_id}, "the landing needed no other refresh"
    failed = [r.run_id for r in new_runs if r.status == dg.DagsterRunStatus.FAILURE]
    for run_id in failed:  # the refresh, and whatever else the kill caught
        failures = run_failures(instance, run_id)
        assert any(WORKER_GONE in failure for failure in failures), failures

    requested = [
        r for r in instance.get_runs() if r.tags.get(LANDING_TRIGGER) == "landing" and r.parent_run_id is None
    ]
    assert len(requested) == len(clocks), "every landing is requested exactly once"
    assert len({r.tags["dagster/run_key"] for r in requested}) == len(clocks)

    predictions = _predictions(settings)
    assert predictions["prediction_id"].is_unique
    assert not predictions.duplicated(["customer_id", "scoring_day"]).any(), "a customer scored twice a day"
    scored = int((predictions["scoring_day"] == clocks[-1]).sum())
    assert scored == _active_customers(settings, clocks[-1]) > 0, "the killed landing's customers, once each"
