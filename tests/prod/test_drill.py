"""The pod-isolation drill: the prod profile's asset graph with every step in its own process and its
own empty scratch (``pod_executor``: ``dagster api execute_step`` with empty ``LAKEHOUSE_HOME`` and
``TMPDIR``, as ``k8s_job_executor`` runs pods), sharing only what a cluster shares: PostgreSQL (Dagster
instance, Feast registry, Iceberg SQL catalog), Redis (Feast online store), S3 (moto's server: landing
zone, gold, step outputs, DVC, KFP exports, models, reports, the SQL stand-in's database) and a bare git
repository (the registry's remote). KFP, KServe and Trino are played as tests/support/prod_drill_stack.py
says.

initial run -> simulator drift -> monitoring -> the real ``dagster-daemon`` ticks
``drift_retrain_sensor`` on the PostgreSQL instance -> the retraining run it launches -> gate ->
canary -> promote -> the new version serves 100%. docs/prod.md ("The pod-isolation drill")."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.cli.run import split_by_week
from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME, RETRAIN_TARGETS
from lakehouse_ml.serving.names import MODEL_NAME
from lakehouse_ml.simulator import simulate
from tests.support.weeks import add_landed_week

pytestmark = [
    pytest.mark.slow,
    pytest.mark.longest(minutes=8),
    pytest.mark.s3,
    pytest.mark.postgres,
    pytest.mark.redis,
]

REPO = Path(__file__).resolve().parents[2]
DRILL_LOCATION = REPO / "tests" / "support" / "prod_drill_location.py"
NAMESPACE = "lakehouse-ml"
CUSTOMERS, HISTORY_DAYS, DRIFT_DAYS = 1_500, 365, 30
# a weak champion (120 rows of two snapshot days) so that the retraining, on every row, passes the gate
WEAK_CHAMPION = {"ops": {"churn_model": {"config": {"max_training_rows": 120, "train_snapshots": 2}}}}
DAEMON_TIMEOUT_SECONDS = 900
LOG_SUFFIXES = {".out", ".err", ".complete"}  # Dagster's local compute log manager
NOT_REFRESHED = (*RETRAIN_TARGETS, "feast_definitions", "online_features")


def _create_databases(postgres_url: str, names: list[str]) -> dict[str, str]:
    import psycopg2

    base, _ = postgres_url.rsplit("/", 1)
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    for name in names:
        admin.cursor().execute(f"CREATE DATABASE {name}")
    admin.close()
    return {name: f"{base}/{name}" for name in names}


def _drop_databases(postgres_url: str, names: list[str]) -> None:
    import psycopg2

    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    for name in names:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _upload_landing_zone(local: Path, uri: str, endpoint: str) -> None:
    """The extractor's side: the simulator writes a folder, its files land in the S3 landing zone."""
    from lakehouse_ml.platform.storage import s3_filesystem

    fs = s3_filesystem(endpoint)
    root = uri.removeprefix("s3://").rstrip("/")
    for dataset in ("customers", "orders"):
        for path in sorted((local / dataset).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                fs.put_file(str(path), f"{root}/{dataset}/{path.name}")


@pytest.fixture
def drill(s3_endpoint, postgres_url, redis_url, tmp_path, monkeypatch):
    import boto3
    import redis

    from tests.support.prod_drill_stack import KubeApiStandIn, RevisionPods

    bucket = f"drill-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    prefix = postgres_url.rsplit("/", 1)[1]
    names = [f"{prefix}_drill_{uuid.uuid4().hex[:8]}_{role}" for role in ("dagster", "feast", "iceberg")]
    urls = _create_databases(postgres_url, names)
    dagster_db, feast_db, iceberg_db = (urls[name] for name in names)
    redis.Redis.from_url(redis_url).flushdb()
    remote = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--bare", "--quiet", str(remote)], check=True)
    spool = tmp_path / "prediction-spool"  # the ReadWriteMany claim
    spool.mkdir()
    pods = tmp_path / "pods"
    pods.mkdir()
    revisions = RevisionPods(tmp_path / "revisions", s3_endpoint, spool)
    kube = KubeApiStandIn(revisions)
    s3 = f"s3://{bucket}"
    environment = {
        "LAKEHOUSE_PROFILE": "prod",
        "LAKEHOUSE_HOME": str(tmp_path / "test-process-home"),
        "LAKEHOUSE_RAW_URI": f"{s3}/raw",
        "LAKEHOUSE_GOLD_URI": f"{s3}/gold",
        "LAKEHOUSE_S3_ENDPOINT": s3_endpoint,
        "LAKEHOUSE_IO_MANAGER_URI": f"{s3}/dagster-io",
        "LAKEHOUSE_REPORTS_URI": f"{s3}/reports",
        "LAKEHOUSE_DVC_REMOTE_URL": f"{s3}/dvc",
        "LAKEHOUSE_REGISTRY_GIT_URL": str(remote),
        "LAKEHOUSE_KFP_PIPELINE_ROOT": f"{s3}/kfp",
        "LAKEHOUSE_KFP_EXPORT_ROOT": f"{s3}/kfp-exports",
        "LAKEHOUSE_MODEL_STORE_URI": f"{s3}/models/churn-predictor",
        "LAKEHOUSE_KSERVE_NAMESPACE": NAMESPACE,
        "LAKEHOUSE_ICEBERG_CATALOG": "sql",
        "LAKEHOUSE_ICEBERG_SQL_URI": iceberg_db.replace("postgresql://", "postgresql+psycopg2://"),
        "LAKEHOUSE_ICEBERG_WAREHOUSE": f"{s3}/iceberg",
        "LAKEHOUSE_FEAST_REGISTRY_URL": feast_db,
        "LAKEHOUSE_REDIS_URL": redis_url,
        "DRILL_SQL_DATABASE_URI": f"{s3}/sql-standin/warehouse.duckdb",
        "DRILL_SPOOL_DIR": str(spool),
        "KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        "LAKEHOUSE_POD_SCRATCH_ROOT": str(pods),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "PYTHONPATH": str(REPO),
    }
    for name in ("LAKEHOUSE_AS_OF", "LAKEHOUSE_SERVING_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text(
        json.dumps({"storage": {"postgres": {"postgres_url": dagster_db}}, "telemetry": {"enabled": False}})
    )
    try:
        yield {"kube": kube, "raw": f"{s3}/raw", "endpoint": s3_endpoint, "home": tmp_path / "dagster"}
    finally:
        kube.stop()
        _drop_databases(postgres_url, names)
        redis.Redis.from_url(redis_url).flushdb()


def _run(instance, job_function, **kwargs) -> dg.DagsterRun:
    with dg.execute_job(dg.reconstructable(job_function), instance=instance, **kwargs) as result:
        failures = [
            f"{event.step_key}: {event.event_specific_data.error.message.strip()}"
            for event in result.all_events
            if event.is_step_failure
        ]
        assert result.success, f"run {result.run_id} failed: {failures}"
        return result.dagster_run


def _run_by_week(instance, keys, run_config=None) -> dg.DagsterRun:
    """``keys`` of the drill job in two runs (``tests.support.weeks``): the assets without partitions, then
    the monitoring assets for the data week of the clock the first left. Returns the first run."""
    from tests.support.prod_drill_defs import drill_job

    others, weekly = split_by_week(drill_job().asset_layer.asset_graph, keys)
    first = _run(instance, drill_job, asset_selection=others, run_config=run_config)
    if weekly:
        week = add_landed_week(instance)
        _run(instance, drill_job, asset_selection=weekly, tags={"dagster/partition": week})
    return first


def _materialization(instance, run_id: str, asset: str):
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    found = [r.event_log_entry.asset_materialization for r in records]
    found = [m for m in found if m.asset_key.to_user_string() == asset]
    assert found, f"run {run_id} did not materialize {asset}"
    return found[-1].metadata


def _check_evaluations(instance, run_id: str, check: str) -> list:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [e for e in evaluations if e.check_name == check]


def _monitoring_refresh() -> list[dg.AssetKey]:
    """The new landing-zone data through raw and dbt, then the feature drift monitor (the data_drift
    signal) against the production model: no training, feature store, serving or scoring step."""
    from tests.support.prod_drill_defs import drill_job

    graph = drill_job().asset_layer.asset_graph
    upstream = dg.AssetSelection.assets("feature_drift_report").upstream().resolve(graph)
    return sorted(key for key in upstream if key.to_user_string() not in NOT_REFRESHED)


def _daemon_launches_the_retraining(instance, home: Path) -> dg.DagsterRun:
    """Run ``dagster-daemon`` on the drill's code location until the run its sensor tick launched ends."""
    daemon = Path(sys.executable).with_name("dagster-daemon")
    log = (home / "daemon.log").open("w")
    # its own process group: the code server and the run worker it launches are ended with it
    process = subprocess.Popen(
        [str(daemon), "run", "-f", str(DRILL_LOCATION), "-a", "defs", "-d", str(REPO)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + DAEMON_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, f"dagster-daemon exited: see {home / 'daemon.log'}"
            runs = instance.get_runs(filters=dg.RunsFilter(job_name=RETRAIN_JOB_NAME))
            if runs and runs[0].is_finished:
                return runs[0]
            time.sleep(2)
        pytest.fail(f"no finished {RETRAIN_JOB_NAME} run within {DAEMON_TIMEOUT_SECONDS} s")
    finally:
        _end_process_group(process)


def _end_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the daemon's group (daemon, code server, run worker, step processes), then SIGKILL
    to whatever of the group is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    time.sleep(2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _served_version(kube) -> str:
    url = kube.api.objects[(NAMESPACE, MODEL_NAME)]["status"]["url"]
    body = json.dumps({"instances": [{"customer_id": "c00001"}]}).encode()
    request = urllib.request.Request(
        f"{url}/v1/models/{MODEL_NAME}:predict", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["model_version"]


def test_the_prod_profile_closes_the_loop_with_every_step_in_its_own_pod(drill, tmp_path):
    from lakehouse_ml.sensors.drift import stored_verdicts
    from tests.support.prod_drill_defs import drill_job, promote_job

    kube = drill["kube"]
    started = time.monotonic()

    def phase(name: str) -> None:
        print(f"drill phase {name} done at {time.monotonic() - started:.0f} s")

    extract = tmp_path / "source-system"
    simulate(extract, customers=CUSTOMERS, days=HISTORY_DAYS)
    _upload_landing_zone(extract, drill["raw"], drill["endpoint"])
    with dg.DagsterInstance.from_config(str(drill["home"])) as instance:
        everything = drill_job().asset_layer.asset_graph.executable_asset_keys
        initial = _run_by_week(instance, everything, WEAK_CHAMPION)
        first = str(_materialization(instance, initial.run_id, "model_version")["version"].value)
        assert kube.traffic(NAMESPACE, MODEL_NAME) == {first: 100}
        phase("initial run")

        simulate(extract, days=DRIFT_DAYS, drift="basket_shift")
        _upload_landing_zone(extract, drill["raw"], drill["endpoint"])
        _run_by_week(instance, _monitoring_refresh())
        breached = sorted(
            signal for signal, verdict in stored_verdicts(instance).items() if verdict["breach"]
        )
        assert "data_drift" in breached, f"the basket shift went unnoticed: {breached}"
        phase("drift and monitoring")

        retrain = _daemon_launches_the_retraining(instance, drill["home"])
        assert retrain.status == dg.DagsterRunStatus.SUCCESS, f"retraining run {retrain.run_id} failed"
        assert retrain.tags["lakehouse/trigger"] == "drift"
        assert "data_drift" in retrain.tags["lakehouse/signals"]
        second = str(_materialization(instance, retrain.run_id, "model_version")["version"].value)
        assert second != first
        (evaluation,) = _check_evaluations(instance, retrain.run_id, "model_beats_champion")
        assert evaluation.passed, f"the retrained model failed the gate: {evaluation.description}"
        assert kube.traffic(NAMESPACE, MODEL_NAME) == {first: 90, second: 10}
        phase("daemon tick and retraining")

        _run(instance, promote_job)
        assert kube.traffic(NAMESPACE, MODEL_NAME) == {second: 100}
        assert _served_version(kube) == second
        phase("promote")
    # the instance's own folder holds logs only (steps, sensor ticks): no step output went through a disk
    storage = drill["home"] / "storage"
    files = [path for path in storage.rglob("*") if path.is_file()]
    assert files and [path for path in files if path.suffix not in LOG_SUFFIXES] == []
