"""The Feast stage's Dagster assets and asset check, run on a hand-made gold table."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from lakehouse_ml.features.store import FEATURE_NAMES
from tests.support.features_fixtures import gold_frame, weekly_snapshots, write_gold

SNAPSHOTS = weekly_snapshots(datetime(2024, 3, 3, tzinfo=UTC), 3)


@pytest.fixture
def feature_store_resource(lakehouse_home):
    from lakehouse_ml.resources.feature_store import LocalFeatureStore

    return LocalFeatureStore(lakehouse_home=str(lakehouse_home))


@pytest.mark.slow
def test_assets_apply_materialize_and_pass_the_consistency_check(lakehouse_home, feature_store_resource):
    from lakehouse_ml.assets.features import feast_definitions, online_features, online_offline_consistency

    gold = gold_frame(SNAPSHOTS, customers=8)
    write_gold(lakehouse_home, gold)
    result = dg.materialize(
        [feast_definitions, online_features, online_offline_consistency],
        resources={"feature_store": feature_store_resource},
    )
    assert result.success

    applied = result.asset_materializations_for_node("feast_definitions")[0].metadata
    assert applied["changed"].value == 6  # project, source, entity, dummy entity, view, service
    assert "customer_features | CREATE" in applied["objects"].value

    online = result.asset_materializations_for_node("online_features")[0].metadata
    assert online["rows"].value == len(gold)
    assert online["entities_written"].value == 8
    assert online["full_write"].value is True
    assert online["window_end"].value == SNAPSHOTS[-1].replace(tzinfo=UTC).timestamp()

    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "online_offline_consistency"
    assert check.passed
    assert check.metadata["entities_checked"].value == 8

    again = dg.materialize(
        [feast_definitions, online_features], resources={"feature_store": feature_store_resource}
    )
    assert again.asset_materializations_for_node("feast_definitions")[0].metadata["changed"].value == 0
    rewritten = again.asset_materializations_for_node("online_features")[0].metadata
    assert (rewritten["entities_written"].value, rewritten["entities_unchanged"].value) == (0, 8)
    assert rewritten["full_write"].value is False


def test_consistency_check_fails_listing_the_skewed_entities(lakehouse_home, feature_store_resource):
    from lakehouse_ml.assets.features import online_offline_consistency
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.materialize import materialize_online

    gold = gold_frame(SNAPSHOTS, customers=5)
    write_gold(lakehouse_home, gold)
    store = feature_store_resource.open()
    apply_definitions(store, feature_store_resource.gold_source())
    materialize_online(store, feature_store_resource.gold_source())
    stale = gold[(gold["customer_id"] == "c1") & (gold["event_timestamp"] == SNAPSHOTS[0])].copy()
    stale["event_timestamp"] = SNAPSHOTS[-1]  # an older row's values served as current
    store.write_to_online_store("customer_features", stale)

    check = online_offline_consistency(feature_store=feature_store_resource)
    assert not check.passed
    assert check.metadata["entities_differing"].value == ["c1"]
    assert set(check.metadata["features_differing"].value) == set(FEATURE_NAMES)
    assert "| c1 | tenure_days |" in check.metadata["differences (first 50)"].value


def test_definitions_register_the_feature_assets_and_resource():
    from lakehouse_ml.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"feast_definitions", "online_features"} <= keys
    assert "feature_store" in defs.resources
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "online_offline_consistency" in checks
