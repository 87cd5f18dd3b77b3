"""Dagster concurrency pools: stages that must not overlap when runs start together (the drift sensor's
retraining, the weekly schedule, a user in the UI). The instance gives each pool one slot
(``concurrency.pools.default_limit`` in ``lakehouse_ml/orchestration/instance.py``)."""

WAREHOUSE_POOL = "lakehouse_warehouse"  # DuckDB takes one writer per file: raw loads and dbt builds
REGISTRY_POOL = "lakehouse_registry"  # version numbers and tags (the registry also holds a file lock)
DEPLOYMENT_POOL = "lakehouse_deployment"  # deployment.json, canary traffic, promote and roll back

POOLS = (WAREHOUSE_POOL, REGISTRY_POOL, DEPLOYMENT_POOL)


def ensure_pool_slots(instance) -> None:
    """Create each pool's one slot up front: Dagster creates a pool from ``default_limit`` on the first
    claim, and two runs whose first claims race on a SQLite instance could both get a slot."""
    storage = instance.event_log_storage
    existing = storage.get_concurrency_keys()
    for pool in POOLS:
        if pool not in existing:
            storage.set_concurrency_slots(pool, 1)
