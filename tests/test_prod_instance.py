"""The prod Dagster instance stores runs and events in a real PostgreSQL (deploy/dagster.yaml)."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

DEPLOY_INSTANCE = Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml"


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
def test_prod_storage_records_runs_in_postgres(postgres_database, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_PORT", "5432")
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_DB", postgres_database)
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_USER", "postgres")
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_PASSWORD", "")
    # The K8s run launcher needs a cluster; storage is the part this machine can exercise for real.
    prod_config = yaml.safe_load(DEPLOY_INSTANCE.read_text())

    with dg.instance_for_test(
        temp_dir=str(tmp_path), overrides={"storage": prod_config["storage"]}
    ) as instance:
        result = dg.materialize([tiny_asset], instance=instance)
        assert result.success
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        event = instance.get_latest_materialization_event(dg.AssetKey("tiny_asset"))
        assert event.asset_materialization.metadata["rows"].value == 3

    with dg.instance_for_test(
        temp_dir=str(tmp_path), overrides={"storage": prod_config["storage"]}
    ) as reopened:
        assert reopened.get_run_by_id(result.run_id) is not None


def test_prod_instance_config_is_valid_for_dagster_and_the_k8s_launcher():
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher

    config, _ = dagster_instance_config(str(DEPLOY_INSTANCE.parent), DEPLOY_INSTANCE.name)
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert all("env" in field for field in config["storage"]["postgres"]["postgres_db"].values())


def test_run_pods_mount_the_prediction_spool_the_predictor_pods_write():
    from lakehouse_ml.resources.serving import prod_serving
    from lakehouse_ml.serving.manifest import SPOOL_CLAIM, SPOOL_MOUNT
    from lakehouse_ml.settings import Settings

    launcher = yaml.safe_load(DEPLOY_INSTANCE.read_text())["run_launcher"]["config"]
    (volume,) = launcher["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == SPOOL_CLAIM
    assert launcher["volume_mounts"] == [{"name": volume["name"], "mountPath": SPOOL_MOUNT}]
    serving = prod_serving(Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    assert (serving.spool_claim, serving.spool_dir()) == (SPOOL_CLAIM, Path(SPOOL_MOUNT))
