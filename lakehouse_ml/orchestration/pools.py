"""Dagster concurrency pools: stages that must not overlap when runs start together (the drift sensor's
retraining, the weekly schedule, a refresh, a user in the UI). The instance gives each pool one slot
(``concurrency.pools.default_limit`` in ``lakehouse_ml/orchestration/instance.py`` and in
``deploy/helm/values.yaml``'s ``additionalInstanceConfig``).

Run-queue limits (``RUN_QUEUE_LIMITS``, by the ``PURPOSE_TAG`` each job carries): one retraining and one
refresh at a time; a refresh and a retraining may run together but never deploy at once
(``DEPLOYMENT_POOL``)."""

WAREHOUSE_POOL = "lakehouse_warehouse"  # DuckDB takes one writer per file: raw loads and dbt builds
REGISTRY_POOL = "lakehouse_registry"  # version numbers and tags (the registry also holds a file lock)
DEPLOYMENT_POOL = "lakehouse_deployment"  # deployment.json, canary traffic, promote and roll back
# Writers of Iceberg ml.churn_predictions (spool load, actuals backfill, maintenance): each commits on the
# snapshot it read and overwrites day partitions, so two at once make one fail on a commit conflict.
PREDICTIONS_POOL = "lakehouse_predictions"

POOLS = (WAREHOUSE_POOL, REGISTRY_POOL, DEPLOYMENT_POOL, PREDICTIONS_POOL)

PURPOSE_TAG = "lakehouse/purpose"
RETRAIN_PURPOSE = "retrain"
REFRESH_PURPOSE = "refresh"
RUN_QUEUE_LIMITS = (
    {"key": PURPOSE_TAG, "value": RETRAIN_PURPOSE, "limit": 1},
    {"key": PURPOSE_TAG, "value": REFRESH_PURPOSE, "limit": 1},
)


def ensure_pool_slots(instance) -> None:
    """Create each pool's one slot up front: Dagster creates a pool from ``default_limit`` on the first
    claim, and two runs whose first claims race on a SQLite instance could both get a slot."""
    storage = instance.event_log_storage
    existing = storage.get_concurrency_keys()
    for pool in POOLS:
        if pool not in existing:
            storage.set_concurrency_slots(pool, 1)
