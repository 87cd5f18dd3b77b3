"""The Redis online store (and the prod stack: SQL registry in Postgres + Redis) on real services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from lakehouse_ml.platform.settings import Settings
from tests.support.features_fixtures import gold_frame, latest_values, weekly_snapshots, write_gold
from tests.support.redis_keys import delete_project_keys

SNAPSHOTS = weekly_snapshots(datetime(2024, 2, 4, tzinfo=UTC), 2)


def _materialize_and_read(store, settings, gold):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_sdk import online_features, unknown_customers
    from lakehouse_ml.features.store import FEATURE_NAMES

    apply_definitions(store, gold_source(settings))
    result = materialize_online(store, gold_source(settings))
    assert result.entities == gold["customer_id"].nunique()
    frame = online_features(store, ["c4", "nobody", "c0"])
    assert frame["customer_id"].tolist() == ["c4", "nobody", "c0"]
    assert unknown_customers(frame) == ["nobody"]
    for position, customer in [(0, "c4"), (2, "c0")]:
        expected = latest_values(gold, customer, FEATURE_NAMES)
        assert frame.loc[position, FEATURE_NAMES].tolist() == pytest.approx(expected)


@pytest.mark.redis
def test_materialize_into_redis_and_read_back(lakehouse_home, redis_url):
    from lakehouse_ml.features.store import local_store_config, redis_connection_string, store_from_config

    settings = Settings.from_env()
    gold = gold_frame(SNAPSHOTS, customers=5)
    write_gold(lakehouse_home, gold)
    project = f"lakehouse_ml_test_{uuid.uuid4().hex[:12]}"  # Redis keys end with the project name
    config = local_store_config(settings.feast_dir)
    config["project"] = project
    config["online_store"] = {"type": "redis", "connection_string": redis_connection_string(redis_url)}
    try:
        _materialize_and_read(store_from_config(config), settings, gold)
    finally:
        delete_project_keys(redis_url, project)


@pytest.mark.redis
@pytest.mark.postgres
def test_prod_stack_sql_registry_in_postgres_and_redis(lakehouse_home, redis_url, postgres_url):
    from lakehouse_ml.features.store import prod_store_config, store_from_config

    settings = Settings.from_env()
    gold = gold_frame(SNAPSHOTS, customers=5)
    write_gold(lakehouse_home, gold)
    project = f"lakehouse_ml_test_{uuid.uuid4().hex[:12]}"
    config = prod_store_config(postgres_url, redis_url)
    config["project"] = project
    store = store_from_config(config)
    try:
        _materialize_and_read(store, settings, gold)
        reopened = store_from_config(config)
        assert [v.name for v in reopened.list_feature_views()] == ["customer_features"]
    finally:
        store.registry.delete_project(project, commit=True)
        delete_project_keys(redis_url, project)
