"""The Dagster wiring: deployment from the registry, batch scoring in process, the spool into Iceberg."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest

from lakehouse_ml.assets.predictions import batch_scores, churn_predictions
from lakehouse_ml.assets.serving import churn_predictor_deployment, promote_canary, rollback_canary
from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.model_registry import Remote
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.resources.model_server import LocalModelServing
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import DuckDBWarehouse
from tests.support.model_builders import sample_features, write_feature_repo, write_model
from tests.support.ports import free_port

pytestmark = pytest.mark.slow
CUSTOMERS = 120


@pytest.fixture
def resources(lakehouse_home):
    repo = write_feature_repo(lakehouse_home / "feast-sample", customers=CUSTOMERS)
    warehouse_path = lakehouse_home / "warehouse.duckdb"
    gold = sample_features(CUSTOMERS).assign(event_timestamp=datetime(2026, 1, 1, tzinfo=UTC))  # noqa: F841
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("create schema gold")
        con.execute("create table gold.fct_customer_features as select * from gold")
    serving = LocalModelServing(
        serving_dir=str(lakehouse_home / "serving"), port=free_port(), feature_repo=str(repo)
    )
    registry = ModelRegistryResource(
        registry_dir=str(lakehouse_home / "registry"), remote_url=str(lakehouse_home / "dvc-remote")
    )
    yield {
        "model_server": serving,
        "model_registry": registry,
        "warehouse": DuckDBWarehouse(path=str(warehouse_path), gold_dir=str(lakehouse_home / "gold")),
        "iceberg": LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")),
    }
    serving.server().stop()


def _register(lakehouse_home, seed: int) -> str:
    registry = ModelRegistry(lakehouse_home / "registry", Remote(str(lakehouse_home / "dvc-remote")))
    model = write_model(lakehouse_home / f"trained-{seed}", seed=seed)
    return registry.register(model, {"kfp_run_id": f"run-{seed}"})


def _registered(version: str, gate_passed: bool = True) -> dg.AssetsDefinition:
    """Stands in for the registry stage's ``model_version`` asset and its gate (output: the version name);
    the gate's verdict goes to the registry, as ``model_beats_champion`` records it."""

    @dg.asset(
        name="model_version",
        check_specs=[dg.AssetCheckSpec("model_beats_champion", asset="model_version", blocking=False)],
    )
    def model_version(model_registry: ModelRegistryResource):
        yield dg.Output(version)
        model_registry.open().record_gate(version, gate_passed, "stand-in gate")
        yield dg.AssetCheckResult(
            check_name="model_beats_champion",
            passed=gate_passed,
            metadata={"candidate": version},
            description="stand-in gate",
        )

    return model_version


def _metadata(result, key: str) -> dict:
    event = result.asset_materializations_for_node(key)[0]
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def test_deploy_score_and_log_then_canary_promote(resources, lakehouse_home):
    assert _register(lakehouse_home, 1) == "v1"
    selection = [_registered("v1"), churn_predictor_deployment, batch_scores, churn_predictions]
    first = dg.materialize(selection, resources=resources)
    deployment = _metadata(first, "churn_predictor_deployment")
    assert (deployment["model_version"], deployment["role"]) == ("v1", "stable")
    assert deployment["endpoint"].startswith("http://127.0.0.1:")
    scores = _metadata(first, "batch_scores")
    active = int((sample_features(CUSTOMERS)["order_count_90d"] > 0).sum())
    assert scores["active_customers"] == scores["scored"] == scores["rows_appended"] == active
    assert scores["runtimes"] == {"v1": "onnxruntime"}
    logged = _metadata(first, "churn_predictions")
    assert (logged["rows_appended"], logged["table_rows"]) == (0, active)  # the batch was not spooled

    registry = ModelRegistry(lakehouse_home / "registry", Remote(str(lakehouse_home / "dvc-remote")))
    assert registry.production_version() == "v1"

    assert _register(lakehouse_home, 2) == "v2"
    second = dg.materialize([_registered("v2"), churn_predictor_deployment], resources=resources)
    deployment = _metadata(second, "churn_predictor_deployment")
    assert (deployment["role"], deployment["stable_version"], deployment["canary_version"]) == (
        "canary",
        "v1",
        "v2",
    )
    assert deployment["canary_traffic_percent"] == 10
    assert registry.stage_version("staging") == "v2" and registry.production_version() == "v1"

    defs = dg.Definitions(jobs=[promote_canary, rollback_canary], resources=resources)
    assert defs.get_job_def("rollback_canary").execute_in_process().success
    assert registry.stage_version("rolled_back") == "v2" and registry.production_version() == "v1"
    again = dg.materialize([_registered("v2"), churn_predictor_deployment], resources=resources)
    assert _metadata(again, "churn_predictor_deployment")["role"] == "skipped"
    assert not defs.get_job_def("promote_canary").execute_in_process(raise_on_error=False).success

    assert _register(lakehouse_home, 3) == "v3"
    dg.materialize([_registered("v3"), churn_predictor_deployment], resources=resources)
    assert defs.get_job_def("promote_canary").execute_in_process().success
    assert registry.production_version() == "v3"

    assert _register(lakehouse_home, 4) == "v4"
    refused = dg.materialize(
        [_registered("v4", gate_passed=False), churn_predictor_deployment],
        resources=resources,
        raise_on_error=False,
    )
    assert not refused.success
    assert "failed model_beats_champion" in str(refused.get_step_failure_events()[0].step_failure_data.error)
    assert resources["model_server"].current()["stable"] == "v3"
    assert registry.stage_version("staging") != "v4"

    table = LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")).predictions_table()
    again = dg.materialize([batch_scores, churn_predictions], resources=resources)
    rescored = _metadata(again, "batch_scores")
    assert rescored["served_by"] == {"v3": active}  # the promoted version scores
    # the same scoring day again: every customer already has its prediction of the day, none is added
    assert (rescored["rows_appended"], rescored["already_logged"]) == (0, active)
    assert _metadata(again, "churn_predictions")["table_rows"] == active
    table.refresh()
    versions = set(
        table.scan(selected_fields=("model_version",)).to_arrow().column("model_version").to_pylist()
    )
    assert versions == {"v1"}
