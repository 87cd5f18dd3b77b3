"""daily_refresh selects by group and tag, never by key: an asset added downstream in the serving or
monitoring groups joins it, training, registration and deployment stay out, and a Definitions that lacks
some of the project's assets still resolves it. The jobs that ingest a landing ask Dagster to re-execute
them once when their worker dies, never after a failed step."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.assets.monitoring import actuals, performance
from lakehouse_ml.definitions import ASSET_MODULES, defs
from lakehouse_ml.orchestration.jobs import (
    REFRESH_JOB_NAME,
    RETRY_TAGS,
    daily_refresh,
    retrain_churn_model,
    whole_loop,
)


def _refresh_keys(defs: dg.Definitions) -> set[str]:
    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}


@dg.asset(group_name="serving", deps=["churn_predictions", "churn_predictor_deployment"])
def canary_analysis_standin() -> None:
    """Where a later serving asset (the canary analysis) plugs in: downstream of the deployment."""


def test_a_new_downstream_serving_asset_joins_the_refresh_and_training_stays_out():
    assets = [*dg.load_assets_from_modules(ASSET_MODULES), canary_analysis_standin]
    keys = _refresh_keys(
        dg.Definitions(assets=assets, jobs=[daily_refresh, whole_loop], resources=defs.resources)
    )
    assert "canary_analysis_standin" in keys
    assert {"raw_orders", "fct_customer_features", "online_features", "batch_scores"} <= keys
    assert {"churn_predictions", "prediction_actuals", "feature_drift_report"} <= keys
    assert not {"churn_model", "model_version", "churn_predictor_deployment"} & keys


def test_the_refresh_resolves_in_definitions_without_training_or_serving():
    assets = dg.load_assets_from_modules([actuals, performance])
    keys = _refresh_keys(dg.Definitions(assets=assets, jobs=[daily_refresh], resources=defs.resources))
    assert keys == {"prediction_actuals", "model_performance_metrics"}


def test_the_refresh_scores_only_after_the_landing_reached_gold():
    """batch_scores reads the newest gold snapshot, and the refresh holds no deployment to order it by:
    without its own dependency it ran first and scored the previous landing's features."""
    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    structure = job.graph.dependency_structure
    upstream = {handle.node_name for handle in structure.all_upstream_outputs_from_node("batch_scores")}
    assert upstream == {"lakehouse_dbt_models"}


def test_the_ingesting_jobs_are_retried_once_from_failure_but_not_after_a_step_failure():
    assert RETRY_TAGS == {
        "dagster/max_retries": "1",
        "dagster/retry_strategy": "FROM_FAILURE",
        "dagster/retry_on_asset_or_op_failure": "false",
    }
    for job in (daily_refresh, whole_loop, retrain_churn_model):
        assert RETRY_TAGS.items() <= defs.resolve_job_def(job.name).tags.items(), job.name
