"""The prod Dagster instance, as the official chart renders it from deploy/helm/values.yaml, stores runs and
events in a real PostgreSQL and configures the K8s run launcher and the queued run coordinator."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.support.deploy_kit import chart_values, render_instance

RELEASE_NAMESPACE = "lakehouse-ml"


def prod_instance() -> dict:
    return render_instance(chart_values(), RELEASE_NAMESPACE)


@pytest.fixture
def postgres_database(postgres_url: str):
    import psycopg2

    name = f"lakehouse_dagster_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield name
    admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@dg.asset
def tiny_asset() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@pytest.mark.postgres
def test_prod_storage_records_runs_in_postgres(postgres_database, postgres_url, tmp_path, monkeypatch):
    from sqlalchemy.engine import make_url

    local = make_url(postgres_url)
    storage = prod_instance()["storage"]
    db = storage["postgres"]["postgres_db"]
    # The chart's storage block with this machine's server; the password still comes from the
    # environment variable the chart sets from the PostgreSQL secret.
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    db.update(
        hostname=local.host, port=local.port or 5432, db_name=postgres_database, username=local.username
    )
    db["params"] = {}  # the local server has no TLS; the chart's values ask for sslmode=require
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", local.password or "")

    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"storage": storage}) as instance:
        result = dg.materialize([tiny_asset], instance=instance)
        assert result.success
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        event = instance.get_latest_materialization_event(dg.AssetKey("tiny_asset"))
        assert event.asset_materialization.metadata["rows"].value == 3

    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"storage": storage}) as reopened:
        assert reopened.get_run_by_id(result.run_id) is not None


def test_prod_instance_config_is_valid_for_dagster_and_the_k8s_launcher(tmp_path):
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher

    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(prod_instance()))
    config, _ = dagster_instance_config(str(tmp_path))  # validates against the instance schema
    launcher = config["run_launcher"]
    checked = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert launcher["config"]["service_account_name"] == "lakehouse-ml"


def test_run_pods_carry_the_token_kfp_client_presents_to_the_kfp_api():
    from kfp.client import KF_PIPELINES_SA_TOKEN_PATH

    launcher = prod_instance()["run_launcher"]["config"]
    mounts = {mount["name"]: mount["mountPath"] for mount in launcher["volume_mounts"]}
    (token,) = [
        source["serviceAccountToken"]
        for volume in launcher["volumes"]
        for source in volume.get("projected", {}).get("sources", [])
    ]
    (volume_name,) = [v["name"] for v in launcher["volumes"] if "projected" in v]
    assert f"{mounts[volume_name]}/{token['path']}" == KF_PIPELINES_SA_TOKEN_PATH
    assert token["audience"] == "pipelines.kubeflow.org"


def test_the_retraining_job_runs_one_at_a_time():
    from dagster._config import validate_config
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from lakehouse_ml.orchestration.jobs import retrain_churn_model

    coordinator = prod_instance()["run_coordinator"]["config"]
    checked = validate_config(QueuedRunCoordinator.config_type(), coordinator)
    assert checked.success, checked.errors
    limits = {
        (limit["key"], limit["value"]): limit["limit"] for limit in coordinator["tag_concurrency_limits"]
    }
    # its other tags (run retries) are not queue limits
    assert [limits[tag] for tag in retrain_churn_model.tags.items() if tag in limits] == [1]


def test_run_pods_mount_the_prediction_spool_the_predictor_pods_write():
    from lakehouse_ml.platform.k8s_names import SPOOL_CLAIM, SPOOL_MOUNT
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.resources.model_server import prod_serving

    launcher = prod_instance()["run_launcher"]["config"]
    (volume,) = [v for v in launcher["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == SPOOL_CLAIM
    assert {"name": volume["name"], "mountPath": SPOOL_MOUNT} in launcher["volume_mounts"]
    serving = prod_serving(Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    assert (serving.spool_claim, serving.spool_dir()) == (SPOOL_CLAIM, Path(SPOOL_MOUNT))
